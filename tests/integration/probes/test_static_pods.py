"""The static-pod probe (probes/static_pods.py) against the fake control plane (issue 12).

The control plane's static pods, Ready or not, per component; a pod the watch cache shows not
Ready is judged by a consistent read.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from cpwatch.probes import static_pods
from cpwatch.settings import Settings
from tests.fakecluster import FakeCluster

from .helpers import context_of


def static_pods_of(fc: FakeCluster, tmp_path) -> list[tuple[str, str, dict]]:
    ctx, api = context_of(fc, tmp_path, Settings(page_size=2))
    try:
        return sorted(((o.code, o.component.value, dict(o.evidence)) for o in static_pods.probe(ctx)),
                      key=lambda found: (found[0], found[1], found[2]["pod"]))
    finally:
        api.close()


def test_ready_static_pods_are_reported_per_component(tmp_path):
    with FakeCluster(nodes=1, static_pods=True) as fc:
        fc.advance(5)
        fc.add_pod("kube-system", "kube-proxy-x", node_name="node-a", labels={"tier": "control-plane",
                                                                             "component": "kube-proxy"})
        fc.add_pod("kube-system", "unlabelled", node_name="node-a", labels={"tier": "control-plane"})
        observations = static_pods_of(fc, tmp_path)
    assert observations == [
        ("STATIC_POD_READY", "apiserver", {"pod": "kube-system/kube-apiserver-node-a", "restarts": 0}),
        ("STATIC_POD_READY", "controller-manager",
         {"pod": "kube-system/kube-controller-manager-node-a", "restarts": 0}),
        ("STATIC_POD_READY", "etcd", {"pod": "kube-system/etcd-1-node-a", "restarts": 0}),
        ("STATIC_POD_READY", "etcd", {"pod": "kube-system/etcd-2-node-a", "restarts": 0}),
        ("STATIC_POD_READY", "etcd", {"pod": "kube-system/etcd-node-a", "restarts": 0}),
        ("STATIC_POD_READY", "scheduler", {"pod": "kube-system/kube-scheduler-node-a", "restarts": 0})]


def test_a_crashing_static_pod_is_not_ready_with_its_node_restarts_and_reason(tmp_path):
    with FakeCluster(nodes=1, static_pods=True) as fc:
        fc.advance(5)
        fc.stop_etcd_members(1)
        fc.advance(5)
        observations = static_pods_of(fc, tmp_path)
    not_ready = [o for o in observations if o[0] == "STATIC_POD_NOT_READY"]
    assert not_ready == [("STATIC_POD_NOT_READY", "etcd", {
        "pod": "kube-system/etcd-node-a", "node": "node-a", "restarts": 0, "reason": "ContainersNotReady"})]


def test_a_pod_the_watch_cache_shows_not_ready_is_judged_by_a_consistent_read(tmp_path):
    with FakeCluster(nodes=1, static_pods=True) as fc:
        fc.advance(5)
        fc.stop_etcd_members(1)
        fc.advance(5)
        fc.freeze_watch_cache()
        fc.stop_etcd_members(0)
        fc.advance(5)
        fc.clear_requests()
        observations = static_pods_of(fc, tmp_path)
        lists = [parse_qs(urlsplit(r.path).query) for r in fc.requests
                 if urlsplit(r.path).path == "/api/v1/namespaces/kube-system/pods"]
    consistent = [query for query in lists if "resourceVersion" not in query]
    cached = [query for query in lists if "resourceVersion" in query]
    assert not [o for o in observations if o[0] == "STATIC_POD_NOT_READY"]
    assert ("STATIC_POD_READY", "etcd", {"pod": "kube-system/etcd-node-a", "restarts": 1}) in observations
    assert consistent == [{"fieldSelector": ["metadata.name=etcd-node-a"]}]
    # the kube-system list comes from the watch cache, asked in pages of the configured size (2 here)
    assert cached and all(q["limit"] == ["2"] and q["resourceVersion"] == ["0"] for q in cached)
    assert all(q["labelSelector"] == ["tier=control-plane"] for q in cached)


def test_a_not_ready_pod_gone_by_the_consistent_read_is_left_out(tmp_path):
    with FakeCluster(nodes=1, static_pods=True) as fc:
        fc.advance(5)
        fc.stop_etcd_members(1)
        fc.advance(5)
        fc.freeze_watch_cache()
        fc.store.delete("pods", "kube-system", "etcd-node-a")
        observations = static_pods_of(fc, tmp_path)
    assert [o for o in observations if o[2]["pod"] == "kube-system/etcd-node-a"] == []
    assert len(observations) == 5


def test_a_mirror_pod_without_a_ready_condition_yet_is_not_ready_by_its_phase(tmp_path):
    with FakeCluster(nodes=1, static_pods=True) as fc:
        fc.advance(5)
        fc.add_pod("kube-system", "kube-scheduler-node-b", node_name="node-a",
                   labels={"tier": "control-plane", "component": "kube-scheduler"})
        observations = static_pods_of(fc, tmp_path)
    assert ("STATIC_POD_NOT_READY", "scheduler", {"pod": "kube-system/kube-scheduler-node-b", "node": "node-a",
                                                  "restarts": 0, "reason": "Pending"}) in observations


def test_restarts_are_summed_over_the_pods_containers(tmp_path):
    def second_container(pod: dict) -> None:
        first = pod["status"]["containerStatuses"][0]
        first["restartCount"] = 3
        pod["status"]["containerStatuses"].append({**first, "name": "sidecar", "restartCount": 2})

    with FakeCluster(nodes=1, static_pods=True) as fc:
        fc.advance(5)
        fc.store.mutate("pods", "kube-system", "kube-apiserver-node-a", second_container)
        observations = static_pods_of(fc, tmp_path)
    restarts = {"pod": "kube-system/kube-apiserver-node-a", "restarts": 5}
    assert ("STATIC_POD_READY", "apiserver", restarts) in observations


def test_a_not_ready_pod_relabelled_by_the_consistent_read_is_left_out(tmp_path):
    def relabel(pod: dict) -> None:
        pod["metadata"]["labels"]["component"] = "etcd-retired"

    with FakeCluster(nodes=1, static_pods=True) as fc:
        fc.advance(5)
        fc.stop_etcd_members(1)
        fc.advance(5)
        fc.freeze_watch_cache()
        fc.store.mutate("pods", "kube-system", "etcd-node-a", relabel)
        observations = static_pods_of(fc, tmp_path)
    assert [o for o in observations if o[2]["pod"] == "kube-system/etcd-node-a"] == []
    assert len(observations) == 5
