"""What every probe shares (probes/context.py), without a server (issue 12, mutation testing).

The run cache, ages on the apiserver's clock, wait_for's limits, bounded writes and the field
readers. The consistent read of one pod, which needs a server, is in
tests/integration/probes/test_context.py.
"""

from __future__ import annotations

import ssl
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.errors import NoAnswerError
from cpwatch.cluster.kubeapi import KubeApi
from cpwatch.probes.context import (
    ProbeContext, RunCache, bounded_write, condition, entries, examples, field, lease_path, ms, whole, whole_number)
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline


def offline_api(deadline_s: float = 60.0) -> KubeApi:
    """A client that is never asked anything: its clock and deadline are all these tests use."""
    return KubeApi("https://127.0.0.1:1", ssl.create_default_context(), lambda: None, 1.0, Deadline.after(deadline_s))


def context(settings: Settings = Settings(), deadline_s: float = 60.0) -> ProbeContext:
    return ProbeContext(offline_api(deadline_s), settings, run_id="a")


def test_the_run_cache_loads_each_key_once_for_every_asker():
    cache, calls, started = RunCache(), [], threading.Barrier(4)

    def load():
        calls.append(1)
        time.sleep(0.05)
        return {"loaded": len(calls)}

    def ask(results):
        started.wait()
        results.append(cache.get("webhooks", load))

    results: list = []
    threads = [threading.Thread(target=ask, args=(results,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and results == [{"loaded": 1}] * 4 and all(r is results[0] for r in results)
    assert cache.get("other", lambda: "second key") == "second key"


def test_the_run_cache_loads_different_keys_at_the_same_time():
    """Only askers of the same key wait for each other: a slow load of one answer does not hold
    up a probe that needs another."""
    cache, second_started = RunCache(), threading.Event()

    def first():
        return second_started.wait(timeout=2.0)

    def second():
        second_started.set()
        return True

    results: dict[str, bool] = {}
    loading_first = threading.Thread(target=lambda: results.update(first=cache.get("first", first)))
    loading_first.start()
    time.sleep(0.1)
    results["second"] = cache.get("second", second)
    loading_first.join()
    assert results == {"first": True, "second": True}


def test_the_run_cache_raises_the_kept_error_to_every_asker():
    cache, calls = RunCache(), []

    def load():
        calls.append(1)
        raise NoAnswerError("GET", "/x", "timeout", "read timed out")

    errors = []
    for _ in range(2):
        with pytest.raises(NoAnswerError) as raised:
            cache.get("x", load)
        errors.append(raised.value)
    assert calls == [1] and errors[0] is errors[1]


def test_age_is_measured_on_the_apiservers_clock():
    ctx = context()
    moment = datetime.now(timezone.utc) - timedelta(seconds=100)
    assert 99 <= ctx.age_s(moment.strftime("%Y-%m-%dT%H:%M:%SZ")) <= 102
    ctx.api._observe_date(datetime.now(timezone.utc) + timedelta(seconds=300), time.time())
    assert 399 <= ctx.age_s(moment.strftime("%Y-%m-%dT%H:%M:%SZ")) <= 402
    assert 299 <= (ctx.now() - datetime.now(timezone.utc)).total_seconds() <= 302


@pytest.mark.parametrize("timestamp", [None, "", "yesterday", 12])
def test_an_unparsable_timestamp_has_no_age(timestamp):
    assert context().age_s(timestamp) is None


def counting_check(answer_from_call: int | None = None, give_up_after_s: float = 3.0):
    """A check for wait_for: None until call `answer_from_call` (then "found" on every call);
    it fails the test when still asked `give_up_after_s` after the first call, so a wait_for
    that no longer stops ends the test instead of hanging it."""
    calls: list[float] = []

    def check():
        calls.append(time.monotonic())
        assert calls[-1] - calls[0] < give_up_after_s, "wait_for kept asking"
        return "found" if answer_from_call is not None and len(calls) >= answer_from_call else None
    return check, calls


class SteppingClock:
    """The clock of wait_for and of the run's deadline: it stands still except when wait_for
    sleeps, and then moves by exactly the time asked, so the asks and the seconds a wait_for
    takes follow from its rule alone, whatever the machine's load. The times used are exact
    binary fractions (0.0625, 0.125, ...), so no rounding decides a comparison."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def stepping_clock(monkeypatch) -> SteppingClock:
    from cpwatch import timeutil
    from cpwatch.probes import context as probe_context

    clock = SteppingClock()
    monkeypatch.setattr(probe_context, "time", clock)
    monkeypatch.setattr(timeutil, "time", clock)
    return clock


def test_wait_for_returns_the_first_result_and_the_time_it_took(stepping_clock):
    ctx = context(Settings(canary_wait_s=5.0, canary_poll_s=0.0625))
    check, calls = counting_check(answer_from_call=3)
    result, seconds = ctx.wait_for(check)
    assert result == "found" and len(calls) == 3
    assert seconds == 2 * 0.0625  # two polls between the three asks


def test_wait_for_gives_up_after_the_canary_wait(stepping_clock):
    ctx = context(Settings(canary_wait_s=0.5, canary_poll_s=0.125))
    check, calls = counting_check()
    result, seconds = ctx.wait_for(check)
    assert result is None
    # Asked at 0, 0.125, ..., 0.5: the next ask would be past the canary wait.
    assert seconds == 0.5 and len(calls) == 5


def test_wait_for_stops_a_second_before_the_runs_deadline(stepping_clock):
    ctx = context(Settings(canary_wait_s=5.0, canary_poll_s=0.125), deadline_s=1.75)
    check, calls = counting_check()
    result, seconds = ctx.wait_for(check)
    assert result is None
    # A second before the deadline is 0.75 s away: asked at 0, 0.125, ..., 0.75.
    assert seconds == 0.75 and len(calls) == 7


def test_wait_for_with_no_time_left_asks_once():
    ctx = context(Settings(canary_wait_s=5.0, canary_poll_s=0.1), deadline_s=0.5)
    check, calls = counting_check()
    assert ctx.wait_for(check)[0] is None and len(calls) == 1


def test_a_bounded_write_asks_the_apiserver_to_give_up_first():
    assert bounded_write(Settings(write_timeout_s=3.7)) == ({"timeout": "3s"}, 5.7)


def test_small_helpers():
    assert (ms(1.2346), ms(0.0004), ms(0.0016)) == (1235, 0, 2)
    assert (whole(None), whole(3.99), whole(-0.5)) == (None, 3, 0)
    names = [f"n{i}" for i in range(7)]
    assert examples(names[:5]) == "n0, n1, n2, n3, n4"
    assert examples(names) == "n0, n1, n2, n3, n4 and 2 more"
    assert examples(names, limit=2) == "n0, n1 and 5 more"
    assert examples([]) == ""
    assert lease_path("kube-node-lease") == "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    assert lease_path("kube-system", "kube-scheduler") == (
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler")


def test_fields_of_an_unexpected_type_read_as_absent():
    obj = {"metadata": {"labels": {"a": "b"}, "name": "x"}, "spec": [1], "status": "odd"}
    assert field(obj, "metadata", "labels") == {"a": "b"}
    assert field(obj, "metadata", "name") == {} and field(obj, "spec") == {} and field(obj, "missing", "x") == {}
    assert field(["not", "a", "dict"], "metadata") == {}
    assert field(obj) == obj
    assert entries([{"a": 1}, "x", None, {"b": 2}]) == [{"a": 1}, {"b": 2}]
    assert entries({"a": 1}) == [] and entries(None) == []
    assert (whole_number(3), whole_number(0), whole_number(True), whole_number(3.0), whole_number("3")) == (
        3, 0, None, None, None)


def test_a_condition_is_found_by_type():
    ready = {"type": "Ready", "status": "True"}
    pod = {"status": {"conditions": ["junk", {"type": "PodScheduled", "status": "True"}, ready]}}
    assert condition(pod, "Ready") is ready
    assert condition(pod, "Initialized") is None
    assert condition({"status": {"conditions": {"type": "Ready"}}}, "Ready") is None
    assert condition({}, "Ready") is None
