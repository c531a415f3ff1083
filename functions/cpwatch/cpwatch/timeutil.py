"""Parsing of the timestamps Kubernetes writes, and the run deadline.

Kubernetes writes metav1.Time as RFC 3339 with seconds ("2026-11-27T09:28:47Z") and
metav1.MicroTime with six fractional digits ("2026-11-27T09:29:06.083703Z"); both parse here,
as do offsets and fractions of any length. HTTP `Date` headers are RFC 1123 with one-second
resolution.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$"
)


def parse_k8s_time(value: object) -> datetime | None:
    """An aware UTC datetime for a Kubernetes Time/MicroTime string; None if absent or invalid."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        parsed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          micros, tzinfo=timezone.utc)
    except ValueError:
        return None
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset_seconds = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        parsed -= timedelta(seconds=offset_seconds)
    return parsed


def parse_http_date(value: str | None) -> datetime | None:
    """An aware UTC datetime for an HTTP Date header; None if absent or invalid."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.astimezone(timezone.utc)


def format_k8s_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock by which the whole run must have finished."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()
