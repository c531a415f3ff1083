"""`cpwatch history` and `cpwatch evidence`: reading a cluster's stored runs back.

Called by cli.py. history: only runs where the overall verdict or a component's verdict changed
are printed (plus the first and the last run), so a day of one-minute runs reads in a few lines.
evidence: the evidence packs stored with the newest alarm (or reminder) at or before a time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
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
        # The headline, as the CLI and the e-mail say it (runs stored before it existed: the summary).
        said = run.document.get("headline") or run.document.get("summary") or ""
        lines.append(f"  {run.at:%Y-%m-%d %H:%M:%S}  {run.overall.upper():<9} {'; '.join(changes)}")
        if run.overall != "healthy" and said:
            lines.append(f"      {said}")
    return "\n".join(lines) + "\n"


def parse_at(raw: str, now: datetime) -> datetime:
    """--at: an ISO 8601 time (2026-06-02T09:31:03Z, 2026-06-02 09:31), UTC unless it has an offset."""
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at must be a time like 2026-06-02T09:31:03Z or '2026-06-02 09:31' "
                          f"(UTC unless it carries an offset), got {raw!r}") from None
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    if moment > now + timedelta(minutes=1):
        raise ConfigError(f"--at {raw!r} is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ})")
    return moment


def render_evidence(run: StoredRun, component: str | None) -> str:
    """The stored packs of one run (one component's with `component`), each as stored."""
    packs = {name: text for name, text in run.evidence.items() if component in (None, name)}
    return "\n".join(text if text.endswith("\n") else text + "\n" for text in packs.values())
