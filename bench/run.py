"""`make bench`: every benchmark of issue 5, one table, bench/results.json.

    python -m bench.run [--only large,work,cold,warm,cost,latency,fleet,reconcile] [--quick] [--markdown PATH]

Sections: large clusters (bench/large.py), apiserver work per check (apiserver_work.py), cold start (coldstart.py), warm runs (warm.py), cost
model (cost.py, from the warm figures), detection latency (latency.py), fleet (fleet.py), fleet
in one stack: discovery's reconcile, IAM policy size, blind to page, artifact (reconcile.py).
Ratios are measured in the same run, side by side. --quick shrinks every section (for trying the
benchmark out, not for figures). --markdown writes the table with the machine description (the
committed bench/RESULTS.md is one such run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .common import REPO, Figures, machine

SECTIONS = ("large", "work", "cold", "warm", "cost", "latency", "fleet", "reconcile")
RESULTS = REPO / "bench" / "results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--quick", action="store_true", help="small sizes and few trials (not for figures)")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    if "cost" in only and "warm" not in only:
        only.append("warm")

    figures = Figures()
    started = time.monotonic()
    host = machine()
    print(f"machine: {host['nproc']} CPUs, {host['cpu_model']}, Python {host['python']}", flush=True)

    if "large" in only:
        from . import large

        print("== large clusters", flush=True)
        large.run(figures, sizes=(100, 1000) if args.quick else large.SIZES, runs=1 if args.quick else large.RUNS_PER_MODE)

    if "work" in only:
        from . import apiserver_work

        print("== apiserver work per check", flush=True)
        apiserver_work.run(figures, sizes=(2_000,) if args.quick else apiserver_work.SIZES)

    needs_aws = [s for s in ("cold", "warm", "cost", "latency", "fleet") if s in only]
    if needs_aws:
        from . import aws

        deployment = aws.start_deployment()
        try:
            if "cold" in only:
                from . import coldstart

                print("== cold start", flush=True)
                coldstart.run(figures, dict(os.environ), samples=3 if args.quick else coldstart.SAMPLES)
            warm_result = None
            if "warm" in only:
                from . import warm

                print("== warm runs", flush=True)
                warm_result = warm.run(figures, deployment, runs=5 if args.quick else warm.WARM_RUNS)
            if "cost" in only and warm_result:
                from . import cost

                print("== cost model", flush=True)
                cost.run(figures, warm_result)
            if "latency" in only:
                from . import latency

                print("== detection latency", flush=True)
                latency.run(figures, deployment, trials=2 if args.quick else latency.TRIALS)
            if "fleet" in only:
                from . import fleet

                print("== fleet", flush=True)
                fleet.run(figures, deployment, clusters=40 if args.quick else fleet.CLUSTERS,
                          workers=10 if args.quick else fleet.WORKERS, periods=2 if args.quick else fleet.PERIODS)
        finally:
            deployment.stop()

    if "reconcile" in only:
        from . import reconcile

        print("== fleet in one stack (discovery, IAM, blind to page, artifact)", flush=True)
        reconcile.run(figures, per_partition=20 if args.quick else reconcile.PER_PARTITION)

    elapsed = time.monotonic() - started
    figures.add("bench: total wall time", elapsed, "s")
    document = {"machine": host, "quick": args.quick, "sections": only,
                "figures": [figure.as_dict() for figure in figures.items]}
    RESULTS.write_text(json.dumps(document, indent=1) + "\n")
    print()
    print(render_text(figures))
    print(f"\nwrote {RESULTS.relative_to(REPO)}")
    if args.markdown:
        args.markdown.write_text(render_markdown(figures, host, args.quick))
        print(f"wrote {args.markdown}")
    missed = [f.name for f in figures.items if f.met is False]
    if missed:
        print("targets missed: " + "; ".join(missed))
    return 0


def _value(figure) -> str:
    value = figure.value
    if isinstance(value, float):
        if figure.unit == "USD":
            return f"{value:.3f}"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _status(figure) -> str:
    if not figure.target:
        return ""
    return f"{figure.target}: {'met' if figure.met else 'MISSED'}"


def render_text(figures: Figures) -> str:
    width = max(len(f.name) for f in figures.items)
    lines = [f"{'figure':<{width}}  {'value':>14}  unit      target"]
    for figure in figures.items:
        lines.append(f"{figure.name:<{width}}  {_value(figure):>14}  {figure.unit:<8}  {_status(figure)}")
    return "\n".join(lines)


def render_markdown(figures: Figures, host: dict, quick: bool) -> str:
    out = ["# cpwatch benchmark results (`make bench`)", ""]
    if quick:
        out += ["**--quick run: small sizes, not the figures of record.**", ""]
    out += [f"Machine: `nproc` = {host['nproc']}; CPU model: {host['cpu_model']}; Python {host['python']}; "
            f"{host['platform']}.", "", "`free -g`:", "", "```", host["free_g"], "```", "",
            "| figure | value | unit | target |", "|---|---:|---|---|"]
    for figure in figures.items:
        out.append(f"| {figure.name} | {_value(figure)} | {figure.unit} | {_status(figure)} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
