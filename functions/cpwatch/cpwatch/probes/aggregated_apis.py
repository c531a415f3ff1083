"""Aggregated APIs (APIServices served by an extension) that are not Available.

The apiserver's availability controller marks an APIService Available=False when its Service,
endpoints or discovery fail (reasons ServiceNotFound, MissingEndpoints, FailedDiscoveryCheck...).
Its group's discovery then fails, so HPAs that read metrics.k8s.io, custom.metrics.k8s.io or
external.metrics.k8s.io stop scaling, and the namespace controller and the garbage collector,
which need complete discovery, stall: the seed's "HPA stops scaling" symptom with a healthy
controller-manager. These are failures of the extension, never evidence against the
controller-manager. Local APIServices (no spec.service) are served by the apiserver itself.
"""

from __future__ import annotations

from ..errors import ApiStatusError
from ..findings import Component, Observation, observe
from .context import ProbeContext, condition, entries, field, whole

_METRICS_GROUPS = ("metrics.k8s.io", "custom.metrics.k8s.io", "external.metrics.k8s.io")
_HPA_METRIC_FAILURES = ("FailedGetResourceMetric", "FailedGetPodsMetric", "FailedGetObjectMetric",
                        "FailedGetExternalMetric", "FailedGetContainerResourceMetric")


def probe(ctx: ProbeContext) -> list[Observation]:
    body = ctx.api.get_json("/apis/apiregistration.k8s.io/v1/apiservices", {"resourceVersion": "0"})
    items = entries(body.get("items"))
    aggregated = [item for item in items if field(item, "spec").get("service")]
    observations: list[Observation] = []
    for item in aggregated:
        available = condition(item, "Available") or {}
        if available.get("status") == "True":
            continue
        age = ctx.age_s(available.get("lastTransitionTime"))
        if age is not None and age < ctx.settings.apiservice_grace_s:
            continue  # just registered or just failed over: the controller rechecks it
        name = str(field(item, "metadata").get("name") or "?")
        group = str(field(item, "spec").get("group") or "")
        observations.append(observe(
            "APISERVICE_UNAVAILABLE", Component.EXTENSIONS, name=name, group=group,
            reason=available.get("reason") or "no Available condition",
            message=" ".join(str(available.get("message") or "").split())[:200] or "no message",
            age_s=whole(age) if age is not None else "?", consequences=_consequences(ctx, group)))
    if not observations:
        observations.append(observe("APISERVICES_AVAILABLE", Component.EXTENSIONS, count=len(items),
                                    aggregated=len(aggregated)))
    return observations


def _consequences(ctx: ProbeContext, group: str) -> str:
    stalled = "namespace deletion and garbage collection stall on its failed discovery"
    if group not in _METRICS_GROUPS:
        return stalled
    failing = _hpas_without_metrics(ctx)
    hpas = (f"{failing} HPA(s) report they cannot get metrics" if failing is not None
            else f"HPAs that use {group} cannot scale")
    return f"{hpas}; {stalled}"


def _hpas_without_metrics(ctx: ProbeContext) -> int | None:
    """HPAs whose ScalingActive is False for want of metrics; None if they cannot be read."""
    try:
        body = ctx.api.get_json("/apis/autoscaling/v2/horizontalpodautoscalers", {"resourceVersion": "0"})
    except ApiStatusError:
        return None
    return sum(1 for hpa in entries(body.get("items"))
               if (condition(hpa, "ScalingActive") or {}).get("reason") in _HPA_METRIC_FAILURES)
