"""The EKS control-plane metrics API against the fake control plane (issue 10, deliverable 1).

The fake serves /apis/metrics.eks.amazonaws.com/v1/{kcm,ksh}/container/metrics only after
serve_eks_metrics(); its numbers follow its own controller-manager and scheduler (work queues,
pending pods, attempts). Each test changes one thing and compares with the same cluster read
without the metrics API, so what the new source decides is exactly the difference.
"""

from __future__ import annotations

import pytest

from cpwatch.findings import Component
from tests.fakecluster import FakeCluster

from .conftest import FAST, check, codes, verdicts

pytestmark = pytest.mark.network

SETTINGS = FAST.with_overrides(eks_metrics_second_look_s=1.0)
K, S = Component.CONTROLLER_MANAGER, Component.SCHEDULER
ALL_HEALTHY = {"apiserver": "healthy", "etcd": "healthy", "controller-manager": "healthy", "scheduler": "healthy"}


def judged(diagnosis) -> dict[str, tuple[str, str]]:
    return {c.value: (v.verdict.value, v.confidence.value) for c, v in diagnosis.components.items()}


def only(diagnosis, code: str, component: Component):
    [found] = [o for o in diagnosis.observations if o.code == code and o.component is component]
    return found


def test_absent_api_is_said_and_judges_nothing(tmp_path):
    """Not EKS (the fake's default): 404 on the group, one context finding per component."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(20)
        diagnosis = check(fc, tmp_path, SETTINGS, read_only=True)
        statuses = {r.path: r.status for r in fc.requests if "metrics.eks.amazonaws.com" in r.path}
    assert statuses == {"/apis/metrics.eks.amazonaws.com/v1/kcm/container/metrics": 404,
                        "/apis/metrics.eks.amazonaws.com/v1/ksh/container/metrics": 404}
    assert only(diagnosis, "EKS_METRICS_NOT_SERVED", K).evidence["path"].endswith("/kcm/container/metrics")
    assert only(diagnosis, "EKS_METRICS_NOT_SERVED", S).evidence["path"].endswith("/ksh/container/metrics")
    assert verdicts(diagnosis) == ALL_HEALTHY


def test_healthy_cluster_with_the_api_changes_no_verdict(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(20)
        without = check(fc, tmp_path, SETTINGS, read_only=True)
        fc.serve_eks_metrics()
        fc.advance(10)
        served = check(fc, tmp_path, SETTINGS, read_only=True)
    assert judged(served) == judged(without)
    assert verdicts(served) == ALL_HEALTHY
    drained = only(served, "CONTROLLER_QUEUES_DRAINING", K).evidence
    assert drained["queues"] > 5 and drained["depth"] == 0
    moving = only(served, "SCHEDULER_QUEUES_MOVING", S).evidence
    assert (moving["active"], moving["gated"]) == (0, 0)
    assert not codes(served) & {"EKS_METRICS_NOT_SERVED", "EKS_METRICS_FAILING"}


def test_hung_node_lifecycle_worker_with_a_fresh_lease_is_a_degraded_controller_manager(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(20)
        fc.stall_controller("node_lifecycle_controller", "hung")
        fc.advance(200)
        early = check(fc, tmp_path, SETTINGS, read_only=True)  # 200 s < controller_stuck_after_s
        fc.advance(150)
        late = check(fc, tmp_path, SETTINGS, read_only=True)
    assert verdicts(early) == ALL_HEALTHY and "CONTROLLER_WORKER_HUNG" not in codes(early)
    assert "LEADER_LEASE_FRESH" in codes(late, "controller-manager")
    assert verdicts(late) == {**ALL_HEALTHY, "controller-manager": "degraded"}
    key = late.components[K].key_finding()
    assert key.code == "CONTROLLER_WORKER_HUNG" and key.evidence["controller"] == "node_lifecycle_controller"
    # the worker took its item at the first node-monitor pass after the stall (every 5 s)
    assert 345 <= key.evidence["longest_running_s"] <= 360 and key.evidence["threshold_s"] == 300
    assert "node_lifecycle_controller" in key.message()
    assert late.root_cause is K


def test_controller_whose_workers_do_not_run_is_found_by_the_second_look(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(20)
        fc.stall_controller("node_lifecycle_controller", "idle")
        fc.advance(10)
        diagnosis = check(fc, tmp_path, SETTINGS, read_only=True)
        kcm_reads = [r for r in fc.requests if r.path.endswith("/kcm/container/metrics")]
    assert len(kcm_reads) == 2  # the second look
    assert verdicts(diagnosis) == {**ALL_HEALTHY, "controller-manager": "degraded"}
    stuck = only(diagnosis, "CONTROLLER_QUEUE_NOT_DRAINING", K).evidence
    assert stuck["controller"] == "node_lifecycle_controller" and stuck["depth"] == 3 and stuck["gap_s"] == 1.0


def test_scheduler_not_attempting_while_pods_wait(tmp_path):
    """Pods younger than unattempted_pod_age_s: the pending-pod probe does not judge them yet,
    so only the scheduler's own queues show that it stopped."""
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(10)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "web-0")
        fc.add_pod("apps", "web-1")
        fc.advance(5)
        diagnosis = check(fc, tmp_path, SETTINGS, read_only=True)
        fc.wedge_component("scheduler", wedged=False)
        fc.advance(2)
        recovered = check(fc, tmp_path, SETTINGS, read_only=True)
    assert "PODS_UNATTEMPTED" not in codes(diagnosis) and "LEADER_LEASE_FRESH" in codes(diagnosis, "scheduler")
    assert verdicts(diagnosis) == {**ALL_HEALTHY, "scheduler": "degraded"}
    stalled = only(diagnosis, "SCHEDULER_NOT_ATTEMPTING", S).evidence
    assert stalled["active"] == 2 and stalled["gap_s"] == 1.0
    assert verdicts(recovered) == ALL_HEALTHY
    assert only(recovered, "SCHEDULER_QUEUES_MOVING", S).evidence["attempts"] >= 2


def test_failing_endpoint_raises_the_confidence_of_a_down_controller_manager(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(20)
        fc.stop_component("controller-manager")
        fc.advance(90)
        without = check(fc, tmp_path, SETTINGS, read_only=True)
        fc.serve_eks_metrics()
        served = check(fc, tmp_path, SETTINGS, read_only=True)
    assert judged(without)["controller-manager"] == ("down", "medium")  # the stale Lease alone
    assert judged(served)["controller-manager"] == ("down", "high")
    failing = only(served, "EKS_METRICS_FAILING", K).evidence
    assert failing["http_status"] == 503 and failing["detail"] == "service unavailable"
    assert served.components[K].key_finding().code == "LEADER_LEASE_STALE"
    assert {c: v for c, v in judged(served).items() if c != "controller-manager"} == \
        {c: v for c, v in judged(without).items() if c != "controller-manager"}


def test_failing_endpoint_with_a_fresh_lease_changes_no_verdict(tmp_path):
    """Just after the controller-manager died its Lease is still fresh: the failing endpoint
    alone must not make a verdict."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(20)
        fc.serve_eks_metrics()
        fc.stop_component("controller-manager")
        fc.advance(5)
        served = check(fc, tmp_path, SETTINGS, read_only=True)
        fc.serve_eks_metrics(on=False)
        without = check(fc, tmp_path, SETTINGS, read_only=True)
    assert "LEADER_LEASE_FRESH" in codes(served, "controller-manager")
    assert only(served, "EKS_METRICS_FAILING", K).evidence["http_status"] == 503
    assert judged(served) == judged(without)
    # componentstatuses (supporting evidence of its own) already shows the dead process: degraded, low
    assert judged(served)["controller-manager"] == ("degraded", "low")
    assert served.components[K].key_finding().code == "COMPONENTSTATUS_UNHEALTHY"



def test_a_standby_controller_manager_is_not_judged(tmp_path):
    """Writes fail: the leader loses its Lease and its process starts over as a standby, which
    runs no controller. Its empty queues say nothing (etcd is the verdict here)."""
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(10)
        fc.fail_writes()
        fc.advance(15)
        diagnosis = check(fc, tmp_path, SETTINGS, read_only=True)
    assert only(diagnosis, "EKS_METRICS_STANDBY", K).evidence["path"].endswith("/kcm/container/metrics")
    assert "CONTROLLER_QUEUES_DRAINING" not in codes(diagnosis)
