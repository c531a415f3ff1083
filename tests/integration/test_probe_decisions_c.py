"""Each decision of the EKS metrics probes, the active canaries and the EC2 cross-check, against
the fake control plane and (EC2) moto in server mode (issue 12, mutation testing).

The probes are called one at a time, with the real KubeApi of the checker's kubeconfig, so the
finding a test pins is the probe's own and nothing else can reach the same outcome; a run's
deadline is set per test where the decision depends on it. The fake runs in real time, so a
change "during" a probe's wait is made by a thread that waits for the probe's own request in the
fake's request log.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from botocore.config import Config

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.errors import AwsAccessDeniedError, BadResponseError, ForbiddenError
from cpwatch.probes import deployment_canary, ec2_instances, eks_metrics, scheduler_canary, serviceaccount_canary
from cpwatch.probes.context import ProbeContext
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline, parse_k8s_time
from tests.aws.moto_server import ACCOUNT_ID, DEFAULT_REGION, aws_error_endpoint
from tests.fakecluster import FakeCluster
from tests.fakecluster.rbac import RuleRef
from tests.fakecluster.components.workqueues import QUEUES
from tests.fakecluster import eks_metrics as fake_eks_metrics
from tests.fakecluster.eks_metrics import _IDLE_QUEUES

from .conftest import FAST

pytestmark = pytest.mark.network

GAP = 1.0
SETTINGS = FAST.with_overrides(eks_metrics_second_look_s=GAP)
KCM = "/apis/metrics.eks.amazonaws.com/v1/kcm/container/metrics"
KSH = "/apis/metrics.eks.amazonaws.com/v1/ksh/container/metrics"


@contextmanager
def probe_context(fc: FakeCluster, tmp_path: Path, settings: Settings = SETTINGS, deadline_s: float | None = None):
    kubeconfig = fc.write_kubeconfig(tmp_path / "kubeconfig")
    deadline = Deadline.after(settings.run_timeout_s if deadline_s is None else deadline_s)
    api, target = api_from_kubeconfig(str(kubeconfig), None, settings.request_timeout_s, deadline)
    try:
        yield ProbeContext(api, settings, run_id="c0ffee", cluster=target.name)
    finally:
        api.close()


def reads(fc: FakeCluster, path: str) -> list:
    return [r for r in fc.requests if r.path == path]


@contextmanager
def after_read(fc: FakeCluster, path: str, action):
    """Runs `action` once the fake has answered the first GET of `path` (the probe is then in
    its gap before the second look)."""
    def wait_then_act():
        limit = time.monotonic() + 10
        while not reads(fc, path) and time.monotonic() < limit:
            time.sleep(0.02)
        action()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=15)


def one(found: list, code: str):
    assert [o.code for o in found] == [code], [o.code for o in found]
    return found[0]


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


# --- the active canaries ---------------------------------------------------------------------

CANARY = SETTINGS.with_overrides(canary_wait_s=1.5, canary_poll_s=0.2)
NS = CANARY.namespace
DEPLOYMENT = ("deployments", NS, deployment_canary.CANARY_DEPLOYMENT)
DEPLOYMENT_TARGET = f"{NS}/{deployment_canary.CANARY_DEPLOYMENT}"


def deny_webhook(fc: FakeCluster, resources: tuple[str, ...], api_groups: tuple[str, ...], operations: tuple[str, ...],
                 mode: str = "deny") -> None:
    fc.add_failing_webhook("guard.policy.example.org", configuration="guard", mode=mode, resources=resources,
                           api_groups=api_groups, operations=operations, namespaces=(NS,),
                           deny_message="writes to the checker's namespace are reviewed")


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


SA = ("serviceaccounts", NS, "default")
SA_TARGET = f"{NS}/default"


def test_serviceaccount_canary_is_recreated_with_a_new_uid(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        before = fc.store.peek(*SA)["metadata"]["uid"]
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
        after = fc.store.peek(*SA)["metadata"]["uid"]
    recreated = one(found, "SERVICEACCOUNT_CANARY_RECREATED")
    assert before != after
    assert recreated.component.value == "controller-manager" and recreated.evidence["object"] == SA_TARGET
    assert 0 <= recreated.evidence["latency_ms"] < CANARY.canary_wait_s * 1000


def test_serviceaccount_missing_at_the_start_and_recreated_counts_as_recreated(tmp_path):
    path = f"/api/v1/namespaces/{NS}/serviceaccounts/default"
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        fc.store.delete(*SA)
        with probe_context(fc, tmp_path, CANARY) as ctx, \
                after_read(fc, path, lambda: fc.start_component("controller-manager")):
            found = serviceaccount_canary.probe(ctx)
        first = reads(fc, path)[0]
        deletes = [r for r in fc.requests if r.method == "DELETE"]
    assert first.status == 404
    assert one(found, "SERVICEACCOUNT_CANARY_RECREATED").evidence["object"] == SA_TARGET
    assert deletes == []  # nothing to delete: the probe only waits for the controller


@pytest.mark.parametrize("missing_before", [False, True])
def test_serviceaccount_not_recreated_says_whether_it_was_missing_before(tmp_path, missing_before):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        if missing_before:
            fc.store.delete(*SA)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
        gone = fc.store.peek(*SA) is None
    missing = one(found, "SERVICEACCOUNT_CANARY_MISSING")
    assert gone and missing.component.value == "controller-manager"
    # stopped: the leader that held the Lease renewed it no more while the canary waited
    assert missing.evidence == {"object": SA_TARGET, "wait_s": CANARY.canary_wait_s, "missing_before": missing_before,
                                "leader_renewed": False}


def test_serviceaccount_canary_is_blocked_when_a_fail_closed_webhook_sits_on_the_recreation(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        deny_webhook(fc, ("serviceaccounts",), ("",), ("CREATE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
    blocked = one(found, "PROBE_BLOCKED")
    assert blocked.evidence["probe"] == "serviceaccount_canary" and blocked.evidence["cause"] == "webhook-intercepts"
    assert blocked.evidence["because"].startswith(
        f"recreating the ServiceAccount needs CREATE serviceaccounts in {NS}, which fail-closed admission webhook(s) ")
    assert blocked.component.value == "controller-manager"


def test_serviceaccount_canary_whose_delete_is_denied_blames_the_set_up(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        deny_webhook(fc, ("serviceaccounts",), ("",), ("DELETE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
        still = fc.store.peek(*SA) is not None
    assert still
    assert [o.code for o in found] == ["CHECKER_WRITE_DENIED", "PROBE_BLOCKED"]
    assert found[0].evidence["object"] == f"ServiceAccount {SA_TARGET}"
    assert found[1].evidence["probe"] == "serviceaccount_canary" and found[1].component.value == "controller-manager"


# scheduler canary

PODS = f"/api/v1/namespaces/{NS}/pods"


def canary_pods(fc: FakeCluster) -> list[str]:
    return sorted(p["metadata"]["name"] for p in fc.store.list("pods", NS)
                  if (p["metadata"].get("labels") or {}).get(scheduler_canary.CANARY_LABEL) == "scheduler")


def test_scheduler_canary_is_attempted_and_deleted(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
        left = canary_pods(fc)
        created = [r for r in fc.requests if r.method == "POST" and r.path.startswith(PODS)]
    attempted = one(found, "SCHEDULER_CANARY_ATTEMPTED")
    assert attempted.component.value == "scheduler" and attempted.evidence["reason"] == "Unschedulable"
    assert 0 <= attempted.evidence["latency_ms"] < CANARY.canary_wait_s * 1000
    assert [r.status for r in created] == [201] and left == []


def test_scheduler_canary_not_attempted_names_the_pod_and_the_wait(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
        left = canary_pods(fc)
    missed = one(found, "SCHEDULER_CANARY_NOT_ATTEMPTED")
    assert missed.component.value == "scheduler"
    assert missed.evidence == {"object": f"{NS}/cpwatch-canary-c0ffee", "wait_s": CANARY.canary_wait_s,
                               "leader_renewed": False}
    assert left == []  # deleted even though nothing happened to it


def test_scheduler_canary_bound_to_a_node_that_carries_the_never_label(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.add_node("node-x", labels={scheduler_canary.NEVER_SCHEDULE_LABEL: "true"})
        fc.advance(2)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
    bound = one(found, "SCHEDULER_CANARY_BOUND")
    assert bound.component.value == "scheduler" and bound.evidence == {"object": f"{NS}/cpwatch-canary-c0ffee"}


def test_scheduler_canary_is_blocked_when_a_fail_closed_webhook_sits_on_the_pod_status(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        deny_webhook(fc, ("pods/status",), ("",), ("UPDATE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
    blocked = one(found, "PROBE_BLOCKED")
    assert blocked.component.value == "scheduler"
    assert blocked.evidence["probe"] == "scheduler_canary" and blocked.evidence["cause"] == "webhook-intercepts"
    assert blocked.evidence["because"].startswith(
        f"writing PodScheduled=False on the canary pod needs UPDATE pods/status in {NS}, which fail-closed ")


def test_scheduler_canary_whose_pod_is_denied_blames_the_set_up(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        deny_webhook(fc, ("pods",), ("",), ("CREATE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
    assert [o.code for o in found] == ["CHECKER_WRITE_DENIED", "PROBE_BLOCKED"]
    assert found[0].evidence["object"] == f"canary pod {NS}/cpwatch-canary-c0ffee"
    assert found[1].evidence["probe"] == "scheduler_canary" and found[1].component.value == "scheduler"


def test_scheduler_canary_in_a_missing_namespace_says_the_checker_is_not_installed(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.store.delete("namespaces", None, NS)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
    missing = one(found, "CHECKER_NOT_INSTALLED")
    assert missing.component.value == "scheduler" and missing.evidence["object"] == f"namespace {NS}"
    assert NS in missing.evidence["message"]


def test_scheduler_canary_deletes_only_old_leftovers_of_its_own(tmp_path):
    labels = {"app.kubernetes.io/managed-by": "cpwatch", scheduler_canary.CANARY_LABEL: "scheduler"}
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")  # the leftovers stay pending, as after an interrupted run
        old = CANARY.canary_leftover_age_s + 30
        fc.add_pod(NS, "cpwatch-canary-old", labels=labels, created_seconds_ago=old)
        fc.add_pod(NS, "cpwatch-canary-young", labels=labels, created_seconds_ago=CANARY.canary_leftover_age_s - 30)
        fc.add_pod(NS, "someone-else-old", labels={"app.kubernetes.io/managed-by": "cpwatch"}, created_seconds_ago=old)
        fc.add_pod(NS, "other-canary-old", labels={**labels, scheduler_canary.CANARY_LABEL: "other"},
                   created_seconds_ago=old)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            scheduler_canary.probe(ctx)
        left = sorted(p["metadata"]["name"] for p in fc.store.list("pods", NS))
    assert left == ["cpwatch-canary-young", "other-canary-old", "someone-else-old"]


# --- ec2_instances (moto EC2 in server mode) -------------------------------------------------

CLUSTER = "prod-a"
EKS_TAG = {"eks:cluster-name": CLUSTER}
SELF_MANAGED_TAG = {f"kubernetes.io/cluster/{CLUSTER}": "owned"}
# One of the AMIs moto serves (its EXAMPLE_AMI_ID): no image listing needed to launch.
IMAGE = "ami-12c6146b"


def setup_ec2(aws_env):
    """The set-up's client: moto reads its catalogue of images at the first launch, which can take
    longer than the tests' usual 5 s read timeout on a loaded machine."""
    return aws_env.session().client("ec2", region_name=aws_env.region, endpoint_url=aws_env.endpoint,
                                    config=aws_env.config.merge(Config(read_timeout=60)))


def launch(ec2, tags: dict[str, str]) -> dict:
    return ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType="m5.large", TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])["Instances"][0]


def node_for(fc: FakeCluster, instance: dict, provider_instance: str | None = None) -> str:
    name = instance["PrivateDnsName"]
    fc.add_node(name)
    fc.store.mutate("nodes", None, name, lambda node: node["spec"].update(
        providerID=f"aws:///eu-west-1a/{provider_instance or instance['InstanceId']}"))
    return name


def set_moto_state(instance: dict, name: str, code: int) -> None:
    """A transitional state EC2 shows for a while (moto moves an instance through it at once).
    ThreadedMotoServer runs in this process, so its backend is this object."""
    from moto.ec2.models import ec2_backends

    state = ec2_backends[ACCOUNT_ID][DEFAULT_REGION].get_instance(instance["InstanceId"])._state
    state.name, state.code = name, code


def set_ready(fc: FakeCluster, name: str, status: str) -> None:
    def change(node):
        for entry in node["status"]["conditions"]:
            if entry["type"] == "Ready":
                entry["status"] = status
    fc.store.mutate("nodes", None, name, change)


def test_ec2_gone_instances_whose_nodes_stay_ready_are_counted_once_each(aws_env, tmp_path):
    ec2 = setup_ec2(aws_env)
    counted = {"managed": launch(ec2, EKS_TAG), "self-managed": launch(ec2, SELF_MANAGED_TAG),
               "both tags": launch(ec2, {**EKS_TAG, **SELF_MANAGED_TAG})}
    stopped = launch(ec2, EKS_TAG)  # counted too: stopped, not terminated
    # and in the states on the way there (EC2 API InstanceState codes)
    transitional = {"stopping": (launch(ec2, EKS_TAG), 64), "shutting-down": (launch(ec2, EKS_TAG), 32)}
    skipped = {"no node": launch(ec2, EKS_TAG), "another instance's node": launch(ec2, EKS_TAG),
               "node marked Unknown": launch(ec2, EKS_TAG), "fresh Lease": launch(ec2, EKS_TAG),
               "no Lease": launch(ec2, EKS_TAG), "no Ready condition": launch(ec2, EKS_TAG),
               "another cluster": launch(ec2, {"eks:cluster-name": "prod-b"}),
               "still running": launch(ec2, EKS_TAG)}
    with FakeCluster(nodes=1) as fc:
        fc.stop_component("controller-manager")  # nothing marks the silent nodes
        moving = [instance for instance, _ in transitional.values()]
        lost = [node_for(fc, i) for i in [*counted.values(), stopped, *moving, skipped["node marked Unknown"],
                                          skipped["no Lease"], skipped["no Ready condition"],
                                          skipped["another cluster"], skipped["still running"]]]
        node_for(fc, skipped["another instance's node"], provider_instance="i-0000000000000000")
        fresh = node_for(fc, skipped["fresh Lease"])
        for name in [*lost, skipped["another instance's node"]["PrivateDnsName"]]:
            fc.lose_node(name)
        set_ready(fc, skipped["node marked Unknown"]["PrivateDnsName"], "Unknown")
        fc.store.mutate("nodes", None, skipped["no Ready condition"]["PrivateDnsName"],
                        lambda node: node["status"].update(conditions=[]))
        fc.store.delete("leases", "kube-node-lease", skipped["no Lease"]["PrivateDnsName"])
        gone = [i["InstanceId"] for i in [*counted.values(), *skipped.values()] if i is not skipped["still running"]]
        ec2.terminate_instances(InstanceIds=gone)
        ec2.stop_instances(InstanceIds=[stopped["InstanceId"]])
        for state, (instance, code) in transitional.items():
            set_moto_state(instance, state, code)
        fc.advance(150)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = ec2_instances.probe(replace(ctx, ec2=ec2, cluster=CLUSTER))
        lease_ages = {name: (fc.clock.now() - parse_k8s_time(fc.store.peek("leases", "kube-node-lease", name)
                                                              ["spec"]["renewTime"])).total_seconds()
                      for name in [i["PrivateDnsName"] for i in [*counted.values(), stopped, *moving]]}
    assert fresh not in lease_ages
    finding = one(found, "INSTANCE_GONE_NODE_READY")
    assert finding.component.value == "controller-manager"
    states = {stopped["InstanceId"]: "stopped", **{i["InstanceId"]: state for state, (i, _) in transitional.items()}}
    expected = {f"{i['PrivateDnsName']} ({i['InstanceId']} {states.get(i['InstanceId'], 'terminated')}, Lease "
                for i in [*counted.values(), stopped, *moving]}
    assert finding.evidence["count"] == 6 and len(finding.evidence["nodes"]) == 6
    assert {entry.split("Lease ")[0] + "Lease " for entry in finding.evidence["nodes"]} == expected
    for entry in finding.evidence["nodes"]:
        name = entry.split(" ")[0]
        assert abs(int(entry.rsplit("Lease ", 1)[1].removesuffix(" s)")) - lease_ages[name]) <= 2
    assert finding.evidence["examples"] == ", ".join(finding.evidence["nodes"][:5]) + " and 1 more"


def test_ec2_gone_instances_whose_nodes_were_handled_are_consistent(aws_env, tmp_path):
    ec2 = setup_ec2(aws_env)
    deleted, marked, running = launch(ec2, EKS_TAG), launch(ec2, SELF_MANAGED_TAG), launch(ec2, EKS_TAG)
    with FakeCluster(nodes=1) as fc:
        fc.stop_component("controller-manager")
        name = node_for(fc, marked)
        fc.lose_node(name)
        set_ready(fc, name, "Unknown")
        node_for(fc, running)
        ec2.terminate_instances(InstanceIds=[deleted["InstanceId"], marked["InstanceId"]])
        fc.advance(150)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = ec2_instances.probe(replace(ctx, ec2=ec2, cluster=CLUSTER))
    assert one(found, "EC2_NODES_CONSISTENT").evidence == {"checked": 2}


def test_ec2_without_gone_instances_or_without_a_client_says_nothing(aws_env, tmp_path):
    ec2 = setup_ec2(aws_env)
    launch(ec2, EKS_TAG)
    with FakeCluster(nodes=1) as fc:
        with probe_context(fc, tmp_path, CANARY) as ctx:
            assert ec2_instances.probe(replace(ctx, ec2=ec2, cluster=CLUSTER)) == []
            assert ec2_instances.probe(replace(ctx, cluster=CLUSTER)) == []
        asked = [r for r in fc.requests if r.path.startswith("/api/v1/nodes")]
    assert asked == []  # nothing was gone, so no node was looked up


def test_ec2_refusal_is_an_aws_access_error_naming_the_call(aws_env, tmp_path):
    with aws_error_endpoint(403, "UnauthorizedOperation", "not allowed", protocol="ec2") as endpoint:
        ec2 = aws_env.session().client("ec2", region_name="eu-west-1", endpoint_url=endpoint.url)
        with FakeCluster(nodes=1) as fc:
            with probe_context(fc, tmp_path, CANARY) as ctx, pytest.raises(AwsAccessDeniedError) as raised:
                ec2_instances.probe(replace(ctx, ec2=ec2, cluster=CLUSTER))
    assert str(raised.value).startswith(f"ec2 DescribeInstances {CLUSTER}: UnauthorizedOperation: HTTP 403: not allowed")


def test_scheduler_canary_pod_costs_nothing_and_runs_as_its_own_account(tmp_path):
    """The pod as the apiserver stored it, read while the probe waits for the scheduler."""
    stored = {}
    path = f"{PODS}/cpwatch-canary-c0ffee"
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        snapshot = lambda: stored.update(fc.store.peek("pods", NS, "cpwatch-canary-c0ffee"))  # noqa: E731
        with probe_context(fc, tmp_path, CANARY) as ctx, after_read(fc, path, snapshot):
            scheduler_canary.probe(ctx)
        account = fc.store.peek("serviceaccounts", NS, stored["spec"]["serviceAccountName"])
    spec = stored["spec"]
    # found again by the next run's clean-up if this run is interrupted
    assert stored["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "cpwatch",
                                            scheduler_canary.CANARY_LABEL: "scheduler"}
    # the standing account of infra/ (not `default`, which the ServiceAccount canary deletes), no token mounted
    assert account is not None and account["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "cpwatch"}
    assert spec["automountServiceAccountToken"] is False and "volumes" not in spec
    assert spec["terminationGracePeriodSeconds"] == 0 and spec["restartPolicy"] == "Never"
    [container] = spec["containers"]
    assert container["image"].startswith("registry.k8s.io/pause:") and container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"] == {"requests": {"cpu": "1m", "memory": "4Mi"}, "limits": {"memory": "4Mi"}}
    assert stored["status"]["qosClass"] == "Burstable"


MANAGED = {"matchLabels": {"app.kubernetes.io/managed-by": "cpwatch"}}


def select_by(fc: FakeCluster, selector: str) -> None:
    """The guard webhook picks its writes by label instead of by namespace name, as policy engines
    often do: the checker's namespace and the objects of infra/ carry managed-by=cpwatch."""
    def change(configuration):
        configuration["webhooks"][0]["namespaceSelector"] = MANAGED if selector == "namespaceSelector" else {}
        configuration["webhooks"][0]["objectSelector"] = MANAGED if selector == "objectSelector" else {}
    fc.store.mutate("validatingwebhookconfigurations", None, "guard", change)


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


@pytest.mark.parametrize(("selector", "code"), [("namespaceSelector", "PROBE_BLOCKED"),
                                                ("objectSelector", "SERVICEACCOUNT_CANARY_MISSING")])
def test_serviceaccount_recreation_is_intercepted_by_namespace_labels_not_by_its_own(tmp_path, selector, code):
    """The controller recreates `default` without labels: an objectSelector on managed-by does not
    intercept it, a namespaceSelector on the checker's namespace does."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        deny_webhook(fc, ("serviceaccounts",), ("",), ("CREATE",))
        select_by(fc, selector)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
    assert [o.code for o in found] == [code]


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


# --- answers that are not what the apiserver said (a proxy in front of it) -------------------

DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/cpwatch-canary"


def renamed(obj: dict) -> dict:
    return {**obj, "metadata": {**obj["metadata"], "name": "login-page"}}


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


def test_scheduler_canary_refuses_an_answer_that_is_not_its_pod(tmp_path):
    path = f"{PODS}/cpwatch-canary-c0ffee"
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.rewrite_answers("GET", path, renamed)
        with probe_context(fc, tmp_path, CANARY) as ctx, pytest.raises(BadResponseError) as raised:
            scheduler_canary.probe(ctx)
        left = canary_pods(fc)
    assert str(raised.value) == str(BadResponseError("GET", path, "the answer is not the pod cpwatch-canary-c0ffee"))
    assert left == []  # deleted all the same


def test_serviceaccount_canary_refuses_an_answer_without_a_uid(tmp_path):
    path = f"/api/v1/namespaces/{NS}/serviceaccounts/default"
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.rewrite_answers("GET", path, lambda obj: {**obj, "metadata": {**obj["metadata"], "uid": ""}})
        with probe_context(fc, tmp_path, CANARY) as ctx, pytest.raises(BadResponseError) as raised:
            serviceaccount_canary.probe(ctx)
    assert str(raised.value) == str(BadResponseError("GET", path, "the answer is not a ServiceAccount (no metadata.uid)"))


def test_scheduler_canary_leftover_bound_to_a_dead_node_is_removed_at_once(tmp_path):
    """A leftover that some scheduler did bind, on a node whose kubelet is gone, and without a grace
    period of its own (30 s by default): only DeleteOptions' gracePeriodSeconds=0 removes it now
    instead of leaving it terminating until a kubelet confirms."""
    labels = {"app.kubernetes.io/managed-by": "cpwatch", scheduler_canary.CANARY_LABEL: "scheduler"}
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.lose_node("node-c")
        fc.add_pod(NS, "cpwatch-canary-bound", node_name="node-c", labels=labels,
                   created_seconds_ago=CANARY.canary_leftover_age_s + 30)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            scheduler_canary.probe(ctx)
        left = fc.store.peek("pods", NS, "cpwatch-canary-bound")
    assert left is None


def test_serviceaccount_held_by_a_finalizer_is_not_taken_for_a_recreated_one(tmp_path):
    """A finalizer (some policy's) keeps the deleted `default` in place with its old uid: the
    controller recreates nothing while it exists, and the old object is not a new one."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.store.mutate(*SA, lambda sa: sa["metadata"].update(finalizers=["policy.example.org/audit"]))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
        held = fc.store.peek(*SA)
    assert held is not None and held["metadata"].get("deletionTimestamp")
    assert one(found, "SERVICEACCOUNT_CANARY_MISSING").evidence["missing_before"] is False


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
