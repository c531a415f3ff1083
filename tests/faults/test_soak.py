"""The false-alarm budget, short: 40 consecutive runs of the real handler against a healthy fake
control plane with latency jitter, clock skew of up to 30 s either way and four leader failovers
raise no alarm and no warning and send no notification. `make soak` runs the same loop 1,000 times
(bench/soak.py)."""

from __future__ import annotations

import random

import pytest

from bench.soak import DEFAULT_SETTINGS_ENV, soak
from tests.aws.deployment import deploy

pytestmark = pytest.mark.network


def test_forty_healthy_runs_raise_no_alarm(aws_env, monkeypatch):
    # The deployment's settings, but canaries polled every 0.1 s instead of 0.5 s: a healthy
    # controller answers within one poll either way, and the suite stays short.
    with deploy(aws_env, monkeypatch, env={**DEFAULT_SETTINGS_ENV, "CPWATCH_CANARY_POLL_S": "0.1"}) as d:
        d.fc.advance(15)
        result = soak(d, 40, random.Random(20261127), slow_share=0.1, max_delay_s=0.5, failover_every=10)
        assert len(d.run_items()) == 40
    print(result.summary())
    assert result.passed, result.details()
    assert result.notifications == 0 and result.alarms == 0 and result.warnings == 0
    assert result.failovers == 4 and result.slow_runs >= 3
    assert max(result.skews) > 15 and min(result.skews) < -15
