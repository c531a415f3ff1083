from datetime import datetime, timedelta, timezone

from cpwatch.telling.alerting import AlertPolicy, ClusterState, Look, TransitionKind, step

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
POLICY = AlertPolicy(confirm_looks=2, recovery_runs=3, reminder_hours=4)
B, G, U = Look.BAD, Look.GOOD, Look.UNKNOWN


def run(looks, minutes_apart=1, state=None):
    state = state or ClusterState()
    kinds = []
    for i, look in enumerate(looks):
        state, transitions = step(state, {"scheduler": look}, T0 + timedelta(minutes=i * minutes_apart), POLICY)
        kinds.append([t.kind for t in transitions])
    return state, kinds


def test_one_bad_look_does_not_alarm():
    state, kinds = run([B])
    assert kinds == [[]] and not state.of("scheduler").alarm


def test_second_look_confirms_and_alarms_once():
    state, kinds = run([B, B, B])
    assert kinds == [[], [TransitionKind.ALARM], []]
    assert state.of("scheduler").alarm


def test_a_good_look_between_resets_confirmation():
    _, kinds = run([B, G, B])
    assert kinds == [[], [], []]


def test_recovery_needs_n_good_runs():
    _, kinds = run([B, B, G, G, G, G])
    assert kinds == [[], [TransitionKind.ALARM], [], [], [TransitionKind.RECOVERY], []]


def test_bad_look_during_recovery_restarts_the_count():
    _, kinds = run([B, B, G, G, B, G, G, G])
    assert kinds[-1] == [TransitionKind.RECOVERY] and kinds[-2] == []


def test_unknown_neither_confirms_nor_recovers():
    _, kinds = run([B, U, B])
    assert kinds == [[], [], [TransitionKind.ALARM]]
    _, kinds = run([B, B, G, U, G, U, G])
    assert kinds[-1] == [TransitionKind.RECOVERY]


def test_reminders_repeat_every_r_hours_while_in_alarm():
    _, kinds = run([B] * 10, minutes_apart=60)
    reminders = [i for i, k in enumerate(kinds) if k == [TransitionKind.REMINDER]]
    assert kinds[1] == [TransitionKind.ALARM]
    assert reminders == [5, 9]


def test_recovery_reports_when_the_alarm_began():
    state, _ = run([B, B])
    state, transitions = step(state, {"scheduler": G}, T0 + timedelta(minutes=10), AlertPolicy(recovery_runs=1))
    assert transitions[0].since == T0 + timedelta(minutes=1)


def test_components_are_independent():
    state = ClusterState()
    for _ in range(2):
        state, transitions = step(state, {"scheduler": B, "etcd": G}, T0, POLICY)
    assert [t.component for t in transitions] == ["scheduler"]
    assert not state.of("etcd").alarm
