"""Unattempted pending pods: pods the scheduler never looked at.

kube-scheduler attempts a new pod within seconds; when it cannot place it, it writes
PodScheduled=False (reason Unschedulable). A pod that is Pending, unbound, addressed to the
default scheduler, not held by schedulingGates and older than the threshold with no
PodScheduled condition at all was never attempted. One server-side filtered list
(status.phase=Pending, spec.nodeName=) keeps this cheap on large clusters.
"""

from __future__ import annotations

from ..findings import Component, Observation, observe
from .context import ProbeContext, condition, examples, field, whole

DEFAULT_SCHEDULER = "default-scheduler"


def probe(ctx: ProbeContext) -> list[Observation]:
    threshold = ctx.settings.unattempted_pod_age_s
    pending = 0
    unattempted: list[tuple[float, str]] = []
    query = {"fieldSelector": "status.phase=Pending,spec.nodeName="}
    for pod in ctx.api.list_items("/api/v1/pods", query, page_size=ctx.settings.page_size):
        pending += 1
        metadata, spec = field(pod, "metadata"), field(pod, "spec")
        if metadata.get("deletionTimestamp") or spec.get("nodeName") or spec.get("schedulingGates"):
            continue
        if (spec.get("schedulerName") or DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER:
            continue
        if condition(pod, "PodScheduled") is not None:
            continue
        age = ctx.age_s(metadata.get("creationTimestamp"))
        if age is not None and age > threshold:
            unattempted.append((age, f"{metadata.get('namespace')}/{metadata.get('name')} ({whole(age)} s)"))
    if unattempted:
        names = [name for _, name in sorted(unattempted, reverse=True)]
        return [observe("PODS_UNATTEMPTED", Component.SCHEDULER, count=len(names), examples=examples(names),
                        pods=names[:20], threshold_s=whole(threshold))]
    return [observe("PENDING_PODS_ATTEMPTED", Component.SCHEDULER, pending=pending)]
