"""Every branch of the alert state machine with its whole resulting state and transition
(issue 12: mutation testing found that only some fields were asserted), critical and warning
(issue 17)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.telling.alerting import (
    AlertPolicy,
    ClusterState,
    ComponentState,
    Look,
    Notices,
    Severity,
    Transition,
    TransitionKind,
    step,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=1)
FIRST = NOW - timedelta(minutes=1)  # the first bad look of a failure
POLICY = AlertPolicy(confirm_looks=2, recovery_runs=3, reminder_hours=4.0, warning_after_minutes=10,
                     warning_reminder_hours=24)
K = "controller-manager"
ALARM, RECOVERY, REMINDER = TransitionKind.ALARM, TransitionKind.RECOVERY, TransitionKind.REMINDER
WARNING, ESCALATION, DEESCALATION = TransitionKind.WARNING, TransitionKind.ESCALATION, TransitionKind.DEESCALATION
W = Severity.WARNING
CERT = "APISERVER_CERT_EXPIRING"
NOTICE = Notices(frozenset({CERT}), frozenset({CERT}))
LOOKED_CLEAR = Notices(frozenset(), frozenset({CERT}))

CASES = [
    # --- critical (unchanged rules; the new fields follow) -----------------------------------
    ("unknown changes nothing", ComponentState(alarm=True, since=T0, bad_looks=3, good_looks=1, last_notified=T0),
     Look.UNKNOWN, None, ComponentState(alarm=True, since=T0, bad_looks=3, good_looks=1, last_notified=T0), None),
    ("first bad look counts, good streak ends", ComponentState(since=T0, good_looks=5, clear_looks=5),
     Look.BAD, None, ComponentState(since=T0, bad_looks=1, first_bad=NOW, first_impaired=NOW), None),
    ("second bad look alarms, first seen at the first", ComponentState(since=T0, bad_looks=1, last_notified=T0,
                                                                       first_bad=FIRST, first_impaired=FIRST),
     Look.BAD, None, ComponentState(alarm=True, since=NOW, bad_looks=2, last_notified=NOW, first_bad=FIRST,
                                    first_impaired=FIRST),
     Transition(K, ALARM, NOW, NOW, FIRST)),
    ("second bad look of a state written without first_bad: first seen now",
     ComponentState(since=T0, bad_looks=1, last_notified=T0),
     Look.BAD, None, ComponentState(alarm=True, since=NOW, bad_looks=2, last_notified=NOW, first_bad=NOW,
                                    first_impaired=NOW),
     Transition(K, ALARM, NOW, NOW, NOW)),
    ("in alarm, reminder due", ComponentState(alarm=True, since=T0, bad_looks=2, good_looks=1,
                                              last_notified=NOW - timedelta(hours=4), first_bad=FIRST),
     Look.BAD, None, ComponentState(alarm=True, since=T0, bad_looks=3, last_notified=NOW, first_bad=FIRST,
                                    first_impaired=FIRST),
     Transition(K, REMINDER, NOW, T0, FIRST)),
    ("in alarm, never notified: reminder", ComponentState(alarm=True, since=T0, bad_looks=2),
     Look.BAD, None, ComponentState(alarm=True, since=T0, bad_looks=3, last_notified=NOW, first_bad=T0,
                                    first_impaired=T0),
     Transition(K, REMINDER, NOW, T0, T0)),
    ("in alarm, reminder not yet due", ComponentState(alarm=True, since=T0, bad_looks=2, good_looks=2,
                                                      last_notified=NOW - timedelta(hours=3, minutes=59)),
     Look.BAD, None, ComponentState(alarm=True, since=T0, bad_looks=3, last_notified=NOW - timedelta(hours=3, minutes=59),
                                    first_bad=T0, first_impaired=T0), None),
    ("in alarm, good looks count, bad streak ends, first seen kept",
     ComponentState(alarm=True, since=T0, bad_looks=4, good_looks=1, clear_looks=1, last_notified=T0, first_bad=FIRST),
     Look.GOOD, None, ComponentState(alarm=True, since=T0, good_looks=2, clear_looks=2, last_notified=T0,
                                     first_bad=FIRST), None),
    ("third good look recovers", ComponentState(alarm=True, since=T0, good_looks=2, clear_looks=2, last_notified=T0,
                                                first_bad=FIRST, first_impaired=FIRST),
     Look.GOOD, None, ComponentState(since=NOW, good_looks=3, clear_looks=3, last_notified=NOW),
     Transition(K, RECOVERY, NOW, T0, FIRST)),
    ("good while ok forgets the unconfirmed failure",
     ComponentState(since=T0, bad_looks=1, good_looks=7, clear_looks=7, first_bad=FIRST, first_impaired=FIRST),
     Look.GOOD, None, ComponentState(since=T0, good_looks=8, clear_looks=8), None),
    # --- warning ------------------------------------------------------------------------------
    ("degraded while ok: counted, no warning before it lasts", ComponentState(since=T0, good_looks=4, clear_looks=4),
     Look.DEGRADED, None, ComponentState(since=T0, good_looks=5, first_impaired=NOW), None),
    ("degraded for 9 min 59 s: still no warning",
     ComponentState(since=T0, good_looks=9, first_impaired=NOW - timedelta(minutes=9, seconds=59)),
     Look.DEGRADED, None, ComponentState(since=T0, good_looks=10, first_impaired=NOW - timedelta(minutes=9, seconds=59)),
     None),
    ("degraded for 10 minutes: a warning, first seen at the first degraded look",
     ComponentState(since=T0, good_looks=10, first_impaired=NOW - timedelta(minutes=10)),
     Look.DEGRADED, None, ComponentState(since=NOW, good_looks=11, last_notified=NOW, warning=True,
                                         first_impaired=NOW - timedelta(minutes=10)),
     Transition(K, WARNING, NOW, NOW, NOW - timedelta(minutes=10), W)),
    ("down but not confirmed for 10 minutes counts as impaired: a warning",
     ComponentState(since=T0, first_impaired=NOW - timedelta(minutes=12)),
     Look.BAD, None, ComponentState(since=NOW, bad_looks=1, last_notified=NOW, first_bad=NOW, warning=True,
                                    first_impaired=NOW - timedelta(minutes=12)),
     Transition(K, WARNING, NOW, NOW, NOW - timedelta(minutes=12), W)),
    ("an advance notice warns at once and holds", ComponentState(since=T0, good_looks=3, clear_looks=3),
     Look.DEGRADED, NOTICE, ComponentState(since=NOW, good_looks=4, last_notified=NOW, warning=True,
                                           first_impaired=NOW, notices=frozenset({CERT})),
     Transition(K, WARNING, NOW, NOW, NOW, W)),
    ("a notice on a healthy verdict warns too", ComponentState(since=T0, good_looks=3, clear_looks=3),
     Look.GOOD, NOTICE, ComponentState(since=NOW, good_looks=4, last_notified=NOW, warning=True,
                                       first_impaired=NOW, notices=frozenset({CERT})),
     Transition(K, WARNING, NOW, NOW, NOW, W)),
    ("a held notice is not cleared by a look whose source did not look",
     ComponentState(since=T0, warning=True, good_looks=2, last_notified=T0, first_impaired=T0,
                    notices=frozenset({CERT})),
     Look.GOOD, None, ComponentState(since=T0, warning=True, good_looks=3, last_notified=T0, first_impaired=T0,
                                     notices=frozenset({CERT})), None),
    ("its source looked without it: the notice ends, the good look counts",
     ComponentState(since=T0, warning=True, good_looks=2, last_notified=T0, first_impaired=T0,
                    notices=frozenset({CERT})),
     Look.GOOD, LOOKED_CLEAR, ComponentState(since=T0, warning=True, good_looks=3, clear_looks=1, last_notified=T0,
                                             first_impaired=T0), None),
    ("warning open, reminder after a day", ComponentState(since=T0, warning=True, last_notified=NOW - timedelta(hours=24),
                                                          first_impaired=T0),
     Look.DEGRADED, None, ComponentState(since=T0, warning=True, good_looks=1, last_notified=NOW, first_impaired=T0),
     Transition(K, REMINDER, NOW, T0, T0, W)),
    ("warning open, no reminder before a day",
     ComponentState(since=T0, warning=True, last_notified=NOW - timedelta(hours=23, minutes=59), first_impaired=T0),
     Look.DEGRADED, None, ComponentState(since=T0, warning=True, good_looks=1,
                                         last_notified=NOW - timedelta(hours=23, minutes=59), first_impaired=T0), None),
    ("warning clears after three good looks", ComponentState(since=T0, warning=True, good_looks=5, clear_looks=2,
                                                             last_notified=T0, first_impaired=FIRST),
     Look.GOOD, None, ComponentState(since=NOW, good_looks=6, clear_looks=3, last_notified=NOW),
     Transition(K, RECOVERY, NOW, T0, FIRST, W)),
    ("a degraded look during the warning's clearing restarts it",
     ComponentState(since=T0, warning=True, good_looks=5, clear_looks=2, last_notified=NOW, first_impaired=FIRST),
     Look.DEGRADED, None, ComponentState(since=T0, warning=True, good_looks=6, last_notified=NOW,
                                         first_impaired=FIRST), None),
    # --- one incident: escalation and de-escalation -------------------------------------------
    ("warning open, down confirmed: one escalation, since the warning began",
     ComponentState(since=T0, warning=True, bad_looks=1, last_notified=T0, first_bad=FIRST, first_impaired=T0),
     Look.BAD, None, ComponentState(alarm=True, since=NOW, bad_looks=2, last_notified=NOW, first_bad=FIRST,
                                    first_impaired=T0),
     Transition(K, ESCALATION, NOW, T0, FIRST)),
    ("in alarm, third look not down but still degraded: the page ends, the warning stays",
     ComponentState(alarm=True, since=T0, good_looks=2, last_notified=T0, first_bad=FIRST, first_impaired=FIRST),
     Look.DEGRADED, None, ComponentState(since=NOW, warning=True, good_looks=3, last_notified=NOW,
                                         first_impaired=FIRST),
     Transition(K, DEESCALATION, NOW, T0, FIRST)),
    ("in alarm, good now after degraded looks: no message until three good ones",
     ComponentState(alarm=True, since=T0, good_looks=2, last_notified=T0, first_bad=FIRST),
     Look.GOOD, None, ComponentState(alarm=True, since=T0, good_looks=3, clear_looks=1, last_notified=T0,
                                     first_bad=FIRST), None),
]


@pytest.mark.parametrize(("name", "before", "look", "notices", "after", "transition"), CASES, ids=[c[0] for c in CASES])
def test_step_gives_the_whole_state_and_transition(name, before, look, notices, after, transition):
    state, transitions = step(ClusterState({K: before}, version=7), {K: look}, NOW, POLICY,
                              {K: notices} if notices else None)
    assert state.components[K] == after
    assert transitions == ([transition] if transition else [])
    assert state.version == 7


def test_components_not_looked_at_keep_their_state():
    other = ComponentState(alarm=True, since=T0, bad_looks=2, last_notified=T0)
    state, _ = step(ClusterState({"scheduler": other}), {K: Look.BAD}, NOW, POLICY)
    assert state.components == {"scheduler": other,
                                K: ComponentState(bad_looks=1, first_bad=NOW, first_impaired=NOW)}
    assert ClusterState().of(K) == ComponentState()


def test_checker_alarms_after_its_own_number_of_bad_looks():
    policy = AlertPolicy(confirm_looks=2, recovery_runs=3, reminder_hours=4.0, checker_alarm_after_runs=3)
    state, kinds = ClusterState(), []
    for minute in range(4):
        state, transitions = step(state, {"checker": Look.BAD, K: Look.BAD}, T0 + timedelta(minutes=minute), policy)
        kinds.append(sorted(f"{t.component}:{t.kind.value}" for t in transitions))
    assert kinds == [[], [f"{K}:alarm"], ["checker:alarm"], []]
    assert state.of("checker").first_bad == T0


def test_every_transition_carries_the_severity_of_what_it_is_about():
    """A pager taking only critical messages gets every page, its reminders and its end; the
    warning class (and the end of a warning) never reaches it."""
    minute = timedelta(minutes=1)
    looks = [Look.DEGRADED] * 11 + [Look.BAD, Look.BAD] + [Look.DEGRADED] * 3 + [Look.GOOD] * 3
    state, seen = ClusterState(), []
    for i, look in enumerate(looks):
        state, transitions = step(state, {K: look}, T0 + i * minute, POLICY)
        seen += [(i, t.kind, t.severity) for t in transitions]
    assert seen == [(10, WARNING, Severity.WARNING), (12, ESCALATION, Severity.CRITICAL),
                    (15, DEESCALATION, Severity.CRITICAL), (18, RECOVERY, Severity.WARNING)]
