"""Simulated kubelets, controller-manager and scheduler, driven by advance()."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_time

pytestmark = pytest.mark.network


def wait_for(condition, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def ready(fc: FakeCluster, node: str) -> dict:
    return next(c for c in fc.store.get("nodes", None, node)["status"]["conditions"] if c["type"] == "Ready")


def renewed(fc: FakeCluster, namespace: str, name: str):
    return parse_time(fc.store.get("leases", namespace, name)["spec"]["renewTime"])


def test_advance_moves_time_and_keeps_heartbeats_fresh(fc):
    start = fc.clock.now()
    fc.advance(300)
    now = fc.clock.now()
    assert timedelta(seconds=300) <= now - start < timedelta(seconds=302)
    for node in ("node-a", "node-b", "node-c"):
        assert (now - renewed(fc, "kube-node-lease", node)).total_seconds() <= 10.5
        assert (now - parse_time(ready(fc, node)["lastHeartbeatTime"])).total_seconds() <= 61
    for lease in ("kube-controller-manager", "kube-scheduler"):
        assert (now - renewed(fc, "kube-system", lease)).total_seconds() <= 2.5


def test_node_lease_and_status_shapes(fc):
    lease = fc.store.get("leases", "kube-node-lease", "node-b")
    assert lease["spec"]["holderIdentity"] == "node-b" and lease["spec"]["leaseDurationSeconds"] == 40
    node = fc.store.get("nodes", None, "node-b")
    assert ready(fc, "node-b")["reason"] == "KubeletReady"
    assert node["spec"]["providerID"].startswith("aws:///us-east-1") and len(node["spec"]["providerID"].split("/")[-1]) == 19


def test_lost_node_goes_unknown_after_the_grace_period_with_kcm_up(fc):
    fc.lose_node("node-c")
    fc.advance(35)
    assert ready(fc, "node-c")["status"] == "True"
    fc.advance(15)
    condition = ready(fc, "node-c")
    assert (condition["status"], condition["reason"]) == ("Unknown", "NodeStatusUnknown")
    assert condition["message"] == "Kubelet stopped posting node status."
    fc.advance(10)
    taints = {(t["key"], t["effect"]) for t in fc.store.get("nodes", None, "node-c")["spec"]["taints"]}
    assert taints == {("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")}
    assert ready(fc, "node-a")["status"] == "True"
    fc.restore_node("node-c")
    fc.advance(6)
    assert ready(fc, "node-c")["status"] == "True"
    assert "taints" not in fc.store.get("nodes", None, "node-c")["spec"]


def test_lost_node_stays_ready_without_kcm_and_gets_a_fresh_grace_after_restart(fc):
    fc.stop_component("controller-manager")
    fc.lose_node("node-c")
    fc.advance(120)
    assert ready(fc, "node-c")["status"] == "True"
    fc.start_component("controller-manager")
    fc.advance(30)
    assert ready(fc, "node-c")["status"] == "True"
    fc.advance(15)
    assert ready(fc, "node-c")["status"] == "Unknown"


def test_noexecute_taint_evicts_after_the_toleration(fc):
    fc.add_pod("demo", "web-1", node_name="node-c", phase="Running")
    fc.lose_node("node-c")
    fc.advance(60)
    assert "deletionTimestamp" not in fc.store.get("pods", "demo", "web-1")["metadata"]
    fc.advance(300)
    pod = fc.store.get("pods", "demo", "web-1")
    # Evicted, but no kubelet finishes it: it stays Terminating on the lost node.
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30


def test_leader_lease_shapes_and_release(fc):
    lease = fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]
    assert lease["leaseDurationSeconds"] == 15 and lease["holderIdentity"].startswith("control-plane_")
    fc.stop_component("scheduler", release_lease=True)
    released = fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]
    assert released["holderIdentity"] == "" and released["leaseDurationSeconds"] == 1
    assert released["acquireTime"] == released["renewTime"]
    assert released["leaseTransitions"] == lease["leaseTransitions"]
    fc.advance(60)
    assert fc.store.get("leases", "kube-system", "kube-scheduler")["spec"] == released
    fc.start_component("scheduler")
    taken = fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]
    assert taken["holderIdentity"] not in ("", lease["holderIdentity"])
    assert taken["leaseTransitions"] == lease["leaseTransitions"] + 1
    assert taken["acquireTime"] == taken["renewTime"]


def test_stopped_kcm_lease_goes_stale(fc):
    fc.stop_component("controller-manager")
    before = renewed(fc, "kube-system", "kube-controller-manager")
    fc.advance(90)
    assert renewed(fc, "kube-system", "kube-controller-manager") == before
    assert fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]["holderIdentity"] != ""


def test_scheduler_marks_unschedulable_and_records_an_event(fc, admin):
    created = admin.post("/api/v1/namespaces/cpwatch/pods", {
        "metadata": {"name": "canary"},
        "spec": {"serviceAccountName": "cpwatch-canary", "containers": [{"name": "c", "image": "pause"}],
                 "nodeSelector": {"cpwatch.io/never": "true"}}})
    assert created.status == 201 and "conditions" not in created.json["status"]
    started = time.monotonic()
    condition = wait_for(lambda: next(iter(fc.store.get("pods", "cpwatch", "canary")["status"].get("conditions", [])),
                                      None))
    assert time.monotonic() - started < 1.5  # inside the shortest canary wait the suite uses (tests/faults)
    assert (condition["type"], condition["status"], condition["reason"]) == ("PodScheduled", "False", "Unschedulable")
    assert condition["message"] == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    events = admin.get("/api/v1/namespaces/cpwatch/events?fieldSelector=reason%3DFailedScheduling").json["items"]
    assert [e["involvedObject"]["name"] for e in events] == ["canary"]
    assert events[0]["message"] == condition["message"]


def test_scheduler_binds_a_schedulable_pod(fc, admin):
    admin.post("/api/v1/namespaces/default/pods", {
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "pause"}],
                                             "nodeSelector": {"kubernetes.io/hostname": "node-b"}}})
    pod = wait_for(lambda: (p := fc.store.get("pods", "default", "p"))["spec"].get("nodeName") and p)
    assert pod["spec"]["nodeName"] == "node-b"
    assert pod["status"]["conditions"][0]["type"] == "PodScheduled" and pod["status"]["conditions"][0]["status"] == "True"


def test_scheduler_avoids_tainted_nodes_and_says_why(fc):
    fc.lose_node("node-c")
    fc.advance(50)
    fc.add_pod("demo", "picky", node_selector={"kubernetes.io/hostname": "node-c"})
    fc.advance(1)
    message = fc.store.get("pods", "demo", "picky")["status"]["conditions"][0]["message"]
    assert message == ("0/3 nodes are available: 1 node(s) had taint {node.kubernetes.io/unreachable: }, that the "
                       "pod didn't tolerate, 2 node(s) didn't match Pod's node affinity/selector.")


def test_scheduler_down_leaves_pods_untouched(fc):
    fc.stop_component("scheduler")
    fc.add_pod("demo", "waiting")
    fc.add_pod("demo", "gated", scheduling_gates=("example.com/gate",))
    fc.add_pod("demo", "other", scheduler_name="my-scheduler")
    fc.advance(120)
    pod = fc.store.get("pods", "demo", "waiting")
    assert "nodeName" not in pod["spec"] and "conditions" not in pod["status"]
    fc.start_component("scheduler")
    fc.advance(1)
    assert fc.store.get("pods", "demo", "waiting")["spec"]["nodeName"]
    assert "nodeName" not in fc.store.get("pods", "demo", "gated")["spec"]
    assert "nodeName" not in fc.store.get("pods", "demo", "other")["spec"]


def test_pod_gc_removes_orphans_after_the_quarantine(fc):
    fc.add_pod("demo", "orphan", node_name="node-gone", deleted_seconds_ago=0)
    fc.advance(20)
    assert fc.store.get("pods", "demo", "orphan") is not None
    fc.advance(45)
    assert fc.store.get("pods", "demo", "orphan") is None


def test_pod_gc_needs_kcm(fc):
    fc.stop_component("controller-manager")
    fc.add_pod("demo", "orphan", node_name="node-gone", deleted_seconds_ago=10)
    fc.advance(150)
    assert fc.store.get("pods", "demo", "orphan") is not None


def test_deleted_node_orphans_its_pods(fc):
    fc.add_pod("demo", "bound", node_name="node-b")
    fc.delete_node("node-b")
    assert fc.store.get("nodes", None, "node-b") is None
    fc.advance(70)
    assert fc.store.get("pods", "demo", "bound") is None


def test_live_kubelet_finishes_terminating_pods_but_finalizers_hold(fc, admin):
    fc.add_pod("demo", "plain", node_name="node-a", phase="Running")
    fc.add_pod("demo", "held", node_name="node-a", phase="Running", finalizers=("example.com/hold",))
    assert admin.delete("/api/v1/namespaces/demo/pods/plain").json["metadata"]["deletionGracePeriodSeconds"] == 30
    admin.delete("/api/v1/namespaces/demo/pods/held")
    fc.advance(1)
    assert fc.store.get("pods", "demo", "plain") is None
    held = fc.store.get("pods", "demo", "held")
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == ["example.com/hold"]
    assert admin.patch("/api/v1/namespaces/demo/pods/held", {"metadata": {"finalizers": None}}).status == 200
    assert fc.store.get("pods", "demo", "held") is None


def test_lost_kubelet_leaves_terminating_pods(fc):
    fc.lose_node("node-c")
    fc.add_pod("demo", "stuck", node_name="node-c", deleted_seconds_ago=300)
    fc.advance(30)
    assert fc.store.get("pods", "demo", "stuck") is not None


def test_observed_generation_follows_only_with_kcm(fc, admin):
    path = "/apis/apps/v1/namespaces/cpwatch/deployments/cpwatch-canary"
    deployment = admin.get(path).json
    assert deployment["metadata"]["generation"] == 1 and deployment["status"]["observedGeneration"] == 1
    patch = {"spec": {"template": {"metadata": {"annotations": {"cpwatch.io/probe": "1"}}}}}
    patched = admin.patch(path, patch).json
    assert patched["metadata"]["generation"] == 2
    wait_for(lambda: admin.get(path).json["status"]["observedGeneration"] == 2)
    metadata_only = admin.patch(path, {"metadata": {"annotations": {"x": "y"}}}).json
    assert metadata_only["metadata"]["generation"] == 2
    fc.stop_component("controller-manager")
    assert admin.patch(path, {"spec": {"template": {"metadata": {"annotations": {"cpwatch.io/probe": "2"}}}}},
                       content_type="application/strategic-merge-patch+json").json["metadata"]["generation"] == 3
    fc.advance(30)
    assert admin.get(path).json["status"]["observedGeneration"] == 2


def test_default_service_account_is_recreated_only_with_kcm(fc, admin):
    path = "/api/v1/namespaces/cpwatch/serviceaccounts/default"
    assert admin.delete(path).status == 200
    wait_for(lambda: admin.get(path).status == 200)
    fc.stop_component("controller-manager")
    admin.delete(path)
    fc.advance(30)
    assert admin.get(path).status == 404
    fc.start_component("controller-manager")
    assert admin.get(path).status == 200


def test_new_namespace_gets_default_service_account_and_deletion_empties_it(fc, admin):
    assert admin.post("/api/v1/namespaces", {"metadata": {"name": "scratch"}}).status == 201
    wait_for(lambda: fc.store.get("serviceaccounts", "scratch", "default"))
    deleted = admin.delete("/api/v1/namespaces/scratch").json
    assert deleted["status"]["phase"] == "Terminating" and deleted["metadata"]["deletionTimestamp"]
    wait_for(lambda: fc.store.get("namespaces", None, "scratch") is None)
    assert fc.store.list("serviceaccounts", "scratch") == []


def test_static_pods_follow_component_state():
    with FakeCluster(nodes=3, static_pods=True) as fc:
        def pod(name):
            return fc.store.get("pods", "kube-system", name)

        names = {p["metadata"]["name"] for p in fc.store.list("pods", "kube-system", label_selector="tier=control-plane")}
        assert {"etcd-node-a", "etcd-node-b", "etcd-node-c", "kube-apiserver-node-a",
                "kube-controller-manager-node-a", "kube-scheduler-node-c"} <= names
        assert pod("kube-controller-manager-node-a")["metadata"]["labels"] == {
            "component": "kube-controller-manager", "tier": "control-plane"}
        fc.stop_component("controller-manager")
        fc.stop_etcd_members(1)
        fc.advance(1)
        kcm = pod("kube-controller-manager-node-a")
        assert next(c for c in kcm["status"]["conditions"] if c["type"] == "Ready")["status"] == "False"
        assert pod("etcd-node-a")["status"]["containerStatuses"][0]["ready"] is False
        assert pod("etcd-node-b")["status"]["containerStatuses"][0]["ready"] is True
        fc.start_component("controller-manager")
        fc.stop_etcd_members(0)
        fc.advance(1)
        kcm = pod("kube-controller-manager-node-a")["status"]["containerStatuses"][0]
        assert kcm["ready"] is True and kcm["restartCount"] == 1
        assert pod("etcd-node-a")["status"]["containerStatuses"][0]["restartCount"] == 1


def test_component_names_are_checked(fc):
    with pytest.raises(ValueError, match="unknown component"):
        fc.stop_component("etcd")
