"""False-alarm budget: N consecutive runs of the real pipeline against a healthy fake control plane
that is slow at times, whose clock is off, and whose leaders fail over, must raise no alarm.

    python -m bench.soak [--runs 1000] [--seed 7]        (`make soak`)

Each run is one invocation of the real Lambda handler (cpwatch.entry.handler.lambda_handler) with the
deployment's default settings, on moto (DynamoDB, SNS -> SQS inbox, EKS) and a FakeCluster that
accepts only valid EKS tokens. Before each run:

- latency jitter: with probability `slow_share` (0.1) every answer of the apiserver is held back a
  random 0.05 s to `max_delay_s` (0.9 s: under the 5 s request timeout and under the 1,000 ms
  median that counts as slow); otherwise it answers at once;
- clock skew: the fake control plane's clock (which stamps every Lease renewal, heartbeat and
  `Date` header) is set to the checker's clock plus a skew drawn from -30 s to +30 s, and the
  simulated kubelets and leaders act at that time before the run looks;
- leader failover, every `failover_every` runs (20), alternating kube-scheduler and
  kube-controller-manager: the leader crashes (its Lease is not released), the fake's clock moves
  on by up to 17 s (lease duration 15 s + retry period 2 s, client-go's defaults: the longest a
  standby waits before taking over), and the new leader, with a new identity, takes the Lease
  while the run is looking (0.2 to 1 s into it).

The fake's clock runs with real time between runs: the judgments depend only on ages measured on
the apiserver's clock, so back-to-back runs judge exactly what runs a minute apart would. A run
that looks during a failover gap may say `degraded` (componentstatuses reports the stopped
process, supporting evidence only); degraded never alarms, and the details line counts them.

Passes (exit 0) when no run published a notification of either urgency (critical or warning) or
made any alert transition, and no subject is in alarm or warned afterwards. The last line is the
summary, e.g. `soak: 1000 runs, 0 alarms, 0 warnings, 0 notifications, p50 0.12 s, p95 2.10 s`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

# The deployment's defaults (template.yaml): the soak judges them, not the test suite's short waits.
DEFAULT_SETTINGS_ENV = {
    "CPWATCH_CANARY_WAIT_S": "10", "CPWATCH_CANARY_POLL_S": "0.5", "CPWATCH_REQUEST_TIMEOUT_S": "5",
    "CPWATCH_WRITE_TIMEOUT_S": "5", "CPWATCH_RUN_TIMEOUT_S": "30", "CPWATCH_RECOVERY_RUNS": "3",
}
FAILOVER_GAP_MAX_S = 17.0  # leaseDuration 15 s + retryPeriod 2 s
SKEW_MAX_S = 30.0
LAMBDA_TIME_S = 50.0  # template.yaml: Timeout 50


@dataclass
class SoakResult:
    runs: int = 0
    notifications: int = 0
    alarms: int = 0  # components in alarm at the end
    warnings: int = 0  # warning transitions (a warning opened), and subjects warned at the end
    transitions: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    overall: dict[str, int] = field(default_factory=dict)
    failovers: int = 0
    slow_runs: int = 0
    max_delay_s: float = 0.0
    skews: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # runs that did not report "ok"

    @property
    def passed(self) -> bool:
        return (not self.notifications and not self.alarms and not self.warnings and not self.transitions
                and not self.problems)

    def summary(self) -> str:
        p50 = statistics.median(self.seconds) if self.seconds else 0.0
        p95 = percentile(self.seconds, 95)
        return (f"soak: {self.runs} runs, {self.alarms} alarms, {self.warnings} warnings, {self.notifications} "
                f"notifications, p50 {p50:.2f} s, p95 {p95:.2f} s")

    def details(self) -> str:
        overall = ", ".join(f"{verdict} {count}" for verdict, count in sorted(self.overall.items()))
        skew = f"{min(self.skews):+.0f}..{max(self.skews):+.0f} s" if self.skews else "none"
        return (f"  verdicts: {overall}; failovers {self.failovers}; slow runs {self.slow_runs} "
                f"(answers held up to {self.max_delay_s:.2f} s); clock skew {skew}; max run "
                f"{max(self.seconds, default=0):.2f} s; transitions {self.transitions or 'none'}")


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def soak(d, runs: int, rng: random.Random, *, slow_share: float = 0.1, max_delay_s: float = 0.9,
         failover_every: int = 20, progress=None) -> SoakResult:
    """Run the soak on a started deployment (tests/aws/deployment.py's Deployment)."""
    fc = d.fc
    result = SoakResult()
    leaders = ("scheduler", "controller-manager")
    for index in range(runs):
        skew = rng.uniform(-SKEW_MAX_S, SKEW_MAX_S)
        fc.clock.set(datetime.now(timezone.utc) + timedelta(seconds=skew))
        fc.simulation.tick()  # the kubelets and leaders live on the apiserver's clock
        if rng.random() < slow_share:
            delay = rng.uniform(0.05, max_delay_s)
            fc.set_apiserver("slow", delay)
            result.slow_runs += 1
            result.max_delay_s = max(result.max_delay_s, delay)
        elif fc.apiserver_mode != "up":
            fc.set_apiserver("up")
        takeover = None
        if failover_every and index % failover_every == failover_every - 1:
            leader = leaders[(index // failover_every) % 2]
            fc.stop_component(leader)  # a crash: the Lease is not released
            gap = rng.uniform(0, FAILOVER_GAP_MAX_S)
            fc.advance(gap)
            skew += gap
            takeover = threading.Timer(rng.uniform(0.2, 1.0), fc.start_component, args=(leader,))
            takeover.start()
            result.failovers += 1
        result.skews.append(skew)

        outcome = d.invoke(remaining_s=LAMBDA_TIME_S)
        if takeover is not None:
            takeover.join()
        result.runs += 1
        result.seconds.append(d.durations[-1])
        for cluster in outcome.get("clusters", []):
            result.overall[cluster["overall"]] = result.overall.get(cluster["overall"], 0) + 1
            result.transitions += [f"run {index}: {t}" for t in cluster["transitions"]]
            result.warnings += sum(1 for t in cluster["transitions"] if t.endswith(":warning"))
            result.notifications += cluster["published"]
        if outcome.get("status") != "ok":
            result.problems.append(f"run {index}: {outcome}")
        if progress and (index + 1) % 100 == 0:
            progress(f"  {index + 1} runs, {result.notifications} notifications so far")
    result.notifications = max(result.notifications, len(d.messages()))
    result.alarms = len(d.alarms())
    result.warnings += sum(1 for c in d.state().get("components", {}).values() if c.get("warning"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--slow-share", type=float, default=0.1)
    parser.add_argument("--failover-every", type=int, default=20)
    args = parser.parse_args(argv)

    import pytest

    from tests.aws.deployment import deploy
    from tests.aws.moto_server import aws_clients, fake_aws_environment, reset_moto, start_moto_server

    logging.disable(logging.INFO)  # one line per run otherwise; errors still show
    server, endpoint = start_moto_server()
    env = pytest.MonkeyPatch()
    started = time.monotonic()
    try:
        fake_aws_environment(env, endpoint)
        reset_moto(endpoint)
        # The EMF lines the handler prints (7 per run) are dropped; the summary says what matters.
        with deploy(aws_clients(endpoint), env, env=DEFAULT_SETTINGS_ENV) as d, \
                contextlib.redirect_stdout(io.StringIO()):
            d.fc.advance(15)
            result = soak(d, args.runs, random.Random(args.seed), slow_share=args.slow_share,
                          failover_every=args.failover_every, progress=lambda line: print(line, file=sys.stderr))
    finally:
        env.undo()
        server.stop()
    print(result.details(), file=sys.stderr)
    for problem in result.problems[:10]:
        print(f"  {problem}", file=sys.stderr)
    print(f"  wall time {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(result.summary())
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
