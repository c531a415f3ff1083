"""Correlation rules: observations -> one verdict per control-plane component, root cause first.

Called by check.py; pure (no I/O). Rules, in order (DESIGN.md, "Diagnosis"):
1. apiserver unreachable -> apiserver down; every other component unknown (one alert, not four).
2. etcd check failing or writes not succeeding -> etcd down; stale leader Leases and missing
   controller reactions are its consequences (those components become unknown, not down), and
   reads that hang are explained by it.
3. controller-manager / scheduler: stale Lease plus any symptom -> down, high confidence; stale
   Lease alone -> down, medium; wedged (LEADER_WEDGED, wedged.py: it renews its Lease and failed
   on consecutive runs) -> down, high; symptoms alone -> degraded (medium confidence for a symptom the
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

from .explanations import Effect, Explained, cause_findings, explain
from ..findings import CONTROL_PLANE, Component, Observation, Status, observe, shows_it_works


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


# Findings the diagnosis makes (not the probes): dropped before a diagnosis is judged again.
MADE_BY_DIAGNOSIS = frozenset({"NOT_JUDGED", "WEBHOOK_BLOCKS_CONTROL_PLANE"})


@dataclass(frozen=True)
class Judgement:
    verdicts: dict[Component, ComponentVerdict]
    explained: tuple[Explained, ...] = ()  # the symptoms a cause explains (explanations.py)
    causes: tuple[Observation, ...] = ()  # findings of causes that no probe reported (a webhook)


def diagnose(observations: Iterable[Observation]) -> dict[Component, ComponentVerdict]:
    return judge(observations).verdicts


def judge(observations: Iterable[Observation]) -> Judgement:
    by_component: dict[Component, list[Observation]] = {component: [] for component in CONTROL_PLANE}
    all_observations = list(observations)
    for observation in all_observations:
        if observation.component in by_component:
            by_component[observation.component].append(observation)

    explained = explain(all_observations)
    apiserver = _judge_explained(Component.APISERVER, by_component[Component.APISERVER], explained, all_observations)
    if apiserver.verdict is Verdict.DOWN:
        cause = "the apiserver answers no client, so nothing else can be seen"
        return Judgement({
            Component.APISERVER: apiserver,
            **{c: _not_judged(c, by_component[c], Component.APISERVER, cause) for c in CONTROL_PLANE[1:]},
        }, tuple(e for e in explained if e.symptom.component is Component.APISERVER))

    verdicts = {component: _judge_explained(component, by_component[component], explained, all_observations)
                for component in CONTROL_PLANE}
    return Judgement(verdicts, explained, cause_findings(explained, all_observations))


def _judge_explained(component: Component, observations: list[Observation], explained: tuple[Explained, ...],
                     everything: list[Observation]) -> ComponentVerdict:
    """The component judged on the findings no cause explains; marked as a consequence when a
    cause explains its failure."""
    mine = [e for e in explained if _contains(observations, e.symptom)]
    not_judged = next((e for e in mine if e.effect is Effect.NOT_JUDGED), None)
    if not_judged is not None and not_judged.cause is not None:
        return _not_judged(component, observations, not_judged.cause, not_judged.because)
    set_aside = [e.symptom for e in mine if e.effect is Effect.NOT_EVIDENCE]
    judged_on = [o for o in observations if not _contains(set_aside, o)]
    verdict = _JUDGES[component](judged_on, everything)
    ordered = tuple(judged_on + [o for o in observations if _contains(set_aside, o)])
    consequence = next((e for e in mine if e.effect is Effect.CONSEQUENCE), None)
    cause = consequence.cause if consequence and verdict.verdict in (Verdict.DOWN, Verdict.DEGRADED) else None
    return ComponentVerdict(component, verdict.verdict, verdict.confidence, ordered, cause)


def _contains(observations: list[Observation], wanted: Observation) -> bool:
    return any(o is wanted for o in observations)


def overall(verdicts: dict[Component, ComponentVerdict], observations: Iterable[Observation] = ()) -> Verdict:
    worst = max((v.verdict for v in verdicts.values()), key=lambda verdict: verdict.rank, default=Verdict.UNKNOWN)
    if worst is Verdict.HEALTHY and impairments(observations):
        return Verdict.DEGRADED
    return worst


def extensions_verdict(verdicts: dict[Component, ComponentVerdict], observations: Iterable[Observation]) -> Verdict:
    """What is plugged in between the components, judged as one: down when a webhook brought a
    component down (its consequence), degraded when it fails otherwise, healthy when it was
    seen working, unknown when it was not seen."""
    found = [o for o in observations if o.component is Component.EXTENSIONS]
    if any(v.consequence_of is Component.EXTENSIONS and v.verdict is Verdict.DOWN for v in verdicts.values()):
        return Verdict.DOWN
    if any(o.status is Status.FAIL for o in found):
        return Verdict.DEGRADED
    if any(o.status is Status.OK for o in found):
        return Verdict.HEALTHY
    return Verdict.UNKNOWN


def impairments(observations: Iterable[Observation]) -> tuple[Observation, ...]:
    """Failures between the components: they impair the cluster without any component failing."""
    return tuple(o for o in observations if o.component is Component.EXTENSIONS and o.status is Status.FAIL)


def root_cause(verdicts: dict[Component, ComponentVerdict], explained: Iterable[Explained] = ()) -> Component | None:
    """The first cause, in dependency order, of the worst verdict: a component down (else
    degraded) that is no other's consequence, or the extensions (a webhook) when a component's
    failure, or a symptom, is theirs."""
    extensions_explain = [e for e in explained if e.cause is Component.EXTENSIONS]
    extensions_down = any(v.consequence_of is Component.EXTENSIONS and v.verdict is Verdict.DOWN
                          for v in verdicts.values())
    for wanted in (Verdict.DOWN, Verdict.DEGRADED):
        for component in _CAUSE_ORDER:
            if component is Component.EXTENSIONS:
                if extensions_explain and (extensions_down or wanted is Verdict.DEGRADED):
                    return component
                continue
            verdict = verdicts.get(component)
            if verdict and verdict.verdict is wanted and verdict.consequence_of is None:
                return component
    return None


# Dependency order of causes: what is plugged into the apiserver (webhooks) comes before the
# components whose writes it refuses.
_CAUSE_ORDER = (Component.APISERVER, Component.ETCD, Component.EXTENSIONS, Component.CONTROLLER_MANAGER,
                Component.SCHEDULER)


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


def _codes(observations: list[Observation], status: Status) -> set[str]:
    return {o.code for o in observations if o.status is status and shows_it_works(o.code)}


def _judge_apiserver(observations: list[Observation], seen: list[Observation] | None = None) -> ComponentVerdict:
    fails, warns, oks = (_codes(observations, s) for s in (Status.FAIL, Status.WARN, Status.OK))
    component = Component.APISERVER
    if fails & _NO_CLIENT_CAN_CONNECT:
        return ComponentVerdict(component, Verdict.DOWN, Confidence.HIGH, tuple(observations))
    if fails:
        return ComponentVerdict(component, Verdict.DOWN, Confidence.MEDIUM, tuple(observations))
    if warns:
        return ComponentVerdict(component, Verdict.DEGRADED, _by_count(len(warns)), tuple(observations))
    return _healthy_or_unknown(component, oks, observations)


def _judge_etcd(observations: list[Observation], seen: list[Observation]) -> ComponentVerdict:
    fails, warns, oks = (_codes(observations, s) for s in (Status.FAIL, Status.WARN, Status.OK))
    component = Component.ETCD
    if fails:
        signals = len(fails) + (1 if _reads_hang(seen) else 0)
        # etcd's own "database space exceeded" leaves no doubt whose refusal it is.
        confidence = Confidence.HIGH if signals >= 2 or "ETCD_NOSPACE" in fails else Confidence.MEDIUM
        return ComponentVerdict(component, Verdict.DOWN, confidence, tuple(observations))
    if warns:
        return ComponentVerdict(component, Verdict.DEGRADED, _by_count(len(warns)), tuple(observations))
    return _healthy_or_unknown(component, oks, observations)


def _judge_leader(component: Component, observations: list[Observation]) -> ComponentVerdict:
    fails, warns, oks = (_codes(observations, s) for s in (Status.FAIL, Status.WARN, Status.OK))
    lease_stale = "LEADER_LEASE_STALE" in fails
    symptoms = fails - {"LEADER_LEASE_STALE", "LEADER_WEDGED"}
    supported = any(o.code == _SUPPORTING for o in observations)
    if "LEADER_WEDGED" in fails and not lease_stale:
        # Its own failing signal on consecutive runs while it renews the Lease (wedged.py).
        return ComponentVerdict(component, Verdict.DOWN, Confidence.HIGH, tuple(observations))
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


def _reads_hang(seen: list[Observation]) -> bool:
    """Reads of the check got no answer: with etcd failing, a second signal that it is etcd."""
    return any(o.code == "APISERVER_READS_NO_ANSWER" for o in seen)


_JUDGES = {
    Component.APISERVER: _judge_apiserver,
    Component.ETCD: _judge_etcd,
    Component.CONTROLLER_MANAGER: lambda judged_on, seen: _judge_leader(Component.CONTROLLER_MANAGER, judged_on),
    Component.SCHEDULER: lambda judged_on, seen: _judge_leader(Component.SCHEDULER, judged_on),
}


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
