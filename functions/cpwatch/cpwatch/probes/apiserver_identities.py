"""Apiserver identity Leases: how many kube-apiservers there are, and which stopped renewing.

Every kube-apiserver (Kubernetes 1.26+, EKS included) holds a Lease in kube-system labelled
apiserver.kubernetes.io/identity=kube-apiserver and renews it every 10 s
(IdentityLeaseRenewIntervalPeriod; leaseDurationSeconds 3600). A hung or stopped apiserver
stops renewing, but so does one that was replaced (EKS replaces its apiservers on upgrades and
scaling) and its Lease stays until garbage collection an hour later: a stale identity Lease is
context (which apiserver stopped, when requests hang), never a failure on its own.
Listed from the watch cache, once per run (the connections probe reads the count too).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..findings import Component, Observation, observe
from ..cluster.kubeapi import FROM_CACHE
from ..settings import Settings
from .context import ProbeContext, entries, field, lease_path, whole

IDENTITY_SELECTOR = "apiserver.kubernetes.io/identity=kube-apiserver"
RENEW_INTERVAL_S = 10.0


@dataclass(frozen=True)
class Identities:
    renewing: tuple[str, ...]
    stale: tuple[tuple[str, int], ...]  # (Lease name, seconds since its renewal)


def stale_after_s(settings: Settings) -> float:
    """The leader Leases' rule on the identity Lease's renew interval: three missed renewals, at
    least lease_min_stale_s, plus the clock margin."""
    return max(settings.lease_duration_factor * RENEW_INTERVAL_S, settings.lease_min_stale_s) + settings.clock_margin_s


def identities(ctx: ProbeContext) -> Identities:
    return ctx.cache.get("apiserver-identities", lambda: _load(ctx))


def probe(ctx: ProbeContext) -> list[Observation]:
    found = identities(ctx)
    stale = "; not renewed: " + ", ".join(f"{name} ({age} s)" for name, age in found.stale[:5]) if found.stale else ""
    note = "" if found.renewing or found.stale else " (none: Kubernetes before 1.26, or APIServerIdentity off)"
    return [observe("APISERVER_IDENTITIES", Component.APISERVER, leases=len(found.renewing) + len(found.stale),
                    renewing=len(found.renewing), threshold_s=whole(stale_after_s(ctx.settings)),
                    stale=stale + note, stale_leases=[name for name, _ in found.stale][:20])]


def _load(ctx: ProbeContext) -> Identities:
    body = ctx.api.get_json(lease_path("kube-system"), {"labelSelector": IDENTITY_SELECTOR, **FROM_CACHE})
    threshold = stale_after_s(ctx.settings)
    renewing: list[str] = []
    stale: list[tuple[str, int]] = []
    for lease in entries(body.get("items")):
        name = str(field(lease, "metadata").get("name") or "?")
        age = ctx.age_s(field(lease, "spec").get("renewTime"))
        if age is not None and age <= threshold:
            renewing.append(name)
        else:
            stale.append((name, whole(age) if age is not None else -1))
    return Identities(tuple(sorted(renewing)), tuple(sorted(stale)))
