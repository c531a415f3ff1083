"""The EKS metrics probes (probes/eks_metrics.py), one at a time against the fake control plane (issue 12).

The probes are called one at a time, with the real KubeApi of the checker's kubeconfig, so the
finding a test pins is the probe's own and nothing else can reach the same outcome; a run's
deadline is set per test where the decision depends on it. The fake runs in real time, so a
change "during" a probe's wait is made by a thread that waits for the probe's own request in the
fake's request log (helpers.after_read). tests/integration/test_eks_metrics.py runs the whole
check with the metrics API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.errors import BadResponseError, ForbiddenError
from cpwatch.probes import eks_metrics
from cpwatch.probes.context import ProbeContext
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline
from tests.fakecluster import FakeCluster
from tests.fakecluster.components.workqueues import QUEUES
from tests.fakecluster import eks_metrics as fake_eks_metrics
from tests.fakecluster.eks_metrics import _IDLE_QUEUES

from . import helpers
from .helpers import GAP, SETTINGS, after_read, one, reads

pytestmark = pytest.mark.network

KCM = "/apis/metrics.eks.amazonaws.com/v1/kcm/container/metrics"
KSH = "/apis/metrics.eks.amazonaws.com/v1/ksh/container/metrics"


def probe_context(fc: FakeCluster, tmp_path: Path, settings: Settings = SETTINGS, deadline_s: float | None = None):
    """helpers.probe_context with these tests' settings: the second look GAP seconds after the first."""
    return helpers.probe_context(fc, tmp_path, settings, deadline_s)



# --- controller_manager ----------------------------------------------------------------------


def test_healthy_controller_manager_reports_every_queue_and_none_deepest(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(20)
        with probe_context(fc, tmp_path) as ctx:
            found = eks_metrics.controller_manager(ctx)
        [read] = reads(fc, KCM)
        plain = len(fake_eks_metrics.kcm_text(fc.controller_manager, fc.clock.now()).encode())
    drained = one(found, "CONTROLLER_QUEUES_DRAINING")
    assert drained.component.value == "controller-manager"
    assert drained.evidence == {"queues": len(set(QUEUES) | set(_IDLE_QUEUES)), "deepest": "none", "depth": 0}
    # one read (nothing waits), asked gzipped: the exposition is sent compressed
    assert read.status == 200 and read.bytes_sent < plain / 3


def test_waiting_items_of_a_busy_worker_name_the_deepest_queue(tmp_path):
    """A worker 100 s into one item (under controller_stuck_after_s) while new items wait: not
    hung yet, and not idle (a worker is busy), so the queue is reported as the deepest."""
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(20)
        fc.stall_controller("node_lifecycle_controller", "hung")
        fc.advance(100)
        with probe_context(fc, tmp_path) as ctx:
            found = eks_metrics.controller_manager(ctx)
        depth = fc.controller_manager.workqueues.queues["node_lifecycle_controller"].depth
    drained = one(found, "CONTROLLER_QUEUES_DRAINING")
    assert depth > 0
    assert drained.evidence == {"queues": len(set(QUEUES) | set(_IDLE_QUEUES)),
                                "deepest": "node_lifecycle_controller", "depth": depth}
    assert len(reads(fc, KCM)) == 1


def test_hung_worker_evidence_is_the_queue_s_own(tmp_path):
    settings = SETTINGS.with_overrides(controller_stuck_after_s=60.0)
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(20)
        fc.stall_controller("node_lifecycle_controller", "hung")
        fc.advance(90)
        with probe_context(fc, tmp_path, settings) as ctx:
            found = eks_metrics.controller_manager(ctx)
        depth = fc.controller_manager.workqueues.queues["node_lifecycle_controller"].depth
    hung = one(found, "CONTROLLER_WORKER_HUNG")
    evidence = hung.evidence
    assert {k: evidence[k] for k in ("controller", "depth", "threshold_s")} == {
        "controller": "node_lifecycle_controller", "depth": depth, "threshold_s": 60}
    assert isinstance(evidence["longest_running_s"], int) and isinstance(evidence["unfinished_s"], int)
    # one worker on one item: both series are that item's age (taken at the first 5 s pass after the stall)
    assert evidence["longest_running_s"] == evidence["unfinished_s"]
    assert 80 <= evidence["longest_running_s"] <= 100


def test_idle_workers_are_found_by_the_second_look_with_its_counts(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(20)
        fc.stall_controller("node_lifecycle_controller", "idle")
        fc.advance(10)
        with probe_context(fc, tmp_path) as ctx:
            found = eks_metrics.controller_manager(ctx)
        state = fc.controller_manager.workqueues.queues["node_lifecycle_controller"]
    stuck = one(found, "CONTROLLER_QUEUE_NOT_DRAINING")
    assert len(reads(fc, KCM)) == 2
    # three silent-free nodes queued at every pass: the same three keys at both looks
    assert stuck.evidence == {"controller": "node_lifecycle_controller", "depth": state.depth,
                              "first_depth": state.depth, "taken": state.taken, "gap_s": GAP}
    assert state.depth == 3 and state.taken > 0


@pytest.mark.parametrize(("margin", "looks"), [(2.6, 2), (1.5, 1)])
def test_the_second_look_needs_the_gap_and_two_seconds_before_the_deadline(tmp_path, margin, looks):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(20)
        fc.stall_controller("node_lifecycle_controller", "idle")
        fc.advance(10)
        with probe_context(fc, tmp_path, deadline_s=GAP + margin) as ctx:
            found = eks_metrics.controller_manager(ctx)
    assert len(reads(fc, KCM)) == looks
    assert [o.code for o in found] == (["CONTROLLER_QUEUE_NOT_DRAINING"] if looks == 2
                                       else ["CONTROLLER_QUEUES_DRAINING"])


THROTTLED = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Too many requests, '
             b'please try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}')


@pytest.mark.parametrize("second", [503, 429])
def test_a_second_look_that_fails_leaves_the_first_look_s_finding(tmp_path, second):
    """503: the process went away in the gap; 429: the second read is throttled (raised, then dropped)."""
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(20)
        fc.stall_controller("node_lifecycle_controller", "idle")
        fc.advance(10)
        fail = ((lambda: fc.stop_component("controller-manager")) if second == 503
                else (lambda: fc.fail_eks_metrics("kcm", 429, THROTTLED)))
        with probe_context(fc, tmp_path) as ctx, after_read(fc, KCM, fail):
            found = eks_metrics.controller_manager(ctx)
    assert [r.status for r in reads(fc, KCM)][:2] == [200, second]
    drained = one(found, "CONTROLLER_QUEUES_DRAINING")
    assert drained.evidence["deepest"] == "node_lifecycle_controller" and drained.evidence["depth"] == 3


def test_a_standby_controller_manager_is_said_and_not_judged(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(10)
        fc.fail_writes()
        fc.advance(15)
        with probe_context(fc, tmp_path) as ctx:
            found = eks_metrics.controller_manager(ctx)
    standby = one(found, "EKS_METRICS_STANDBY")
    assert standby.component.value == "controller-manager" and standby.evidence == {"path": KCM}


@pytest.mark.parametrize("probe", [eks_metrics.controller_manager, eks_metrics.scheduler])
def test_absent_api_is_not_served(tmp_path, probe):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        with probe_context(fc, tmp_path) as ctx:
            found = probe(ctx)
    path = KCM if probe is eks_metrics.controller_manager else KSH
    assert one(found, "EKS_METRICS_NOT_SERVED").evidence == {"path": path}


@pytest.mark.parametrize(("component", "probe", "path"), [("controller-manager", eks_metrics.controller_manager, KCM),
                                                         ("scheduler", eks_metrics.scheduler, KSH)])
def test_an_unreachable_component_is_failing_with_the_aggregator_s_answer(tmp_path, component, probe, path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(5)
        fc.stop_component(component)
        with probe_context(fc, tmp_path) as ctx:
            found = probe(ctx)
    failing = one(found, "EKS_METRICS_FAILING")
    assert failing.component.value == component
    assert failing.evidence == {"path": path, "http_status": 503, "detail": "service unavailable"}


@pytest.mark.parametrize(("component", "probe", "path"), [("kcm", eks_metrics.controller_manager, KCM),
                                                         ("ksh", eks_metrics.scheduler, KSH)])
def test_a_backend_error_passed_through_is_failing_with_its_status(tmp_path, component, probe, path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(5)
        fc.fail_eks_metrics(component, 500)
        with probe_context(fc, tmp_path) as ctx:
            found = probe(ctx)
    assert one(found, "EKS_METRICS_FAILING").evidence == {
        "path": path, "http_status": 500,
        "detail": f"InternalError: Internal error occurred: the {component} metrics could not be collected"}


def test_a_long_text_error_is_cut_to_one_line(tmp_path):
    page = b"<html>\n<body>\n" + b"upstream connect error or disconnect/reset before headers " * 5 + b"\n</body></html>"
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(5)
        fc.fail_eks_metrics("kcm", 502, page)
        with probe_context(fc, tmp_path) as ctx:
            found = eks_metrics.controller_manager(ctx)
    detail = one(found, "EKS_METRICS_FAILING").evidence["detail"]
    assert detail.startswith("<html> <body> upstream connect error") and len(detail) <= 120 and "\n" not in detail


@pytest.mark.parametrize("probe", [eks_metrics.controller_manager, eks_metrics.scheduler])
def test_a_broken_exposition_is_a_bad_answer(tmp_path, probe):
    """An exposition cut in the middle of one of the component's own series."""
    component, path, series = (("kcm", KCM, b"workqueue_depth{name=") if probe is eks_metrics.controller_manager
                               else ("ksh", KSH, b"scheduler_pending_pods{queue="))
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(5)
        fc.fail_eks_metrics(component, 200, series + b'"active"} 1\n' + series + b'"back')
        with probe_context(fc, tmp_path) as ctx, pytest.raises(BadResponseError) as raised:
            probe(ctx)
    assert str(raised.value).startswith(f"GET {path}: not Prometheus text: ")


def test_a_broken_second_look_is_a_bad_answer(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(20)
        fc.stall_controller("node_lifecycle_controller", "idle")
        fc.advance(10)
        broken = lambda: fc.fail_eks_metrics("kcm", 200, b'workqueue_depth{name="job" 1\n')  # noqa: E731
        with probe_context(fc, tmp_path) as ctx, after_read(fc, KCM, broken), \
                pytest.raises(BadResponseError) as raised:
            eks_metrics.controller_manager(ctx)
    assert str(raised.value).startswith(f"GET {KCM}: not Prometheus text: ") and len(reads(fc, KCM)) == 2


@pytest.mark.parametrize("probe", [eks_metrics.controller_manager, eks_metrics.scheduler])
def test_a_checker_without_the_metrics_rule_is_refused_and_the_runner_maps_it(tmp_path, probe):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(5)
        fc.add_token("no-rbac-token", "someone-else", ["system:authenticated"])
        kubeconfig = fc.write_kubeconfig(tmp_path / "kubeconfig", token="no-rbac-token")
        api, _ = api_from_kubeconfig(str(kubeconfig), None, SETTINGS.request_timeout_s,
                                     Deadline.after(SETTINGS.run_timeout_s))
        try:
            with pytest.raises(ForbiddenError):
                probe(ProbeContext(api, SETTINGS, run_id="c0ffee"))
        finally:
            api.close()


# --- scheduler -------------------------------------------------------------------------------


def test_scheduler_not_attempting_reports_the_second_look_s_queues(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(10)
        fc.add_pod("apps", "gated-0", scheduling_gates=["example.com/quota"])
        fc.add_pod("apps", "nowhere-0", node_selector={"disk": "none"})
        fc.advance(2)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "web-0")
        fc.add_pod("apps", "web-1")
        with probe_context(fc, tmp_path) as ctx, after_read(fc, KSH, lambda: fc.add_pod("apps", "web-2")):
            found = eks_metrics.scheduler(ctx)
        attempts = sum(fc.scheduler.attempt_results.values())
    stalled = one(found, "SCHEDULER_NOT_ATTEMPTING")
    assert len(reads(fc, KSH)) == 2
    assert stalled.component.value == "scheduler"
    assert stalled.evidence == {"gap_s": GAP, "attempts": attempts, "active": 3, "backoff": 0,
                                "unschedulable": 1, "gated": 1}
    assert attempts >= 1


def test_scheduler_that_works_during_the_gap_reports_the_second_look(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(10)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "web-0")
        fc.add_pod("apps", "web-1")
        with probe_context(fc, tmp_path) as ctx, \
                after_read(fc, KSH, lambda: fc.wedge_component("scheduler", wedged=False)):
            found = eks_metrics.scheduler(ctx)
        attempts = sum(fc.scheduler.attempt_results.values())
    moving = one(found, "SCHEDULER_QUEUES_MOVING")
    assert len(reads(fc, KSH)) == 2
    assert attempts >= 2
    assert moving.evidence == {"attempts": attempts, "active": 0, "backoff": 0, "unschedulable": 0, "gated": 0}


def test_scheduler_with_nothing_active_is_read_once(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(10)
        fc.add_pod("apps", "web-0")
        fc.advance(2)
        with probe_context(fc, tmp_path) as ctx:
            found = eks_metrics.scheduler(ctx)
        attempts = sum(fc.scheduler.attempt_results.values())
    moving = one(found, "SCHEDULER_QUEUES_MOVING")
    assert len(reads(fc, KSH)) == 1
    assert moving.evidence == {"attempts": attempts, "active": 0, "backoff": 0, "unschedulable": 0, "gated": 0}
    assert attempts >= 1


def test_a_second_scheduler_look_that_fails_leaves_the_first(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(10)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "web-0")
        with probe_context(fc, tmp_path) as ctx, after_read(fc, KSH, lambda: fc.stop_component("scheduler")):
            found = eks_metrics.scheduler(ctx)
    assert [r.status for r in reads(fc, KSH)] == [200, 503]
    assert one(found, "SCHEDULER_QUEUES_MOVING").evidence["active"] == 1


def test_a_standby_scheduler_is_said_and_not_judged(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(10)
        fc.fail_writes()
        fc.advance(15)
        with probe_context(fc, tmp_path) as ctx:
            found = eks_metrics.scheduler(ctx)
    standby = one(found, "EKS_METRICS_STANDBY")
    assert standby.component.value == "scheduler" and standby.evidence == {"path": KSH}


def test_a_broken_second_scheduler_look_is_a_bad_answer(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.serve_eks_metrics()
        fc.advance(10)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "web-0")
        broken = lambda: fc.fail_eks_metrics("ksh", 200, b'scheduler_pending_pods{queue="active" 1\n')  # noqa: E731
        with probe_context(fc, tmp_path) as ctx, after_read(fc, KSH, broken), \
                pytest.raises(BadResponseError) as raised:
            eks_metrics.scheduler(ctx)
    assert str(raised.value).startswith(f"GET {KSH}: not Prometheus text: ") and len(reads(fc, KSH)) == 2
