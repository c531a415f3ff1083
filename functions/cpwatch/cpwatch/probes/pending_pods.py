"""Unattempted pending pods: pods the scheduler never looked at.

kube-scheduler attempts a new pod within seconds; when it cannot place it, it writes
PodScheduled=False (reason Unschedulable). A pod that is Pending, unbound, addressed to the
default scheduler, not held by schedulingGates and older than the threshold with no
PodScheduled condition at all was never attempted.

A pod the scheduler placed whose binding the apiserver refused stays unbound too, with
PodScheduled=False, reason SchedulerError and the message `binding rejected: running Bind plugin
"DefaultBinder": <the apiserver's error>` (kube-scheduler's binding cycle, schedule_one.go): the
scheduler did its part, and the message names what refused (a webhook, etcd). It retries with
a backoff of 1 s up to podMaxBackoffSeconds (10 s), so a binding still refused after
binding_rejected_after_s (15 s) has failed several retries. These pods are reported with the
fail-closed webhooks that intercept their binding; the diagnosis decides whose failure it is.

Cheap on large clusters: one list from the apiserver's watch cache (resourceVersion=0), filtered
server-side (status.phase=Pending, spec.nodeName=: the cache's spec.nodeName index hands over
only the unscheduled pods). The cache may be a little behind, so each pod it shows as
unattempted (or refused) is read again consistently (the oldest max_confirm_lookups of them) and
only those still so there are reported.
"""

from __future__ import annotations

from ..findings import Component, Observation, observe
from ..cluster.kubeapi import FROM_CACHE
from .refusals import classify_message
from .webhookrules import Write
from .context import ProbeContext, condition, examples, field, pod_consistently, whole
from .interceptors import intercepted_by

DEFAULT_SCHEDULER = "default-scheduler"
BINDING_REJECTED = "binding rejected: "


def probe(ctx: ProbeContext) -> list[Observation]:
    threshold = ctx.settings.unattempted_pod_age_s
    pending = 0
    candidates: list[tuple[float, str, str]] = []
    refused: list[tuple[float, str, str]] = []
    query = {"fieldSelector": "status.phase=Pending,spec.nodeName=", **FROM_CACHE}
    for pod in ctx.api.list_items("/api/v1/pods", query, page_size=ctx.settings.page_size):
        pending += 1
        metadata = field(pod, "metadata")
        where = (str(metadata.get("namespace")), str(metadata.get("name")))
        age = _unattempted_age(ctx, pod)
        if age is not None:
            candidates.append((age, *where))
        refused_for = _binding_refused_for(ctx, pod)
        if refused_for is not None:
            refused.append((refused_for, *where))
    observations = _binding_rejected(ctx, refused)
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
                        pods=unattempted[:20], threshold_s=whole(threshold), confirmed=len(unattempted)),
                *observations]
    return [observe("PENDING_PODS_ATTEMPTED", Component.SCHEDULER, pending=pending), *observations]


def _binding_refused_for(ctx: ProbeContext, pod: dict) -> float | None:
    """Seconds since the apiserver first refused the pod's binding, if it still does and has for
    longer than binding_rejected_after_s; else None."""
    if field(pod, "metadata").get("deletionTimestamp") or field(pod, "spec").get("nodeName"):
        return None
    scheduled = condition(pod, "PodScheduled") or {}
    message = scheduled.get("message")
    if scheduled.get("status") != "False" or scheduled.get("reason") != "SchedulerError" \
            or not isinstance(message, str) or not message.startswith(BINDING_REJECTED):
        return None
    age = ctx.age_s(scheduled.get("lastTransitionTime"))
    return age if age is not None and age > ctx.settings.binding_rejected_after_s else None


def _binding_rejected(ctx: ProbeContext, refused: list[tuple[float, str, str]]) -> list[Observation]:
    """PODS_BINDING_REJECTED for the pods whose binding is still refused on a consistent read."""
    confirmed: list[tuple[float, str, str, str]] = []
    for _, namespace, name in sorted(refused, reverse=True)[:ctx.settings.max_confirm_lookups]:
        pod = pod_consistently(ctx, namespace, name)
        age = None if pod is None else _binding_refused_for(ctx, pod)
        if pod is not None and age is not None:
            message = str((condition(pod, "PodScheduled") or {}).get("message"))
            confirmed.append((age, namespace, name, message[len(BINDING_REJECTED):]))
    if not confirmed:
        return []
    detail = confirmed[0][3]
    refusal = classify_message(detail)
    namespaces = sorted({namespace for _, namespace, _, _ in confirmed})
    webhooks: dict[str, object] = {}
    for namespace in namespaces:
        for name in intercepted_by(ctx, Write("CREATE", "", "pods", "binding", namespace=namespace)).get(
                "intercepted_by", []):
            webhooks.setdefault(name, True)
    pods = [f"{namespace}/{name} ({whole(age)} s)" for age, namespace, name, _ in confirmed]
    count = len(confirmed) + max(len(refused) - ctx.settings.max_confirm_lookups, 0)
    evidence: dict[str, object] = {"count": count, "examples": examples(pods), "pods": pods[:20],
                                   "namespaces": namespaces, "detail": detail[:300], "cause": refusal.cause.value}
    if refusal.webhook:
        evidence["webhook"] = refusal.webhook
    if webhooks:
        evidence["intercepted_by"] = list(webhooks)
    return [observe("PODS_BINDING_REJECTED", Component.SCHEDULER, **evidence)]


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
