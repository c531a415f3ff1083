"""The fake's EKS control-plane metrics API (issue 10): off by default (404), the documented paths
and RBAC when on, Prometheus text that a maintained parser reads, and numbers that follow the
simulated components (work queues, pending pods, attempts, leadership, a component down)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakecluster import FakeCluster

from .kube_http import Client

pytestmark = pytest.mark.network

KCM = "/apis/metrics.eks.amazonaws.com/v1/kcm/container/metrics"
KSH = "/apis/metrics.eks.amazonaws.com/v1/ksh/container/metrics"


def series(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def queue(values: dict, metric: str, name: str) -> float:
    return values[(metric, (("name", name),))]


def test_off_by_default_the_group_does_not_exist(fc, admin, checker):
    assert admin.get(KCM).status == 404
    assert checker.get(KSH).status == 404
    assert "metrics.eks.amazonaws.com" not in str(admin.get("/apis").json)


def test_on_the_group_is_an_available_aggregated_api(fc, admin):
    fc.serve_eks_metrics()
    groups = [g["name"] for g in admin.get("/apis").json["groups"]]
    assert "metrics.eks.amazonaws.com" in groups
    apiservice = admin.get("/apis/apiregistration.k8s.io/v1/apiservices/v1.metrics.eks.amazonaws.com").json
    assert [c["status"] for c in apiservice["status"]["conditions"] if c["type"] == "Available"] == ["True"]
    fc.serve_eks_metrics(on=False)
    assert admin.get(KCM).status == 404


def test_only_the_two_documented_paths_answer(fc, admin):
    fc.serve_eks_metrics()
    assert admin.get(KCM).status == 200 and admin.get(KSH).status == 200
    for path in ("/apis/metrics.eks.amazonaws.com/v1/kcm/container", "/apis/metrics.eks.amazonaws.com/v1/etcd/container/metrics",
                 "/apis/metrics.eks.amazonaws.com/v1/kcm/other/metrics"):
        assert admin.get(path).status == 404, path


def test_rbac_is_kcm_metrics_and_ksh_metrics_get(fc, checker):
    """infra/10-rbac.yaml grants them; a user with no rule is forbidden, naming the subresource."""
    fc.serve_eks_metrics()
    assert checker.get(KCM).status == 200
    fc.add_token("nobody-token", "nobody", ["system:authenticated"])
    denied = Client(fc, "nobody-token").get(KSH)
    assert denied.status == 403
    assert 'resource "ksh/metrics" in API group "metrics.eks.amazonaws.com"' in denied.json["message"]


def test_controller_manager_exposition(fc, admin):
    fc.serve_eks_metrics()
    fc.advance(12)
    answer = admin.get(KCM)
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = answer.body
    declared = types(text)
    assert declared["workqueue_depth"] == "gauge" and declared["workqueue_adds"] == "counter"
    assert declared["workqueue_queue_duration_seconds"] == "histogram"
    assert declared["workqueue_work_duration_seconds"] == "histogram"
    values = series(text)
    assert values[("leader_election_master_status", (("name", "kube-controller-manager"),))] == 1
    # three nodes pass through the node lifecycle queue at each 5 s monitor pass, all taken
    assert queue(values, "workqueue_adds_total", "node_lifecycle_controller") >= 3
    assert queue(values, "workqueue_queue_duration_seconds_count", "node_lifecycle_controller") == \
        queue(values, "workqueue_adds_total", "node_lifecycle_controller")
    assert queue(values, "workqueue_depth", "node_lifecycle_controller") == 0
    assert queue(values, "workqueue_longest_running_processor_seconds", "job") == 0  # present, idle


def test_a_hung_controller_shows_in_its_queue_only(fc, admin):
    fc.serve_eks_metrics()
    fc.advance(10)
    fc.stall_controller("node_lifecycle_controller", "hung")
    fc.advance(100)
    values = series(admin.get(KCM).body)
    assert 95 <= queue(values, "workqueue_longest_running_processor_seconds", "node_lifecycle_controller") <= 100
    assert queue(values, "workqueue_unfinished_work_seconds", "node_lifecycle_controller") >= 95
    assert queue(values, "workqueue_depth", "node_lifecycle_controller") == 3
    assert queue(values, "workqueue_longest_running_processor_seconds", "deployment") == 0
    fc.stall_controller("node_lifecycle_controller", None)
    fc.advance(6)
    values = series(admin.get(KCM).body)
    assert queue(values, "workqueue_depth", "node_lifecycle_controller") == 0
    assert queue(values, "workqueue_longest_running_processor_seconds", "node_lifecycle_controller") == 0


def test_a_stalled_node_lifecycle_controller_marks_no_silent_node(fc, admin):
    fc.stall_controller("node_lifecycle_controller", "idle")
    fc.lose_node("node-c")
    fc.advance(90)
    ready = [c for c in admin.get("/api/v1/nodes/node-c").json["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"


def test_scheduler_exposition_follows_its_queues_and_attempts(fc, admin):
    fc.serve_eks_metrics()
    fc.advance(5)
    fc.add_pod("apps", "placed")
    fc.add_pod("apps", "nowhere", node_selector={"disk": "none"})
    fc.advance(2)
    values = series(admin.get(KSH).body)
    attempts = {dict(labels)["result"]: v for (name, labels), v in values.items()
                if name == "scheduler_schedule_attempts_total"}
    assert attempts == {"error": 0, "scheduled": 1, "unschedulable": 1}
    pending = {dict(labels)["queue"]: v for (name, labels), v in values.items() if name == "scheduler_pending_pods"}
    assert pending == {"active": 0, "backoff": 0, "unschedulable": 1, "gated": 0}
    fc.wedge_component("scheduler")
    fc.add_pod("apps", "waiting")
    fc.add_pod("apps", "gated", scheduling_gates=["example.com/hold"])
    values = series(admin.get(KSH).body)
    pending = {dict(labels)["queue"]: v for (name, labels), v in values.items() if name == "scheduler_pending_pods"}
    assert pending == {"active": 1, "backoff": 0, "unschedulable": 1, "gated": 1}


def test_a_component_down_answers_the_aggregators_503(fc, admin):
    fc.serve_eks_metrics()
    fc.stop_component("controller-manager")
    answer = admin.get(KCM)
    assert (answer.status, answer.body) == (503, "service unavailable\n")
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert admin.get(KSH).status == 200
    fc.start_component("controller-manager")
    assert admin.get(KCM).status == 200


def test_a_standby_exports_no_work_queue(fc, admin):
    """A controller-manager that cannot renew its Lease loses it and starts over as a standby."""
    fc.serve_eks_metrics()
    fc.advance(5)
    fc.fail_writes()
    fc.advance(15)
    values = series(admin.get(KCM).body)
    assert values[("leader_election_master_status", (("name", "kube-controller-manager"),))] == 0
    assert not [key for key in values if key[0].startswith("workqueue_")]


def test_gzip_when_asked(fc, admin):
    fc.serve_eks_metrics()
    answer = admin.request("GET", KCM, headers={"Accept-Encoding": "gzip"})
    assert answer.headers.get("Content-Encoding") == "gzip"


@pytest.mark.parametrize("mode", ["sideways", "stuck"])
def test_unknown_stall_mode_is_refused(mode):
    with FakeCluster(nodes=1) as fc, pytest.raises(ValueError, match="a controller stalls 'hung' or 'idle'"):
        fc.stall_controller("node_lifecycle_controller", mode)
