"""Typed settings, validated once.

Called by the CLI (flags) and the Lambda handler (environment). Every threshold below is derived
from how Kubernetes components behave; the comment on each says from what.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from typing import Mapping

from .errors import ConfigError

# All environment variable names cpwatch reads live here (CPWATCH_<FIELD NAME IN CAPITALS>).
ENV_PREFIX = "CPWATCH_"


@dataclass(frozen=True)
class Settings:
    # One deadline for the whole run; a check always returns within it.
    run_timeout_s: float = 30.0
    # Bound of a single HTTP request (connect, TLS handshake, and each read).
    request_timeout_s: float = 5.0
    # The etcd write probe sends `?timeout=` so the apiserver gives up on etcd first;
    # the client waits this plus 2 s for the answer.
    write_timeout_s: float = 5.0

    # kube-apiserver: median of a few small reads above this is slow. The Kubernetes API
    # call latency SLO for single-object reads is p99 <= 1 s.
    latency_samples: int = 3
    latency_warn_ms: float = 1000.0
    # New connections that sample the apiservers behind the endpoint's load balancer (EKS runs at
    # least two behind an NLB, which picks one per connection by a flow hash: 6 connections reach
    # both of two with 97 % probability, and every run samples anew); more when the identity
    # Leases show more apiservers (twice their number).
    apiserver_connections: int = 6

    # Leader election (client-go defaults: leaseDuration 15 s, renewDeadline 10 s, retryPeriod
    # 2 s): a live leader renews every 2 s, and a failover takes at most one leaseDuration plus
    # a retry. A Lease is stale when renewTime is older than max(3 x leaseDurationSeconds, 45 s)
    # plus the clock margin (renewTime is written with the leader's clock, ages are measured on
    # the apiserver's).
    lease_duration_factor: float = 3.0
    lease_min_stale_s: float = 45.0
    clock_margin_s: float = 10.0

    # Node lifecycle controller: a node whose kubelet stopped heartbeating is marked Unknown
    # after node-monitor-grace-period (40 s; 50 s from Kubernetes 1.32; providers tune it) plus
    # one node-monitor-period (5 s). A Ready node silent for longer than this means the
    # controller is not running.
    node_heartbeat_stale_s: float = 120.0
    # Nodes looked up one by one when their Lease is stale (bounds requests on a mass outage).
    max_node_lookups: int = 20

    # Pod GC force-deletes pods bound to a missing node after a 40 s quarantine and runs every
    # 20 s, so a deleted orphan can linger up to ~80 s with a healthy controller-manager.
    orphan_pod_grace_s: float = 120.0
    max_terminating_lookups: int = 50
    # Finding Terminating pods means looking at every pod (no field selector matches a
    # deletionTimestamp): from the watch cache, as a Table, that is still about 7 % of one full
    # pod list's apiserver work. Clusters with more pods than this scan once per period instead of
    # every run: ORPHAN_POD_NOT_COLLECTED corroborates a controller-manager verdict that its
    # leader Lease (read every run) decides, and pod GC itself takes up to ~80 s.
    orphan_scan_every_run_below_pods: int = 5000
    orphan_scan_period_s: float = 300.0

    # Objects a wide scan from the watch cache (which may lag) shows as failing are read again by
    # a consistent get before a failure is reported; at most this many per probe.
    max_confirm_lookups: int = 20

    # kube-scheduler attempts a new pod within seconds and writes PodScheduled on failure.
    unattempted_pod_age_s: float = 60.0
    # A pod whose binding the apiserver refused is retried with a backoff of 1 s doubling up to
    # podMaxBackoffSeconds (10 s): still refused 15 s after the first refusal, it has failed at least
    # three retries (1 + 2 + 4 s of backoff, plus the calls), so the refusal is not a blip.
    binding_rejected_after_s: float = 15.0

    # Active canaries: how long to wait for a controller's reaction, and how often to look.
    canary_wait_s: float = 10.0
    canary_poll_s: float = 0.5
    # Canary pods older than this are leftovers of an interrupted run and are deleted.
    canary_leftover_age_s: float = 120.0
    namespace: str = "cpwatch"

    # The apiserver's clock differs from ours by more than this: a finding about the checker.
    clock_skew_warn_s: float = 60.0

    # Certificates (the apiserver's serving certificate, the kubeconfig's client certificate)
    # expiring within this many days are warned about; kubeadm's last one year.
    cert_expiry_warn_days: float = 30.0
    # An APIService Available=False for longer than this is reported: the availability
    # controller rechecks every APIService at least every 30 s and on every change.
    apiservice_grace_s: float = 30.0
    # etcd's space quota (--quota-backend-bytes): etcd's default is 2 GiB, EKS runs 8 GiB.
    # The database size is warned about from etcd_db_warn_percent of it.
    etcd_quota_bytes: int = 2 * 1024**3
    eks_etcd_quota_bytes: int = 8 * 1024**3
    etcd_db_warn_percent: float = 80.0
    # Probes that read something large (the apiserver's /metrics) run once per this period.
    metrics_interval_s: float = 900.0

    # EKS control-plane metrics API (probes/eks_metrics.py). A controller's worker processes one
    # item with a few API calls, and the apiserver ends every non-watch request after its
    # --request-timeout (60 s by default): a worker still on one item after this long hangs.
    controller_stuck_after_s: float = 300.0
    # When ready items wait and no worker is busy (or pods wait in the scheduler's active queue)
    # at the first look, the endpoint is read again this much later: an idle worker takes a ready
    # item within milliseconds and the scheduler pops its active queue continuously, and client-go
    # refreshes the unfinished-work gauges every 500 ms, so a busy worker shows by then. Nothing
    # taken in 2 s (four refreshes) means the workers do not run. The run waits this long only
    # when the first look asks for it.
    eks_metrics_second_look_s: float = 2.0

    page_size: int = 500

    # --- EKS vended metrics (CloudWatch AWS/EKS) and control-plane logs (AWS pipeline) -----
    # GetMetricData is billed per metric requested ($0.01 per 1,000): the early warnings
    # (apiserver 5XX and 429 rates, etcd database size) are read once per this period, each read
    # covering the whole period, so no published minute goes unread (README "Performance and cost").
    vended_metrics_interval_s: float = 7200.0
    # Second opinions (pods waiting, scheduler or apiserver suspected) look back this far, once
    # per vended_second_opinion_interval_s; a component newly looking down is read at once.
    vended_window_s: float = 900.0
    vended_second_opinion_interval_s: float = 900.0
    # kube-scheduler retries every waiting pod that is not gated: activeQ at once, backoffQ within
    # podMaxBackoffSeconds (10 s), unschedulable pods after podMaxInUnschedulablePodsDuration
    # (5 min) through a flush every 30 s. Waiting pods in every 1-minute period for 5 min + 30 s
    # + one period, with no attempt counted, mean the scheduling loop is not running.
    vended_scheduler_silent_s: float = 420.0
    # Share of the apiserver's requests answered 5XX (its own failures) or 429 (API Priority and
    # Fairness rejections) from which a warning is raised, over at least this many requests.
    vended_5xx_warn_percent: float = 5.0
    vended_429_warn_percent: float = 5.0
    vended_rate_min_requests: int = 100
    # Control-plane logs of a suspected component: how far back, and events per page (3 pages).
    control_plane_log_window_s: float = 600.0
    control_plane_log_page_limit: int = 100

    def validated(self) -> Settings:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type in ("float", "int"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ConfigError(f"setting {field.name} must be a number, got {value!r}")
                if value <= 0:
                    raise ConfigError(f"setting {field.name} must be greater than 0, got {value!r}")
                if field.type == "int" and int(value) != value:
                    raise ConfigError(f"setting {field.name} must be a whole number, got {value!r}")
        if not self.namespace or not _is_dns_label(self.namespace):
            raise ConfigError(f"setting namespace must be a DNS label (a-z, 0-9, '-'), got {self.namespace!r}")
        if self.request_timeout_s > self.run_timeout_s:
            raise ConfigError(
                f"setting request_timeout_s ({self.request_timeout_s}) must not exceed run_timeout_s ({self.run_timeout_s})"
            )
        if self.etcd_db_warn_percent > 100:
            raise ConfigError(f"setting etcd_db_warn_percent must be at most 100, got {self.etcd_db_warn_percent!r}")
        for name in ("vended_5xx_warn_percent", "vended_429_warn_percent"):
            if getattr(self, name) > 100:
                raise ConfigError(f"setting {name} must be at most 100, got {getattr(self, name)!r}")
        if self.vended_window_s < self.vended_scheduler_silent_s + 120:
            raise ConfigError(
                f"setting vended_window_s ({self.vended_window_s}) must be at least vended_scheduler_silent_s + 120 s "
                f"({self.vended_scheduler_silent_s + 120}): AWS/EKS publishes each minute with a delay"
            )
        if self.control_plane_log_page_limit > 10000:
            raise ConfigError(
                f"setting control_plane_log_page_limit must be at most 10000 (FilterLogEvents' limit), "
                f"got {self.control_plane_log_page_limit!r}"
            )
        if self.canary_poll_s > self.canary_wait_s:
            raise ConfigError(
                f"setting canary_poll_s ({self.canary_poll_s}) must not exceed canary_wait_s ({self.canary_wait_s})"
            )
        if self.eks_metrics_second_look_s >= self.run_timeout_s:
            raise ConfigError(
                f"setting eks_metrics_second_look_s ({self.eks_metrics_second_look_s}) must be less than "
                f"run_timeout_s ({self.run_timeout_s})"
            )
        return self

    def with_overrides(self, **overrides: object) -> Settings:
        unknown = sorted(set(overrides) - {field.name for field in fields(self)})
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        return replace(self, **overrides).validated()


def settings_from_env(environ: Mapping[str, str], base: Settings | None = None) -> Settings:
    """Settings with every CPWATCH_<NAME> variable applied; an exact message per mistake."""
    base = base or Settings()
    overrides: dict[str, object] = {}
    for field in fields(base):
        raw = environ.get(ENV_PREFIX + field.name.upper())
        if raw is None:
            continue
        overrides[field.name] = _convert(field.name, field.type, raw)
    return base.with_overrides(**overrides)


def _convert(name: str, type_name: str, raw: str) -> object:
    env_name = _DEPLOYMENT_ENV.get(name) or ENV_PREFIX + name.upper()
    if type_name == "str":
        return raw
    try:
        return int(raw) if type_name == "int" else float(raw)
    except ValueError:
        kind = "a whole number" if type_name == "int" else "a number"
        raise ConfigError(f"{env_name} must be {kind}, got {raw!r}") from None


# RFC 1123 label, as Kubernetes validates namespace names: ASCII only (str.isalnum and friends
# also accept "é" and "²", which the apiserver would refuse).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _is_dns_label(value: str) -> bool:
    return _DNS_LABEL.fullmatch(value) is not None


@dataclass(frozen=True)
class DeploymentSettings:
    """Settings of the Lambda deployment (template.yaml sets them), validated once at cold start."""

    table_name: str | None = None  # CPWATCH_TABLE_NAME: history and alert state; none: not stored
    topic_arn: str | None = None  # CPWATCH_TOPIC_ARN: where notifications go; none: not sent
    read_only: bool = False  # CPWATCH_READ_ONLY: skip active probes unless a target says otherwise
    confirm_looks: int = 2  # CPWATCH_CONFIRM_LOOKS: looks that must agree before an alarm
    recovery_runs: int = 3  # CPWATCH_RECOVERY_RUNS: good runs before a recovery
    reminder_hours: float = 4.0  # CPWATCH_REMINDER_HOURS: reminders while in alarm
    # Runs in a row that could not see the cluster before cpwatch's own "cannot see" alarm: one
    # blind run (AWS throttling past the run's retries, a credential being renewed) pages nobody.
    checker_alarm_after_runs: int = 3  # CPWATCH_CHECKER_ALARM_AFTER_RUNS
    # Warnings (reach mailboxes and chat, never a pager): a degraded component or a failure
    # between the components becomes one once it has lasted this long on consecutive looks. The
    # longest a healthy control plane takes to correct itself is kube-scheduler's retry of an
    # unschedulable pod (podMaxInUnschedulablePodsDuration 5 min, flushed every 30 s); a leader
    # failover takes leaseDuration + retryPeriod (17 s), the aggregator rechecks an APIService
    # every 30 s, the node lifecycle controller marks a silent node after 40-50 s. Ten minutes
    # is that longest period with as much again for its effects to show (one-minute runs: ten
    # looks). Advance notices warn at once.
    warning_after_minutes: float = 10.0  # CPWATCH_WARNING_AFTER_MINUTES
    # A warning that stays open is recalled at most once a day: mailboxes are read daily.
    warning_reminder_hours: float = 24.0  # CPWATCH_WARNING_REMINDER_HOURS
    # Wedged (wedged.py): a controller-manager or scheduler whose Lease the same holder renews
    # while it does not work is down after this many consecutive runs, each at least a minute
    # apart. Leader election decides the number: a standby takes over only when the leader has
    # not renewed for leaseDurationSeconds (15 s), so a leader that renews is never replaced and
    # waiting longer helps nobody. The runs only rule out that the leader was slow once: the first
    # run that sees it, a second one (what confirms any failure in cpwatch), and a third, so it
    # has renewed and not worked for at least 2 minutes, seven times the longest failover (17 s)
    # and longer than a new leader's start (informer caches sync before its controllers run).
    wedged_after_runs: int = 3  # CPWATCH_WEDGED_AFTER_RUNS
    dashboard_url: str | None = None  # CPWATCH_DASHBOARD_URL: linked from notifications
    targets_json: str | None = None  # CPWATCH_TARGETS: default targets (JSON list) for events without any
    region: str | None = None  # AWS_REGION: default region of targets (set by Lambda)
    # Kept back from the Lambda's remaining time for storing and publishing after the checks.
    reserve_s: float = 6.0  # CPWATCH_RESERVE_S
    # The EventBridge Scheduler expression that starts the runs; its period paces the probes
    # that run once per metrics_interval_s.
    schedule_expression: str = "rate(1 minute)"  # CPWATCH_SCHEDULE_EXPRESSION
    # Fleet (issue 9): the deployment's CloudWatch alarm on the Blind metric announces that
    # cpwatch cannot see a cluster (it fires without the function's credentials); cpwatch then
    # records its own "cannot see" transitions but does not publish them, so blindness pages once.
    blind_alarm_in_cloudwatch: bool = False  # CPWATCH_BLIND_ALARM_IN_CLOUDWATCH

    @property
    def run_interval_s(self) -> float:
        return schedule_period_s(self.schedule_expression)


_DEPLOYMENT_ENV = {
    "table_name": "CPWATCH_TABLE_NAME",
    "topic_arn": "CPWATCH_TOPIC_ARN",
    "read_only": "CPWATCH_READ_ONLY",
    "confirm_looks": "CPWATCH_CONFIRM_LOOKS",
    "recovery_runs": "CPWATCH_RECOVERY_RUNS",
    "reminder_hours": "CPWATCH_REMINDER_HOURS",
    "checker_alarm_after_runs": "CPWATCH_CHECKER_ALARM_AFTER_RUNS",
    "warning_after_minutes": "CPWATCH_WARNING_AFTER_MINUTES",
    "warning_reminder_hours": "CPWATCH_WARNING_REMINDER_HOURS",
    "wedged_after_runs": "CPWATCH_WEDGED_AFTER_RUNS",
    "dashboard_url": "CPWATCH_DASHBOARD_URL",
    "targets_json": "CPWATCH_TARGETS",
    "region": "AWS_REGION",
    "reserve_s": "CPWATCH_RESERVE_S",
    "schedule_expression": "CPWATCH_SCHEDULE_EXPRESSION",
    "blind_alarm_in_cloudwatch": "CPWATCH_BLIND_ALARM_IN_CLOUDWATCH",
}


def deployment_settings_from_env(environ: Mapping[str, str]) -> DeploymentSettings:
    values: dict[str, object] = {}
    for field in fields(DeploymentSettings):
        raw = environ.get(_DEPLOYMENT_ENV[field.name])
        if raw is None or raw == "":
            continue
        name = _DEPLOYMENT_ENV[field.name]
        if field.type == "bool":
            if raw.lower() not in ("true", "false"):
                raise ConfigError(f"{name} must be true or false, got {raw!r}")
            values[field.name] = raw.lower() == "true"
        elif field.type in ("int", "float"):
            value = _convert(field.name, field.type, raw)
            if not value > 0 or not math.isfinite(value):
                raise ConfigError(f"{name} must be greater than 0, got {raw!r}")
            values[field.name] = value
        else:
            values[field.name] = raw
    deployment = DeploymentSettings(**values)
    deployment.run_interval_s  # an expression that cannot be read fails here, at cold start
    if deployment.wedged_after_runs < 2:
        raise ConfigError(f"CPWATCH_WEDGED_AFTER_RUNS must be at least 2 (one run is a stall seen once, not a "
                          f"leader that keeps renewing without working), got {deployment.wedged_after_runs}")
    if deployment.warning_reminder_hours < deployment.reminder_hours:
        raise ConfigError(f"CPWATCH_WARNING_REMINDER_HOURS ({deployment.warning_reminder_hours:g}) must not be less "
                          f"than CPWATCH_REMINDER_HOURS ({deployment.reminder_hours:g}): a warning is never "
                          "recalled more often than a page")
    if deployment.topic_arn and not deployment.topic_arn.startswith("arn:"):
        raise ConfigError(f"CPWATCH_TOPIC_ARN must be an SNS topic ARN, got {deployment.topic_arn!r}")
    return deployment


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_S = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def schedule_period_s(expression: str) -> float:
    """Seconds between runs of an EventBridge Scheduler expression: rate(N unit) exactly; a
    cron() expression as one minute, its finest period (the periodic probes may then run more
    often than once per interval, never less)."""
    match = _RATE.fullmatch(expression.strip())
    if match:
        period = int(match[1]) * _UNIT_S[match[2]]
        if period > 0:
            return float(period)
    if expression.strip().startswith("cron(") and expression.strip().endswith(")"):
        return 60.0
    raise ConfigError(f"CPWATCH_SCHEDULE_EXPRESSION must be rate(N minutes|hours|days) or cron(...), got {expression!r}")


# --- fleet discovery (issue 9): the reconcile function's settings ---------------------------

_ACCOUNT = re.compile(r"^\d{12}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2,4}(-[a-z0-9]+)+-\d+$")
_TAG_KEY = re.compile(r"^[\w.:/=+\-@ ]{1,128}$")


@dataclass(frozen=True)
class FleetSettings:
    """What the reconcile function needs (template.yaml sets it in discovery mode)."""

    account: str  # CPWATCH_ACCOUNT_ID: the stack's own account
    regions: tuple[str, ...]  # CPWATCH_DISCOVERY_REGIONS (comma separated; empty: AWS_REGION)
    schedule_group: str  # CPWATCH_SCHEDULE_GROUP: the discovered clusters' own group
    checker_arn: str  # CPWATCH_CHECKER_ARN: the schedules' target
    scheduler_role_arn: str  # CPWATCH_SCHEDULER_ROLE_ARN: the role Scheduler invokes it with
    dead_letter_arn: str  # CPWATCH_DEAD_LETTER_ARN
    schedule_expression: str = "rate(1 minute)"  # CPWATCH_SCHEDULE_EXPRESSION
    tag_key: str = "cpwatch"  # CPWATCH_DISCOVERY_TAG_KEY
    opt_in: bool = False  # CPWATCH_DISCOVERY_OPT_IN: only clusters tagged <key>=true
    member_role_arns: tuple[str, ...] = ()  # CPWATCH_MEMBER_ROLE_ARNS: one role per member account
    external_id: str | None = None  # CPWATCH_MEMBER_EXTERNAL_ID: sent with every member role

    def __repr__(self) -> str:  # the external id is the member roles' trust secret
        return (f"FleetSettings(account={self.account!r}, regions={self.regions!r}, "
                f"schedule_group={self.schedule_group!r}, member_role_arns={self.member_role_arns!r})")


def fleet_settings_from_env(environ: Mapping[str, str]) -> FleetSettings:
    """FleetSettings from the environment; an exact message per mistake."""
    def required(name: str) -> str:
        value = (environ.get(name) or "").strip()
        if not value:
            raise ConfigError(f"{name} must be set (template.yaml sets it in discovery mode)")
        return value

    def listed(name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in (environ.get(name) or "").split(",") if part.strip())

    account = required("CPWATCH_ACCOUNT_ID")
    if not _ACCOUNT.match(account):
        raise ConfigError(f"CPWATCH_ACCOUNT_ID must be 12 digits, got {account!r}")
    regions = listed("CPWATCH_DISCOVERY_REGIONS") or (required("AWS_REGION"),)
    for region in regions:
        if not _REGION.match(region):
            raise ConfigError(f"CPWATCH_DISCOVERY_REGIONS must list regions like eu-west-1, got {region!r}")
    if len(set(regions)) != len(regions):
        raise ConfigError("CPWATCH_DISCOVERY_REGIONS lists a region twice")
    roles = listed("CPWATCH_MEMBER_ROLE_ARNS")
    for role in roles:
        match = _ROLE_ARN.match(role)
        if not match:
            raise ConfigError(f"CPWATCH_MEMBER_ROLE_ARNS must list IAM role ARNs, got {role!r}")
        if match[1] == account:
            raise ConfigError(f"CPWATCH_MEMBER_ROLE_ARNS: {role} is in the stack's own account, "
                              "whose clusters are discovered without a role")
    accounts = [_ROLE_ARN.match(r)[1] for r in roles]
    if len(set(accounts)) != len(accounts):
        raise ConfigError("CPWATCH_MEMBER_ROLE_ARNS lists two roles of one account")
    tag_key = (environ.get("CPWATCH_DISCOVERY_TAG_KEY") or "cpwatch").strip()
    if not _TAG_KEY.match(tag_key) or tag_key.lower().startswith("aws:"):
        raise ConfigError(f"CPWATCH_DISCOVERY_TAG_KEY must be a tag key (1-128 characters, not aws:), got {tag_key!r}")
    opt_in = (environ.get("CPWATCH_DISCOVERY_OPT_IN") or "false").strip().lower()
    if opt_in not in ("true", "false"):
        raise ConfigError(f"CPWATCH_DISCOVERY_OPT_IN must be true or false, got {opt_in!r}")
    external_id = (environ.get("CPWATCH_MEMBER_EXTERNAL_ID") or "").strip() or None
    if external_id is not None and not 2 <= len(external_id) <= 1224:
        raise ConfigError("CPWATCH_MEMBER_EXTERNAL_ID must be 2 to 1224 characters")
    expression = (environ.get("CPWATCH_SCHEDULE_EXPRESSION") or "rate(1 minute)").strip()
    schedule_period_s(expression)
    return FleetSettings(
        account=account, regions=regions, schedule_group=required("CPWATCH_SCHEDULE_GROUP"),
        checker_arn=required("CPWATCH_CHECKER_ARN"), scheduler_role_arn=required("CPWATCH_SCHEDULER_ROLE_ARN"),
        dead_letter_arn=required("CPWATCH_DEAD_LETTER_ARN"), schedule_expression=expression, tag_key=tag_key,
        opt_in=opt_in == "true", member_role_arns=roles, external_id=external_id)
