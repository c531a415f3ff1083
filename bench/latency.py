"""Detection latency: from fault injection to the SNS message, on a simulated 1-minute schedule.

Each trial has its own fake control plane (3 nodes, EKS token auth) and its own cluster name,
so trials are independent and several run at once (threads; they mostly wait). The real run
(pipeline.handle with the handler's own Dependencies: EKS DescribeCluster + token on moto,
DynamoDB state, SNS) is called at simulated times S0, S0+60, S0+120, ...; the benchmark drives
the fake's clock (fc.advance) between runs and gives the pipeline that clock. The fault starts
at a uniformly random point of the period after the healthy run at S0. A run's own wall time
passes on the simulated clock too (it runs with real time), so

    latency = simulated time at the end of the run that published the alarm - fault time
            = (run start - fault) + the run's own wall time (both of its looks).

Verified afterwards: the alarm arrived through SNS (SQS subscription) for every trial.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from .common import Figures, percentile

PERIOD_S = 60.0
TRIALS = 20
WORKERS = 16
MAX_RUNS = 6
# (fault name, component expected to alarm, how to inject, target p95 in s)
FAULTS = (
    ("apiserver down", "apiserver", lambda fc: fc.set_apiserver("down"), 90.0),
    ("apiserver hung", "apiserver", lambda fc: fc.set_apiserver("hung"), 90.0),
    ("etcd quorum lost", "etcd", lambda fc: fc.stop_etcd_members(2), 90.0),
    ("controller-manager down", "controller-manager", lambda fc: fc.stop_component("controller-manager"), 150.0),
    ("scheduler down", "scheduler", lambda fc: fc.stop_component("scheduler"), 150.0),
)


@dataclass
class Trial:
    fault: str
    component: str
    cluster: str
    offset_s: float = 0.0  # fault time after the period's start
    latency_s: float | None = None
    runs_after_fault: int = 0
    publishing_run_wall_s: float = 0.0
    error: str = ""


def run(figures: Figures, deployment, trials: int = TRIALS, workers: int = WORKERS, seed: int = 5) -> list[Trial]:
    from cpwatch.entry import handler

    from .aws import reset_handler

    reset_handler()
    settings, deployment_settings = handler.configuration()
    base_deps = handler.dependencies()
    rng = random.Random(seed)
    plan = []
    for name, component, inject, _ in FAULTS:
        slug = name.replace(" ", "-")
        for index in range(trials):
            plan.append((Trial(name, component, f"lat-{slug}-{index:02d}", offset_s=rng.uniform(0, PERIOD_S)), inject))
    rng.shuffle(plan)  # mix slow and fast trials across the workers
    quiet = logging.getLogger("cpwatch")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    lock = threading.Lock()
    emitted: list[str] = []
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(lambda item: _trial(item[0], item[1], deployment, base_deps, settings,
                                                     deployment_settings, emitted, lock), plan))
    finally:
        quiet.setLevel(level)
    print(f"  {len(done)} trials in {time.monotonic() - started:.0f} s", flush=True)
    delivered = _delivered_alarms(deployment)
    for name, component, _, target in FAULTS:
        mine = [t for t in done if t.fault == name]
        latencies = [t.latency_s for t in mine if t.latency_s is not None]
        missed = [t for t in mine if t.latency_s is None]
        via_sns = sum(1 for t in mine if (t.cluster, component) in delivered)
        if latencies:
            p95 = percentile(latencies, 95)
            figures.add(f"latency {name}: p50 ({len(latencies)} trials)", percentile(latencies, 50), "s")
            figures.add(f"latency {name}: p95", p95, "s", target=f"<= {target:g} s",
                        met=p95 <= target and not missed,
                        max_s=max(latencies), runs_after_fault=sorted({t.runs_after_fault for t in mine}),
                        alarms_received_via_sns=via_sns, trials=len(mine), not_detected=len(missed))
        for trial in missed:
            print(f"  NOT DETECTED: {trial}", flush=True)
    return done


def _trial(trial: Trial, inject, deployment, base_deps, settings, deployment_settings, emitted, lock) -> Trial:
    from cpwatch.entry.pipeline import handle
    from tests.fakecluster import FakeCluster

    from tests.aws.moto_server import eks_validator

    from .aws import FUNCTION_TIMEOUT_S, event

    fc = FakeCluster(nodes=3, token_validator=eks_validator(trial.cluster))
    try:
        fc.start()
        fc.advance(30)  # leaders elected and settled, kubelets reporting
        deployment.add_cluster(trial.cluster, fc)

        def collect(line: str) -> None:
            with lock:
                emitted.append(line)

        deps = replace(base_deps, clock=fc.clock.now, emit=collect)

        def invoke(number: int) -> tuple[dict, float]:
            began = time.perf_counter()
            outcome = handle(event(trial.cluster, f"{trial.cluster}-run-{number}"), int(FUNCTION_TIMEOUT_S * 1000),
                             deps, settings, deployment_settings)
            return outcome["clusters"][0], time.perf_counter() - began

        start = fc.clock.now()
        first, _ = invoke(0)
        if first["overall"] != "healthy" or first["transitions"]:
            trial.error = f"not healthy before the fault: {first}"
            return trial
        fault_at = start.timestamp() + trial.offset_s
        wait = fault_at - fc.clock.now().timestamp()
        if wait > 0:
            fc.advance(wait)
        fault_time = fc.clock.now()
        trial.offset_s = (fault_time - start).total_seconds()
        inject(fc)
        for number in range(1, MAX_RUNS + 1):
            due = start.timestamp() + number * PERIOD_S
            wait = due - fc.clock.now().timestamp()
            if wait > 0:
                fc.advance(wait)
            outcome, wall = invoke(number)
            trial.runs_after_fault = number
            if f"{trial.component}:alarm" in outcome["transitions"] and outcome["published"] >= 1:
                trial.latency_s = (fc.clock.now() - fault_time).total_seconds()
                trial.publishing_run_wall_s = wall
                return trial
        trial.error = "no alarm within the runs tried"
        return trial
    finally:
        fc.stop()


def _delivered_alarms(deployment) -> set[tuple[str, str]]:
    delivered = set()
    for message in deployment.messages():
        attributes = message.get("MessageAttributes") or {}
        cluster = (attributes.get("cluster") or {}).get("Value")
        component = (attributes.get("component") or {}).get("Value")
        if "ALARM" in (message.get("Subject") or "").upper():
            delivered.add((cluster, component))
    return delivered
