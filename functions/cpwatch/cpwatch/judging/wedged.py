"""Wedged leaders: a controller-manager or scheduler that renews its leader Lease but does no work,
run after run, is down ("renews its Lease but does not work").

Called by pipeline.py after each look (a run's check with its second opinions, and the confirming
second look), with the streaks stored in the alert state; pure. It returns the new streaks and
the findings to add to the look: LEADER_STALLED while a streak counts (a warning at once: a page
follows if it goes on), LEADER_WEDGED once it has lasted `runs_needed` runs (the diagnosis judges
that down). Why this is down and not degraded: client-go leader election trusts the Lease, and a
standby acquires it only once the leader stopped renewing for leaseDurationSeconds, so a leader
that renews and does nothing is never replaced: the component is out until someone restarts it.

A run counts (a sighting) when, in the look, the component (not a consequence of another cause)
shows a stall that no explanation row set aside, with its Lease renewed by a holder:
- a canary it did not handle while the same holder renewed the Lease during the canary's wait
  (evidence leader_renewed True: a failover, leader_renewed False, never counts, issue 13);
- EKS's control-plane metrics of the elected instance: CONTROLLER_WORKER_HUNG,
  CONTROLLER_QUEUE_NOT_DRAINING, SCHEDULER_NOT_ATTEMPTING;
- AWS/EKS vended metrics: VENDED_SCHEDULER_NOT_ATTEMPTING with every silent minute published as
  zero attempts (attempts_counted; inferred from a missing series it is undocumented, so no
  verdict rests on it), and only with a newer minute than the sighting before (the same data
  read twice is not a second run).
Sightings are dated by their run's start and count only a run apart (MIN_GAP: the confirming look of
a run is the same run) and only for one holder: another holder, a stale Lease or a
failover starts over. A streak short of `runs_needed` ends with the first judged look without a
stall; a wedged one ends only when the component is seen working (a canary handled, queues
draining, attempts counted) or its leader changes: between AWS/EKS reads (every 15 minutes once
the component is in alarm) it stays wedged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Mapping

from .diagnosis import Verdict
from ..findings import Component, Observation, observe

# Runs count when they are a schedule period apart. EventBridge Scheduler's finest period is one
# minute, and the runs of a one-minute schedule start 60 s apart give or take a few seconds (the
# invocation's start varies); what happens within one run (its confirming second look, at most
# the run's deadline of 45 s later) has the run's start time. 50 s tells the two apart.
MIN_GAP = timedelta(seconds=50)
LEADERS = (Component.CONTROLLER_MANAGER, Component.SCHEDULER)
CANARY_STALLS = {
    Component.CONTROLLER_MANAGER: frozenset({"DEPLOYMENT_CANARY_NOT_OBSERVED", "SERVICEACCOUNT_CANARY_MISSING"}),
    Component.SCHEDULER: frozenset({"SCHEDULER_CANARY_NOT_ATTEMPTED"}),
}
METRIC_STALLS = {
    Component.CONTROLLER_MANAGER: frozenset({"CONTROLLER_WORKER_HUNG", "CONTROLLER_QUEUE_NOT_DRAINING"}),
    Component.SCHEDULER: frozenset({"SCHEDULER_NOT_ATTEMPTING", "VENDED_SCHEDULER_NOT_ATTEMPTING"}),
}
WORKING = {
    Component.CONTROLLER_MANAGER: frozenset({"DEPLOYMENT_CANARY_OBSERVED", "SERVICEACCOUNT_CANARY_RECREATED",
                                             "CONTROLLER_QUEUES_DRAINING"}),
    Component.SCHEDULER: frozenset({"SCHEDULER_CANARY_ATTEMPTED", "SCHEDULER_QUEUES_MOVING",
                                    "VENDED_SCHEDULER_ATTEMPTING"}),
}
_VENDED = "VENDED_SCHEDULER_NOT_ATTEMPTING"
_SIGN_CHARS = 300  # each sign's text as kept in the state item
_SIGNS_KEPT = 3


@dataclass(frozen=True)
class Sighting:
    """One run in which the component stalled: when, and what showed it (finding texts)."""

    at: datetime
    signs: tuple[str, ...]
    vended_until: str | None = None  # the newest silent AWS/EKS minute, when that showed it


@dataclass(frozen=True)
class Streak:
    """Consecutive sightings of one leader (holder identity); `sightings` keeps the first
    runs_needed of them (the evidence of the page), `runs` counts all."""

    holder: str
    sightings: tuple[Sighting, ...]
    runs: int

    @property
    def last(self) -> Sighting:
        return self.sightings[-1]


def update(streaks: Mapping[str, Streak], diagnosis, now: datetime,
           runs_needed: int) -> tuple[dict[str, Streak], tuple[Observation, ...]]:
    """The streaks after this look and the findings it gets (LEADER_STALLED or LEADER_WEDGED).
    `now`: when the look's run started (both looks of a run give the same)."""
    kept: dict[str, Streak] = {name: s for name, s in streaks.items()
                               if name not in {c.value for c in LEADERS}}
    found: list[Observation] = []
    for component in LEADERS:
        streak = _next(streaks.get(component.value), component, diagnosis, now, runs_needed)
        if streak is None:
            continue
        kept[component.value] = streak
        found.append(finding(component, streak, runs_needed))
    return kept, tuple(found)


def watched(streaks: Mapping[str, Streak], runs_needed: int) -> frozenset[str]:
    """Components with a streak still counting: their second opinion is read every run, so a
    stall seen only in AWS/EKS metrics can be counted run by run (at most runs_needed - 1 reads
    more per stall: once wedged, the usual pacing returns)."""
    return frozenset(name for name, streak in streaks.items() if streak.runs < runs_needed)


def finding(component: Component, streak: Streak, runs_needed: int) -> Observation:
    first = streak.sightings[0].at
    runs = [f"{s.at:%Y-%m-%d %H:%M:%S} UTC: " + "; ".join(s.signs) for s in streak.sightings]
    common = dict(holder=streak.holder, runs=streak.runs, needed=runs_needed, since=f"{first:%H:%M:%S}",
                  first_seen=first.strftime("%Y-%m-%dT%H:%M:%SZ"), sightings=runs)
    if streak.runs >= runs_needed:
        return observe("LEADER_WEDGED", component, **common)
    return observe("LEADER_STALLED", component, **common)


def _next(streak: Streak | None, component: Component, diagnosis, now: datetime,
          runs_needed: int) -> Streak | None:
    verdict = diagnosis.components[component]
    if verdict.consequence_of is not None or verdict.verdict is Verdict.UNKNOWN:
        return streak  # not judged on its own in this look: nothing learnt
    findings = [o for o in verdict.findings if o.code not in ("LEADER_STALLED", "LEADER_WEDGED")]
    codes = {o.code for o in findings}
    holder = _holder(findings)
    failover = any(o.code in CANARY_STALLS[component] and o.evidence.get("leader_renewed") is False for o in findings)
    if "LEADER_LEASE_STALE" in codes or failover:
        return None
    if holder is None:
        return streak  # the Lease could not be read: whose run this was is not known
    if streak is not None and streak.holder != holder:
        streak = None  # another leader: what the previous one did says nothing about this one
    signs = [o for o in findings if _stalls(o, component, diagnosis)]
    if signs:
        vended = next((str(o.evidence.get("until")) for o in signs if o.code == _VENDED), None)
        sighting = Sighting(now, tuple(_sign_text(o) for o in signs[:_SIGNS_KEPT]), vended)
        if streak is None:
            return Streak(holder, (sighting,), 1)
        fresh = vended is None or vended != streak.last.vended_until or len(signs) > 1
        if now - streak.last.at < MIN_GAP or not fresh:
            return streak
        sightings = streak.sightings if len(streak.sightings) >= runs_needed else (*streak.sightings, sighting)
        return replace(streak, sightings=sightings, runs=streak.runs + 1)
    if streak is not None and streak.runs >= runs_needed and not codes & WORKING[component]:
        return streak  # wedged until it is seen working
    return None


def _stalls(observation: Observation, component: Component, diagnosis) -> bool:
    if diagnosis.explanation_of(observation) is not None:
        return False
    if observation.code in CANARY_STALLS[component]:
        return observation.evidence.get("leader_renewed") is True
    if observation.code == _VENDED:
        return observation.evidence.get("attempts_counted") is True
    return observation.code in METRIC_STALLS[component]


def _holder(findings: list[Observation]) -> str | None:
    lease = next((o for o in findings if o.code == "LEADER_LEASE_FRESH"), None)
    holder = str(lease.evidence.get("holder") or "") if lease is not None else ""
    return holder if holder and holder != "(released)" else None


def _sign_text(observation: Observation) -> str:
    text = f"{observation.code}: {observation.message()}"
    return text if len(text) <= _SIGN_CHARS else text[:_SIGN_CHARS - 3] + "..."
