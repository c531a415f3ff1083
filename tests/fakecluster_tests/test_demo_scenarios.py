"""The scenarios of tests/scenarios.py about one failure showing up as another component's
symptoms put the cluster they declare (OPTIONS) into their situation."""

from __future__ import annotations

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_time
from tests.scenarios import OPTIONS, SCENARIOS, cluster_options

pytestmark = pytest.mark.network


def age(fc: FakeCluster, namespace: str, name: str) -> float:
    return (fc.clock.now() - parse_time(fc.store.get("leases", namespace, name)["spec"]["renewTime"])).total_seconds()


def scheduled(pod: dict) -> dict | None:
    return next((c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"), None)


def test_options_are_declared_and_the_others_get_three_nodes():
    assert cluster_options("apiserver-one-hung") == {"nodes": 3, "apiservers": 2}
    assert cluster_options("webhook-on-binding") == {"nodes": 3, "demo_objects": True}
    assert cluster_options("healthy") == {"nodes": 3}
    assert set(OPTIONS) <= set(SCENARIOS)


def test_apiserver_one_hung():
    with FakeCluster(**cluster_options("apiserver-one-hung")) as fc:
        SCENARIOS["apiserver-one-hung"](fc)
        assert fc.apiserver_modes == ("up", "hung") and fc.url != fc.apiserver_url(0)
        assert age(fc, "kube-system", "kube-scheduler") <= 2.5  # the components work on through apiserver 0
    with FakeCluster(nodes=1) as fc, pytest.raises(ValueError, match="apiservers=2"):
        SCENARIOS["apiserver-one-hung"](fc)


def test_controller_manager_failover():
    with FakeCluster(**cluster_options("controller-manager-failover")) as fc:
        before = fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]["holderIdentity"]
        SCENARIOS["controller-manager-failover"](fc)
        lease = fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]
        assert lease["holderIdentity"] == before and not fc.controller_manager.elector.leader
        assert 2.5 <= age(fc, "kube-system", "kube-controller-manager") <= 5
        fc.advance(15)
        assert fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]["holderIdentity"] != before


def test_webhook_on_leases():
    with FakeCluster(**cluster_options("webhook-on-leases")) as fc:
        holders = {name: fc.store.get("leases", "kube-system", name)["spec"]["holderIdentity"]
                   for name in ("kube-controller-manager", "kube-scheduler")}
        SCENARIOS["webhook-on-leases"](fc)
        for name, holder in holders.items():
            assert fc.store.get("leases", "kube-system", name)["spec"]["holderIdentity"] == holder
            assert 75 <= age(fc, "kube-system", name) <= 78, name
        assert fc.controller_manager.running and fc.scheduler.running
        assert age(fc, "kube-node-lease", "node-a") <= 10.5


@pytest.mark.parametrize("options", [cluster_options("webhook-on-binding"), {"nodes": 3}])
def test_webhook_on_binding(options):
    with FakeCluster(**options) as fc:
        SCENARIOS["webhook-on-binding"](fc)
        unbound = [pod for pod in fc.store.scan("pods", "demo") if not pod["spec"].get("nodeName")
                   and pod["metadata"]["name"] != "nowhere"]
        assert len(unbound) == 2
        assert all(scheduled(pod)["reason"] == "SchedulerError" for pod in unbound)
        assert fc.store.get("deployments", "demo", "web")["spec"]["replicas"] == 5


def test_webhook_on_node_leases():
    with FakeCluster(**cluster_options("webhook-on-node-leases")) as fc:
        SCENARIOS["webhook-on-node-leases"](fc)
        node = fc.store.get("nodes", None, "node-a")
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert age(fc, "kube-node-lease", "node-a") > 120  # expired (40 s)
        assert (fc.clock.now() - parse_time(ready["lastHeartbeatTime"])).total_seconds() <= 61
        assert age(fc, "kube-system", "kube-scheduler") <= 2.5
