"""The scheduled run waits for its clusters' checks once, not once per cluster (pipeline.py)."""

from __future__ import annotations

import threading
import time

from cpwatch.entry.invocation import Target
from cpwatch.entry.pipeline import ClusterOutcome, run_concurrently

BUDGET_S = 0.2
WAIT_S = 1.0  # the run's own end: budget plus what storing and publishing need, here shortened


def test_hung_checks_share_one_wait_and_are_reported():
    release = threading.Event()

    def check(target, deadline):
        if target.cluster != "ok":
            release.wait()  # a check that ignores its deadline (a bug): only the wait bounds it
        return ClusterOutcome(target.cluster, "healthy")

    targets = tuple(Target(name, "eu-west-1") for name in ("hung-a", "ok", "hung-b", "hung-c"))
    started = time.monotonic()
    try:
        outcomes = run_concurrently(targets, check, BUDGET_S, WAIT_S)
    finally:
        release.set()
    elapsed = time.monotonic() - started
    # Joined one after the other with the whole wait each, three hung checks would take 3 x WAIT_S.
    assert elapsed < 2 * WAIT_S
    assert [(o.cluster, o.overall) for o in outcomes] == [
        ("hung-a", "error"), ("ok", "healthy"), ("hung-b", "error"), ("hung-c", "error")]
    assert outcomes[0].notes == ("did not finish in time",)


def test_a_check_that_raises_is_an_error_of_its_cluster_only():
    def check(target, deadline):
        if target.cluster == "bad":
            raise RuntimeError("bug")
        assert 0 < deadline.remaining() <= BUDGET_S
        return ClusterOutcome(target.cluster, "healthy")

    outcomes = run_concurrently((Target("bad", "eu-west-1"), Target("good", "eu-west-1")), check, BUDGET_S, WAIT_S)
    assert [(o.cluster, o.overall, o.notes) for o in outcomes] == [
        ("bad", "error", ("internal error; see the log",)), ("good", "healthy", ())]
