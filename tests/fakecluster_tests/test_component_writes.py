"""The simulated components write through the apiserver's write path: each write meets the
configured admission webhooks with its real attributes (operation, resource, subresource,
namespace, labels) and etcd's faults, and a refused one is refused with the message a client
gets for the same write."""

from __future__ import annotations

import time

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_time

pytestmark = pytest.mark.network

UNREACHABLE = "node.kubernetes.io/unreachable"


def lease_webhook(fc: FakeCluster, namespace: str, operations=("UPDATE",), **options) -> None:
    fc.add_failing_webhook("lease-policy.example.org", configuration="lease-policy", resources=("leases",),
                           api_groups=("coordination.k8s.io",), operations=operations, namespaces=(namespace,),
                           **options)


def cluster_webhook(fc: FakeCluster, resources, operations=("UPDATE",), **options) -> None:
    fc.add_failing_webhook("node-policy.example.org", configuration="node-policy", resources=tuple(resources),
                           operations=operations, scope="*", namespaces=None, **options)


def renew_time(fc: FakeCluster, namespace: str, name: str):
    return parse_time(fc.store.get("leases", namespace, name)["spec"]["renewTime"])


def ready(fc: FakeCluster, node: str) -> dict:
    return next(c for c in fc.store.get("nodes", None, node)["status"]["conditions"] if c["type"] == "Ready")


def test_a_webhook_on_kube_system_leases_stops_both_leaders_and_keeps_their_holders(fc):
    leases = {name: fc.store.get("leases", "kube-system", name)["spec"]
              for name in ("kube-controller-manager", "kube-scheduler")}
    lease_webhook(fc, "kube-system")
    fc.advance(9)
    assert fc.controller_manager.elector.leader and fc.scheduler.elector.leader  # within the renew deadline
    fc.advance(60)
    assert not fc.controller_manager.elector.leader and not fc.scheduler.elector.leader
    assert fc.controller_manager.running and fc.scheduler.running  # restarted, still trying
    assert fc.controller_manager.elector.exits == fc.scheduler.elector.exits == 1
    for name, spec in leases.items():
        assert fc.store.get("leases", "kube-system", name)["spec"] == spec
    # Node Leases live in kube-node-lease: the webhook does not cover them.
    assert (fc.clock.now() - renew_time(fc, "kube-node-lease", "node-a")).total_seconds() <= 11


def test_leaders_take_over_once_the_webhook_is_gone(fc):
    before = fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]
    lease_webhook(fc, "kube-system")
    fc.advance(40)
    fc.remove_webhooks()
    fc.advance(2)
    taken = fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]
    assert taken["holderIdentity"] not in (before["holderIdentity"], "")
    assert taken["leaseTransitions"] == before["leaseTransitions"] + 1


def test_a_missing_leader_lease_is_created_unless_a_webhook_refuses_the_create(fc):
    lease_webhook(fc, "kube-system", operations=("CREATE",))
    fc.store.delete("leases", "kube-system", "kube-scheduler")
    fc.advance(20)
    assert fc.store.get("leases", "kube-system", "kube-scheduler") is None
    fc.remove_webhooks()
    fc.advance(2)
    assert fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]["leaseTransitions"] == 0


def test_a_webhook_on_node_leases_stops_the_lease_renewals_not_the_node_status(fc):
    lease_webhook(fc, "kube-node-lease", mode="refused")
    before = renew_time(fc, "kube-node-lease", "node-a")
    fc.advance(70)
    assert renew_time(fc, "kube-node-lease", "node-a") == before
    heartbeat = parse_time(ready(fc, "node-a")["lastHeartbeatTime"])
    assert (fc.clock.now() - heartbeat).total_seconds() <= 61  # NodeStatus still posted every 60 s
    assert fc.scheduler.elector.leader  # kube-system Leases are not covered


def test_a_webhook_on_nodes_status_stops_the_kubelets_status_not_their_leases(fc):
    cluster_webhook(fc, ["nodes/status"])
    before = ready(fc, "node-a")["lastHeartbeatTime"]
    fc.advance(70)
    assert ready(fc, "node-a")["lastHeartbeatTime"] == before
    assert (fc.clock.now() - renew_time(fc, "kube-node-lease", "node-a")).total_seconds() <= 11


def test_node_lifecycle_writes_status_and_taints_separately(fc):
    fc.lose_node("node-c")
    cluster_webhook(fc, ["nodes"])  # the taints are a node PATCH, the conditions nodes/status
    fc.advance(55)
    assert ready(fc, "node-c")["status"] == "Unknown"
    assert "taints" not in fc.store.get("nodes", None, "node-c")["spec"]
    fc.remove_webhooks()
    cluster_webhook(fc, ["nodes/status"])
    fc.lose_node("node-b")
    fc.advance(55)
    assert ready(fc, "node-b")["status"] == "True"
    # node-c's taints land once node PATCHes pass.
    assert {t["effect"] for t in fc.store.get("nodes", None, "node-c")["spec"]["taints"]} == {"NoSchedule", "NoExecute"}


def test_kubelet_deletes_meet_a_webhook_by_the_pods_labels(fc):
    fc.ensure_namespace("demo")
    fc.add_failing_webhook(resources=("pods",), operations=("DELETE",), namespaces=("demo",),
                           object_selector={"matchLabels": {"app": "web"}})
    fc.add_pod("demo", "leaving", node_name="node-a", deleted_seconds_ago=0, labels={"app": "web"})
    fc.add_pod("demo", "leaving-too", node_name="node-a", deleted_seconds_ago=0, labels={"app": "db"})
    fc.advance(5)
    # The webhook covers only pods labelled app=web: the kubelet's DELETE of the other lands.
    assert fc.store.get("pods", "demo", "leaving") is not None
    assert fc.store.get("pods", "demo", "leaving-too") is None
    fc.remove_webhooks()
    fc.advance(1)
    assert fc.store.get("pods", "demo", "leaving") is None


def test_pod_gc_deletes_meet_their_webhook(fc):
    fc.ensure_namespace("demo")
    fc.add_failing_webhook(resources=("pods",), operations=("DELETE",), namespaces=("demo",))
    fc.add_pod("demo", "orphan", node_name="node-gone", deleted_seconds_ago=0)
    fc.advance(90)
    assert fc.store.get("pods", "demo", "orphan") is not None
    fc.remove_webhooks()
    fc.advance(21)
    assert fc.store.get("pods", "demo", "orphan") is None


def test_controller_writes_meet_their_webhooks(fc, admin):
    fc.ensure_namespace("demo")
    fc.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
                  "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})
    fc.advance(1)
    fc.add_failing_webhook(resources=("deployments/status",), api_groups=("apps",), namespaces=("demo",))
    fc.add_failing_webhook("sa-policy.example.org", configuration="sa-policy", resources=("serviceaccounts",),
                           operations=("CREATE",), namespaces=None)
    assert admin.patch("/apis/apps/v1/namespaces/demo/deployments/web", {"spec": {"replicas": 2}}).status == 200
    assert admin.post("/api/v1/namespaces", {"metadata": {"name": "fresh"}}).status == 201
    fc.advance(10)
    deployment = fc.store.get("deployments", "demo", "web")
    assert deployment["status"]["observedGeneration"] == deployment["metadata"]["generation"] - 1
    assert fc.store.get("serviceaccounts", "fresh", "default") is None
    fc.remove_webhooks()
    fc.advance(2)
    deployment = fc.store.get("deployments", "demo", "web")
    assert deployment["status"]["observedGeneration"] == deployment["metadata"]["generation"]
    assert fc.store.get("serviceaccounts", "fresh", "default") is not None


def test_namespace_controller_cannot_empty_a_namespace_a_webhook_guards(fc, admin):
    assert admin.post("/api/v1/namespaces", {"metadata": {"name": "old"}}).status == 201
    assert admin.post("/api/v1/namespaces/old/configmaps", {"metadata": {"name": "kept"}}).status == 201
    fc.add_failing_webhook(resources=("configmaps",), operations=("DELETE",), namespaces=("old",))
    assert admin.delete("/api/v1/namespaces/old").status == 200
    fc.advance(10)
    assert fc.store.get("configmaps", "old", "kept") is not None
    assert fc.store.get("namespaces", None, "old")["status"]["phase"] == "Terminating"
    fc.remove_webhooks()
    fc.advance(2)
    assert fc.store.get("namespaces", None, "old") is None


def test_hpa_status_writes_meet_their_webhook():
    with FakeCluster(nodes=1, demo_objects=True) as fc:
        fc.advance(16)
        before = fc.store.get("horizontalpodautoscalers", "demo", "web")["status"]
        fc.add_failing_webhook(resources=("horizontalpodautoscalers/status",), api_groups=("autoscaling",),
                               namespaces=("demo",))
        fc.register_unavailable_apiservice()
        fc.advance(31)
        assert fc.store.get("horizontalpodautoscalers", "demo", "web")["status"] == before
        fc.remove_webhooks()
        fc.advance(16)
        assert fc.store.get("horizontalpodautoscalers", "demo", "web")["status"] != before


def test_a_component_sees_the_refusal_a_client_gets_without_waiting_for_a_hanging_webhook(fc, admin):
    lease_webhook(fc, "kube-node-lease", mode="timeout", timeout_seconds=5)
    lease = fc.store.get("leases", "kube-node-lease", "node-a")
    started = time.monotonic()
    refusal = fc.kubelets.heartbeats.update("leases", lease)
    elapsed = time.monotonic() - started
    assert refusal is not None and refusal.seconds == 5.0 and elapsed < refusal.seconds
    answer = admin.put("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a?timeout=10s",
                       lease, timeout=8)
    assert answer.status == 500 and answer.json["message"] == refusal.message
    assert refusal.message.endswith('/validate?timeout=5s": context deadline exceeded')


def test_the_leader_election_client_timeout_bounds_the_webhook_deadline(fc):
    lease_webhook(fc, "kube-system", mode="timeout", timeout_seconds=10)
    lease = fc.store.get("leases", "kube-system", "kube-scheduler")
    refusal = fc.scheduler.elector.writes.update("leases", lease)
    assert refusal.seconds == 5.0 and "?timeout=5s" in refusal.message


def test_etcd_faults_refuse_the_components_writes(fc):
    fc.fail_writes("etcdserver: request timed out")
    before = renew_time(fc, "kube-node-lease", "node-a")
    fc.advance(20)
    assert renew_time(fc, "kube-node-lease", "node-a") == before
    refusal = fc.kubelets.heartbeats.update("leases", fc.store.get("leases", "kube-node-lease", "node-a"))
    assert (refusal.error.code, refusal.message) == (500, "etcdserver: request timed out")
    fc.fail_writes(None)
    fc.advance(1)
    assert renew_time(fc, "kube-node-lease", "node-a") != before


def test_under_nospace_kubelets_still_remove_finished_pods(fc):
    fc.etcd_nospace()
    fc.add_pod("default", "done", node_name="node-a", deleted_seconds_ago=0)
    fc.add_pod("default", "held", node_name="node-a", deleted_seconds_ago=0, finalizers=("example.org/hold",))
    fc.advance(2)
    # etcd's space alarm refuses puts but lets a delete that removes the key pass.
    assert fc.store.get("pods", "default", "done") is None
    assert fc.store.get("pods", "default", "held")["metadata"]["deletionGracePeriodSeconds"] == 30
