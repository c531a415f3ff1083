"""Unattempted pending pods: pods the scheduler never looked at.

kube-scheduler attempts a new pod within seconds; when it cannot place it, it writes
PodScheduled=False (reason Unschedulable). A pod that is Pending, unbound, addressed to the
default scheduler, not held by schedulingGates and older than the threshold with no
PodScheduled condition at all was never attempted.

Cheap on large clusters: one list from the apiserver's watch cache (resourceVersion=0), filtered
server-side (status.phase=Pending, spec.nodeName=: the cache's spec.nodeName index hands over
only the unscheduled pods). The cache may be a little behind, so each pod it shows as
unattempted is read again consistently (the oldest max_confirm_lookups of them) and only
those still unattempted there are reported.
"""

from __future__ import annotations

from ..findings import Component, Observation, observe
from ..kubeapi import FROM_CACHE
from .context import ProbeContext, condition, examples, field, pod_consistently, whole

DEFAULT_SCHEDULER = "default-scheduler"


def probe(ctx: ProbeContext) -> list[Observation]:
    threshold = ctx.settings.unattempted_pod_age_s
    pending = 0
    candidates: list[tuple[float, str, str]] = []
    query = {"fieldSelector": "status.phase=Pending,spec.nodeName=", **FROM_CACHE}
    for pod in ctx.api.list_items("/api/v1/pods", query, page_size=ctx.settings.page_size):
        pending += 1
        age = _unattempted_age(ctx, pod)
        if age is not None:
            metadata = field(pod, "metadata")
            candidates.append((age, str(metadata.get("namespace")), str(metadata.get("name"))))
    candidates.sort(reverse=True)
    lookups = ctx.settings.max_confirm_lookups
    unattempted: list[str] = []
    for _, namespace, name in candidates[:lookups]:
        age = _confirmed_age(ctx, namespace, name)
        if age is not None:
            unattempted.append(f"{namespace}/{name} ({whole(age)} s)")
    if unattempted:
        # Beyond the lookups, the cache's word is counted (a confirmed failure is already shown).
        count = len(unattempted) + len(candidates[lookups:])
        return [observe("PODS_UNATTEMPTED", Component.SCHEDULER, count=count, examples=examples(unattempted),
                        pods=unattempted[:20], threshold_s=whole(threshold), confirmed=len(unattempted))]
    return [observe("PENDING_PODS_ATTEMPTED", Component.SCHEDULER, pending=pending)]


def _unattempted_age(ctx: ProbeContext, pod: dict) -> float | None:
    """The pod's age if it is an unattempted pending pod older than the threshold, else None."""
    metadata, spec = field(pod, "metadata"), field(pod, "spec")
    if metadata.get("deletionTimestamp") or spec.get("nodeName") or spec.get("schedulingGates"):
        return None
    if field(pod, "status").get("phase") not in (None, "Pending"):
        return None
    if (spec.get("schedulerName") or DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER:
        return None
    if condition(pod, "PodScheduled") is not None:
        return None
    age = ctx.age_s(metadata.get("creationTimestamp"))
    return age if age is not None and age > ctx.settings.unattempted_pod_age_s else None


def _confirmed_age(ctx: ProbeContext, namespace: str, name: str) -> float | None:
    """The same rule on a consistent read of the pod (None: gone, or not unattempted after all)."""
    pod = pod_consistently(ctx, namespace, name)
    return None if pod is None else _unattempted_age(ctx, pod)
