"""Everything cpwatch can report: one catalogue of finding codes.

Probes create Observations (a code, the component it speaks for, evidence); they never format
text. The status of an observation comes from its code, so "ok with a failing finding" cannot be
written down. Messages are rendered from here only; each kind names its runbook (runbooks.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Mapping

from . import runbooks
from .runbooks import Runbook


class Status(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"  # could not look; never counted as a failure of the component


class Component(str, Enum):
    APISERVER = "apiserver"
    ETCD = "etcd"
    CONTROLLER_MANAGER = "controller-manager"
    SCHEDULER = "scheduler"
    NODE = "node"  # problems of single nodes, reported apart from the control plane
    # What is plugged into the apiserver between the components (admission webhooks, aggregated
    # APIs): failures here impair the cluster but are never failures of the four components.
    EXTENSIONS = "extensions"
    CHECKER = "checker"  # cpwatch's own ability to look


CONTROL_PLANE = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER)


@dataclass(frozen=True)
class FindingKind:
    code: str
    status: Status
    template: str  # str.format over the observation's evidence
    runbook: Runbook | None = None


@dataclass(frozen=True)
class Observation:
    code: str
    component: Component
    evidence: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise ValueError(f"unknown finding code {self.code}")

    @property
    def kind(self) -> FindingKind:
        return CATALOGUE[self.code]

    @property
    def status(self) -> Status:
        return CATALOGUE[self.code].status

    def message(self) -> str:
        return render(self)


def observe(code: str, component: Component, **evidence: object) -> Observation:
    return Observation(code, component, evidence)


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def render(observation: Observation) -> str:
    return observation.kind.template.format_map(_Missing(observation.evidence))


_KINDS = (
    # --- apiserver ---------------------------------------------------------------------
    FindingKind("APISERVER_LIVE", Status.OK, "livez and readyz pass ({checks} checks, {latency_ms} ms)"),
    FindingKind("APISERVER_UNREACHABLE", Status.FAIL,
                "no answer from {path}: {reason} ({detail})", runbooks.APISERVER),
    FindingKind("APISERVER_LIVEZ_FAILED", Status.FAIL,
                "livez reports failed checks other than etcd: {checks}", runbooks.APISERVER),
    FindingKind("APISERVER_NOT_READY", Status.WARN,
                "readyz reports failed checks other than etcd: {checks}", runbooks.APISERVER),
    FindingKind("APISERVER_READS_OK", Status.OK, "small reads: median {median_ms} ms over {samples}"),
    FindingKind("APISERVER_SLOW", Status.WARN,
                "small reads are slow: median {median_ms} ms over {samples} (threshold {threshold_ms} ms)",
                runbooks.APISERVER),
    FindingKind("APISERVER_READS_NO_ANSWER", Status.WARN,
                "{count} of {total} read(s) of this check got no answer within {timeout_s} s while the apiserver "
                "answered the others (first {path}: {reason})", runbooks.APISERVER_PATH),
    FindingKind("APISERVER_CONNECTIONS_OK", Status.OK,
                "{connections} new connection(s) to the endpoint all answered /livez/etcd"),
    FindingKind("APISERVER_CONNECTIONS_NO_ANSWER", Status.WARN,
                "{unanswered} of {connections} new connections to the endpoint got no answer within {timeout_s} s "
                "while the others were answered: one of several apiservers (or the load balancer in front) does "
                "not answer", runbooks.APISERVER_PATH),
    FindingKind("APISERVER_IDENTITIES", Status.OK,
                "{leases} apiserver identity Lease(s), {renewing} renewed within {threshold_s} s{stale}"),
    FindingKind("APISERVER_WRITE_FAILED", Status.WARN,
                "the apiserver failed the heartbeat write to {object} with HTTP {status}: {detail} "
                "(neither a storage nor an admission error)", runbooks.APISERVER),
    FindingKind("APISERVER_CERT_OK", Status.OK,
                "serving certificate valid until {not_after} ({days_left} days left)"),
    FindingKind("APISERVER_CERT_EXPIRING", Status.WARN,
                "serving certificate expires on {not_after}, in {days_left} day(s) (warning from {warn_days} days)",
                runbooks.CERT_EXPIRING),
    FindingKind("APISERVER_CERT_INVALID", Status.FAIL,
                "serving certificate of {path} {problem} (valid {not_before} to {not_after}); it chains "
                "to the trusted CA, so every verifying client is refused", runbooks.CERT_EXPIRED),
    FindingKind("APISERVER_THROTTLED", Status.WARN,
                "{count} request(s) of this check rejected with 429 by API Priority and Fairness (priority "
                "level {priority_level}), retried after Retry-After; {gave_up} gave up", runbooks.THROTTLED),
    # --- etcd --------------------------------------------------------------------------
    FindingKind("ETCD_CHECK_PASSED", Status.OK, "the apiserver's etcd check passes ({path})"),
    FindingKind("ETCD_CHECK_FAILED", Status.FAIL,
                "the apiserver's etcd check fails on {path}: {detail}", runbooks.ETCD),
    FindingKind("ETCD_WRITE_OK", Status.OK, "heartbeat write stored in {latency_ms} ms"),
    FindingKind("ETCD_WRITE_FAILED", Status.FAIL,
                "heartbeat write to {object} did not succeed within {timeout_s} s: {detail}", runbooks.ETCD),
    FindingKind("ETCD_NOSPACE", Status.FAIL,
                "heartbeat write to {object} refused: {detail} (etcd's space quota is full: every create, "
                "update and patch is refused)", runbooks.ETCD_NOSPACE),
    FindingKind("ETCD_DB_SIZE_OK", Status.OK,
                "etcd database {size} of the {quota} quota ({percent} %; {metric})"),
    FindingKind("ETCD_DB_NEAR_QUOTA", Status.WARN,
                "etcd database {size} is {percent} % of the {quota} quota (warning from {warn_percent} %; {metric})",
                runbooks.ETCD_SIZE),
    FindingKind("ETCD_MEMBER_UNHEALTHY", Status.WARN,
                "etcd member(s) unhealthy: {members} ({source})", runbooks.ETCD_MEMBER),
    # --- leader components (controller-manager, scheduler) -----------------------------
    FindingKind("LEADER_LEASE_FRESH", Status.OK,
                "leader Lease renewed {age_s} s ago by {holder}"),
    FindingKind("LEADER_LEASE_STALE", Status.FAIL,
                "leader Lease {lease} not renewed for {age_s} s (stale after {threshold_s} s)",
                None),
    FindingKind("LEADER_STALLED", Status.WARN,
                "leader {holder} renews its Lease but did not work in {runs} consecutive run(s) since {since} "
                "UTC; at {needed} it is down (no standby can take over while the leader renews)",
                runbooks.WEDGED),
    FindingKind("LEADER_WEDGED", Status.FAIL,
                "renews its Lease but does not work: leader {holder} kept renewing it while failing in {runs} "
                "consecutive runs since {since} UTC (down from {needed}; no standby can take over while the "
                "leader renews)", runbooks.WEDGED),
    FindingKind("LEADER_LEASE_MISSING", Status.UNKNOWN,
                "leader Lease {lease} does not exist (this control plane may not use Lease-based leader election)",
                runbooks.CHECKER),
    FindingKind("COMPONENTSTATUS_HEALTHY", Status.OK, "componentstatuses reports {name} healthy"),
    FindingKind("COMPONENTSTATUS_UNHEALTHY", Status.WARN,
                "componentstatuses reports {name} unhealthy: {message} (supporting evidence: it "
                "reflects only the answering apiserver's host)", None),
    FindingKind("STATIC_POD_READY", Status.OK, "static pod {pod} is Ready (restarts {restarts})"),
    FindingKind("STATIC_POD_NOT_READY", Status.WARN,
                "static pod {pod} on {node} is not Ready (restarts {restarts}): {reason}", None),
    # --- controller-manager ------------------------------------------------------------
    FindingKind("NODE_LIFECYCLE_OK", Status.OK,
                "{leases} node Leases; silent nodes are marked by the node lifecycle controller ({marked})"),
    FindingKind("NODE_READY_BUT_SILENT", Status.FAIL,
                "{count} node(s) still Ready although their kubelet stopped heartbeating: {examples} "
                "(the node lifecycle controller would have marked them Unknown after ~50 s)", runbooks.CONTROLLER_MANAGER),
    FindingKind("ORPHAN_PODS_COLLECTED", Status.OK, "no deleted pod lingers on a vanished node ({checked} terminating checked)"),
    FindingKind("ORPHAN_POD_NOT_COLLECTED", Status.FAIL,
                "{count} deleted pod(s) bound to a node that no longer exists are still there: {examples} "
                "(pod GC removes them within ~80 s)", runbooks.CONTROLLER_MANAGER),
    FindingKind("DEPLOYMENT_CANARY_OBSERVED", Status.OK,
                "Deployment {object} generation {generation} observed in {latency_ms} ms"),
    FindingKind("DEPLOYMENT_CANARY_NOT_OBSERVED", Status.FAIL,
                "Deployment {object} generation {generation} not observed within {wait_s} s "
                "(observedGeneration {observed})", runbooks.CONTROLLER_MANAGER),
    FindingKind("SERVICEACCOUNT_CANARY_RECREATED", Status.OK,
                "ServiceAccount {object} recreated in {latency_ms} ms"),
    FindingKind("SERVICEACCOUNT_CANARY_MISSING", Status.FAIL,
                "ServiceAccount {object} not recreated within {wait_s} s of its deletion", runbooks.CONTROLLER_MANAGER),
    FindingKind("EC2_NODES_CONSISTENT", Status.OK,
                "{checked} stopped or terminated instance(s) of the cluster; none is still a Ready node"),
    FindingKind("INSTANCE_GONE_NODE_READY", Status.FAIL,
                "{count} node(s) still Ready although their EC2 instance is stopped or terminated: {examples}",
                runbooks.CONTROLLER_MANAGER),
    FindingKind("CONTROLLER_WORKER_HUNG", Status.FAIL,
                "controller {controller}: a worker has been on one item for {longest_running_s} s (hung from "
                "{threshold_s} s; unfinished work {unfinished_s} s, {depth} item(s) waiting) while "
                "kube-controller-manager runs", runbooks.CONTROLLER_STUCK),
    FindingKind("CONTROLLER_QUEUE_NOT_DRAINING", Status.FAIL,
                "controller {controller}: {depth} item(s) ready in its work queue ({first_depth} {gap_s} s "
                "earlier), none taken and no worker busy: its workers do not run while kube-controller-manager "
                "does", runbooks.CONTROLLER_STUCK),
    FindingKind("CONTROLLER_QUEUES_DRAINING", Status.OK,
                "EKS metrics: {queues} controller work queue(s), none stuck (deepest {deepest}: {depth})"),
    # --- EKS control-plane metrics API (kube-controller-manager, kube-scheduler) -----------
    FindingKind("EKS_METRICS_NOT_SERVED", Status.OK,
                "the EKS control-plane metrics API is not available here ({path}: 404; not EKS, or EKS "
                "before 1.28): nothing judged from it"),
    FindingKind("EKS_METRICS_STANDBY", Status.OK,
                "{path} was answered by a standby instance (leader_election_master_status 0): its queues are "
                "not judged"),
    FindingKind("EKS_METRICS_FAILING", Status.UNKNOWN,
                "the EKS control-plane metrics endpoint {path} fails: HTTP {http_status} {detail} (supporting "
                "evidence only: what it answers while the component is down is not documented)", None),
    # --- scheduler ---------------------------------------------------------------------
    FindingKind("PENDING_PODS_ATTEMPTED", Status.OK, "{pending} unscheduled pending pod(s), all attempted by the scheduler"),
    FindingKind("PODS_UNATTEMPTED", Status.FAIL,
                "{count} pending pod(s) older than {threshold_s} s never attempted by the scheduler: {examples}",
                runbooks.SCHEDULER),
    FindingKind("PODS_BINDING_REJECTED", Status.FAIL,
                "{count} pod(s) placed by the scheduler stay unbound: the apiserver refuses their binding "
                "({examples}): {detail}", runbooks.BINDING),
    FindingKind("SCHEDULER_CANARY_ATTEMPTED", Status.OK, "canary pod attempted by the scheduler in {latency_ms} ms"),
    FindingKind("SCHEDULER_CANARY_NOT_ATTEMPTED", Status.FAIL,
                "canary pod {object} not attempted by the scheduler within {wait_s} s", runbooks.SCHEDULER),
    FindingKind("SCHEDULER_NOT_ATTEMPTING", Status.FAIL,
                "kube-scheduler holds {active} pod(s) ready to schedule (active queue) and made no scheduling "
                "attempt in {gap_s} s (attempts stayed at {attempts}; backoff {backoff}, unschedulable "
                "{unschedulable}, gated {gated})", runbooks.SCHEDULER),
    FindingKind("SCHEDULER_QUEUES_MOVING", Status.OK,
                "EKS metrics: pending pods active {active}, backoff {backoff}, unschedulable {unschedulable}, "
                "gated {gated}; {attempts} scheduling attempts since the scheduler started"),
    FindingKind("SCHEDULER_CANARY_BOUND", Status.WARN,
                "canary pod {object} was bound to a node: a node carries the canary's never-schedule label",
                runbooks.CHECKER),
    # --- nodes (reported apart from the control plane) ---------------------------------
    FindingKind("NODE_NOT_READY", Status.WARN,
                "node {node} is {ready} ({reason}); its kubelet last heartbeat {age_s} s ago", runbooks.NODE),
    FindingKind("NODE_LEASES_EXPIRED", Status.WARN,
                "{count} of {leases} node Lease(s) expired (oldest {oldest_s} s): their kubelets do not renew them; "
                "{status_reported} of the nodes looked at still report NodeStatus", runbooks.NODE),
    FindingKind("POD_STUCK_ON_UNHEALTHY_NODE", Status.WARN,
                "pod {pod} Terminating for {age_s} s on node {node}, which is not healthy", runbooks.NODE),
    FindingKind("POD_STUCK_TERMINATING", Status.WARN,
                "pod {pod} Terminating for {age_s} s on Ready node {node} (its kubelet does not finish it)",
                runbooks.NODE),
    # --- extensions: admission webhooks, aggregated APIs ---------------------------------
    FindingKind("WEBHOOKS_OK", Status.OK,
                "{count} admission webhook(s), {fail_closed} failing closed; none on what the control plane writes"),
    FindingKind("WEBHOOK_FAILING_CLOSED", Status.FAIL,
                "admission webhook {webhook} ({configuration}) fails closed and cannot be called ({cause}): it "
                "refuses {covers}", runbooks.WEBHOOK),
    FindingKind("WEBHOOK_COVERS_CONTROL_PLANE", Status.WARN,
                "fail-closed admission webhook {webhook} ({configuration}) intercepts {writes}: the day "
                "its backend fails, {consequence}", runbooks.WEBHOOK_RISK),
    FindingKind("WEBHOOK_BLOCKS_CONTROL_PLANE", Status.FAIL,
                "admission webhook {webhook} ({configuration}, {covers}) fails closed on the control plane's own "
                "writes: it blocks {blocks}, so {consequence}", runbooks.WEBHOOK_BLOCKS),
    FindingKind("APISERVICES_AVAILABLE", Status.OK,
                "{count} APIServices available ({aggregated} served by extensions)"),
    FindingKind("APISERVICE_UNAVAILABLE", Status.FAIL,
                "aggregated API {name} not Available for {age_s} s ({reason}: {message}); {consequences}",
                runbooks.APISERVICE),
    # --- from outside the apiserver (AWS pipeline): EKS vended metrics, control-plane logs ---
    FindingKind("VENDED_SCHEDULER_NOT_ATTEMPTING", Status.FAIL,
                "AWS/EKS: {waiting} pod(s) waiting to be scheduled in each of the {minutes} minutes from {since} "
                "to {until} UTC and no scheduling attempt counted (a live scheduler retries every waiting pod "
                "within {threshold_s} s)", runbooks.SCHEDULER),
    FindingKind("VENDED_SCHEDULER_ATTEMPTING", Status.OK,
                "AWS/EKS: {attempts} scheduling attempt(s) in the {minutes} minute(s) from {since} UTC "
                "({waiting} pod(s) waiting in the newest)"),
    FindingKind("VENDED_APISERVER_SERVING", Status.OK,
                "AWS/EKS: the apiservers counted {requests} request(s) in the minute from {minute} UTC, the newest "
                "published ({errors_5xx} answered 5XX, {throttled_429} 429)"),
    FindingKind("VENDED_APISERVER_RATES_OK", Status.OK,
                "AWS/EKS: {errors_percent} % of the apiservers' requests answered 5XX and {rejected_percent} % 429 in "
                "the {minutes} minute(s) from {since} UTC ({requests} requests; below the warning thresholds)"),
    FindingKind("VENDED_APISERVER_5XX", Status.WARN,
                "AWS/EKS: {percent} % of the apiservers' requests answered 5XX in the {minutes} minute(s) from "
                "{since} UTC ({errors} of {requests}; warning from {warn_percent} %)", runbooks.APISERVER),
    FindingKind("VENDED_APISERVER_429", Status.WARN,
                "AWS/EKS: {percent} % of the apiservers' requests rejected with 429 in the {minutes} minute(s) from "
                "{since} UTC ({rejected} of {requests}; warning from {warn_percent} %)", runbooks.THROTTLED),
    FindingKind("CONTROL_PLANE_LOG_SILENT", Status.WARN,
                "no log line from {process} since {since} UTC ({log_group}, streams {stream_prefix}*)", None),
    FindingKind("CONTROL_PLANE_LOG_ERRORS", Status.WARN,
                "last error line(s) of {process} since {since} UTC ({log_group}): {lines}", None),
    FindingKind("CONTROL_PLANE_LOG_NO_ERROR", Status.OK,
                "{process} logged {lines_read} line(s) since {since} UTC, the newest at {newest} UTC, no error line"
                "{partial} ({log_group})"),
    # --- the checker itself ------------------------------------------------------------
    FindingKind("CHECKER_UNAUTHORIZED", Status.UNKNOWN,
                "the apiserver rejected cpwatch's credentials (401) on {path}", runbooks.CHECKER),
    FindingKind("CHECKER_FORBIDDEN", Status.UNKNOWN,
                "cpwatch may not {method} {path}: {message}", runbooks.CHECKER),
    FindingKind("CHECKER_NOT_INSTALLED", Status.UNKNOWN,
                "{object} is missing ({message}); apply infra/ to the cluster", runbooks.CHECKER),
    FindingKind("CHECKER_CANNOT_CONNECT", Status.UNKNOWN,
                "cpwatch cannot connect to {path}: {reason} ({detail})", runbooks.CHECKER),
    FindingKind("CHECKER_AWS_DENIED", Status.UNKNOWN,
                "AWS refused cpwatch ({operation}): {detail}", runbooks.CHECKER),
    FindingKind("CHECKER_AWS_FAILED", Status.UNKNOWN,
                "AWS API call {operation} failed: {detail} (retried next run)", runbooks.CHECKER),
    FindingKind("EKS_CLUSTER_NOT_SERVING", Status.UNKNOWN,
                "EKS reports the cluster {status} with no endpoint to check ({detail})", runbooks.CHECKER),
    FindingKind("EKS_CLUSTER_STATUS", Status.WARN, "EKS reports the cluster status {status}", None),
    FindingKind("EKS_HEALTH_ISSUE", Status.WARN, "EKS reports a cluster health issue {issue}: {message}", None),
    FindingKind("CHECKER_CLOCK_SKEW", Status.WARN,
                "the apiserver's clock is {offset_s} s off the checker's; ages use the apiserver's clock",
                runbooks.CLOCK_SKEW),
    FindingKind("CHECKER_WRITE_DENIED", Status.UNKNOWN,
                "{by} denied cpwatch's write to {object}: {detail} (exempt the {namespace} namespace from it)",
                runbooks.CHECKER),
    FindingKind("CHECKER_CLIENT_CERT_EXPIRING", Status.WARN,
                "cpwatch's client certificate ({subject}) {when}",
                runbooks.CERT_EXPIRING),
    FindingKind("PROBE_BLOCKED", Status.UNKNOWN, "{probe}: could not look, because {because}", None),
    FindingKind("PROBE_THROTTLED", Status.UNKNOWN,
                "{probe}: could not look: {path} still throttled (429) after waiting Retry-After", runbooks.THROTTLED),
    FindingKind("PROBE_NO_ANSWER", Status.UNKNOWN, "{probe}: no answer from {path} ({reason})", None),
    FindingKind("PROBE_FAILED", Status.UNKNOWN, "{probe}: could not look: {detail}", None),
    FindingKind("PROBE_TIMED_OUT", Status.UNKNOWN, "{probe}: did not finish before the run's deadline", None),
    FindingKind("PROBE_CRASHED", Status.UNKNOWN, "{probe}: internal error {error} (a bug in cpwatch)", None),
    FindingKind("NOT_JUDGED", Status.UNKNOWN, "not judged: {cause}", None),
    FindingKind("CHECKER_CREDENTIALS", Status.UNKNOWN,
                "cpwatch got no credentials for context {context}: {plugin}: {detail} (no request was sent)",
                runbooks.CREDENTIALS),
    FindingKind("CHECKER_KUBECONFIG", Status.UNKNOWN,
                "kubeconfig context {context} cannot be used: {detail}", runbooks.CHECKER),
)

CATALOGUE: dict[str, FindingKind] = {kind.code: kind for kind in _KINDS}

# OK findings that describe a component without showing that it works (a valid certificate, a
# database size read from /metrics; what AWS/EKS metrics and control-plane logs, published
# minutes late and from outside cpwatch's view, say): never enough on their own for "healthy".
# The EKS metrics API's answers that find nothing wrong are context too: the endpoint is not
# documented well enough to let its silence vouch for a component.
_CONTEXT_ONLY = frozenset({"APISERVER_CERT_OK", "APISERVER_IDENTITIES", "ETCD_DB_SIZE_OK", "VENDED_SCHEDULER_ATTEMPTING",
                           "VENDED_APISERVER_SERVING", "VENDED_APISERVER_RATES_OK", "CONTROL_PLANE_LOG_NO_ERROR", "EKS_METRICS_NOT_SERVED",
                           "EKS_METRICS_STANDBY", "CONTROLLER_QUEUES_DRAINING", "SCHEDULER_QUEUES_MOVING"})


def shows_it_works(code: str) -> bool:
    """Whether an OK finding of this code is evidence that its component works (a context-only
    finding, such as a valid certificate or an API not served here, is not)."""
    return code not in _CONTEXT_ONLY


# Runbooks of codes whose component is given by the observation.
COMPONENT_RUNBOOKS: dict[Component, Runbook] = {
    Component.APISERVER: runbooks.APISERVER,
    Component.ETCD: runbooks.ETCD,
    Component.CONTROLLER_MANAGER: runbooks.CONTROLLER_MANAGER,
    Component.SCHEDULER: runbooks.SCHEDULER,
    Component.NODE: runbooks.NODE,
    Component.EXTENSIONS: runbooks.WEBHOOK,
    Component.CHECKER: runbooks.CHECKER,
}

_STATUS_ORDER = {Status.FAIL: 0, Status.WARN: 1, Status.UNKNOWN: 2, Status.OK: 3}


def ordered(observations: Iterable[Observation]) -> list[Observation]:
    """Failures first, then warnings, could-not-look and passes; by component within each."""
    component_order = {c: i for i, c in enumerate((*CONTROL_PLANE, Component.EXTENSIONS, Component.NODE,
                                                   Component.CHECKER))}
    return sorted(observations, key=lambda o: (_STATUS_ORDER[o.status], component_order[o.component]))


# Findings without a runbook of their own that speak for several components take the runbook of
# the one they speak for (runbook_for); `cpwatch explain` shows each of them.
SPEAKS_FOR: dict[str, tuple[Component, ...]] = {
    "LEADER_LEASE_STALE": (Component.CONTROLLER_MANAGER, Component.SCHEDULER),
    "EKS_METRICS_FAILING": (Component.CONTROLLER_MANAGER, Component.SCHEDULER),
    "COMPONENTSTATUS_UNHEALTHY": (Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER),
    "STATIC_POD_NOT_READY": CONTROL_PLANE,
}


# Every runbook once, in catalogue order: the README's runbook section is generated from this.
RUNBOOKS: tuple[Runbook, ...] = tuple(dict.fromkeys(
    [*COMPONENT_RUNBOOKS.values(), *(k.runbook for k in _KINDS if k.runbook is not None)]))


# A probe that could not look because something else refused its write: the runbook of what refused.
_BLOCKED_BY_RUNBOOKS = {
    "webhook-unreachable": runbooks.WEBHOOK,
    "webhook-intercepts": runbooks.WEBHOOK,
    "webhook-denied": runbooks.CHECKER,
    "policy-denied": runbooks.CHECKER,
    "etcd-nospace": runbooks.ETCD_NOSPACE,
    "storage": runbooks.ETCD,
}


def runbook_for(observation: Observation) -> Runbook | None:
    if observation.status is Status.OK:
        return None
    if observation.kind.runbook is not None:
        return observation.kind.runbook
    if observation.code == "EKS_METRICS_FAILING":  # evidence about the component, not about cpwatch
        return COMPONENT_RUNBOOKS.get(observation.component)
    if observation.code == "PROBE_BLOCKED" and observation.evidence.get("cause") in _BLOCKED_BY_RUNBOOKS:
        return _BLOCKED_BY_RUNBOOKS[str(observation.evidence["cause"])]
    if observation.status is Status.UNKNOWN:
        return runbooks.CHECKER
    if observation.code in ("COMPONENTSTATUS_UNHEALTHY", "STATIC_POD_NOT_READY") and observation.component is Component.ETCD:
        return runbooks.ETCD_MEMBER
    return COMPONENT_RUNBOOKS.get(observation.component)
