"""`cpwatch history`: a timeline of verdict changes of one cluster, read from the DynamoDB table.

Called by cli.py. Only runs where the overall verdict or a component's verdict changed are
printed (plus the first and the last run), so a day of one-minute runs reads in a few lines.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Iterable

from .errors import ConfigError
from .store import StoredRun

_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(raw: str) -> timedelta:
    match = _SINCE.match(raw.strip())
    if not match or int(match[1]) == 0:
        raise ConfigError(f"--since must look like 90m, 24h or 7d, got {raw!r}")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def timeline(runs: Iterable[StoredRun]) -> list[tuple[StoredRun, list[str]]]:
    """(run, changes) for the first run, every run that changed a verdict, and the last run."""
    rows: list[tuple[StoredRun, list[str]]] = []
    previous: StoredRun | None = None
    last: StoredRun | None = None
    for run in runs:
        last = run
        if previous is None:
            rows.append((run, ["first run in range"]))
        else:
            changes = [f"{name} {previous.components.get(name, '?')} -> {verdict}"
                       for name, verdict in run.components.items() if previous.components.get(name) != verdict]
            if changes or run.overall != previous.overall:
                rows.append((run, changes or [f"overall {previous.overall} -> {run.overall}"]))
        previous = run
    if last is not None and rows[-1][0] is not last:
        rows.append((last, ["latest run"]))
    return rows


def render_timeline(cluster: str, since: datetime, runs: list[StoredRun]) -> str:
    if not runs:
        return f"no runs of {cluster} stored since {since:%Y-%m-%d %H:%M} UTC\n"
    lines = [f"history of {cluster} since {since:%Y-%m-%d %H:%M} UTC ({len(runs)} runs)"]
    for run, changes in timeline(runs):
        summary = run.document.get("summary") or ""
        lines.append(f"  {run.at:%Y-%m-%d %H:%M:%S}  {run.overall.upper():<9} {'; '.join(changes)}")
        if run.overall != "healthy" and summary:
            lines.append(f"      {summary}")
    return "\n".join(lines) + "\n"
