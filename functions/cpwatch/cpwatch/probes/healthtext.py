"""Parser of the apiserver's verbose health text.

Format (k8s.io/apiserver/pkg/server/healthz): one line per check, `[+]name ok` or
`[-]name failed: reason withheld` (the reason is only shown to privileged callers in logs),
then `livez check passed` / `readyz check failed`. Non-verbose answers are just `ok`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^\[(?P<sign>[+-])\](?P<name>\S+)\s+(?P<rest>.*)$")


@dataclass(frozen=True)
class HealthReport:
    checks: tuple[str, ...]
    failed: tuple[str, ...]
    passed_trailer: bool | None  # "... check passed" (True) / "failed" (False) / none (None)


def parse_health_text(text: str) -> HealthReport:
    checks: list[str] = []
    failed: list[str] = []
    trailer: bool | None = None
    for raw in text.splitlines():
        line = raw.strip()
        match = _LINE.match(line)
        if match:
            checks.append(match["name"])
            if match["sign"] == "-":
                failed.append(match["name"])
        elif line.endswith("check passed"):
            trailer = True
        elif line.endswith("check failed"):
            trailer = False
    return HealthReport(tuple(checks), tuple(failed), trailer)
