"""Alert state machine, per (cluster, component): pure, no I/O.

Called by the Lambda pipeline once per look (a run's check, and the quick re-probe that confirms
a new failure in the same invocation). Transitions are what gets published.

- ok -> alarm: the component looked bad on `confirm_looks` consecutive looks (a second look
  confirms a new failure before anyone is paged).
- alarm -> ok: `recovery_runs` consecutive good looks.
- alarm, still bad, `reminder_hours` since the last notification: a reminder.
- A look that could not judge the component (unknown) neither confirms nor recovers.
`checker` is a component too: it is bad when cpwatch cannot see the cluster at all. It alarms
after `checker_alarm_after_runs` bad looks (the pipeline gives it one look per run).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Mapping


CHECKER = "checker"


class Look(str, Enum):
    BAD = "bad"
    GOOD = "good"
    UNKNOWN = "unknown"


class TransitionKind(str, Enum):
    ALARM = "alarm"
    RECOVERY = "recovery"
    REMINDER = "reminder"


@dataclass(frozen=True)
class AlertPolicy:
    confirm_looks: int = 2
    recovery_runs: int = 3
    reminder_hours: float = 4.0
    checker_alarm_after_runs: int = 3

    def looks_to_alarm(self, component: str) -> int:
        return self.checker_alarm_after_runs if component == CHECKER else self.confirm_looks


@dataclass(frozen=True)
class ComponentState:
    alarm: bool = False
    since: datetime | None = None  # when the current state began
    bad_looks: int = 0  # consecutive
    good_looks: int = 0  # consecutive
    last_notified: datetime | None = None
    # The first of the consecutive bad looks: when the failure was first seen (kept through the
    # alarm; the alarm itself begins at the confirming look).
    first_bad: datetime | None = None


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
    since: datetime | None  # when the alarm began (for recovery and reminders: its duration)
    first_seen: datetime | None = None  # the first bad look of this failure


def step(state: ClusterState, looks: Mapping[str, Look], now: datetime,
         policy: AlertPolicy) -> tuple[ClusterState, list[Transition]]:
    """Apply one look at every component; the version is left to the store."""
    components = dict(state.components)
    transitions: list[Transition] = []
    for component, look in looks.items():
        new, transition = _step_component(state.of(component), component, look, now, policy)
        components[component] = new
        if transition:
            transitions.append(transition)
    return replace(state, components=components), transitions


def _step_component(current: ComponentState, component: str, look: Look, now: datetime,
                    policy: AlertPolicy) -> tuple[ComponentState, Transition | None]:
    if look is Look.UNKNOWN:
        return current, None
    if look is Look.BAD:
        bad = current.bad_looks + 1
        if current.alarm:
            first_bad = current.first_bad or current.since
        else:
            first_bad = current.first_bad if current.bad_looks and current.first_bad else now
            if bad >= policy.looks_to_alarm(component):
                return (ComponentState(alarm=True, since=now, bad_looks=bad, last_notified=now, first_bad=first_bad),
                        Transition(component, TransitionKind.ALARM, now, now, first_bad))
            return replace(current, bad_looks=bad, good_looks=0, first_bad=first_bad), None
        if current.last_notified is None or now - current.last_notified >= timedelta(hours=policy.reminder_hours):
            return (replace(current, bad_looks=bad, good_looks=0, last_notified=now, first_bad=first_bad),
                    Transition(component, TransitionKind.REMINDER, now, current.since, first_bad))
        return replace(current, bad_looks=bad, good_looks=0, first_bad=first_bad), None
    good = current.good_looks + 1
    if current.alarm and good >= policy.recovery_runs:
        return (ComponentState(alarm=False, since=now, good_looks=good, last_notified=now),
                Transition(component, TransitionKind.RECOVERY, now, current.since,
                           current.first_bad or current.since))
    return replace(current, good_looks=good, bad_looks=0, first_bad=current.first_bad if current.alarm else None), None
