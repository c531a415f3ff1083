"""Small formatting helpers shared by the texts people read (notification e-mails, evidence
packs): durations, clock times, shortening and wrapping, component display names.

Called by message_text.py, notification.py and evidencepack.py; no I/O.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from typing import Any

from ..findings import Component

CHECKER = Component.CHECKER.value
DISPLAY_NAMES = {
    Component.APISERVER.value: "kube-apiserver",
    Component.ETCD.value: "etcd",
    Component.CONTROLLER_MANAGER.value: "kube-controller-manager",
    Component.SCHEDULER.value: "kube-scheduler",
    Component.EXTENSIONS.value: "admission webhooks and aggregated APIs",
}


def format_duration(seconds: float) -> str:
    """4h 2m, 12m, 45s, 2d 3h."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def display_name(component: str) -> str:
    return DISPLAY_NAMES.get(component, "cpwatch" if component == CHECKER else component)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def clock(moment: datetime, reference: datetime) -> str:
    """09:29 UTC, with the date when it is not the reference's day."""
    if moment.date() == reference.date():
        return f"{moment:%H:%M} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def short(value: Any, limit: int = 120) -> str:
    if isinstance(value, (list, tuple)):
        shown = ", ".join(short(v, 60) for v in value[:5])
        text = f"[{shown}{f', +{len(value) - 5} more' if len(value) > 5 else ''}]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def wrap(text: str, indent: str, subsequent: str | None = None) -> list[str]:
    return textwrap.wrap(text, 100, initial_indent=indent, subsequent_indent=subsequent or indent,
                         break_long_words=False, break_on_hyphens=False) or [indent.rstrip()]


def ascii_only(text: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text)
