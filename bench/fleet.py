"""Fleet: 200 clusters, each checked once a minute by its own invocation, as template.yaml deploys it
(one EventBridge schedule per cluster; Lambda runs each invocation in an execution environment
of its own and is the distributed engine: cpwatch coordinates nothing).

Emulation: 50 worker processes are 50 warm execution environments (Lambda's concurrency, capped
here); each runs the real cpwatch.entry.handler.lambda_handler (EKS DescribeCluster and token on moto,
DynamoDB claim/state/run, SNS). The 200 fake control planes run 50 per server process. At the
start of each 60 s period all 200 invocations are submitted at once (the worst case: schedules
that all fire in the same second). Every environment made one unmeasured invocation before the
first period (warm, as from a deployed function's second minute on). Period 0 is healthy; before
period 1 one cluster's apiserver hangs (it accepts connections and never answers) and stays hung
in period 2. Checked: every cluster has exactly one run per period, finished within the period;
no cluster's run overlaps its next one; and the other clusters' run times with the hung cluster
present against period 0, without it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from .common import REPO, Figures, percentile

CLUSTERS = 200
WORKERS = 50
CLUSTERS_PER_SERVER = 50
PERIOD_S = 60.0
PERIODS = 3
HUNG = "fleet-000"


def _init_worker(names: list[str]) -> None:
    # A Lambda environment's stdout goes to CloudWatch Logs; here it would flood the table.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    # One unmeasured invocation makes the environment warm (imports, clients and their service
    # models, first TLS context): a deployed function's environments are warm from its second
    # minute on. Fifty cold starts at once on this machine's two cores would measure the
    # machine, not Lambda, where every environment has its own CPU share.
    _invoke(names[os.getpid() % len(names)], f"warm-up-{os.getpid()}")


def _invoke(cluster: str, execution_id: str) -> dict:
    from cpwatch.entry import handler

    from .aws import context, event

    started = time.time()
    outcome = handler.lambda_handler(event(cluster, execution_id), context())
    ended = time.time()
    result = outcome["clusters"][0]
    return {"cluster": cluster, "start": started, "end": ended, "seconds": ended - started,
            "overall": result["overall"], "transitions": result["transitions"], "notes": result.get("notes"),
            "pid": os.getpid()}


def run(figures: Figures, deployment, clusters: int = CLUSTERS, workers: int = WORKERS,
        periods: int = PERIODS) -> dict:
    names = [f"fleet-{i:03d}" for i in range(clusters)]
    servers = []
    try:
        for first in range(0, clusters, CLUSTERS_PER_SERVER):
            process = subprocess.Popen([sys.executable, "-m", "bench.fleet_servers"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, cwd=REPO)
            process.stdin.write(json.dumps({"names": names[first: first + CLUSTERS_PER_SERVER]}) + "\n")
            process.stdin.flush()
            servers.append(process)
        owner = {}
        for process in servers:
            endpoints = json.loads(process.stdout.readline())
            for name, endpoint in endpoints.items():
                _add_cluster(deployment, name, endpoint["url"], endpoint["ca_pem"])
                owner[name] = process
        print(f"  {clusters} fake control planes in {len(servers)} server processes; {workers} worker processes",
              flush=True)
        rng = random.Random(7)
        runs: list[dict] = []
        period_starts = []
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(names,)) as pool:
            # Start every environment before the clock starts (see _init_worker).
            list(pool.map(_noop, range(workers * 2)))
            origin = time.time() + 1
            for period in range(periods):
                start = origin + period * PERIOD_S
                if period == hung_from(periods):
                    _command(owner[HUNG], f"hung {HUNG}")
                time.sleep(max(0.0, start - time.time()))
                period_starts.append(time.time())
                order = list(names)
                rng.shuffle(order)
                futures = [pool.submit(_invoke, name, f"p{period}-{name}") for name in order]
                for future in futures:
                    runs.append({**future.result(), "period": period, "period_start": start})
                print(f"  period {period}: last run ended {max(r['end'] for r in runs if r['period'] == period) - start:.1f} s "
                      "after the period's start", flush=True)
        rss_kb = [int(_command(process, "rss")) for process in servers]
    finally:
        for process in servers:
            try:
                _command(process, "stop")
                process.wait(timeout=30)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                process.kill()
    return _report(figures, runs, names, periods, workers, len(servers), rss_kb)


def hung_from(periods: int) -> int:
    """The first period with the hung cluster (the one before it is the healthy baseline)."""
    return 1


def _noop(_: int) -> int:
    time.sleep(0.05)
    return os.getpid()


def _add_cluster(deployment, name: str, url: str, ca_pem: str) -> None:
    from tests.aws.moto_server import create_cluster, point_cluster_at

    from .aws import REGION

    create_cluster(deployment.clients, name, REGION)
    point_cluster_at(name, REGION, url, ca_pem)


def _command(process: subprocess.Popen, line: str) -> str:
    process.stdin.write(line + "\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def _report(figures: Figures, runs: list[dict], names: list[str], periods: int, workers: int, servers: int,
            rss_kb: list[int]) -> dict:
    by_cluster: dict[str, list[dict]] = {name: [] for name in names}
    for run in runs:
        by_cluster[run["cluster"]].append(run)
    completed = ("healthy", "degraded", "down", "unknown")
    missed_runs = [(name, period) for name in names for period in range(periods)
                   if sum(1 for r in by_cluster[name] if r["period"] == period and r["overall"] in completed) != 1]
    missed = len(missed_runs)
    odd = [f"{r['cluster']} period {r['period']}: {r['overall']} {r.get('notes')}" for r in runs
           if r["overall"] not in completed or (r["overall"] != "healthy" and r["cluster"] != HUNG)]
    late = [r for r in runs if r["end"] - r["period_start"] > PERIOD_S]
    overlaps = 0
    for name in names:
        ordered = sorted(by_cluster[name], key=lambda r: r["start"])
        overlaps += sum(1 for a, b in zip(ordered, ordered[1:]) if a["end"] > b["start"])
    figures.add(f"fleet: clusters checked per period ({workers} concurrent environments, {servers} server processes)",
                len(names), "clusters")
    figures.add("fleet: missed runs (a cluster without exactly one completed run in a period)", missed, "runs",
                target="0", met=missed == 0, unexpected_outcomes=odd[:20])
    for line in odd[:20]:
        print(f"  unexpected outcome: {line}", flush=True)
    figures.add("fleet: runs finishing after their period ended", len(late), "runs", target="0", met=not late)
    figures.add("fleet: overlapping runs of one cluster", overlaps, "runs", target="0", met=overlaps == 0)
    for period in range(periods):
        mine = [r for r in runs if r["period"] == period]
        figures.add(f"fleet period {period}: last run ended after period start", max(r["end"] - r["period_start"] for r in mine), "s",
                    target="<= 60 s", met=max(r["end"] - r["period_start"] for r in mine) <= PERIOD_S)
    others = {period: [r["seconds"] for r in runs if r["period"] == period and r["cluster"] != HUNG] for period in range(periods)}
    hung_runs = sorted((r for r in runs if r["cluster"] == HUNG), key=lambda r: r["period"])
    first_hung = hung_from(periods)
    baseline = first_hung - 1
    for period in range(periods):
        if period >= first_hung:
            label = "one hung"
        elif period == 0 and baseline > 0:
            label = "all healthy, each environment's first run of a cluster"
        else:
            label = "all healthy, baseline"
        figures.add(f"fleet period {period} ({label}): run time of the other clusters, p50", percentile(others[period], 50), "s")
        figures.add(f"fleet period {period} ({label}): run time of the other clusters, p95", percentile(others[period], 95), "s")
    if periods > first_hung:
        worst = max(range(first_hung, periods), key=lambda p: percentile(others[p], 95))
        figures.ratio(f"fleet: others' p95 with one hung cluster (worst period, {worst}) / without (period {baseline})",
                      percentile(others[worst], 95), percentile(others[baseline], 95), "with_hung_p95_s", "without_p95_s", "s")
    for run in hung_runs:
        figures.add(f"fleet period {run['period']}: the hung cluster's own run ({run['overall']}, {','.join(run['transitions']) or 'no transition'})",
                    run["seconds"], "s")
    figures.add("fleet: fake control-plane server process peak RSS (50 clusters each, largest)", max(rss_kb) / 1024, "MB")
    return {"runs": len(runs), "missed": missed, "late": len(late), "overlaps": overlaps}
