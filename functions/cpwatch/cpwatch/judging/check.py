"""One check of one cluster: run the probes, diagnose, return a Diagnosis.

The single plain function the CLI and the Lambda handler call. It never raises for anything the
cluster does; configuration errors are raised before it is called.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .diagnosis import MADE_BY_DIAGNOSIS, ComponentVerdict, Verdict, extensions_verdict, judge, overall, root_cause
from .explanations import Explained
from ..findings import Component, Observation, Status, observe
from ..cluster.kubeapi import KubeApi
from ..probes import PROBES, Probe
from ..probes.context import ProbeContext
from ..probes.runner import ProbeResult, run_probes
from ..settings import Settings


@dataclass(frozen=True)
class Diagnosis:
    cluster: str
    overall: Verdict
    components: dict[Component, ComponentVerdict]
    observations: tuple[Observation, ...]
    root_cause: Component | None
    checked_at: datetime
    duration_ms: int
    read_only: bool
    probe_seconds: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    bytes_received: int = 0
    explained: tuple[Explained, ...] = ()  # findings a cause explains: not counted against their component
    extensions: Verdict = Verdict.UNKNOWN  # webhooks and aggregated APIs, judged as one

    def explanation_of(self, observation: Observation) -> Explained | None:
        return next((e for e in self.explained if e.symptom is observation), None)

    def cause_finding(self) -> Observation | None:
        """The finding that names the root cause: its component's key finding, or, when the
        root cause is between the components, the first failure there (a webhook's)."""
        if self.root_cause is None:
            return None
        if self.root_cause is Component.EXTENSIONS:
            failing = [o for o in self.observations if o.component is Component.EXTENSIONS and o.status is Status.FAIL]
            # A webhook that brought a component down (or blocked its work) says most; else the
            # failure seen directly (a webhook refusing writes) before the risk it realises.
            return next((o for o in failing if o.code == "WEBHOOK_BLOCKS_CONTROL_PLANE"
                         and set(o.evidence.get("rows") or ()) - {"webhook-failing"}),
                        next((o for o in failing if o.code != "WEBHOOK_BLOCKS_CONTROL_PLANE"), failing[0] if failing else None))
        return self.components[self.root_cause].key_finding()


@dataclass(frozen=True)
class ContextResult:
    """The diagnosis of one kubeconfig context (`cpwatch check --all-contexts`, entry/multicheck.py)."""
    context: str
    diagnosis: Diagnosis
    seconds: float  # connecting (credentials included) and checking
    usable: bool = True  # False: the kubeconfig entry or its credentials failed; nothing was sent


def selected_probes(read_only: bool, periodic_due: bool = True) -> tuple[Probe, ...]:
    return tuple(probe for probe in PROBES
                 if not (read_only and probe.writes) and not (probe.periodic and not periodic_due))


def periodic_due(now: datetime, settings: Settings, run_interval_s: float | None) -> bool:
    """Whether this run takes the periodic probes. A one-off check (run_interval_s None) always
    does; runs every run_interval_s take them in the run that starts in the first
    run_interval_s of each metrics_interval_s slot of the clock: once per slot, with no state
    to keep between runs."""
    if run_interval_s is None:
        return True
    return now.timestamp() % settings.metrics_interval_s < run_interval_s


def run_check(api: KubeApi, cluster: str, settings: Settings, read_only: bool = False,
              run_id: str | None = None, ec2=None, extra: tuple[Observation, ...] = (),
              run_interval_s: float | None = None) -> Diagnosis:
    """`ec2`: an EC2 client for the EKS cross-check; `extra`: observations made while connecting
    (EKS status, health issues) that belong in the diagnosis; `run_interval_s`: the period of
    scheduled runs (None for a one-off check), which paces the periodic probes."""
    started = time.monotonic()
    checked_at = datetime.now(timezone.utc)
    context = ProbeContext(api=api, settings=settings, run_id=run_id or secrets.token_hex(4), cluster=cluster, ec2=ec2)
    probes = selected_probes(read_only, periodic_due(checked_at, settings, run_interval_s))
    results = run_probes(probes, context)
    return diagnosis_from(results, cluster, checked_at, time.monotonic() - started, read_only, api, extra)


def blind_diagnosis(cluster: str, observations: tuple[Observation, ...], read_only: bool = False) -> Diagnosis:
    """The diagnosis when cpwatch could not even connect: every component unknown, with why."""
    return _diagnosis(cluster, observations, datetime.now(timezone.utc), 0.0, read_only, {}, 0, 0)


def diagnosis_from(results: list[ProbeResult], cluster: str, checked_at: datetime, seconds: float,
                   read_only: bool, api: KubeApi, extra: tuple[Observation, ...] = ()) -> Diagnosis:
    observations = _distinct(tuple(o for result in results for o in result.observations)
                             + _throttling(api) + _unanswered_reads(api) + extra)
    probe_seconds = {result.probe: round(result.seconds, 3) for result in results}
    return _diagnosis(cluster, observations, checked_at, seconds, read_only, probe_seconds,
                      api.stats.requests, api.stats.bytes_received)


def with_observations(diagnosis: Diagnosis, extra: tuple[Observation, ...], first: bool = False) -> Diagnosis:
    """The diagnosis judged again with observations made after its probes (second opinions from
    outside the apiserver, wedged.py's findings across runs); timings and request counts stay
    those of the check. `first`: the extra observations lead their components' findings (they
    are then the key finding of a verdict they decide)."""
    made = tuple(o for o in diagnosis.observations if o.code not in MADE_BY_DIAGNOSIS)
    ordered = extra + made if first else made + extra
    return _diagnosis(diagnosis.cluster, _distinct(ordered), diagnosis.checked_at, diagnosis.duration_ms / 1000,
                      diagnosis.read_only, diagnosis.probe_seconds, diagnosis.requests, diagnosis.bytes_received)


def _throttling(api: KubeApi) -> tuple[Observation, ...]:
    stats = api.stats
    if not stats.throttled:
        return ()
    levels = ", ".join(sorted(stats.priority_levels)) or "not named"
    return (observe("APISERVER_THROTTLED", Component.APISERVER, count=stats.throttled,
                    gave_up=stats.throttled_gave_up, priority_level=levels),)


def _unanswered_reads(api: KubeApi) -> tuple[Observation, ...]:
    """Reads that got no answer while the apiserver answered others: the same endpoint serves
    some requests and not others (one of several apiservers, a load balancer, or etcd: the
    diagnosis decides which)."""
    stats = api.stats
    if not stats.unanswered_reads or not stats.requests:
        return ()
    path, reason = stats.unanswered_reads[0]
    return (observe("APISERVER_READS_NO_ANSWER", Component.APISERVER, count=len(stats.unanswered_reads),
                    total=len(stats.unanswered_reads) + stats.requests, timeout_s=api.request_timeout_s,
                    path=path, reason=reason, paths=sorted({p for p, _ in stats.unanswered_reads})[:10]),)


def _distinct(observations: tuple[Observation, ...]) -> tuple[Observation, ...]:
    """Each finding once: several probes can see the same thing (one failing webhook refuses
    the writes of every probe that writes)."""
    seen: set[str] = set()
    kept = []
    for observation in observations:
        key = repr((observation.code, observation.component, sorted(observation.evidence.items())))
        if observation.code == "WEBHOOK_FAILING_CLOSED":  # one webhook, seen by a write and by its Service
            key = repr((observation.code, observation.evidence.get("webhook")))
        if key not in seen:
            seen.add(key)
            kept.append(observation)
    return tuple(kept)


def _diagnosis(cluster: str, observations: tuple[Observation, ...], checked_at: datetime, seconds: float,
               read_only: bool, probe_seconds: dict[str, float], requests: int, received: int) -> Diagnosis:
    judgement = judge(observations)
    verdicts = judgement.verdicts
    notes = tuple(o for v in verdicts.values() for o in v.findings if o.code == "NOT_JUDGED")
    observations = judgement.causes + observations
    return Diagnosis(
        cluster=cluster,
        overall=overall(verdicts, observations),
        components=verdicts,
        observations=observations + notes,
        root_cause=root_cause(verdicts, judgement.explained),
        checked_at=checked_at,
        duration_ms=int(seconds * 1000),
        read_only=read_only,
        probe_seconds=probe_seconds,
        requests=requests,
        bytes_received=received,
        explained=judgement.explained,
        extensions=extensions_verdict(verdicts, observations),
    )
