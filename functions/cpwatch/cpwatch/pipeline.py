"""The scheduled run: check each target cluster, keep history and alert state, notify, emit metrics.

Called by handler.lambda_handler (and by tests and the demo with their own Dependencies).
`handle` never raises for bad input (it answers {"status": "rejected"}); each cluster is
checked concurrently under its own deadline, derived from the Lambda's remaining time.
Per cluster, in order: claim the scheduler execution (a redelivered event does nothing), check,
confirm a new failure with a second look, store the run and the alert state (conditional on its
version), publish the notifications of the transitions (kept in an outbox until SNS accepts
them), and always emit the metrics, even when DynamoDB or SNS fail.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

from . import alerting
from .alerting import AlertPolicy, ClusterState, Look, Transition, TransitionKind
from .check import Diagnosis, blind_diagnosis, run_check
from .diagnosis import Verdict
from .aws.eks_cluster import ClusterInfo
from .errors import (
    AWS_THROTTLING_CODES,
    AwsAccessDeniedError,
    AwsError,
    AwsUnavailableError,
    ConfigError,
    EksClusterNotServingError,
)
from .evidencepack import cluster_facts, evidence_command, evidence_pack
from .findings import CONTROL_PLANE, Component, Observation, observe
from .invocation import EventError, Invocation, Target, parse_event, parse_targets
from .kubeapi import KubeApi
from .metrics import emit_run_metrics, emit_undelivered
from .publish import Delivery, deliver
from .report import to_dict
from .second_opinion import AwsSources, SecondOpinion
from .settings import DeploymentSettings, Settings
from .store import AlreadyClaimedError, Store, StoredState, StoreError, StoreUnreachableError
from .timeutil import Deadline

log = logging.getLogger("cpwatch.pipeline")

CHECKER = "checker"

Connector = Callable[[Target, Deadline], tuple[KubeApi, ClusterInfo | None]]


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


@dataclass(frozen=True)
class ClusterOutcome:
    cluster: str
    overall: str
    root_cause: str | None = None
    transitions: tuple[str, ...] = ()
    published: int = 0
    stored: bool = False
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"cluster": self.cluster, "overall": self.overall, "root_cause": self.root_cause,
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
    outcomes = _run_concurrently(invocation, deps, settings, deployment, budget_s)
    return {"status": "ok", "execution_id": invocation.execution_id, "seconds": round(time.monotonic() - started, 3),
            "clusters": [o.as_dict() for o in outcomes]}


def default_targets(deployment: DeploymentSettings) -> tuple[Target, ...]:
    if not deployment.targets_json:
        return ()
    try:
        return parse_targets(json.loads(deployment.targets_json), deployment.region)
    except (ValueError, EventError) as error:
        raise ConfigError(f"CPWATCH_TARGETS is not a valid target list: {error}") from None


def _run_concurrently(invocation: Invocation, deps: Dependencies, settings: Settings,
                      deployment: DeploymentSettings, budget_s: float) -> list[ClusterOutcome]:
    results: dict[int, ClusterOutcome] = {}

    def work(index: int, target: Target) -> None:
        try:
            results[index] = check_cluster(target, invocation, deps, settings, deployment, Deadline.after(budget_s))
        except Exception:  # reported here, so one cluster's bug never hides the others' results
            log.exception("checking %s failed unexpectedly", target.cluster)
            results[index] = ClusterOutcome(target.cluster, "error", notes=("internal error; see the log",))

    threads = [threading.Thread(target=work, args=(i, t), name=f"cluster-{t.cluster}", daemon=True)
               for i, t in enumerate(invocation.targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=budget_s + deployment.reserve_s - 1)
    return [results.get(i, ClusterOutcome(t.cluster, "error", notes=("did not finish in time",)))
            for i, t in enumerate(invocation.targets)]


def check_cluster(target: Target, invocation: Invocation, deps: Dependencies, settings: Settings,
                  deployment: DeploymentSettings, deadline: Deadline) -> ClusterOutcome:
    notes: list[str] = []
    now = deps.clock()
    if deps.store is not None:
        deps = replace(deps, store=_RunStore(deps.store))
    if deps.store and invocation.execution_id:
        try:
            deps.store.claim_execution(target.cluster, invocation.execution_id, now)
        except AlreadyClaimedError:
            log.info("execution %s of %s already handled", invocation.execution_id, target.cluster)
            return ClusterOutcome(target.cluster, "duplicate", notes=("execution already handled",))
        except StoreError as error:
            notes.append(f"could not claim the execution: {error}")

    connections = _RememberedClusterInfo(deps.connect)
    deps = replace(deps, connect=connections)
    read_only = deployment.read_only if target.read_only is None else target.read_only
    stored_state = _load_state(deps, target, notes)
    policy = AlertPolicy(deployment.confirm_looks, deployment.recovery_runs, deployment.reminder_hours,
                         deployment.checker_alarm_after_runs)
    state = stored_state.state if stored_state else ClusterState()

    opinion = _second_opinion(target, deps, settings, state, now, deployment.run_interval_s, deadline)
    diagnosis = _look(target, deps, settings, read_only, deadline, deployment.run_interval_s, opinion)
    state, transitions = alerting.step(state, looks_of(diagnosis), deps.clock(), policy)
    if _needs_second_look(state, diagnosis, policy) and deadline.remaining() > diagnosis.duration_ms / 1000 + 2:
        log.info("%s: new failure, looking again to confirm", target.cluster)
        diagnosis = _look(target, deps, settings, read_only, deadline, deployment.run_interval_s, opinion)
        state, more = alerting.step(state, second_look(diagnosis), deps.clock(), policy)
        transitions += more

    document = to_dict(diagnosis)
    run_id = secrets.token_hex(4)
    stored_at = deps.clock()
    packs = evidence_packs(target, connections.info, transitions, policy, document, stored_at)
    stored = _store_run(deps, target, document, run_id, invocation, notes, stored_at, packs)
    delivery = Delivery()
    if stored_state is not None and deps.store is not None:
        delivery = deliver(deps.store, deps.sns, deployment.topic_arn, target.cluster, target.region, stored_state,
                            state, _announced(transitions, deployment), document, deployment.dashboard_url,
                            deps.clock, notes, packs,
                            evidence_command(target.cluster, stored_at))
    else:
        notes.append("alert state not available: transitions not notified (counted as undelivered while a "
                     "component looks bad: the notifications-undelivered alarm pages)")
        delivery = Delivery(undelivered=sum(1 for name, look in looks_of(diagnosis).items()
                                            if look is Look.BAD and _cpwatch_announces(name, deployment)))
    published = delivery.published
    emit_run_metrics(target.cluster, document, published, write=deps.emit, execution_id=invocation.execution_id)
    emit_undelivered(target.cluster, delivery.undelivered, write=deps.emit)
    log.info("%s", document["summary"])
    return ClusterOutcome(target.cluster, document["overall"], document.get("root_cause"),
                          tuple(f"{t.component}:{t.kind.value}" for t in transitions), published, stored, tuple(notes))


class _RunStore:
    """The store as one cluster's run uses it: once DynamoDB gave no answer, later calls of the
    run fail at once with that error, so a silent endpoint costs the run one call's timeouts, not
    one per call, and the run still ends by logging its result and writing its metrics."""

    def __init__(self, store: Store):
        self._store = store
        self._unreachable: StoreUnreachableError | None = None

    def _call(self, method: Callable, *args):
        if self._unreachable is not None:
            raise StoreUnreachableError(f"{self._unreachable}; not called again in this run")
        try:
            return method(*args)
        except StoreUnreachableError as error:
            self._unreachable = error
            raise

    def claim_execution(self, *args):
        return self._call(self._store.claim_execution, *args)

    def load_state(self, *args):
        return self._call(self._store.load_state, *args)

    def put_run(self, *args):
        return self._call(self._store.put_run, *args)

    def save_state(self, *args):
        return self._call(self._store.save_state, *args)


# --- evidence packs ---------------------------------------------------------------------------


class _RememberedClusterInfo:
    """deps.connect that keeps what DescribeCluster said last (ARN, versions) for the evidence pack."""

    def __init__(self, connect: Connector):
        self._connect = connect
        self.info: ClusterInfo | None = None

    def __call__(self, target: Target, deadline: Deadline) -> tuple[KubeApi, ClusterInfo | None]:
        api, info = self._connect(target, deadline)
        self.info = info or self.info
        return api, info


def evidence_packs(target: Target, info: ClusterInfo | None, transitions: list[Transition], policy: AlertPolicy,
                   document: dict, stored_at: datetime) -> dict[str, str]:
    """The evidence pack of each component that alarmed (or is reminded about) in this run."""
    return {t.component: evidence_pack(target.cluster, target.region, cluster_facts(info), t,
                                       policy.looks_to_alarm(t.component), document, stored_at)
            for t in transitions if t.kind in (TransitionKind.ALARM, TransitionKind.REMINDER)}


def looks_of(diagnosis: Diagnosis) -> dict[str, Look]:
    """What one diagnosis says for alerting: down is bad, healthy or degraded is good. A component
    whose failure another cause explains is not looked at on its own (its cause is paged, once);
    `extensions` is bad when a webhook brought a component down."""
    looks = {}
    for component in CONTROL_PLANE:
        verdict = diagnosis.components[component]
        if verdict.consequence_of is not None:
            looks[component.value] = Look.UNKNOWN
            continue
        looks[component.value] = {Verdict.DOWN: Look.BAD, Verdict.UNKNOWN: Look.UNKNOWN}.get(verdict.verdict, Look.GOOD)
    looks[Component.EXTENSIONS.value] = {Verdict.DOWN: Look.BAD, Verdict.UNKNOWN: Look.UNKNOWN}.get(
        diagnosis.extensions, Look.GOOD)
    blind = diagnosis.components[Component.APISERVER].verdict is Verdict.UNKNOWN
    looks[CHECKER] = Look.BAD if blind else Look.GOOD
    return looks


def _needs_second_look(state: ClusterState, diagnosis: Diagnosis, policy: AlertPolicy) -> bool:
    return any(look is Look.BAD and not state.of(name).alarm and state.of(name).bad_looks < policy.confirm_looks
               for name, look in second_look(diagnosis).items())


def _announced(transitions: list[Transition], deployment: DeploymentSettings) -> list[Transition]:
    """The transitions cpwatch publishes."""
    return [t for t in transitions if _cpwatch_announces(t.component, deployment)]


def _cpwatch_announces(component: str, deployment: DeploymentSettings) -> bool:
    """Every component's events, except its own "cannot see" ones when the deployment's
    CloudWatch blind alarm announces those (fleet, issue 9)."""
    return component != CHECKER or not deployment.blind_alarm_in_cloudwatch


def second_look(diagnosis: Diagnosis) -> dict[str, Look]:
    """What a second look in the same run may confirm: the components, not the checker's
    blindness, which counts once per run (a throttled or refused AWS API a second later answers
    the same, so it is no independent confirmation)."""
    return {name: look for name, look in looks_of(diagnosis).items() if name != CHECKER}


def _second_opinion(target: Target, deps: Dependencies, settings: Settings, state: ClusterState, now: datetime,
                    run_interval_s: float, deadline: Deadline) -> SecondOpinion:
    in_alarm = frozenset(name for name, component in state.components.items() if component.alarm)
    return SecondOpinion(target.cluster, lambda: deps.aws_sources_for(target), settings, now, run_interval_s,
                         deadline, in_alarm)


def _look(target: Target, deps: Dependencies, settings: Settings, read_only: bool, deadline: Deadline,
          run_interval_s: float, opinion: SecondOpinion | None = None) -> Diagnosis:
    try:
        api, info = connect_through_throttling(deps.connect, target, deadline)
    except EksClusterNotServingError as error:
        return blind_diagnosis(target.cluster, (observe("EKS_CLUSTER_NOT_SERVING", Component.APISERVER,
                                                        status=error.code, detail=error.detail),), read_only)
    except AwsAccessDeniedError as error:
        return blind_diagnosis(target.cluster, (observe("CHECKER_AWS_DENIED", Component.APISERVER,
                                                        operation=f"{error.service}:{error.operation}", detail=error.detail),), read_only)
    except (AwsError, ConfigError) as error:
        operation = f"{error.service}:{error.operation}" if isinstance(error, AwsError) else "connect"
        return blind_diagnosis(target.cluster, (observe("CHECKER_AWS_FAILED", Component.APISERVER,
                                                        operation=operation, detail=str(error)),), read_only)
    try:
        diagnosis = run_check(api, target.cluster, settings, read_only=read_only, ec2=deps.ec2_for(target),
                              extra=cluster_info_observations(info), run_interval_s=run_interval_s)
    finally:
        api.close()
    return opinion.amend(diagnosis, info) if opinion is not None else diagnosis


# AWS throttling of the connection (DescribeCluster, AssumeRole), past botocore's own two attempts:
# tried again after a jittered exponential backoff while the run keeps time for its look.
THROTTLE_FIRST_WAIT_S = 0.5
THROTTLE_MAX_WAIT_S = 4.0
LOOK_RESERVE_S = 5.0


def connect_through_throttling(connect: Connector, target: Target, deadline: Deadline,
                               sleep: Callable[[float], None] = time.sleep) -> tuple[KubeApi, ClusterInfo | None]:
    wait = THROTTLE_FIRST_WAIT_S
    while True:
        try:
            return connect(target, deadline)
        except AwsUnavailableError as error:
            if error.code not in AWS_THROTTLING_CODES or deadline.remaining() < wait + LOOK_RESERVE_S:
                raise
            log.warning("%s: %s %s throttled (%s); trying again in about %.1f s", target.cluster, error.service,
                        error.operation, error.code, wait)
            sleep(wait * random.uniform(0.5, 1.0))
            wait = min(wait * 2, THROTTLE_MAX_WAIT_S)


def cluster_info_observations(info: ClusterInfo | None) -> tuple[Observation, ...]:
    if info is None:
        return ()
    found: list[Observation] = []
    if info.status not in ("ACTIVE", "UPDATING"):
        found.append(observe("EKS_CLUSTER_STATUS", Component.CHECKER, status=info.status))
    for issue in info.health_issues:
        found.append(observe("EKS_HEALTH_ISSUE", Component.CHECKER, code=issue.code, message=issue.message,
                             resources=list(issue.resource_ids)[:10]))
    return tuple(found)


def _load_state(deps: Dependencies, target: Target, notes: list[str]) -> StoredState | None:
    if deps.store is None:
        return None
    try:
        return deps.store.load_state(target.cluster)
    except StoreError as error:
        notes.append(str(error))
        log.error("%s: %s", target.cluster, error)
        return None


def _store_run(deps: Dependencies, target: Target, document: dict, run_id: str, invocation: Invocation,
               notes: list[str], at: datetime, packs: dict[str, str]) -> bool:
    if deps.store is None:
        return False
    try:
        deps.store.put_run(target.cluster, document, run_id, invocation.execution_id, at, packs)
        return True
    except StoreError as error:
        notes.append(str(error))
        log.error("%s: run not stored: %s (the result is in this log and in the metrics)", target.cluster, error)
        return False
