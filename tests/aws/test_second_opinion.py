"""Second opinions from outside the apiserver (second_opinion.py) against moto's CloudWatch and
CloudWatch Logs in server mode and the fake control plane: EKS's vended AWS/EKS metrics and the
control-plane log excerpts of a suspected component."""

from __future__ import annotations

import datetime as dt
import pytest

from cpwatch.aws.eks_cluster import ClusterInfo
from cpwatch.aws.vended_metrics import (
    APISERVER_REQUESTS,
    SCHEDULER_ATTEMPTS,
    SCHEDULER_PENDING,
    read_vended_metrics,
)
from cpwatch.judging.diagnosis import Confidence, Verdict
from cpwatch.findings import Component
from cpwatch.entry.second_opinion import AwsSources, SecondOpinion
from cpwatch.timeutil import Deadline
from tests.aws.deployment import closed_port_url, deploy
from tests.aws.moto_server import put_control_plane_log, put_vended_metric, set_cluster_logging
from tests.fakecluster import FakeCluster
from tests.integration.conftest import FAST, check, codes, verdicts

CLUSTER = "prod-a"
# Second opinions and early warnings due on every run (the default paces are 15 min and 2 h).
EVERY_RUN = FAST.with_overrides(vended_second_opinion_interval_s=60.0, vended_metrics_interval_s=60.0)
SECOND_OPINIONS_ONLY = FAST.with_overrides(vended_second_opinion_interval_s=60.0, vended_metrics_interval_s=86400.0)
KCM_LEADER_LOST = [  # klog lines as kube-controller-manager writes them when it loses its Lease
    "I1201 09:01:48.512345      11 leaderelection.go:260] successfully acquired lease kube-system/kube-controller-manager",
    "E1201 09:02:03.123456      11 leaderelection.go:369] Failed to update lock: Put \"https://127.0.0.1:443/apis/"
    "coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager?timeout=5s\": context deadline exceeded",
    "I1201 09:02:03.123500      11 leaderelection.go:285] failed to renew lease kube-system/kube-controller-manager: "
    "timed out waiting for the condition",
    "E1201 09:02:03.123600      11 controllermanager.go:302] \"leaderelection lost\"",
]


def info(*log_types: str) -> ClusterInfo:
    return ClusterInfo(name=CLUSTER, endpoint=None, ca_pem=None, status="ACTIVE", log_types=log_types)


class Calls:
    """Counts one operation's calls on a real boto3 client (botocore's event hooks)."""

    def __init__(self, client, operation: str):
        self.count = 0
        client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}", self._seen)

    def _seen(self, **kwargs):
        self.count += 1


def sources(aws_env) -> AwsSources:
    return AwsSources(cloudwatch=aws_env.client("cloudwatch"), logs=aws_env.client("logs"))


# One "now" per test, for the minutes it publishes and the read it makes: with a one-minute read
# window, a minute boundary passing between the two would leave the published minute outside it.
TEST_NOW: dict[str, dt.datetime] = {}


@pytest.fixture(autouse=True)
def one_now_per_test():
    TEST_NOW["now"] = dt.datetime.now(dt.timezone.utc)
    yield
    TEST_NOW.clear()


def opinion(made: AwsSources | None, settings=EVERY_RUN, now: dt.datetime | None = None, seconds_left: float = 20.0,
            in_alarm: frozenset[str] = frozenset()) -> SecondOpinion:
    return SecondOpinion(CLUSTER, lambda: made, settings, now or TEST_NOW["now"], 60.0,
                         Deadline.after(seconds_left), in_alarm)


def newest_minute(now: dt.datetime | None = None) -> dt.datetime:
    """The newest minute AWS/EKS has published at `now` (the test's own now by default)."""
    return (now or TEST_NOW["now"]).replace(second=0, microsecond=0) - dt.timedelta(minutes=1)


def finding(diagnosis, code: str):
    return next(o for o in diagnosis.observations if o.code == code)


@pytest.fixture
def waiting_pod_cluster():
    """A healthy control plane with one pod the scheduler already found unschedulable."""
    with FakeCluster(nodes=2) as fc:
        fc.add_pod("demo", "nowhere", node_selector={"cpwatch.example/none": "x"})
        fc.advance(15)
        yield fc


# --- the reader ----------------------------------------------------------------------------


def test_reader_returns_the_clusters_series_in_one_call(aws_env):
    newest = newest_minute()
    put_vended_metric(aws_env, CLUSTER, "scheduler_pending_pods", [2, 3, None, 4], newest)
    put_vended_metric(aws_env, "other-cluster", "scheduler_pending_pods", [9, 9, 9, 9], newest)
    cloudwatch = aws_env.client("cloudwatch")
    calls = Calls(cloudwatch, "GetMetricData")
    read = read_vended_metrics(cloudwatch, CLUSTER, [SCHEDULER_PENDING, SCHEDULER_ATTEMPTS, APISERVER_REQUESTS],
                               newest - dt.timedelta(minutes=10), newest + dt.timedelta(minutes=1))
    assert calls.count == 1
    assert [value for _, value in read.series(SCHEDULER_PENDING)] == [2.0, 3.0, 4.0]
    assert read.series(SCHEDULER_PENDING)[-1][0] == newest
    assert SCHEDULER_ATTEMPTS.name not in read.points and APISERVER_REQUESTS.name not in read.points


# --- the scheduler from the vended metrics -----------------------------------------------


def test_scheduler_that_stops_attempting_is_degraded_with_the_apiserver_probes_unchanged(
        aws_env, waiting_pod_cluster, tmp_path):
    fc = waiting_pod_cluster
    fc.wedge_component("scheduler")  # Lease renewed, no scheduling; the waiting pod was attempted before
    fc.advance(30)
    seen = check(fc, tmp_path, SECOND_OPINIONS_ONLY, read_only=True)
    assert verdicts(seen)["scheduler"] == "healthy" and "PENDING_PODS_ATTEMPTED" in codes(seen, "scheduler")
    put_vended_metric(aws_env, CLUSTER, "scheduler_pending_pods", [1] * 9, newest_minute())
    put_vended_metric(aws_env, CLUSTER, "scheduler_schedule_attempts_total", [3, 1] + [0] * 7, newest_minute())
    amended = opinion(sources(aws_env), SECOND_OPINIONS_ONLY).amend(seen, info())
    scheduler = amended.components[Component.SCHEDULER]
    assert (scheduler.verdict, scheduler.confidence) == (Verdict.DEGRADED, Confidence.MEDIUM)
    assert finding(amended, "VENDED_SCHEDULER_NOT_ATTEMPTING").evidence["minutes"] == 7
    assert amended.root_cause is Component.SCHEDULER


def test_scheduler_attempting_in_the_vended_metrics_changes_nothing(aws_env, waiting_pod_cluster, tmp_path):
    seen = check(waiting_pod_cluster, tmp_path, SECOND_OPINIONS_ONLY, read_only=True)
    put_vended_metric(aws_env, CLUSTER, "scheduler_pending_pods", [1] * 9, newest_minute())
    put_vended_metric(aws_env, CLUSTER, "scheduler_schedule_attempts_total", [1] * 9, newest_minute())
    amended = opinion(sources(aws_env), SECOND_OPINIONS_ONLY).amend(seen, info())
    assert verdicts(amended) == verdicts(seen)
    assert finding(amended, "VENDED_SCHEDULER_ATTEMPTING").evidence["attempts"] == 9


def test_absent_vended_metrics_change_nothing(aws_env, waiting_pod_cluster, tmp_path):
    fc = waiting_pod_cluster
    seen = check(fc, tmp_path, EVERY_RUN, read_only=True)
    amended = opinion(sources(aws_env)).amend(seen, info("controllerManager", "scheduler"))
    assert amended.components == seen.components and amended.overall is seen.overall
    fc.set_apiserver("down")
    down = check(fc, tmp_path, EVERY_RUN, read_only=True)
    assert opinion(sources(aws_env)).amend(down, info()).components == down.components


def test_no_pending_pods_and_nothing_suspected_reads_nothing(aws_env, tmp_path):
    with FakeCluster(nodes=2) as fc:
        fc.advance(15)
        seen = check(fc, tmp_path, SECOND_OPINIONS_ONLY, read_only=True)
    made = sources(aws_env)
    metric_calls, log_calls = Calls(made.cloudwatch, "GetMetricData"), Calls(made.logs, "FilterLogEvents")
    assert opinion(made, SECOND_OPINIONS_ONLY).amend(seen, info("controllerManager", "scheduler")) is seen
    assert (metric_calls.count, log_calls.count) == (0, 0)


def test_one_getmetricdata_call_per_run_across_both_looks(aws_env, waiting_pod_cluster, tmp_path):
    seen = check(waiting_pod_cluster, tmp_path, EVERY_RUN, read_only=True)
    made = sources(aws_env)
    calls = Calls(made.cloudwatch, "GetMetricData")
    run = opinion(made)
    run.amend(seen, info())
    run.amend(seen, info())
    assert calls.count == 1


# --- the apiserver: was it serving anyone? -------------------------------------------------


def test_apiserver_unreachable_gets_what_aws_eks_counted(aws_env, tmp_path):
    with FakeCluster(nodes=2) as fc:
        fc.set_apiserver("down")
        seen = check(fc, tmp_path, SECOND_OPINIONS_ONLY, read_only=True)
    put_vended_metric(aws_env, CLUSTER, "apiserver_request_total", [1100, 1200], newest_minute())
    put_vended_metric(aws_env, CLUSTER, "apiserver_request_total_5XX", [0, 3], newest_minute())
    amended = opinion(sources(aws_env), SECOND_OPINIONS_ONLY).amend(seen, info())
    serving = finding(amended, "VENDED_APISERVER_SERVING")
    assert serving.evidence["requests"] == 1200 and serving.evidence["errors_5xx"] == 3
    assert serving.evidence["minute"] == newest_minute().strftime("%H:%M")
    assert amended.components[Component.APISERVER].verdict is Verdict.DOWN  # evidence, not a verdict


def test_apiserver_second_opinion_waits_for_the_pace_once_in_alarm(aws_env, tmp_path):
    with FakeCluster(nodes=2) as fc:
        fc.set_apiserver("down")
        seen = check(fc, tmp_path, FAST, read_only=True)
    made = sources(aws_env)
    calls = Calls(made.cloudwatch, "GetMetricData")
    off_slot = dt.datetime(2026, 12, 1, 9, 7, 30, tzinfo=dt.timezone.utc)  # not in a 15-min or 2-h slot's first minute
    opinion(made, FAST, now=off_slot, in_alarm=frozenset({"apiserver"})).amend(seen, info())
    assert calls.count == 0
    opinion(made, FAST, now=off_slot).amend(seen, info())  # newly down: at once
    assert calls.count == 1


# --- early warnings ------------------------------------------------------------------------


def test_early_warnings_5xx_share_and_etcd_size_near_the_eks_quota(aws_env, tmp_path):
    with FakeCluster(nodes=2) as fc:
        fc.advance(15)
        seen = check(fc, tmp_path, EVERY_RUN, read_only=True)
    put_vended_metric(aws_env, CLUSTER, "apiserver_request_total", [1000] * 5, newest_minute())
    put_vended_metric(aws_env, CLUSTER, "apiserver_request_total_5XX", [120] * 5, newest_minute())
    put_vended_metric(aws_env, CLUSTER, "apiserver_storage_size_bytes", [7.2 * 2**30], newest_minute())
    amended = opinion(sources(aws_env)).amend(seen, info())
    assert finding(amended, "VENDED_APISERVER_5XX").evidence["percent"] == 12.0
    near = finding(amended, "ETCD_DB_NEAR_QUOTA")
    assert near.evidence["metric"] == "AWS/EKS apiserver_storage_size_bytes" and near.evidence["percent"] == 90.0
    assert verdicts(amended)["apiserver"] == verdicts(amended)["etcd"] == "degraded"


# --- control-plane log excerpts -------------------------------------------------------------


def kcm_down(fc: FakeCluster, tmp_path):
    fc.stop_component("controller-manager")
    fc.advance(150)
    seen = check(fc, tmp_path, SECOND_OPINIONS_ONLY, read_only=True)
    assert verdicts(seen)["controller-manager"] == "down"
    return seen


def test_controller_manager_down_quotes_its_last_error_lines(aws_env, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    at = [now - dt.timedelta(seconds=s) for s in (240, 200, 199, 198)]
    put_control_plane_log(aws_env, CLUSTER, "kube-controller-manager-4f1c2a9e", list(zip(at, KCM_LEADER_LOST)))
    put_control_plane_log(aws_env, CLUSTER, "kube-apiserver-4f1c2a9e", [(at[-1], "E1201 09:02:03.2 10 apiserver.go:1] other")])
    with FakeCluster(nodes=2) as fc:
        seen = kcm_down(fc, tmp_path)
    amended = opinion(sources(aws_env), SECOND_OPINIONS_ONLY, now=now).amend(seen, info("controllerManager"))
    excerpt = finding(amended, "CONTROL_PLANE_LOG_ERRORS")
    assert excerpt.component is Component.CONTROLLER_MANAGER
    assert [line.split("]", 1)[1].strip()[:24] for line in excerpt.evidence["error_lines"]] == [
        "Failed to update lock: P", "\"leaderelection lost\""]
    assert "apiserver.go" not in excerpt.evidence["lines"]
    assert amended.components[Component.CONTROLLER_MANAGER].verdict is Verdict.DOWN


def test_controller_manager_silent_since_the_window_start(aws_env, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    put_control_plane_log(aws_env, CLUSTER, "kube-controller-manager-4f1c2a9e",
                          [(now - dt.timedelta(minutes=25), KCM_LEADER_LOST[0])])
    with FakeCluster(nodes=2) as fc:
        seen = kcm_down(fc, tmp_path)
    amended = opinion(sources(aws_env), SECOND_OPINIONS_ONLY, now=now).amend(seen, info("controllerManager", "scheduler"))
    silent = finding(amended, "CONTROL_PLANE_LOG_SILENT")
    assert silent.evidence["since"] == (now - dt.timedelta(minutes=10)).strftime("%H:%M")
    assert silent.message().startswith("no log line from kube-controller-manager since ")
    assert not any(o.code.startswith("CONTROL_PLANE_LOG") and o.component is Component.SCHEDULER
                   for o in amended.observations)  # the healthy scheduler's log is not read


def test_logs_not_read_when_the_log_type_is_off(aws_env, tmp_path):
    put_control_plane_log(aws_env, CLUSTER, "kube-controller-manager-4f1c2a9e",
                          [(dt.datetime.now(dt.timezone.utc), KCM_LEADER_LOST[-1])])
    with FakeCluster(nodes=2) as fc:
        seen = kcm_down(fc, tmp_path)
    made = sources(aws_env)
    calls = Calls(made.logs, "FilterLogEvents")
    amended = opinion(made, SECOND_OPINIONS_ONLY).amend(seen, info("api", "audit", "scheduler"))
    assert calls.count == 0 and not any(o.code.startswith("CONTROL_PLANE_LOG") for o in amended.observations)


# --- errors are findings about the checker ---------------------------------------------------


def test_unreachable_cloudwatch_and_missing_log_group_are_checker_findings(aws_env, tmp_path):
    with FakeCluster(nodes=2) as fc:
        seen = kcm_down(fc, tmp_path)
    broken = AwsSources(cloudwatch=aws_env.session().client("cloudwatch", endpoint_url=closed_port_url(),
                                                              config=aws_env.config),
                        logs=aws_env.client("logs"))  # logging on, but no log group exists
    amended = opinion(broken, EVERY_RUN).amend(seen, info("controllerManager"))
    problems = {o.evidence["operation"]: o for o in amended.observations if o.code == "CHECKER_AWS_FAILED"}
    assert set(problems) == {"cloudwatch:GetMetricData", "logs:FilterLogEvents"}
    assert all(o.component is Component.CHECKER for o in problems.values())
    assert "ResourceNotFoundException" in problems["logs:FilterLogEvents"].evidence["detail"]
    assert verdicts(amended) == verdicts(seen)


def test_no_read_without_time_left(aws_env, tmp_path):
    with FakeCluster(nodes=2) as fc:
        seen = kcm_down(fc, tmp_path)
    made = sources(aws_env)
    calls = Calls(made.cloudwatch, "GetMetricData")
    amended = opinion(made, EVERY_RUN, seconds_left=1.0).amend(seen, info("controllerManager"))
    assert calls.count == 0
    assert {o.evidence["probe"] for o in amended.observations if o.code == "PROBE_TIMED_OUT"} == {
        "vended_metrics", "control_plane_logs controllerManager"}


# --- the Lambda, end to end ------------------------------------------------------------------


def test_handler_reports_the_stuck_scheduler_from_aws_eks(aws_env, monkeypatch):
    env = {"CPWATCH_VENDED_SECOND_OPINION_INTERVAL_S": "60", "CPWATCH_READ_ONLY": "true"}
    with deploy(aws_env, monkeypatch, env=env) as d:
        d.fc.add_pod("demo", "nowhere", node_selector={"cpwatch.example/none": "x"})
        d.fc.advance(15)
        assert d.invoke()["clusters"][0]["overall"] == "healthy"
        d.fc.wedge_component("scheduler")
        put_vended_metric(aws_env, d.cluster, "scheduler_pending_pods", [1] * 8,
                          newest_minute(dt.datetime.now(dt.timezone.utc)))  # the handler reads at its own now
        outcome = d.invoke()["clusters"][0]
    assert (outcome["overall"], outcome["root_cause"]) == ("degraded", "scheduler")


def test_handler_quotes_the_controller_manager_log_when_describecluster_says_it_is_on(aws_env, monkeypatch):
    from cpwatch.telling.store import Store

    env = {"CPWATCH_READ_ONLY": "true"}
    with deploy(aws_env, monkeypatch, env=env) as d:
        set_cluster_logging(d.cluster, d.region, ["api", "controllerManager"])
        now = dt.datetime.now(dt.timezone.utc)
        put_control_plane_log(aws_env, d.cluster, "kube-controller-manager-4f1c2a9e",
                              [(now - dt.timedelta(seconds=30), KCM_LEADER_LOST[-1])])
        d.fc.stop_component("controller-manager")
        d.fc.advance(150)
        outcome = d.invoke()["clusters"][0]
        store = Store(aws_env.client("dynamodb"), d.table)
        [run] = list(store.runs(d.identity, now - dt.timedelta(minutes=5)))
    assert outcome["transitions"] == ["controller-manager:alarm"]  # newly down: the log is read at once
    excerpt = next(f for f in run.document["findings"] if f["code"] == "CONTROL_PLANE_LOG_ERRORS")
    assert excerpt["component"] == "controller-manager" and "leaderelection lost" in excerpt["evidence"]["lines"]


def test_a_token_in_a_log_line_never_reaches_the_finding(aws_env, tmp_path):
    token = "k8s-aws-v1.aHR0cHM6Ly9zdHMuZXUtd2VzdC0xLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eQ"
    now = dt.datetime.now(dt.timezone.utc)
    put_control_plane_log(aws_env, CLUSTER, "kube-controller-manager-4f1c2a9e", [
        (now - dt.timedelta(seconds=20), f"E1201 09:02:03.123456      11 round_trippers.go:1] Authorization: Bearer {token}"),
        (now - dt.timedelta(seconds=19), "E1201 09:02:04.1 11 x.go:1] GET /?X-Amz-Signature=0123456789abcdef&X-Amz-Date=1")])
    with FakeCluster(nodes=2) as fc:
        seen = kcm_down(fc, tmp_path)
    amended = opinion(sources(aws_env), SECOND_OPINIONS_ONLY, now=now).amend(seen, info("controllerManager"))
    text = repr(finding(amended, "CONTROL_PLANE_LOG_ERRORS").evidence)
    assert token[11:] not in text and "0123456789abcdef" not in text
    assert "k8s-aws-v1.<redacted>" in text and "X-Amz-Signature=<redacted>" in text
