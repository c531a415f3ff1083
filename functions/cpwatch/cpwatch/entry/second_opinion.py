"""Second opinions from outside the apiserver (AWS pipeline): EKS's vended AWS/EKS metrics and
the control-plane logs of a suspected component, added to a look's diagnosis.

Called by pipeline.py once per look (a run's check and its confirming second look). What is read
is decided from the diagnosis (`plan`, pure) and read at most once per run: one GetMetricData
call for every series the run needs, one bounded FilterLogEvents read per suspected component.
- Early warnings (apiserver 5XX and 429 rates, etcd database size): once per
  vended_metrics_interval_s, each read covering that whole period.
- Scheduler: while pods wait or the scheduler is suspected, once per
  vended_second_opinion_interval_s; at once when it newly looks down; every run while wedged.py
  counts its stall (so a stall seen only here can be counted run by run).
- Apiserver (cpwatch cannot reach or judge it): was it serving anyone? Same pacing.
- Logs: the controller-manager or scheduler suspected (down or degraded, not as a consequence of
  another component) and its log type enabled in DescribeCluster; same pacing.
Periods are slots of the clock (like the periodic probes), so no state is kept between runs.
An AWS error becomes a finding about the checker, never a failure of a component or a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from ..aws.eks_cluster import ClusterInfo
from ..aws.vended_metrics import (
    APISERVER_REQUESTS,
    APISERVER_REQUESTS_5XX,
    APISERVER_REQUESTS_429,
    SCHEDULER_ATTEMPTS,
    SCHEDULER_PENDING,
    SCHEDULER_PENDING_GATED,
    STORAGE_SIZE,
    Series,
    VendedMetrics,
    read_vended_metrics,
)
from ..judging.check import Diagnosis, with_observations
from ..judging.diagnosis import Verdict
from ..errors import AwsAccessDeniedError, AwsError, ConfigError
from ..findings import Component, Observation, observe
from ..settings import Settings
from ..timeutil import Deadline

if TYPE_CHECKING:
    from ..aws.control_plane_logs import LogExcerpt

EARLY_WARNING_SERIES = (APISERVER_REQUESTS, APISERVER_REQUESTS_5XX, APISERVER_REQUESTS_429, STORAGE_SIZE)
SCHEDULER_SERIES = (SCHEDULER_PENDING, SCHEDULER_PENDING_GATED, SCHEDULER_ATTEMPTS)
APISERVER_SERIES = (APISERVER_REQUESTS, APISERVER_REQUESTS_5XX, APISERVER_REQUESTS_429)
LOG_TYPES = {Component.CONTROLLER_MANAGER: "controllerManager", Component.SCHEDULER: "scheduler"}
PROCESSES = {"controllerManager": "kube-controller-manager", "scheduler": "kube-scheduler"}
LOG_PAGES = 3
LOG_ERRORS_KEPT = 3
# A read is started only with this much of the run left: one call's bounded timeouts
# (aws/clients.SECOND_OPINION_CLIENT_CONFIG) and a margin.
MIN_SECONDS_FOR_A_READ = 5.0

_SUSPECT = (Verdict.DOWN, Verdict.DEGRADED)


@dataclass(frozen=True)
class AwsSources:
    """The clients of one target's account and region (an assumed role's for other accounts)."""

    cloudwatch: Any
    logs: Any


@dataclass(frozen=True)
class Plan:
    """What a look's diagnosis needs from outside the apiserver."""

    series: tuple[Series, ...] = ()
    window_s: float = 0.0
    serving_wanted: bool = False
    log_types: tuple[str, ...] = ()


def slot_due(now: datetime, interval_s: float, run_interval_s: float) -> bool:
    """The run that starts within the first run_interval_s of each interval_s slot of the clock."""
    return now.timestamp() % interval_s < run_interval_s


def plan(diagnosis: Diagnosis, info: ClusterInfo | None, settings: Settings, now: datetime,
         run_interval_s: float, in_alarm: frozenset[str], watched: frozenset[str] = frozenset()) -> Plan:
    """Which series and logs this look needs (pure). `watched`: components whose stall is being
    counted run by run (wedged.watched): their series are read every run."""
    paced = slot_due(now, settings.vended_second_opinion_interval_s, run_interval_s)
    series: list[Series] = []
    window = 0.0
    if slot_due(now, settings.vended_metrics_interval_s, run_interval_s):
        series += EARLY_WARNING_SERIES
        window = settings.vended_metrics_interval_s

    def needed(component: Component, name: str) -> bool:
        verdict = diagnosis.components[component]
        newly_down = verdict.verdict is Verdict.DOWN and name not in in_alarm
        return paced or newly_down or name in watched

    scheduler = diagnosis.components[Component.SCHEDULER]
    scheduler_suspected = scheduler.verdict in _SUSPECT and scheduler.consequence_of is None
    scheduler_wanted = scheduler_suspected or _pods_wait(diagnosis) or "scheduler" in watched
    if scheduler_wanted and needed(Component.SCHEDULER, "scheduler"):
        series += SCHEDULER_SERIES
        window = max(window, settings.vended_window_s)

    apiserver = diagnosis.components[Component.APISERVER]
    serving_wanted = apiserver.verdict in (Verdict.DOWN, Verdict.UNKNOWN)
    if serving_wanted and (paced or "apiserver" not in in_alarm and "checker" not in in_alarm):
        series += APISERVER_SERIES
        window = max(window, settings.vended_window_s)

    enabled = info.log_types if info is not None else ()
    log_types = tuple(
        LOG_TYPES[component] for component in (Component.CONTROLLER_MANAGER, Component.SCHEDULER)
        if LOG_TYPES[component] in enabled
        and diagnosis.components[component].verdict in _SUSPECT
        and diagnosis.components[component].consequence_of is None
        and needed(component, component.value)
    )
    return Plan(tuple(dict.fromkeys(series)), window, serving_wanted, log_types)


def _pods_wait(diagnosis: Diagnosis) -> bool:
    """The apiserver shows unscheduled pods: the only time a stuck scheduler can be seen."""
    for observation in diagnosis.observations:
        if observation.code == "PODS_UNATTEMPTED":
            return True
        if observation.code == "PENDING_PODS_ATTEMPTED" and int(observation.evidence.get("pending") or 0) > 0:
            return True
    return False


class SecondOpinion:
    """One run's reads from outside the apiserver for one target, made at most once each.

    `sources` makes the target's clients (None: second opinions are off) only once a read is
    due; for a target in another account that assumes its role."""

    def __init__(self, cluster: str, sources: Callable[[], AwsSources | None], settings: Settings, now: datetime,
                 run_interval_s: float, deadline: Deadline, in_alarm: frozenset[str] = frozenset(),
                 watched: frozenset[str] = frozenset()):
        self._cluster = cluster
        self._make_sources = sources
        self._sources: AwsSources | None = None
        self._sources_problem: Observation | None = None
        self._sources_made = False
        self._settings = settings
        self._now = now
        self._run_interval_s = run_interval_s
        self._deadline = deadline
        self._in_alarm = in_alarm
        self._watched = watched
        self._metrics: VendedMetrics | None = None
        self._metrics_problem: Observation | None = None
        self._metrics_read = False
        self._logs: dict[str, list[Observation]] = {}

    def amend(self, diagnosis: Diagnosis, info: ClusterInfo | None) -> Diagnosis:
        """`diagnosis` with what the vended metrics and the logs add; unchanged when nothing is due."""
        first = plan(diagnosis, info, self._settings, self._now, self._run_interval_s, self._in_alarm, self._watched)
        found = self._metric_observations(first)
        amended = with_observations(diagnosis, tuple(found)) if found else diagnosis
        # The vended metrics may have made a component suspect: its logs are then wanted too.
        logs_plan = plan(amended, info, self._settings, self._now, self._run_interval_s, self._in_alarm,
                         self._watched)
        log_found = [o for log_type in logs_plan.log_types for o in self._log_observations(log_type)]
        return with_observations(amended, tuple(log_found)) if log_found else amended

    def _clients(self) -> AwsSources | None:
        if not self._sources_made:
            self._sources_made = True
            try:
                self._sources = self._make_sources()
            except (AwsError, ConfigError) as error:
                self._sources_problem = _aws_problem(error, "sts:AssumeRole")
        return self._sources

    def _metric_observations(self, wanted: Plan) -> list[Observation]:
        if wanted.series and not self._metrics_read:
            self._metrics_read = True
            self._read_metrics(wanted)
        if self._metrics_problem is not None:
            return [self._metrics_problem]
        if self._metrics is None:
            return []
        from ..judging.vended_rules import apiserver_findings, scheduler_findings, storage_findings  # cold start
        return [*storage_findings(self._metrics, self._settings),
                *apiserver_findings(self._metrics, self._settings, wanted.serving_wanted),
                *scheduler_findings(self._metrics, self._settings)]

    def _read_metrics(self, wanted: Plan) -> None:
        sources = self._clients()
        if sources is None:
            self._metrics_problem = self._sources_problem
            return
        if self._deadline.remaining() < MIN_SECONDS_FOR_A_READ:
            self._metrics_problem = observe("PROBE_TIMED_OUT", Component.CHECKER, probe="vended_metrics")
            return
        end = self._now.replace(second=0, microsecond=0)
        try:
            self._metrics = read_vended_metrics(sources.cloudwatch, self._cluster, wanted.series,
                                                end - timedelta(seconds=wanted.window_s), end)
        except (AwsError, ConfigError) as error:
            self._metrics_problem = _aws_problem(error, "cloudwatch:GetMetricData")

    def _log_observations(self, log_type: str) -> list[Observation]:
        if log_type not in self._logs:
            self._logs[log_type] = self._read_log(log_type)
        return self._logs[log_type]

    def _read_log(self, log_type: str) -> list[Observation]:
        sources = self._clients()
        if sources is None:
            return [self._sources_problem] if self._sources_problem else []
        if self._deadline.remaining() < MIN_SECONDS_FOR_A_READ:
            return [observe("PROBE_TIMED_OUT", Component.CHECKER, probe=f"control_plane_logs {log_type}")]
        from ..aws.control_plane_logs import read_component_log  # only runs that read a log (cold start)
        start = self._now - timedelta(seconds=self._settings.control_plane_log_window_s)
        try:
            excerpt = read_component_log(sources.logs, self._cluster, log_type, start, self._now,
                                         self._settings.control_plane_log_page_limit, LOG_PAGES, LOG_ERRORS_KEPT,
                                         time_left=self._deadline.remaining)
        except (AwsError, ConfigError) as error:
            return [_aws_problem(error, "logs:FilterLogEvents")]
        return [log_finding(excerpt, log_type)]


def log_finding(excerpt: LogExcerpt, log_type: str) -> Observation:
    """What one component's log excerpt says, as a finding of that component."""
    component = next(c for c, name in LOG_TYPES.items() if name == log_type)
    common = dict(process=PROCESSES[log_type], since=excerpt.start.strftime("%H:%M"), log_group=excerpt.log_group,
                  stream_prefix=excerpt.stream_prefix, lines_read=excerpt.lines_read)
    if excerpt.lines_read == 0:
        return observe("CONTROL_PLANE_LOG_SILENT", component, **common)
    if excerpt.error_lines:
        return observe("CONTROL_PLANE_LOG_ERRORS", component, lines=" | ".join(excerpt.error_lines),
                       error_lines=list(excerpt.error_lines), **common)
    partial = "" if excerpt.complete else f" among the first {excerpt.lines_read} read"
    return observe("CONTROL_PLANE_LOG_NO_ERROR", component, newest=excerpt.newest_at.strftime("%H:%M:%S"),
                   partial=partial, **common)


def _aws_problem(error: Exception, operation: str) -> Observation:
    if isinstance(error, AwsAccessDeniedError):
        return observe("CHECKER_AWS_DENIED", Component.CHECKER, operation=operation, detail=error.detail)
    return observe("CHECKER_AWS_FAILED", Component.CHECKER, operation=operation, detail=str(error))
