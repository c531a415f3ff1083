"""`cpwatch check --all-contexts` over a fleet of contexts answers in about the slowest cluster's time.

    python -m bench.contexts [--contexts 50] [--clusters 5] [--slow-delay 2.0] [--runs 3]

Fake control planes (one of them "slow": every answer held back --slow-delay seconds) serve
--contexts kubeconfig contexts spread evenly over them, all in one kubeconfig file. The
installed `cpwatch` runs as a separate process, as a user runs it, first on one context of each
cluster alone, then on every context at once. Printed: the slowest single-cluster check, the
all-contexts wall time (process start to exit) and the longest per-context time it reports,
and their ratio. Read-only and with canaries. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tests.fakecluster import FakeCluster

CPWATCH = str(Path(sys.executable).with_name("cpwatch"))
TIMEOUT_S = "30"


def write_kubeconfig(path: Path, clusters: list[FakeCluster], contexts: int) -> list[str]:
    document: dict = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    names = []
    for index in range(contexts):
        fc = clusters[index % len(clusters)]
        name = f"ctx-{index:03d}-{'slow' if index % len(clusters) == 0 else 'fast'}"
        part = yaml.safe_load(fc.write_kubeconfig(path.with_name(f"{name}.part"), context=name).read_text())
        for key in ("clusters", "users", "contexts"):
            document[key] += part[key]
        names.append(name)
    document["current-context"] = names[0]
    path.write_text(yaml.safe_dump(document))
    return names


def run(kubeconfig: Path, *args: str) -> tuple[float, dict, int]:
    started = time.monotonic()
    result = subprocess.run([CPWATCH, "check", "--kubeconfig", str(kubeconfig), "--json", "--timeout", TIMEOUT_S, *args],
                            capture_output=True, text=True, env={**os.environ, "CPWATCH_CANARY_POLL_S": "0.2"})
    return time.monotonic() - started, json.loads(result.stdout), result.returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.contexts")
    parser.add_argument("--contexts", type=int, default=50)
    parser.add_argument("--clusters", type=int, default=5)
    parser.add_argument("--slow-delay", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{args.contexts} contexts over {args.clusters} fake control planes; one answers every request "
          f"{args.slow_delay} s late; {args.runs} run(s) each; machine: {os.cpu_count()} CPUs\n", flush=True)
    clusters = [FakeCluster(nodes=3).start() for _ in range(args.clusters)]
    try:
        for fc in clusters:
            fc.advance(15)
        clusters[0].set_apiserver("slow", delay=args.slow_delay)
        with tempfile.TemporaryDirectory(prefix="cpwatch-bench-contexts-") as directory:
            kubeconfig = Path(directory) / "config"
            names = write_kubeconfig(kubeconfig, clusters, args.contexts)
            for mode, extra in (("read-only", ("--read-only",)), ("with canaries", ())):
                singles = []
                for name in names[:args.clusters]:
                    seconds = [run(kubeconfig, "--context", name, *extra)[0] for _ in range(args.runs)]
                    singles.append((statistics.median(seconds), name))
                slowest, slowest_name = max(singles)
                walls, longest, verdicts = [], [], set()
                for _ in range(args.runs):
                    wall, document, code = run(kubeconfig, "--all-contexts", *extra)
                    walls.append(wall)
                    longest.append(max(c["seconds"] for c in document["clusters"]))
                    verdicts |= {c["diagnosis"]["overall"] for c in document["clusters"]}
                wall = statistics.median(walls)
                print(f"== {mode}")
                print(f"  one context alone, per cluster (median of {args.runs}, wall incl. process start): "
                      + ", ".join(f"{n.split('-')[-1]} {s:.2f} s" for s, n in singles))
                print(f"  slowest single-cluster check ({slowest_name}):           {slowest:6.2f} s")
                print(f"  --all-contexts, {len(names)} contexts, wall (median of {args.runs}): {wall:6.2f} s "
                      f"(runs: {', '.join(f'{w:.2f}' for w in walls)})")
                print(f"  longest per-context time reported in those runs:        {statistics.median(longest):6.2f} s")
                print(f"  ratio all-contexts / slowest single:                    {wall / slowest:6.2f} x")
                print(f"  verdicts seen: {', '.join(sorted(verdicts))}\n", flush=True)
    finally:
        for fc in clusters:
            fc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
