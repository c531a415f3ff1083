"""Correlation rules: observations -> one verdict per control-plane component, root cause first.

Called by check.py; pure (no I/O). Rules, in order (DESIGN.md, "Diagnosis"):
1. apiserver unreachable -> apiserver down; every other component unknown (one alert, not four).
2. etcd check failing or writes not succeeding -> etcd down; stale leader Leases and missing
   controller reactions are its consequences (those components become unknown, not down), and
   reads that hang are explained by it.
3. controller-manager / scheduler: stale Lease plus any symptom -> down, high confidence; stale
   Lease alone -> down, medium; symptoms alone -> degraded (medium confidence for a symptom the
   component's own published counters show over minutes: the scheduler not attempting in
   AWS/EKS metrics). A failing EKS metrics endpoint of the component raises the confidence of
   either, and decides nothing alone.
4. Overall is the worst verdict (healthy < degraded < unknown < down); a failure between the
   components (a webhook failing closed, an aggregated API unavailable: the `extensions`
   findings) makes a cluster whose components are all healthy degraded, never down.
Node problems, extensions and the checker's own findings never decide a control-plane verdict;
a probe that could not look (blocked by a webhook, throttled, forbidden) is unknown, never down.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable

from .findings import CONTROL_PLANE, Component, Observation, Status, observe


class Verdict(str, Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"
    DOWN = "down"

    @property
    def rank(self) -> int:
        return _VERDICT_ORDER.index(self)


_VERDICT_ORDER = (Verdict.HEALTHY, Verdict.DEGRADED, Verdict.UNKNOWN, Verdict.DOWN)


class Confidence(str, Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class ComponentVerdict:
    component: Component
    verdict: Verdict
    confidence: Confidence
    findings: tuple[Observation, ...]
    consequence_of: Component | None = None

    def key_finding(self) -> Observation | None:
        """The finding that best explains the verdict: the first one of the status it rests on."""
        for status in _KEY_STATUSES[self.verdict]:
            for finding in self.findings:
                if finding.status is status and finding.code != "NOT_JUDGED":
                    return finding
        return next(iter(self.findings), None)


_KEY_STATUSES = {
    Verdict.DOWN: (Status.FAIL, Status.WARN),
    Verdict.DEGRADED: (Status.FAIL, Status.WARN),
    Verdict.UNKNOWN: (Status.UNKNOWN, Status.WARN, Status.FAIL),
    Verdict.HEALTHY: (Status.OK,),
}

# The apiserver gives no client an answer: nothing answers, or its certificate is refused by all.
_NO_CLIENT_CAN_CONNECT = frozenset({"APISERVER_UNREACHABLE", "APISERVER_CERT_INVALID"})

# Findings that a down etcd explains: reads hang and slow down when etcd has no quorum.
_EXPLAINED_BY_ETCD = frozenset({"APISERVER_READS_NO_ANSWER", "APISERVER_SLOW"})


def diagnose(observations: Iterable[Observation]) -> dict[Component, ComponentVerdict]:
    by_component: dict[Component, list[Observation]] = {component: [] for component in CONTROL_PLANE}
    all_observations = list(observations)
    for observation in all_observations:
        if observation.component in by_component:
            by_component[observation.component].append(observation)

    apiserver = _judge_apiserver(by_component[Component.APISERVER])
    if apiserver.verdict is Verdict.DOWN:
        cause = "the apiserver answers no client, so nothing else can be seen"
        return {
            Component.APISERVER: apiserver,
            **{c: _not_judged(c, by_component[c], Component.APISERVER, cause) for c in CONTROL_PLANE[1:]},
        }

    reads_hang = any(o.code == "APISERVER_READS_NO_ANSWER" for o in by_component[Component.APISERVER])
    etcd = _judge_etcd(by_component[Component.ETCD], reads_hang)
    verdicts = {Component.APISERVER: apiserver, Component.ETCD: etcd}
    for component in (Component.CONTROLLER_MANAGER, Component.SCHEDULER):
        verdicts[component] = _judge_leader(component, by_component[component])

    if etcd.verdict is Verdict.DOWN:
        kept = [o for o in by_component[Component.APISERVER] if o.code not in _EXPLAINED_BY_ETCD]
        explained = [o for o in by_component[Component.APISERVER] if o.code in _EXPLAINED_BY_ETCD]
        judged = _judge_apiserver(kept)
        verdicts[Component.APISERVER] = ComponentVerdict(
            Component.APISERVER, judged.verdict, judged.confidence, tuple(kept + explained))
        cause = "etcd is down: leader Leases cannot be renewed and controllers cannot write"
        for component in (Component.CONTROLLER_MANAGER, Component.SCHEDULER):
            if verdicts[component].verdict in (Verdict.DOWN, Verdict.DEGRADED, Verdict.UNKNOWN):
                verdicts[component] = _not_judged(component, by_component[component], Component.ETCD, cause)
    return verdicts


def overall(verdicts: dict[Component, ComponentVerdict], observations: Iterable[Observation] = ()) -> Verdict:
    worst = max((v.verdict for v in verdicts.values()), key=lambda verdict: verdict.rank, default=Verdict.UNKNOWN)
    if worst is Verdict.HEALTHY and impairments(observations):
        return Verdict.DEGRADED
    return worst


def impairments(observations: Iterable[Observation]) -> tuple[Observation, ...]:
    """Failures between the components: they impair the cluster without any component failing."""
    return tuple(o for o in observations if o.component is Component.EXTENSIONS and o.status is Status.FAIL)


def root_cause(verdicts: dict[Component, ComponentVerdict]) -> Component | None:
    """The first component, in dependency order, whose verdict is down (else degraded)."""
    for wanted in (Verdict.DOWN, Verdict.DEGRADED):
        for component in CONTROL_PLANE:
            verdict = verdicts.get(component)
            if verdict and verdict.verdict is wanted and verdict.consequence_of is None:
                return component
    return None


# OK findings that describe a component without showing that it works (a valid certificate, a
# database size read from /metrics; what AWS/EKS metrics and control-plane logs, published
# minutes late and from outside cpwatch's view, say): never enough on their own for "healthy".
# The EKS metrics API's answers that find nothing wrong are context too: the endpoint is not
# documented well enough to let its silence vouch for a component.
_CONTEXT_ONLY = frozenset({"APISERVER_CERT_OK", "ETCD_DB_SIZE_OK", "VENDED_SCHEDULER_ATTEMPTING",
                           "VENDED_APISERVER_SERVING", "CONTROL_PLANE_LOG_NO_ERROR", "EKS_METRICS_NOT_SERVED",
                           "EKS_METRICS_STANDBY", "CONTROLLER_QUEUES_DRAINING", "SCHEDULER_QUEUES_MOVING"})

# Supporting evidence only: the EKS metrics endpoint of the component fails. What it answers
# while the component is down is not documented, so it raises the confidence of a verdict the
# Lease or the symptoms reached, and never makes one alone.
_SUPPORTING = "EKS_METRICS_FAILING"

# Symptoms seen by a component's own counters over minutes, longer than any retry period of the
# component (AWS/EKS: pods waiting and no scheduling attempt for over 5 min 30 s): enough alone
# for degraded with medium confidence when the counter was published as zero in every minute
# (AWS documents it as the attempts of each period); inferred from a counter EKS did not
# publish at all (undocumented), low. Not down: the component publishes its queue, so its
# process runs.
_SUSTAINED_SYMPTOMS = frozenset({"VENDED_SCHEDULER_NOT_ATTEMPTING"})


def shows_it_works(code: str) -> bool:
    """Whether an OK finding of this code is evidence that its component works (a context-only
    finding, such as a valid certificate or an API not served here, is not)."""
    return code not in _CONTEXT_ONLY


def _codes(observations: list[Observation], status: Status) -> set[str]:
    return {o.code for o in observations if o.status is status and o.code not in _CONTEXT_ONLY}


def _judge_apiserver(observations: list[Observation]) -> ComponentVerdict:
    fails, warns, oks = (_codes(observations, s) for s in (Status.FAIL, Status.WARN, Status.OK))
    component = Component.APISERVER
    if fails & _NO_CLIENT_CAN_CONNECT:
        return ComponentVerdict(component, Verdict.DOWN, Confidence.HIGH, tuple(observations))
    if fails:
        return ComponentVerdict(component, Verdict.DOWN, Confidence.MEDIUM, tuple(observations))
    if warns:
        return ComponentVerdict(component, Verdict.DEGRADED, _by_count(len(warns)), tuple(observations))
    return _healthy_or_unknown(component, oks, observations)


def _judge_etcd(observations: list[Observation], reads_hang: bool) -> ComponentVerdict:
    fails, warns, oks = (_codes(observations, s) for s in (Status.FAIL, Status.WARN, Status.OK))
    component = Component.ETCD
    if fails:
        signals = len(fails) + (1 if reads_hang else 0)
        # etcd's own "database space exceeded" leaves no doubt whose refusal it is.
        confidence = Confidence.HIGH if signals >= 2 or "ETCD_NOSPACE" in fails else Confidence.MEDIUM
        return ComponentVerdict(component, Verdict.DOWN, confidence, tuple(observations))
    if warns:
        return ComponentVerdict(component, Verdict.DEGRADED, _by_count(len(warns)), tuple(observations))
    return _healthy_or_unknown(component, oks, observations)


def _judge_leader(component: Component, observations: list[Observation]) -> ComponentVerdict:
    fails, warns, oks = (_codes(observations, s) for s in (Status.FAIL, Status.WARN, Status.OK))
    lease_stale = "LEADER_LEASE_STALE" in fails
    symptoms = fails - {"LEADER_LEASE_STALE"}
    supported = any(o.code == _SUPPORTING for o in observations)
    if lease_stale:
        confidence = Confidence.HIGH if symptoms or supported else Confidence.MEDIUM
        return ComponentVerdict(component, Verdict.DOWN, confidence, tuple(observations))
    if symptoms:
        sustained = any(o.code in _SUSTAINED_SYMPTOMS and o.evidence.get("attempts_counted") is True
                        for o in observations)
        confidence = _by_count(len(symptoms) + supported)
        if sustained and confidence is Confidence.LOW:
            confidence = Confidence.MEDIUM
        return ComponentVerdict(component, Verdict.DEGRADED, confidence, tuple(observations))
    if warns:
        return ComponentVerdict(component, Verdict.DEGRADED, Confidence.LOW, tuple(observations))
    return _healthy_or_unknown(component, oks, observations)


def _healthy_or_unknown(component: Component, oks: set[str], observations: list[Observation]) -> ComponentVerdict:
    """No failure and no warning: healthy if anything was seen to work, else unknown."""
    if oks:
        confidence = Confidence.HIGH if len(oks) >= 2 else Confidence.MEDIUM
        return ComponentVerdict(component, Verdict.HEALTHY, confidence, tuple(observations))
    return ComponentVerdict(component, Verdict.UNKNOWN, Confidence.LOW, tuple(observations))


def _not_judged(component: Component, observations: list[Observation], cause_component: Component,
                cause: str) -> ComponentVerdict:
    note = observe("NOT_JUDGED", component, cause=cause, root_cause=cause_component.value)
    return ComponentVerdict(component, Verdict.UNKNOWN, Confidence.LOW, (note, *observations), cause_component)


def _by_count(signals: int) -> Confidence:
    return Confidence.MEDIUM if signals >= 2 else Confidence.LOW
