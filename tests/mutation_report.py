"""`make mutate`'s summary: kill rate and every surviving mutant with its change.

Reads the staging tree that `make mutate` ran mutmut in (argument: its path). Mutant names
(cpwatch.diagnosis.x__judge_etcd__mutmut_12) number the mutations of one function and change
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
    listed = subprocess.run([mutmut, "results"], cwd=staging, capture_output=True, text=True, check=True).stdout
    survivors = sorted(line.split(":")[0].strip() for line in listed.splitlines() if line.strip().endswith(": survived"))
    others = sorted(line.strip() for line in listed.splitlines()
                    if line.strip() and not line.strip().endswith((": survived", ": killed")))
    judged = stats["killed"] + stats["survived"] + stats["timeout"] + stats["suspicious"] + stats["segfault"]
    killed = stats["killed"] + stats["timeout"] + stats["segfault"]
    print(f"mutants: {stats['total']}  killed: {stats['killed']}  timeout: {stats['timeout']}  "
          f"survived: {stats['survived']}  no tests: {stats['no_tests']}  skipped: {stats['skipped']}  "
          f"suspicious: {stats['suspicious']}")
    print(f"kill rate: {100 * killed / judged:.1f} % of {judged} mutants that tests reached"
          f" ({100 * killed / stats['total']:.1f} % of all {stats['total']})")
    for name in survivors:
        diff = subprocess.run([mutmut, "show", name], cwd=staging, capture_output=True, text=True).stdout
        changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        print(f"survived {name}")
        for line in changed:
            print(f"    {line.strip()}")
    for line in others:
        print(f"not run: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
