"""The Deployment canary (probes/deployment_canary.py) against the fake control plane (issue 12).

The canary Deployment's minReadySeconds toggled and the generation the controller-manager
observes, or why not: no controller, a leader Lease that cannot be read, a fail-closed webhook on
the status write or the patch, no Deployment, an answer that is not the Deployment.
"""

from __future__ import annotations

import pytest

from cpwatch.errors import BadResponseError
from cpwatch.probes import deployment_canary
from tests.fakecluster import FakeCluster
from tests.fakecluster.rbac import RuleRef

from .helpers import CANARY, NS, deny_webhook, one, probe_context, renamed

pytestmark = pytest.mark.network

DEPLOYMENT = ("deployments", NS, deployment_canary.CANARY_DEPLOYMENT)
DEPLOYMENT_TARGET = f"{NS}/{deployment_canary.CANARY_DEPLOYMENT}"


def test_deployment_canary_toggles_min_ready_seconds_and_reports_the_generation(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        seen = []
        for _ in range(2):
            with probe_context(fc, tmp_path, CANARY) as ctx:
                found = deployment_canary.probe(ctx)
            stored = fc.store.peek(*DEPLOYMENT)
            seen.append((found, stored["spec"].get("minReadySeconds"), stored["metadata"]["generation"]))
    (first, ready_1, generation_1), (second, ready_2, generation_2) = seen
    assert (ready_1, ready_2) == (1, 0)  # from 0: 1, then back
    assert generation_2 == generation_1 + 1
    for found, generation in ((first, generation_1), (second, generation_2)):
        observed = one(found, "DEPLOYMENT_CANARY_OBSERVED")
        assert observed.component.value == "controller-manager"
        assert {k: v for k, v in observed.evidence.items() if k != "latency_ms"} == {
            "object": DEPLOYMENT_TARGET, "generation": generation}
        assert 0 <= observed.evidence["latency_ms"] < CANARY.canary_wait_s * 1000


def test_deployment_canary_without_a_controller_reports_generation_and_last_observed(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        before = fc.store.peek(*DEPLOYMENT)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = deployment_canary.probe(ctx)
        after = fc.store.peek(*DEPLOYMENT)
    missed = one(found, "DEPLOYMENT_CANARY_NOT_OBSERVED")
    assert missed.component.value == "controller-manager"
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert missed.evidence == {"object": DEPLOYMENT_TARGET, "generation": after["metadata"]["generation"],
                               "observed": before["status"]["observedGeneration"], "wait_s": CANARY.canary_wait_s,
                               "leader_renewed": False}


def test_a_canary_whose_lease_cannot_be_read_leaves_the_renewal_unknown(tmp_path):
    """Without the leader Lease (not readable: forbidden here) the canary cannot say whether
    the leader renewed: None, neither failover nor wedge."""
    with FakeCluster(nodes=3, rbac_drop=[RuleRef("Role", "kube-system", "cpwatch-leader-leases", 0)]) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = deployment_canary.probe(ctx)
    assert one(found, "DEPLOYMENT_CANARY_NOT_OBSERVED").evidence["leader_renewed"] is None


def test_deployment_canary_is_blocked_when_a_fail_closed_webhook_sits_on_the_status_write(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        deny_webhook(fc, ("deployments/status",), ("apps",), ("UPDATE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = deployment_canary.probe(ctx)
    blocked = one(found, "PROBE_BLOCKED")
    assert blocked.component.value == "controller-manager"
    assert blocked.evidence["probe"] == "deployment_canary" and blocked.evidence["cause"] == "webhook-intercepts"
    assert blocked.evidence["because"].startswith(
        f"recording the observed generation needs UPDATE deployments/status in {NS}, which fail-closed admission "
        "webhook(s) guard.policy.example.org (")


def test_deployment_canary_whose_patch_is_denied_blames_the_set_up(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        deny_webhook(fc, ("deployments",), ("apps",), ("UPDATE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = deployment_canary.probe(ctx)
    assert [o.code for o in found] == ["CHECKER_WRITE_DENIED", "PROBE_BLOCKED"]
    assert found[0].evidence["object"] == f"Deployment {DEPLOYMENT_TARGET}"
    assert found[1].evidence["probe"] == "deployment_canary" and found[1].component.value == "controller-manager"


def test_deployment_canary_without_its_deployment_says_the_checker_is_not_installed(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.store.delete(*DEPLOYMENT)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = deployment_canary.probe(ctx)
    missing = one(found, "CHECKER_NOT_INSTALLED")
    assert missing.component.value == "controller-manager"
    assert missing.evidence["object"] == f"Deployment {DEPLOYMENT_TARGET}"
    assert deployment_canary.CANARY_DEPLOYMENT in missing.evidence["message"]


# --- answers that are not what the apiserver said (a proxy in front of it) -------------------

DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/cpwatch-canary"


def without_generation(obj: dict) -> dict:
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "generation"}}


@pytest.mark.parametrize(("method", "edit", "message"), [
    ("GET", renamed, "the answer is not the Deployment cpwatch-canary"),
    ("PATCH", without_generation, "the patched Deployment has no metadata.generation"),
])
def test_deployment_canary_refuses_an_answer_that_is_not_its_deployment(tmp_path, method, edit, message):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.rewrite_answers(method, DEPLOYMENT_PATH, edit)
        with probe_context(fc, tmp_path, CANARY) as ctx, pytest.raises(BadResponseError) as raised:
            deployment_canary.probe(ctx)
    assert str(raised.value) == str(BadResponseError(method, DEPLOYMENT_PATH, message))
