"""Every branch of the alert state machine with its whole resulting state and transition
(issue 12: mutation testing found that only some fields were asserted)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.alerting import (
    AlertPolicy,
    ClusterState,
    ComponentState,
    Look,
    Transition,
    TransitionKind,
    step,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=1)
FIRST = NOW - timedelta(minutes=1)  # the first bad look of a failure
POLICY = AlertPolicy(confirm_looks=2, recovery_runs=3, reminder_hours=4.0)
K = "controller-manager"
ALARM, RECOVERY, REMINDER = TransitionKind.ALARM, TransitionKind.RECOVERY, TransitionKind.REMINDER

CASES = [
    ("unknown changes nothing", ComponentState(alarm=True, since=T0, bad_looks=3, good_looks=1, last_notified=T0),
     Look.UNKNOWN, ComponentState(alarm=True, since=T0, bad_looks=3, good_looks=1, last_notified=T0), None),
    ("first bad look counts, good streak ends", ComponentState(since=T0, good_looks=5),
     Look.BAD, ComponentState(since=T0, bad_looks=1, good_looks=0, first_bad=NOW), None),
    ("second bad look alarms, first seen at the first", ComponentState(since=T0, bad_looks=1, last_notified=T0,
                                                                       first_bad=FIRST),
     Look.BAD, ComponentState(alarm=True, since=NOW, bad_looks=2, good_looks=0, last_notified=NOW, first_bad=FIRST),
     Transition(K, ALARM, NOW, NOW, FIRST)),
    ("second bad look of a state written without first_bad: first seen now",
     ComponentState(since=T0, bad_looks=1, last_notified=T0),
     Look.BAD, ComponentState(alarm=True, since=NOW, bad_looks=2, good_looks=0, last_notified=NOW, first_bad=NOW),
     Transition(K, ALARM, NOW, NOW, NOW)),
    ("in alarm, reminder due", ComponentState(alarm=True, since=T0, bad_looks=2, good_looks=1,
                                              last_notified=NOW - timedelta(hours=4), first_bad=FIRST),
     Look.BAD, ComponentState(alarm=True, since=T0, bad_looks=3, good_looks=0, last_notified=NOW, first_bad=FIRST),
     Transition(K, REMINDER, NOW, T0, FIRST)),
    ("in alarm, never notified: reminder", ComponentState(alarm=True, since=T0, bad_looks=2),
     Look.BAD, ComponentState(alarm=True, since=T0, bad_looks=3, good_looks=0, last_notified=NOW, first_bad=T0),
     Transition(K, REMINDER, NOW, T0, T0)),
    ("in alarm, reminder not yet due", ComponentState(alarm=True, since=T0, bad_looks=2, good_looks=2,
                                                      last_notified=NOW - timedelta(hours=3, minutes=59)),
     Look.BAD, ComponentState(alarm=True, since=T0, bad_looks=3, good_looks=0,
                              last_notified=NOW - timedelta(hours=3, minutes=59), first_bad=T0), None),
    ("in alarm, good looks count, bad streak ends, first seen kept",
     ComponentState(alarm=True, since=T0, bad_looks=4, good_looks=1, last_notified=T0, first_bad=FIRST),
     Look.GOOD, ComponentState(alarm=True, since=T0, bad_looks=0, good_looks=2, last_notified=T0, first_bad=FIRST),
     None),
    ("third good look recovers", ComponentState(alarm=True, since=T0, bad_looks=0, good_looks=2, last_notified=T0,
                                                first_bad=FIRST),
     Look.GOOD, ComponentState(alarm=False, since=NOW, bad_looks=0, good_looks=3, last_notified=NOW),
     Transition(K, RECOVERY, NOW, T0, FIRST)),
    ("good while ok forgets the unconfirmed failure", ComponentState(since=T0, bad_looks=1, good_looks=7, first_bad=FIRST),
     Look.GOOD, ComponentState(since=T0, bad_looks=0, good_looks=8), None),
]


@pytest.mark.parametrize(("name", "before", "look", "after", "transition"), CASES, ids=[c[0] for c in CASES])
def test_step_gives_the_whole_state_and_transition(name, before, look, after, transition):
    state, transitions = step(ClusterState({K: before}, version=7), {K: look}, NOW, POLICY)
    assert state.components[K] == after
    assert transitions == ([transition] if transition else [])
    assert state.version == 7


def test_components_not_looked_at_keep_their_state():
    other = ComponentState(alarm=True, since=T0, bad_looks=2, last_notified=T0)
    state, _ = step(ClusterState({"scheduler": other}), {K: Look.BAD}, NOW, POLICY)
    assert state.components == {"scheduler": other, K: ComponentState(bad_looks=1, first_bad=NOW)}
    assert ClusterState().of(K) == ComponentState()


def test_checker_alarms_after_its_own_number_of_bad_looks():
    policy = AlertPolicy(confirm_looks=2, recovery_runs=3, reminder_hours=4.0, checker_alarm_after_runs=3)
    state, kinds = ClusterState(), []
    for minute in range(4):
        state, transitions = step(state, {"checker": Look.BAD, K: Look.BAD}, T0 + timedelta(minutes=minute), policy)
        kinds.append(sorted(f"{t.component}:{t.kind.value}" for t in transitions))
    assert kinds == [[], [f"{K}:alarm"], ["checker:alarm"], []]
    assert state.of("checker").first_bad == T0
