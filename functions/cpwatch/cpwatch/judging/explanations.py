"""Causes before symptoms: which finding another thing cpwatch saw explains, as a table of rows.

Called by diagnosis.judge; pure (no I/O). A symptom counts against its component only when no row
explains it. Each row names the symptoms it may explain, the cause, the condition under which
the cause explains them (from how Kubernetes works: the source is named in the row), and what
the explained symptom then does to its component (`Effect`):
- NOT_JUDGED: the component cannot be seen through the cause (etcd down): it is unknown.
- CONSEQUENCE: the component really fails, because of the cause (it cannot renew its Lease
  through a webhook): it keeps the verdict its findings give, marked as the cause's consequence.
- NOT_EVIDENCE: the symptom says nothing about its component (a binding the apiserver refused,
  a canary during a failover): the component is judged on its other findings.
The first row that explains a symptom wins; rows are in the order causes depend on each other.
A cause that is not a control-plane component (a webhook) gets a finding of its own, made here,
which names it, its configuration and what it blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Iterable

from ..probes.control_plane_writes import BY_KEY, LEADER_LEASES, NODE_LEASES, NODE_STATUS, POD_BINDING
from ..findings import Component, Observation, Status, observe, shows_it_works


class Effect(str, Enum):
    NOT_JUDGED = "not-judged"
    CONSEQUENCE = "consequence"
    NOT_EVIDENCE = "not-evidence"


@dataclass(frozen=True)
class Explained:
    symptom: Observation
    row: str
    cause: Component | None  # the root-cause component; None when the cause is no failure (a failover)
    because: str
    effect: Effect
    webhook: str = ""  # the webhook that is the cause, when it is one


class Seen:
    """What the check saw, indexed for the rows' conditions."""

    def __init__(self, observations: Iterable[Observation]):
        self.observations = tuple(observations)

    def codes(self, component: Component | None = None) -> set[str]:
        return {o.code for o in self.observations if component is None or o.component is component}

    def of(self, code: str, component: Component | None = None) -> list[Observation]:
        return [o for o in self.observations if o.code == code and (component is None or o.component is component)]

    def etcd_check(self) -> str | None:
        """What the apiserver's own etcd check gave: passed, failed, no-answer, or None (not seen)."""
        if self.of("ETCD_CHECK_FAILED"):
            return "failed"
        if self.of("ETCD_CHECK_PASSED"):
            return "passed"
        if any(o.evidence.get("path") == "/livez/etcd" for o in self.of("PROBE_NO_ANSWER", Component.ETCD)):
            return "no-answer"
        if any(_unanswered(o) for o in self.of("APISERVER_UNREACHABLE")):
            return "no-answer"  # /livez hung, so the health probe asked no more
        return None

    def apiserver_answered(self) -> bool:
        """Some request of the check got the apiserver's answer (reads without answer are counted
        only beside answered ones: check.py)."""
        return bool(self.of("APISERVER_LIVE") or self.of("APISERVER_READS_OK") or self.of("APISERVER_CONNECTIONS_OK")
                    or self.of("APISERVER_CONNECTIONS_NO_ANSWER") or self.of("APISERVER_READS_NO_ANSWER"))

    def other_requests_unanswered(self) -> bool:
        """Requests of this check other than the write got no answer."""
        return bool(self.of("APISERVER_READS_NO_ANSWER") or self.of("APISERVER_CONNECTIONS_NO_ANSWER"))

    def etcd_down(self) -> bool:
        """etcd fails on its own evidence: a failure of etcd that no row explains."""
        return any(o.component is Component.ETCD and o.status is Status.FAIL and _apiserver_path(o, self) is None
                   for o in self.observations)

    def works(self, component: Component) -> bool:
        """An OK finding shows the component working."""
        return any(o.component is component and o.status is Status.OK and shows_it_works(o.code)
                   for o in self.observations)

    def stale_lease(self, component: Component) -> bool:
        return bool(self.of("LEADER_LEASE_STALE", component))

    def webhooks_working(self) -> set[str]:
        """Webhooks that let a write through during this check: named as intercepting what an OK
        finding rests on (a Lease renewed through them, a write stored)."""
        return {name for o in self.observations if o.status is Status.OK
                for name in o.evidence.get("intercepted_by") or ()}

    def webhooks_failing(self) -> set[str]:
        """Webhooks seen failing: they refused a write (or their Service has no endpoint), a pod's
        refused binding names them, or a control-plane log line does."""
        failing = {str(o.evidence.get("webhook")) for o in self.of("WEBHOOK_FAILING_CLOSED")}
        failing |= {str(o.evidence["webhook"]) for o in self.of("PODS_BINDING_REJECTED")
                    if o.evidence.get("cause") == "webhook-unreachable" and o.evidence.get("webhook")}
        for line in (str(o.evidence.get("lines") or "") for o in self.of("CONTROL_PLANE_LOG_ERRORS")):
            failing |= set(_WEBHOOK_IN_LOG.findall(line))
        return failing

    def suspects(self, symptom: Observation) -> list[str]:
        """The fail-closed webhooks on the write a symptom rests on that nothing showed working."""
        working = self.webhooks_working()
        return [name for name in symptom.evidence.get("intercepted_by") or () if name not in working]

    def covering(self, webhook: str) -> Observation | None:
        """What the webhook probe said of this webhook: its configuration and coverage."""
        return next((o for o in (*self.of("WEBHOOK_COVERS_CONTROL_PLANE"), *self.of("WEBHOOK_FAILING_CLOSED"))
                     if o.evidence.get("webhook") == webhook), None)


# klog quotes the apiserver's error: failed calling webhook \"name\" (escaped inside err="...").
_WEBHOOK_IN_LOG = re.compile(r'failed calling webhook \\?"([^"\\]+)\\?"')


@dataclass(frozen=True)
class Row:
    name: str
    symptoms: frozenset[str]  # finding codes this row may explain
    effect: Effect
    explains: Callable[[Observation, Seen], Explained | None]
    kubernetes: str  # where the rule comes from


# --- the conditions ------------------------------------------------------------------------


def _apiserver_path(symptom: Observation, seen: Seen) -> Explained | None:
    if symptom.code != "ETCD_WRITE_FAILED" or symptom.evidence.get("cause") != "no-answer":
        return None
    if seen.etcd_check() not in ("passed", "no-answer") or not seen.apiserver_answered():
        return None
    if not seen.other_requests_unanswered():
        return None
    check = "passes" if seen.etcd_check() == "passed" else "got no answer itself"
    return Explained(symptom, "apiserver-path", Component.APISERVER,
                     f"the write got no answer while the apiserver's etcd check {check} and other requests of the "
                     "check hung too: the apiserver path (one of several apiservers, or the load balancer in "
                     "front), not etcd", Effect.NOT_EVIDENCE)


def _unanswered(symptom: Observation) -> bool:
    return symptom.evidence.get("reason") in ("timeout", "closed")


def _livez_unanswered(symptom: Observation, seen: Seen) -> Explained | None:
    if not _unanswered(symptom) or not seen.apiserver_answered():
        return None
    return Explained(symptom, "apiserver-path-livez", Component.APISERVER,
                     "/livez got no answer while other requests of the check to the same endpoint were answered: one "
                     "of several apiservers (or the load balancer) does not answer, not all of them", Effect.NOT_EVIDENCE)


def _etcd_down_reads(symptom: Observation, seen: Seen) -> Explained | None:
    if not seen.etcd_down():
        return None
    return Explained(symptom, "etcd-down-reads", Component.ETCD,
                     "etcd is down: reads that need it hang or slow down", Effect.NOT_EVIDENCE)


def _etcd_down_leaders(symptom: Observation, seen: Seen) -> Explained | None:
    if symptom.component not in (Component.CONTROLLER_MANAGER, Component.SCHEDULER) or symptom.status is Status.OK:
        return None
    if symptom.status is Status.UNKNOWN and seen.works(symptom.component):
        return None  # could not look at one thing, but seen working otherwise: judged as it is
    if not seen.etcd_down():
        return None
    return Explained(symptom, "etcd-down-leaders", Component.ETCD,
                     "etcd is down: leader Leases cannot be renewed and controllers cannot write", Effect.NOT_JUDGED)


def _failover(symptom: Observation, seen: Seen) -> Explained | None:
    if symptom.evidence.get("leader_renewed") is not False or seen.stale_lease(symptom.component):
        return None
    return Explained(symptom, "failover", None,
                     f"{symptom.component.value} failover under way: its leader Lease was not renewed while the "
                     "canary waited (a standby takes over once the Lease expires; a stale Lease decides)",
                     Effect.NOT_EVIDENCE)


def _webhook(symptom: Observation, webhook: str, row: str, blocks: str, effect: Effect) -> Explained:
    return Explained(symptom, row, Component.EXTENSIONS,
                     f"fail-closed admission webhook {webhook} intercepts {blocks} and nothing showed it working: "
                     "the webhook refuses what the control plane must write", effect, webhook=webhook)


def _webhook_on_leader_lease(symptom: Observation, seen: Seen) -> Explained | None:
    suspects = seen.suspects(symptom)
    if not suspects:
        return None
    return _webhook(symptom, suspects[0], "webhook-leader-leases",
                    f"the renewal of {symptom.evidence.get('lease', 'the leader Lease')}", Effect.CONSEQUENCE)


def _node_leases_cause(seen: Seen) -> tuple[Observation, str] | None:
    """Every node Lease expired while a fail-closed webhook sits on their renewal, and either the
    kubelets still report NodeStatus (alive, only their Lease update fails) or the webhook is seen
    failing: the webhook's, not every node's at once."""
    for expired in seen.of("NODE_LEASES_EXPIRED"):
        suspects = seen.suspects(expired)
        every = expired.evidence.get("count") == expired.evidence.get("leases")
        if not suspects or not every:
            continue
        failing = [name for name in suspects if name in seen.webhooks_failing()]
        if failing or (expired.evidence.get("status_reported") or 0) > 0:
            return expired, (failing or suspects)[0]
    return None


def _webhook_on_node_leases(symptom: Observation, seen: Seen) -> Explained | None:
    cause = _node_leases_cause(seen)
    if cause is None:
        return None
    return _webhook(symptom, cause[1], "webhook-node-leases", "the kubelets' node Lease renewals", Effect.NOT_EVIDENCE)


def _webhook_on_node_status(symptom: Observation, seen: Seen) -> Explained | None:
    suspects = seen.suspects(symptom)
    if not suspects:
        return None
    return _webhook(symptom, suspects[0], "webhook-node-status",
                    "the node status updates by which the node lifecycle controller marks silent nodes",
                    Effect.NOT_EVIDENCE)


def _webhook_on_binding(symptom: Observation, seen: Seen) -> Explained | None:
    named = symptom.evidence.get("webhook") if symptom.evidence.get("cause") == "webhook-unreachable" else None
    suspects = [str(named)] if named else seen.suspects(symptom)
    if not suspects:
        return None
    where = ", ".join(str(n) for n in symptom.evidence.get("namespaces") or ()) or "some namespaces"
    return _webhook(symptom, suspects[0], "webhook-binding", f"pod binding (CREATE pods/binding in {where})",
                    Effect.NOT_EVIDENCE)


def _webhook_failing_on_control_plane(symptom: Observation, seen: Seen) -> Explained | None:
    webhook = str(symptom.evidence.get("webhook"))
    if webhook not in seen.webhooks_failing():
        return None
    return _webhook(symptom, webhook, "webhook-failing", str(symptom.evidence.get("writes")), Effect.NOT_EVIDENCE)


_CANARY_FAILURES = frozenset({"DEPLOYMENT_CANARY_NOT_OBSERVED", "SERVICEACCOUNT_CANARY_MISSING",
                              "SCHEDULER_CANARY_NOT_ATTEMPTED"})

ROWS: tuple[Row, ...] = (
    Row("apiserver-path-livez", frozenset({"APISERVER_UNREACHABLE"}), Effect.NOT_EVIDENCE, _livez_unanswered,
        "a load balancer (EKS: an NLB) picks an apiserver per connection: /livez that hangs on one connection "
        "while other requests of the check are answered is one backend, not an apiserver that answers no client"),
    Row("apiserver-path", frozenset({"ETCD_WRITE_FAILED"}), Effect.NOT_EVIDENCE, _apiserver_path,
        "k8s.io/apiserver's etcd health check (--etcd-healthcheck-timeout, 2 s) answers /livez/etcd within "
        "seconds whatever etcd does; a request that gets no answer while it passes, with other requests "
        "hanging too, hangs in front of storage"),
    Row("etcd-down-reads", frozenset({"APISERVER_READS_NO_ANSWER", "APISERVER_SLOW", "APISERVER_CONNECTIONS_NO_ANSWER"}),
        Effect.NOT_EVIDENCE, _etcd_down_reads,
        "recorded quorum loss: resource reads hang (even resourceVersion=0) while /livez answers"),
    Row("etcd-down-leaders", frozenset(), Effect.NOT_JUDGED, _etcd_down_leaders,
        "client-go leaderelection renews by writing the Lease; every controller's reaction is a write"),
    Row("webhook-leader-leases", frozenset({"LEADER_LEASE_STALE"}), Effect.CONSEQUENCE, _webhook_on_leader_lease,
        "client-go leaderelection renews by updating the Lease, which passes admission like any write: a "
        "fail-closed webhook that cannot be called refuses it, the leader stops at its renew deadline and "
        "no instance can acquire the Lease (recorded: both Leases stop at one renewTime, same holders)"),
    Row("webhook-node-leases", frozenset({"NODE_LEASES_EXPIRED", "NODE_NOT_READY"}), Effect.NOT_EVIDENCE,
        _webhook_on_node_leases,
        "the kubelet's node lease controller renews by updating its Lease (admission applies); the node "
        "lifecycle controller marks a node Unknown when neither Lease nor NodeStatus was renewed within the "
        "grace period: kubelets that still post NodeStatus are alive"),
    Row("webhook-node-status", frozenset({"NODE_READY_BUT_SILENT"}), Effect.NOT_EVIDENCE, _webhook_on_node_status,
        "the node lifecycle controller marks a silent node by updating nodes/status through admission"),
    Row("webhook-binding", frozenset({"PODS_BINDING_REJECTED"}), Effect.NOT_EVIDENCE, _webhook_on_binding,
        "kube-scheduler's binding cycle (schedule_one.go): the DefaultBinder creates pods/binding; a refusal "
        "leaves the pod unbound with PodScheduled=False, reason SchedulerError, 'binding rejected: ...'"),
    Row("webhook-failing", frozenset({"WEBHOOK_COVERS_CONTROL_PLANE"}), Effect.NOT_EVIDENCE,
        _webhook_failing_on_control_plane,
        "a fail-closed webhook that cannot be called refuses every write it intercepts, the control plane's "
        "own included (apiserver admission, util/webhook/error.go)"),
    Row("failover", _CANARY_FAILURES, Effect.NOT_EVIDENCE, _failover,
        "client-go leaderelection: a standby acquires only leaseDurationSeconds after the last renewal it "
        "observed, so no controller of the component runs between the leader's exit and the takeover"),
)


def explain(observations: Iterable[Observation]) -> tuple[Explained, ...]:
    """Every observation that a row explains, with the first row that does."""
    seen = observations if isinstance(observations, Seen) else Seen(observations)
    found = []
    for observation in seen.observations:
        if observation.status is Status.OK:
            continue
        for row in ROWS:
            if row.symptoms and observation.code not in row.symptoms:
                continue
            explained = row.explains(observation, seen)
            if explained is not None:
                found.append(explained)
                break
    return tuple(found)


# What each row's cause blocks, for the cause's finding: (control-plane write key, what it blocks).
_BLOCKS = {
    "webhook-leader-leases": LEADER_LEASES,
    "webhook-node-leases": NODE_LEASES,
    "webhook-node-status": NODE_STATUS,
    "webhook-binding": POD_BINDING,
}


def cause_findings(explained: Iterable[Explained], observations: Iterable[Observation]) -> tuple[Observation, ...]:
    """One WEBHOOK_BLOCKS_CONTROL_PLANE per webhook that a row made a cause: it names the webhook,
    its configuration and rules, what it blocks and what stops because of it."""
    seen = Seen(observations)
    by_webhook: dict[str, list[Explained]] = {}
    for e in explained:
        if e.webhook:
            by_webhook.setdefault(e.webhook, []).append(e)
    found = []
    for webhook, rows in by_webhook.items():
        keys = [_BLOCKS[e.row] for e in rows if e.row in _BLOCKS]
        for e in rows:
            if e.row == "webhook-failing":
                keys += [str(k) for k in e.symptom.evidence.get("intercepts") or ()]
        keys = [k for k in dict.fromkeys(keys) if k in BY_KEY]
        described = seen.covering(webhook)
        evidence = described.evidence if described is not None else {}
        namespaces = sorted({str(n) for e in rows if e.row == "webhook-binding" for n in e.symptom.evidence.get("namespaces") or ()})
        consequence = "; ".join(dict.fromkeys(BY_KEY[k].consequence for k in keys)) or "the writes it covers are refused"
        if namespaces:
            consequence += f" (in {', '.join(namespaces)}: the apiserver refuses the binding of every pod placed there)"
        found.append(observe(
            "WEBHOOK_BLOCKS_CONTROL_PLANE", Component.EXTENSIONS, webhook=webhook,
            configuration=evidence.get("configuration", "configuration not readable"),
            covers=evidence.get("covers", "unknown"), blocks=", ".join(BY_KEY[k].what for k in keys) or "writes",
            consequence=consequence, symptoms=[e.symptom.code for e in rows], rows=sorted({e.row for e in rows})))
    return tuple(found)
