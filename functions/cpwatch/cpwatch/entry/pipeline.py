"""The scheduled run: check each target cluster, keep history and alert state, notify, emit metrics.

Called by handler.lambda_handler (and by tests and the demo with their own Dependencies).
`handle` never raises for bad input (it answers {"status": "rejected"}); each cluster is
checked concurrently under its own deadline, derived from the Lambda's remaining time.
Per cluster, in order: name it by its ARN (identity.py), claim the scheduler execution (a
redelivered event does nothing), look (look.py), count a leader that renews but does not work
(wedged.py), turn the look into alert state (urgency.py, alerting.py), confirm a new failure
with a second look, store the run and the alert state (conditional on its version), publish the
notifications of the transitions (kept in an outbox until SNS accepts them), and always emit the
metrics, even when DynamoDB or SNS fail.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ..judging import wedged
from ..telling import alerting, urgency
from ..telling.alerting import CHECKER, AlertPolicy, ClusterState, Look, Severity, Transition
from ..judging.check import Diagnosis, with_observations
from ..errors import AwsError, ConfigError
from ..identity import ClusterIdentity, cluster_identity
from .invocation import EventError, Invocation, Target, parse_event, parse_targets
from .look import Connector, RememberedClusterInfo, look
from ..telling.metrics import emit_run_metrics, emit_undelivered
from ..telling.publish import Delivery, deliver
from ..telling.report import to_dict
from ..telling.run_store import RunStore
from .second_opinion import AwsSources, SecondOpinion
from ..settings import DeploymentSettings, Settings
from ..telling.store import AlreadyClaimedError, Store, StoredState, StoreError
from ..timeutil import Deadline
from ..judging.wedged import Streak

log = logging.getLogger(__name__)


def _account_unknown() -> str:
    raise ConfigError("the function's own AWS account is not known (Dependencies.home_account)")


@dataclass
class Dependencies:
    """Everything with I/O, each replaceable (tests pass their own)."""

    connect: Connector
    store: Store | None = None
    sns: Any = None
    ec2_for: Callable[[Target], Any] = lambda target: None
    # CloudWatch and CloudWatch Logs clients of a target's account (second opinions); None: not read.
    aws_sources_for: Callable[[Target], AwsSources | None] = lambda target: None
    emit: Callable[[str], None] = print
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    # The function's own account: the account of targets without a role (identity.py).
    home_account: Callable[[], str] = _account_unknown


@dataclass(frozen=True)
class ClusterOutcome:
    cluster: str
    overall: str
    root_cause: str | None = None
    transitions: tuple[str, ...] = ()
    published: int = 0
    stored: bool = False
    notes: tuple[str, ...] = ()
    arn: str | None = None

    def as_dict(self) -> dict:
        return {"cluster": self.cluster, "arn": self.arn, "overall": self.overall, "root_cause": self.root_cause,
                "transitions": list(self.transitions), "published": self.published, "stored": self.stored,
                "notes": list(self.notes)}


def handle(event: Any, remaining_ms: int, deps: Dependencies, settings: Settings,
           deployment: DeploymentSettings) -> dict:
    started = time.monotonic()
    try:
        invocation = parse_event(event, default_targets(deployment), deployment.region)
    except EventError as error:
        log.error("rejected event: %s", error)
        return {"status": "rejected", "error": str(error)}
    # Per-cluster deadline: the time left minus what storing and publishing need afterwards,
    # and never more than the check's own run timeout.
    budget_s = min(remaining_ms / 1000 - deployment.reserve_s, settings.run_timeout_s)
    if budget_s < 3:
        log.error("not enough time left to check (%.1f s)", remaining_ms / 1000)
        skipped = [ClusterOutcome(t.cluster, "skipped", notes=("not enough Lambda time left to check",))
                   for t in invocation.targets]
        return {"status": "skipped", "clusters": [o.as_dict() for o in skipped]}
    outcomes = run_concurrently(
        invocation.targets, lambda target, deadline: check_cluster(target, invocation, deps, settings, deployment, deadline),
        budget_s, budget_s + deployment.reserve_s - 1)
    return {"status": "ok", "execution_id": invocation.execution_id, "seconds": round(time.monotonic() - started, 3),
            "clusters": [o.as_dict() for o in outcomes]}


def default_targets(deployment: DeploymentSettings) -> tuple[Target, ...]:
    if not deployment.targets_json:
        return ()
    try:
        return parse_targets(json.loads(deployment.targets_json), deployment.region)
    except (ValueError, EventError) as error:
        raise ConfigError(f"CPWATCH_TARGETS is not a valid target list: {error}") from None


def run_concurrently(targets: tuple[Target, ...], check: Callable[[Target, Deadline], ClusterOutcome],
                     budget_s: float, wait_s: float) -> list[ClusterOutcome]:
    """Each target checked in its own thread under a deadline of `budget_s`; all of them waited
    for `wait_s` in all (one end for every join, so hung checks cannot add up past the Lambda's
    time), a check still running then is "did not finish in time"."""
    results: dict[int, ClusterOutcome] = {}

    def work(index: int, target: Target) -> None:
        try:
            results[index] = check(target, Deadline.after(budget_s))
        except Exception:  # reported here, so one cluster's bug never hides the others' results
            log.exception("checking %s failed unexpectedly", target.cluster)
            results[index] = ClusterOutcome(target.cluster, "error", notes=("internal error; see the log",))

    threads = [threading.Thread(target=work, args=(i, t), name=f"cluster-{t.cluster}", daemon=True)
               for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    ends = time.monotonic() + wait_s
    for thread in threads:
        thread.join(timeout=max(ends - time.monotonic(), 0))
    return [results.get(i, ClusterOutcome(t.cluster, "error", notes=("did not finish in time",)))
            for i, t in enumerate(targets)]


def identity_of(target: Target, deps: Dependencies) -> ClusterIdentity:
    """The target's ARN: its role's account, else the function's own (asked only then)."""
    home = "" if target.role_arn else deps.home_account()
    return cluster_identity(target.cluster, target.region, target.role_arn, home)


def alert_policy(deployment: DeploymentSettings) -> AlertPolicy:
    return AlertPolicy(deployment.confirm_looks, deployment.recovery_runs, deployment.reminder_hours,
                       deployment.checker_alarm_after_runs, deployment.warning_after_minutes,
                       deployment.warning_reminder_hours)


def check_cluster(target: Target, invocation: Invocation, deps: Dependencies, settings: Settings,
                  deployment: DeploymentSettings, deadline: Deadline) -> ClusterOutcome:
    notes: list[str] = []
    try:
        cluster = identity_of(target, deps)
    except (AwsError, ConfigError) as error:
        log.error("%s: cannot tell which cluster this is: %s", target.cluster, error)
        return ClusterOutcome(target.cluster, "error", notes=(f"cluster not identified: {error}",))
    now = deps.clock()
    run_id = secrets.token_hex(4)
    if deps.store is not None:
        deps = replace(deps, store=RunStore(deps.store))
    if deps.store and invocation.execution_id:
        try:
            deps.store.claim_execution(cluster, invocation.execution_id, now, run_id)
        except AlreadyClaimedError:
            log.info("execution %s of %s already handled", invocation.execution_id, cluster.arn)
            return ClusterOutcome(target.cluster, "duplicate", notes=("execution already handled",), arn=cluster.arn)
        except StoreError as error:
            notes.append(f"could not claim the execution: {error}")

    connections = RememberedClusterInfo(deps.connect)
    read_only = deployment.read_only if target.read_only is None else target.read_only
    stored_state = _load_state(deps, cluster, notes)
    policy = alert_policy(deployment)
    state = stored_state.state if stored_state else ClusterState()
    stalls: Mapping[str, Streak] = stored_state.stalls if stored_state else {}

    opinion = _second_opinion(target, deps, settings, state, stalls, now, deployment, deadline)

    def one_look(stalls: Mapping[str, Streak]) -> tuple[Diagnosis, dict[str, Streak]]:
        diagnosis = look(target, connections, deps.ec2_for, settings, read_only, deadline,
                         deployment.run_interval_s, opinion)
        stalls, found = wedged.update(stalls, diagnosis, now, deployment.wedged_after_runs)
        return (with_observations(diagnosis, found, first=True) if found else diagnosis), stalls

    diagnosis, stalls = one_look(stalls)
    looks, notices = urgency.looks_of(diagnosis)
    state, transitions = alerting.step(state, looks, deps.clock(), policy, notices)
    if _needs_second_look(state, diagnosis, policy) and deadline.remaining() > diagnosis.duration_ms / 1000 + 2:
        log.info("%s: new failure, looking again to confirm", cluster.arn)
        diagnosis, stalls = one_look(stalls)
        looks, notices = urgency.second_look(diagnosis)
        state, more = alerting.step(state, looks, deps.clock(), policy, notices)
        transitions += more
    _compare_arn(cluster, connections, notes)

    document = to_dict(diagnosis)
    stored_at = deps.clock()
    packs, command = _evidence(cluster, connections, transitions, policy, document, stored_at)
    alerts = tuple({"component": t.component, "kind": t.kind.value, "severity": t.severity.value} for t in transitions)
    stored = _store_run(deps, cluster, document, run_id, invocation, notes, stored_at, packs, alerts)
    if stored_state is not None and deps.store is not None:
        delivery = deliver(deps.store, deps.sns, deployment.topic_arn, cluster, stored_state, state, stalls,
                           _announced(transitions, deployment), document, deployment.dashboard_url, deps.clock,
                           notes, packs, command)
    else:
        notes.append("alert state not available: transitions not notified (counted as undelivered while a "
                     "component looks bad: the notifications-undelivered alarm pages)")
        delivery = Delivery(undelivered=sum(1 for name, look_ in urgency.looks_of(diagnosis)[0].items()
                                            if look_ is Look.BAD and _cpwatch_announces(name, Severity.CRITICAL,
                                                                                        deployment)))
    warnings_open = sum(1 for c in state.components.values() if c.warning and not c.alarm)
    emit_run_metrics(cluster, document, delivery.published, write=deps.emit, execution_id=invocation.execution_id,
                     warnings=warnings_open)
    emit_undelivered(cluster, delivery.undelivered, write=deps.emit)
    log.info("%s: %s", cluster.arn, document["summary"])
    return ClusterOutcome(target.cluster, document["overall"], document.get("root_cause"),
                          tuple(f"{t.component}:{t.kind.value}" for t in transitions), delivery.published, stored,
                          tuple(notes), cluster.arn)


def _evidence(cluster: ClusterIdentity, connections: RememberedClusterInfo, transitions: list[Transition],
              policy: AlertPolicy, document: dict, stored_at: datetime) -> tuple[dict[str, str], str | None]:
    """The run's evidence packs and the command that prints them again; none without transitions."""
    if not transitions:
        return {}, None
    from ..telling.evidencepack import evidence_command, packs_for  # only runs with transitions (cold start)
    packs = packs_for(cluster, connections.info, transitions, policy.looks_to_alarm, document, stored_at,
                      policy.warning_after_minutes)
    return packs, evidence_command(cluster, stored_at)


def _needs_second_look(state: ClusterState, diagnosis: Diagnosis, policy: AlertPolicy) -> bool:
    return any(look_ is Look.BAD and not state.of(name).alarm and state.of(name).bad_looks < policy.confirm_looks
               for name, look_ in urgency.second_look(diagnosis)[0].items())


def _announced(transitions: list[Transition], deployment: DeploymentSettings) -> list[Transition]:
    """The transitions cpwatch publishes."""
    return [t for t in transitions if _cpwatch_announces(t.component, t.severity, deployment)]


def _cpwatch_announces(component: str, severity: Severity, deployment: DeploymentSettings) -> bool:
    """Every subject's events, except cpwatch's own "cannot see" page (and its end) when the
    deployment's CloudWatch blind alarm announces those (fleet, issue 9); what EKS reports of a
    cluster (the checker's warnings) is cpwatch's to tell."""
    return component != CHECKER or severity is Severity.WARNING or not deployment.blind_alarm_in_cloudwatch


def _second_opinion(target: Target, deps: Dependencies, settings: Settings, state: ClusterState,
                    stalls: Mapping[str, Streak], now: datetime, deployment: DeploymentSettings,
                    deadline: Deadline) -> SecondOpinion:
    in_alarm = frozenset(name for name, component in state.components.items() if component.alarm)
    return SecondOpinion(target.cluster, lambda: deps.aws_sources_for(target), settings, now,
                         deployment.run_interval_s, deadline, in_alarm,
                         wedged.watched(stalls, deployment.wedged_after_runs))


def _compare_arn(cluster: ClusterIdentity, connections: RememberedClusterInfo, notes: list[str]) -> None:
    described = connections.info.arn if connections.info is not None else None
    if described and described != cluster.arn:
        notes.append(f"DescribeCluster names the cluster {described}; stored and sent as {cluster.arn}")
        log.warning("%s: DescribeCluster says %s (the target's role or the function's account is not the "
                    "cluster's)", cluster.arn, described)


def _load_state(deps: Dependencies, cluster: ClusterIdentity, notes: list[str]) -> StoredState | None:
    if deps.store is None:
        return None
    try:
        return deps.store.load_state(cluster)
    except StoreError as error:
        notes.append(str(error))
        log.error("%s: %s", cluster.arn, error)
        return None


def _store_run(deps: Dependencies, cluster: ClusterIdentity, document: dict, run_id: str, invocation: Invocation,
               notes: list[str], at: datetime, packs: dict[str, str], alerts: tuple[dict, ...]) -> bool:
    if deps.store is None:
        return False
    try:
        deps.store.put_run(cluster, document, run_id, invocation.execution_id, at, packs, alerts)
        return True
    except StoreError as error:
        notes.append(str(error))
        log.error("%s: run not stored: %s (the result is in this log and in the metrics)", cluster.arn, error)
        return False
