"""`make demo`: the real `cpwatch check` against the fake control plane in each failure mode.

    python -m tests.demo [SCENARIO ...]     (SCENARIO: a failure mode below, "all-contexts" or "aws")

Starts a fresh fake control plane per scenario (its own CA and port), puts it into the failure
mode, and runs `.venv/bin/cpwatch check` as a separate process, printing its report.
"all-contexts" starts one fake control plane per failure mode at once, writes their contexts into
one kubeconfig and runs `cpwatch check --all-contexts` over it.
Scenarios move the fake's clock forward ("down for 150 s" without waiting 150 s), so cpwatch
also reports CHECKER_CLOCK_SKEW there: it measures every age on the apiserver's clock.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tests.fakecluster import FakeCluster
from tests.scenarios import SCENARIOS, cluster_options

CHECK_TIMEOUT_S = "12"
AWS = "aws"  # the scheduled Lambda pipeline against moto (tests/demo_aws.py)
ALL_CONTEXTS = "all-contexts"  # every failure mode at once, one kubeconfig, --all-contexts
INTRO = (
    "cpwatch demo: the real `cpwatch check` against a fake control plane in each failure mode.\n"
    "Scenarios move the fake's clock forward, so cpwatch also reports CHECKER_CLOCK_SKEW there:\n"
    "it measures every age on the apiserver's clock, not its own.\n"
)


def cpwatch_command() -> str:
    beside = Path(sys.executable).with_name("cpwatch")
    return str(beside) if beside.exists() else (shutil.which("cpwatch") or "cpwatch")


def run_scenario(name: str, workdir: Path) -> int:
    with FakeCluster(**cluster_options(name)) as fc:
        SCENARIOS[name](fc)
        kubeconfig = fc.write_kubeconfig(workdir / f"{name}.kubeconfig", context=f"fake-{name}")
        started = time.monotonic()
        result = subprocess.run([cpwatch_command(), "check", "--kubeconfig", str(kubeconfig),
                                 "--timeout", CHECK_TIMEOUT_S], capture_output=True, text=True)
        elapsed = time.monotonic() - started
    print(f"==================== scenario: {name} ====================")
    print(f"$ cpwatch check --kubeconfig {kubeconfig.name} --timeout {CHECK_TIMEOUT_S}")
    print(result.stdout, end="")
    if result.stderr:
        print(result.stderr, end="", file=sys.stderr)
    print(f"(exit code {result.returncode}, {elapsed:.1f} s)\n")
    return result.returncode


def run_all_contexts(workdir: Path) -> int:
    clusters = [FakeCluster(**cluster_options(name)) for name in SCENARIOS]
    try:
        document: dict = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
        for name, fc in zip(SCENARIOS, clusters):
            fc.start()
            SCENARIOS[name](fc)
            part = yaml.safe_load(fc.write_kubeconfig(workdir / f"{name}.part", context=f"fake-{name}").read_text())
            for key in ("clusters", "users", "contexts"):
                document[key] += part[key]
        document["current-context"] = document["contexts"][0]["name"]
        kubeconfig = workdir / "all.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(document))
        started = time.monotonic()
        result = subprocess.run([cpwatch_command(), "check", "--kubeconfig", str(kubeconfig), "--all-contexts",
                                 "--timeout", CHECK_TIMEOUT_S], capture_output=True, text=True)
        elapsed = time.monotonic() - started
    finally:
        for fc in clusters:
            fc.stop()
    print(f"==================== every scenario at once: {ALL_CONTEXTS} ====================")
    print(f"$ cpwatch check --kubeconfig {kubeconfig.name} --all-contexts --timeout {CHECK_TIMEOUT_S}")
    print(result.stdout.split("\n\n" + "cpwatch check of ", 1)[0].rstrip("\n") + "\n")
    print("(the reports of the clusters that are not healthy follow in the real output; shown above one by one)")
    if result.stderr:
        print(result.stderr, end="", file=sys.stderr)
    print(f"(exit code {result.returncode}, {elapsed:.1f} s)\n")
    return result.returncode


def main(argv: list[str]) -> int:
    names = argv or [*SCENARIOS, ALL_CONTEXTS, AWS]
    choices = [*SCENARIOS, ALL_CONTEXTS, AWS]
    unknown = [n for n in names if n not in choices]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; choose from: {', '.join(choices)}", file=sys.stderr)
        return 64
    print(INTRO)
    with tempfile.TemporaryDirectory(prefix="cpwatch-demo-") as workdir:
        for name in names:
            if name == AWS:
                from tests import demo_aws

                demo_aws.main()
            elif name == ALL_CONTEXTS:
                run_all_contexts(Path(workdir))
            else:
                run_scenario(name, Path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
