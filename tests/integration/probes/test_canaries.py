"""The three active canaries together (deployment, ServiceAccount, scheduler), against the fake control plane.

What holds for each of them (probes/*_canary.py): a leader that renews its Lease and does no
work is named, label-selecting webhooks intercept the reactions, and the writes ask the
apiserver to give up first (issue 12, mutation testing).
"""

from __future__ import annotations

import pytest

from cpwatch.probes import deployment_canary, scheduler_canary, serviceaccount_canary
from tests.fakecluster import FakeCluster

from .helpers import CANARY, NS, PODS, deny_webhook, one, probe_context, select_by

pytestmark = pytest.mark.network



@pytest.mark.parametrize(("component", "probe", "code"), [
    ("controller-manager", "deployment", "DEPLOYMENT_CANARY_NOT_OBSERVED"),
    ("controller-manager", "serviceaccount", "SERVICEACCOUNT_CANARY_MISSING"),
    ("scheduler", "scheduler", "SCHEDULER_CANARY_NOT_ATTEMPTED"),
])
def test_a_canary_unserved_by_a_leader_that_renews_says_so(tmp_path, component, probe, code):
    """A wedged leader (its Lease renewed every 2 s, no work done): the canary's failure says
    that the same holder renewed the Lease during the wait, the opposite of a failover."""
    probes = {"deployment": deployment_canary, "serviceaccount": serviceaccount_canary, "scheduler": scheduler_canary}
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component(component)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = probes[probe].probe(ctx)
    assert one(found, code).evidence["leader_renewed"] is True


@pytest.mark.parametrize("selector", ["namespaceSelector", "objectSelector"])
def test_canary_reactions_intercepted_by_label_selected_webhooks_are_blocked(tmp_path, selector):
    """The status writes of the canary pod and Deployment carry managed-by=cpwatch, and both
    live in the labelled namespace: a fail-closed webhook selecting either intercepts them."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        fc.stop_component("controller-manager")
        deny_webhook(fc, ("pods/status", "deployments/status"), ("", "apps"), ("UPDATE",))
        select_by(fc, selector)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx) + deployment_canary.probe(ctx)
    assert [(o.code, o.evidence["probe"]) for o in found] == [("PROBE_BLOCKED", "scheduler_canary"),
                                                             ("PROBE_BLOCKED", "deployment_canary")]


def test_canary_writes_ask_the_apiserver_to_give_up_first(tmp_path):
    """?timeout= on the canaries' writes: the apiserver stops waiting (for a webhook) before the
    client does and says why."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            deployment_canary.probe(ctx)
            scheduler_canary.probe(ctx)
        writes = [(r.method, r.path) for r in fc.requests if r.method in ("PATCH", "POST")]
    bounded = f"timeout={int(CANARY.write_timeout_s)}s"
    assert writes == [("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/cpwatch-canary?{bounded}"),
                      ("POST", f"{PODS}?{bounded}")]
