"""Alert state machine, per (cluster, subject): pure, no I/O.

Called by the Lambda pipeline once per look (a run's check, and the quick re-probe that confirms
a new failure in the same invocation), with what urgency.looks_of makes of the look's diagnosis.
Transitions are what gets published. A subject is a control-plane component, `extensions` (what
is plugged in between them) or `checker` (cpwatch's own ability to see the cluster).

Two urgencies, one open alert per subject:
- critical: the subject looked down (BAD) on `confirm_looks` consecutive looks (`checker`: blind
  on `checker_alarm_after_runs` runs): ALARM, or ESCALATION when a warning was open (one
  incident: the warning becomes the page). It ends after `recovery_runs` consecutive looks that
  are not down: RECOVERY when they were all good, DE-ESCALATION when the subject is still
  impaired (the page ends, the warning stays open).
- warning: the subject looked impaired (degraded, or down but not confirmed) on consecutive looks
  for `warning_after_minutes`, or an advance notice was seen (at once): WARNING. It ends with
  RECOVERY after `recovery_runs` consecutive good looks. A notice holds the warning until the
  source that reported it looks again without it (a notice read every 15 minutes or 2 hours is
  not gone from a run that did not read it).
- while either is open, a REMINDER every `reminder_hours` (critical) or `warning_reminder_hours`
  (warning) since the last notification.
A look that could not judge the subject (UNKNOWN) changes nothing. Each transition carries its
severity: critical for ALARM, ESCALATION, the DE-ESCALATION and RECOVERY that end a page, and
reminders of a page; warning for the rest, so a pager that takes only critical messages gets
every page and its end, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Mapping


CHECKER = "checker"


class Look(str, Enum):
    BAD = "bad"  # down
    DEGRADED = "degraded"  # impaired: degraded, or failing between the components
    GOOD = "good"
    UNKNOWN = "unknown"


class Severity(str, Enum):
    CRITICAL = "critical"
    WARNING = "warning"


class TransitionKind(str, Enum):
    ALARM = "alarm"  # critical, from nothing open
    ESCALATION = "escalation"  # critical, from an open warning
    WARNING = "warning"  # a warning opens
    REMINDER = "reminder"
    DEESCALATION = "de-escalation"  # a page ends, the warning stays
    RECOVERY = "recovery"  # everything about the subject ends


@dataclass(frozen=True)
class Notices:
    """The advance notices of one look at a subject: the codes it reported, and the codes whose
    source looked in it (reported or not); a held notice ends only when its source looked."""

    seen: frozenset[str] = frozenset()
    looked_for: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AlertPolicy:
    confirm_looks: int = 2
    recovery_runs: int = 3
    reminder_hours: float = 4.0
    checker_alarm_after_runs: int = 3
    warning_after_minutes: float = 10.0
    warning_reminder_hours: float = 24.0

    def looks_to_alarm(self, component: str) -> int:
        return self.checker_alarm_after_runs if component == CHECKER else self.confirm_looks


@dataclass(frozen=True)
class ComponentState:
    alarm: bool = False  # a critical alert is open
    since: datetime | None = None  # when the current state began
    bad_looks: int = 0  # consecutive looks down
    good_looks: int = 0  # consecutive looks not down (a page ends after recovery_runs)
    last_notified: datetime | None = None
    # The first of the consecutive bad looks: when the failure was first seen (kept through the
    # alarm; the alarm itself begins at the confirming look).
    first_bad: datetime | None = None
    warning: bool = False  # a warning is open (and no critical)
    clear_looks: int = 0  # consecutive good looks (a warning ends after recovery_runs)
    first_impaired: datetime | None = None  # the first of the consecutive looks that were not good
    notices: frozenset[str] = frozenset()  # advance notices holding the warning open

    @property
    def level(self) -> str:
        return "critical" if self.alarm else "warning" if self.warning else "ok"


@dataclass(frozen=True)
class ClusterState:
    components: Mapping[str, ComponentState] = field(default_factory=dict)
    version: int = 0  # for the store's conditional write

    def of(self, component: str) -> ComponentState:
        return self.components.get(component, ComponentState())


@dataclass(frozen=True)
class Transition:
    component: str
    kind: TransitionKind
    at: datetime
    since: datetime | None  # when what it is about began (for recovery and reminders: its duration)
    first_seen: datetime | None = None  # the first look of this failure (names the event)
    severity: Severity = Severity.CRITICAL


def step(state: ClusterState, looks: Mapping[str, Look], now: datetime, policy: AlertPolicy,
         notices: Mapping[str, Notices] | None = None) -> tuple[ClusterState, list[Transition]]:
    """Apply one look at every subject; the version is left to the store."""
    components = dict(state.components)
    transitions: list[Transition] = []
    for component, look in looks.items():
        seen = (notices or {}).get(component, Notices())
        new, transition = _step_component(state.of(component), component, look, seen, now, policy)
        components[component] = new
        if transition:
            transitions.append(transition)
    return replace(state, components=components), transitions


def _step_component(current: ComponentState, component: str, look: Look, notices: Notices, now: datetime,
                    policy: AlertPolicy) -> tuple[ComponentState, Transition | None]:
    if look is Look.UNKNOWN:
        return current, None
    held = (current.notices - notices.looked_for) | notices.seen
    if look is Look.BAD:
        return _down(replace(current, notices=held), component, now, policy)
    if look is Look.GOOD and not held:
        return _good(replace(current, notices=held), component, now, policy)
    return _impaired(replace(current, notices=held), component, now, policy, notice=bool(notices.seen))


def _down(current: ComponentState, component: str, now: datetime,
          policy: AlertPolicy) -> tuple[ComponentState, Transition | None]:
    bad = current.bad_looks + 1
    if current.alarm:
        first_bad = current.first_bad or current.since
    else:
        first_bad = current.first_bad if current.bad_looks and current.first_bad else now
    looked = replace(current, bad_looks=bad, good_looks=0, clear_looks=0, first_bad=first_bad,
                     first_impaired=current.first_impaired or first_bad)
    if current.alarm:
        if _due(current.last_notified, now, policy.reminder_hours):
            return (replace(looked, last_notified=now),
                    Transition(component, TransitionKind.REMINDER, now, current.since, first_bad))
        return looked, None
    if bad >= policy.looks_to_alarm(component):
        kind = TransitionKind.ESCALATION if current.warning else TransitionKind.ALARM
        # An escalation's `since` is when its warning began: one incident, told as one.
        return (replace(looked, alarm=True, warning=False, since=now, last_notified=now),
                Transition(component, kind, now, current.since if current.warning else now, first_bad))
    return _warn(looked, component, now, policy, notice=False)


def _impaired(current: ComponentState, component: str, now: datetime, policy: AlertPolicy,
              notice: bool) -> tuple[ComponentState, Transition | None]:
    """Degraded, or held by a notice: not down, not good."""
    looked = replace(current, bad_looks=0, good_looks=current.good_looks + 1, clear_looks=0,
                     first_bad=current.first_bad if current.alarm else None,
                     first_impaired=current.first_impaired or now)
    if current.alarm:
        if looked.good_looks >= policy.recovery_runs:
            return (replace(looked, alarm=False, warning=True, since=now, last_notified=now, first_bad=None),
                    Transition(component, TransitionKind.DEESCALATION, now, current.since,
                               current.first_bad or current.since))
        return looked, None
    return _warn(looked, component, now, policy, notice)


def _warn(looked: ComponentState, component: str, now: datetime, policy: AlertPolicy,
          notice: bool) -> tuple[ComponentState, Transition | None]:
    """Not in alarm and not good: the warning opens once it lasted (or at once for a notice),
    and is reminded about while open."""
    first = looked.first_impaired or now
    if looked.warning:
        if _due(looked.last_notified, now, policy.warning_reminder_hours):
            return (replace(looked, last_notified=now),
                    Transition(component, TransitionKind.REMINDER, now, looked.since, first, Severity.WARNING))
        return looked, None
    if notice or looked.notices or now - first >= timedelta(minutes=policy.warning_after_minutes):
        return (replace(looked, warning=True, since=now, last_notified=now),
                Transition(component, TransitionKind.WARNING, now, now, first, Severity.WARNING))
    return looked, None


def _good(current: ComponentState, component: str, now: datetime,
          policy: AlertPolicy) -> tuple[ComponentState, Transition | None]:
    good, clear = current.good_looks + 1, current.clear_looks + 1
    looked = replace(current, bad_looks=0, good_looks=good, clear_looks=clear)
    if current.alarm or current.warning:
        if good >= policy.recovery_runs and clear >= policy.recovery_runs:
            severity = Severity.CRITICAL if current.alarm else Severity.WARNING
            first = (current.first_bad or current.since) if current.alarm else current.first_impaired
            return (ComponentState(since=now, good_looks=good, clear_looks=clear, last_notified=now),
                    Transition(component, TransitionKind.RECOVERY, now, current.since, first or current.since,
                               severity))
        return looked, None
    return replace(looked, first_bad=None, first_impaired=None), None


def _due(last: datetime | None, now: datetime, hours: float) -> bool:
    return last is None or now - last >= timedelta(hours=hours)
