"""The leader Leases as the run first saw them, and whether a leader renewed its Lease since.

Used by the leader-Lease probe (the Lease as read at the start of the run, once, through the run
cache) and by the canaries: a canary that gets no reaction tells what it means only together with
the leader's Lease over the same wait. A live leader renews every retryPeriod (2 s by default,
client-go leaderelection), so over a canary's wait of seconds:
- renewed by the same holder: the leader runs and holds the Lease, yet did not react (wedged);
- not renewed, or taken over by another holder: the leader is gone and a standby can take over
  only once leaseDurationSeconds have passed since the last renewal it observed (a failover),
  so no controller of that component runs meanwhile and a missing reaction is no evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..errors import ApiError
from ..findings import Component
from ..timeutil import parse_k8s_time
from .context import ProbeContext, field, lease_path

LEASES = {
    Component.CONTROLLER_MANAGER: "kube-controller-manager",
    Component.SCHEDULER: "kube-scheduler",
}


@dataclass(frozen=True)
class LeaseMark:
    holder: str
    renew_time: datetime


def lease_at_start(ctx: ProbeContext, component: Component) -> dict:
    """The component's leader Lease, read once per run by whichever probe asks first (a
    consistent read); its errors are raised to every asker."""
    name = LEASES[component]
    return ctx.cache.get(f"leader-lease:{name}", lambda: ctx.api.get_json(lease_path("kube-system", name)))


def mark_at_start(ctx: ProbeContext, component: Component) -> LeaseMark | None:
    """Holder and renewTime of the Lease as the run first saw it; None when it could not be read."""
    try:
        return _mark(lease_at_start(ctx, component))
    except ApiError:
        return None


def renewed_since(ctx: ProbeContext, component: Component, start: LeaseMark | None) -> bool | None:
    """True when the same holder renewed the Lease after `start`; False when it did not (or
    another holder took it over); None when either read failed."""
    if start is None:
        return None
    try:
        now = _mark(ctx.api.get_json(lease_path("kube-system", LEASES[component])))
    except ApiError:
        return None
    if now is None:
        return None
    return now.holder == start.holder and bool(start.holder) and now.renew_time > start.renew_time


def _mark(lease: dict) -> LeaseMark | None:
    spec = field(lease, "spec")
    renew_time = parse_k8s_time(spec.get("renewTime"))
    if renew_time is None:
        return None
    return LeaseMark(str(spec.get("holderIdentity") or ""), renew_time)
