"""Simulated time for the fake control plane, and the timestamp formats Kubernetes writes.

Who calls it: every simulated component and the HTTP layer (the `Date` header). Simulated time
runs with real time from a chosen start and jumps forward on `advance()`, so a test can make a
component "down for ten minutes" without waiting ten minutes.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime


class SimClock:
    """Now = start + real time elapsed since start + every advance() so far."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._base = _utc(start) if start else datetime.now(timezone.utc)
        self._t0 = time.monotonic()
        self._offset = 0.0

    def now(self) -> datetime:
        with self._lock:
            elapsed = time.monotonic() - self._t0 + self._offset
        return self._base + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("simulated time only moves forward")
        with self._lock:
            self._offset += seconds

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (replay start); time runs on from there."""
        with self._lock:
            self._base = _utc(moment)
            self._t0 = time.monotonic()
            self._offset = 0.0


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("SimClock needs an aware datetime")
    return moment.astimezone(timezone.utc)


def rfc3339(moment: datetime) -> str:
    """metav1.Time: seconds resolution ("2026-11-27T09:28:47Z")."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(moment: datetime) -> str:
    """metav1.MicroTime: always six fractional digits ("2026-11-27T09:29:06.083703Z")."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def http_date(moment: datetime) -> str:
    """RFC 1123 `Date` header ("Fri, 27 Nov 2026 09:27:47 GMT")."""
    return format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def parse_time(value: object) -> datetime | None:
    """Time or MicroTime string -> aware datetime; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_http_date(value: str) -> datetime:
    return parsedate_to_datetime(value).astimezone(timezone.utc)
