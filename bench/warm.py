"""Warm runs: the real Lambda handler, invoked again and again in one execution environment.

A child process (bench/lambda_child.py) is the execution environment: it imports
cpwatch.entry.handler and calls lambda_handler with the scheduler's event, against moto (EKS
DescribeCluster, DynamoDB, SNS) and a healthy fake control plane of 100 nodes and 3,000
realistic pods in this process. Figures: p50/p95 of the handler's wall time, with canaries (the
default) and read-only; and, for the cost model, log bytes per run (EMF documents and log lines
as the function writes them), DynamoDB calls and item sizes per run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import REPO, Figures, add_realistic_pods, percentile

WARM_RUNS = 30
NODES = 100
CLUSTER = "bench-warm"


def run(figures: Figures, deployment, runs: int = WARM_RUNS) -> dict:
    from tests.fakecluster import FakeCluster

    from tests.aws.moto_server import eks_validator
    from .lambda_child import MARKER

    with FakeCluster(nodes=NODES, token_validator=eks_validator(CLUSTER)) as fc:
        add_realistic_pods(fc, "apps", NODES * 30, node_names=list(fc.kubelets.nodes))
        fc.advance(2)
        deployment.add_cluster(CLUSTER, fc)
        invocations = [{"cluster": CLUSTER, "execution_id": "warm-up", "read_only": None}]
        invocations += [{"cluster": CLUSTER, "execution_id": f"canary-{i}", "read_only": None} for i in range(runs)]
        invocations += [{"cluster": CLUSTER, "execution_id": f"readonly-{i}", "read_only": True} for i in range(runs)]
        with tempfile.TemporaryDirectory() as scratch:
            job, result = Path(scratch) / "job.json", Path(scratch) / "result.json"
            job.write_text(json.dumps({"invocations": invocations}))
            completed = subprocess.run([sys.executable, "-m", "bench.lambda_child", str(job), str(result)],
                                       capture_output=True, cwd=REPO, timeout=900)
            if completed.returncode != 0:
                raise RuntimeError(f"lambda child failed: {completed.stderr.decode()[-3000:]}")
            data = json.loads(result.read_text())
    chunks = completed.stdout.decode().split(MARKER + "\n")
    log_bytes = [len(chunk.encode()) for chunk in chunks[: len(invocations)]]
    results = data["results"]
    for result in results:
        assert result["outcome"]["clusters"][0]["overall"] == "healthy", result["outcome"]
    canary = [r["seconds"] for r in results[1: runs + 1]]
    read_only = [r["seconds"] for r in results[runs + 1:]]
    figures.add(f"warm: handler run with canaries, p50 ({runs} runs, {NODES} nodes)", percentile(canary, 50), "s")
    figures.add("warm: handler run with canaries, p95", percentile(canary, 95), "s")
    figures.add(f"warm: handler run read-only, p50 ({runs} runs)", percentile(read_only, 50), "s")
    figures.add("warm: handler run read-only, p95", percentile(read_only, 95), "s")
    canary_cpu = [r["cpu_s"] for r in results[1: runs + 1]]
    figures.add("warm: handler CPU time per run with canaries, p50 (all threads)", percentile(canary_cpu, 50), "s")
    figures.add("warm: first invocation in a fresh environment (after import)", results[0]["seconds"], "s")
    steady = results[2: runs + 1]  # canary runs after the first (its calls were not hooked)
    emf_lines = [line for line in chunks[2].splitlines() if line.startswith('{"_aws"')]
    per_run_log = sorted(log_bytes[2: runs + 1])[len(steady) // 2]
    stderr_per_run = len(completed.stderr) / len(invocations)
    figures.add("cost input: log bytes written per healthy run (stdout)", per_run_log, "B")
    figures.add("cost input: EMF bytes per healthy run", sum(len(l.encode()) + 1 for l in emf_lines), "B",
                documents=len(emf_lines))
    figures.add("cost input: stderr bytes per run", stderr_per_run, "B")
    calls = steady[-1]["dynamodb"]
    figures.add("cost input: DynamoDB calls per healthy run", len(calls), "calls",
                calls=[f"{c['operation']} {c['item_bytes']} B" for c in calls])
    return {"canary_p50_s": percentile(canary, 50), "canary_cpu_p50_s": percentile(canary_cpu, 50), "canary_p95_s": percentile(canary, 95),
            "read_only_p50_s": percentile(read_only, 50), "log_bytes_per_run": per_run_log + stderr_per_run,
            "emf_bytes_per_run": sum(len(l.encode()) + 1 for l in emf_lines), "dynamodb_calls": calls}
