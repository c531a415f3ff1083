"""`make mutate`'s summary: kill rate and every surviving mutant with its change.

Reads the staging tree that `make mutate` ran mutmut in (argument: its path). Mutant names
(cpwatch.judging.diagnosis.x__judge_etcd__mutmut_12) number the mutations of one function and change
when the function does; README.md ("Mutation testing") lists the survivors by what they change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main(staging: Path) -> int:
    stats = json.loads((staging / "mutants" / "mutmut-cicd-stats.json").read_text())
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    listed = subprocess.run([mutmut, "results", "--all", "true"], cwd=staging, capture_output=True, text=True, check=True).stdout
    survivors = sorted(line.split(":")[0].strip() for line in listed.splitlines() if line.strip().endswith(": survived"))
    others = sorted(line.strip() for line in listed.splitlines()
                    if line.strip() and not line.strip().endswith((": survived", ": killed", ": not checked")))
    judged = stats["killed"] + stats["survived"] + stats["timeout"] + stats["suspicious"] + stats["segfault"]
    killed = stats["killed"] + stats["timeout"] + stats["segfault"]
    print(f"mutants: {stats['total']}  killed: {stats['killed']}  timeout: {stats['timeout']}  "
          f"survived: {stats['survived']}  no tests: {stats['no_tests']}  skipped: {stats['skipped']}  "
          f"suspicious: {stats['suspicious']}")
    not_run = sum(1 for line in listed.splitlines() if line.strip().endswith(": not checked"))
    print(f"kill rate: {100 * killed / judged:.1f} % of {judged} mutants that tests reached"
          f" ({100 * killed / stats['total']:.1f} % of all {stats['total']}; {not_run} not run: outside MUTANTS)")
    print_by_module(listed)
    for name in survivors:
        diff = subprocess.run([mutmut, "show", name], cwd=staging, capture_output=True, text=True).stdout
        changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        print(f"survived {name}")
        for line in changed:
            print(f"    {line.strip()}")
    for line in others:
        print(f"not run: {line}")
    return 0


def module_of(mutant: str) -> str:
    """cpwatch.probes.health.x_probe__mutmut_3 -> cpwatch.probes.health"""
    return mutant.split(".x_")[0].split(".xǁ")[0]


def print_by_module(listed: str) -> None:
    """Kill rate per module, of the mutants that tests reached; modules not run (a MUTANTS
    subset) are left out."""
    counts: dict[str, dict[str, int]] = {}
    for line in listed.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            counts.setdefault(module_of(name), {}).setdefault(status, 0)
            counts[module_of(name)][status] += 1
    print(f"{'module':40} {'mutants':>7} {'killed':>6} {'survived':>8} {'no tests':>8} {'timeout':>7}  kill rate")
    for module, by_status in sorted(counts.items()):
        if set(by_status) == {"not checked"}:
            continue
        killed = by_status.get("killed", 0) + by_status.get("timeout", 0) + by_status.get("segfault", 0)
        judged = killed + by_status.get("survived", 0) + by_status.get("suspicious", 0)
        rate = f"{100 * killed / judged:.1f} %" if judged else "-"
        print(f"{module:40} {sum(by_status.values()):>7} {killed:>6} {by_status.get('survived', 0):>8} "
              f"{by_status.get('no tests', 0):>8} {by_status.get('timeout', 0):>7}  {rate}"
              + (f" ({by_status['not checked']} not run)" if by_status.get("not checked") else ""))


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
