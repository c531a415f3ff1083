"""Leader Leases of kube-controller-manager and kube-scheduler in kube-system.

A live leader renews its Lease every retryPeriod (2 s by default). A gracefully stopped leader
releases it (holderIdentity "", leaseDurationSeconds 1, as recorded); a crashed one just stops
renewing. Either way, no renewal for longer than the stale threshold means no leader is running.
Each finding names the fail-closed webhooks that intercept the renewal: a stale Lease may be
theirs, and a fresh one shows that they let the renewal through.
"""

from __future__ import annotations

from ..errors import NotFoundError
from ..findings import Component, Observation, observe
from ..settings import Settings
from .webhookrules import Write
from .context import ProbeContext, field, whole
from .interceptors import intercepted_by
from .leader_renewal import LEASES, lease_at_start

# A leader renews by updating its Lease: a fail-closed webhook on that update can stop it.
RENEWAL = Write("UPDATE", "coordination.k8s.io", "leases", namespace="kube-system")


def stale_after_s(settings: Settings, lease_duration_s: object) -> float:
    duration = lease_duration_s if isinstance(lease_duration_s, (int, float)) and lease_duration_s > 0 else 15
    return max(settings.lease_duration_factor * duration, settings.lease_min_stale_s) + settings.clock_margin_s


def probe(ctx: ProbeContext) -> list[Observation]:
    return [_judge(ctx, component, name) for component, name in LEASES.items()]


def _judge(ctx: ProbeContext, component: Component, name: str) -> Observation:
    lease_name = f"kube-system/{name}"
    try:
        lease = lease_at_start(ctx, component)
    except NotFoundError:
        return observe("LEADER_LEASE_MISSING", component, lease=lease_name)
    spec = field(lease, "spec")
    age = ctx.age_s(spec.get("renewTime"))
    holder = str(spec.get("holderIdentity") or "")
    if age is None:
        return observe("PROBE_FAILED", component, probe="leader_leases",
                       detail=f"Lease {lease_name} has no readable renewTime ({spec.get('renewTime')!r})")
    threshold = stale_after_s(ctx.settings, spec.get("leaseDurationSeconds"))
    if age > threshold:
        return observe("LEADER_LEASE_STALE", component, lease=lease_name, age_s=whole(age),
                       threshold_s=whole(threshold), holder=holder, renew_time=spec.get("renewTime"),
                       **intercepted_by(ctx, RENEWAL))
    return observe("LEADER_LEASE_FRESH", component, lease=lease_name, age_s=max(whole(age), 0),
                   holder=holder or "(released)", acquire_time=spec.get("acquireTime"), **intercepted_by(ctx, RENEWAL))
