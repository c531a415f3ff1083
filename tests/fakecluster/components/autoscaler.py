"""The controller-manager's HPA controller, as far as the metrics APIs go.

Who calls it: the controller-manager's leader, every 15 s (--horizontal-pod-autoscaler-sync-period).
The fake runs no metrics backend, so an HPA can only learn that its metrics API is missing
(no APIService: 404 "the server could not find the requested resource") or unavailable (an
APIService that is not Available: 503 "the server is currently unable to handle the request").
Either way ScalingActive=False with the reason of the metric type, as the recordings show; with
the API Available the HPA reports a valid metric. Resource metrics come from metrics.k8s.io,
Pods and Object metrics from custom.metrics.k8s.io, External ones from external.metrics.k8s.io.
Messages follow pkg/controller/podautoscaler (replica_calculator.go, horizontal.go) and
metrics/client.go for Resource metrics; the other types' texts are shorter approximations.
"""

from __future__ import annotations

import json
from datetime import datetime

from ..aggregation import is_available
from ..clock import rfc3339
from ..store import Store
from .writes import Writes

SYNC_PERIOD = 15.0
METRIC_APIS = {
    "Resource": ("metrics.k8s.io", "v1beta1", "pods"),
    "ContainerResource": ("metrics.k8s.io", "v1beta1", "pods"),
    "Pods": ("custom.metrics.k8s.io", "v1beta2", "pods"),
    "Object": ("custom.metrics.k8s.io", "v1beta2", "*"),
    "External": ("external.metrics.k8s.io", "v1beta1", "*"),
}
_API_NAMES = {"metrics.k8s.io": "resource metrics API", "custom.metrics.k8s.io": "custom metrics API",
              "external.metrics.k8s.io": "external metrics API"}
_NOT_FOUND = "the server could not find the requested resource"
_UNAVAILABLE = "the server is currently unable to handle the request"


def sync_autoscalers(store: Store, writes: Writes, now: datetime) -> None:
    """Each HPA's status, written by UPDATE horizontalpodautoscalers/status when it changed."""
    for hpa in store.scan("horizontalpodautoscalers"):
        metadata = hpa["metadata"]
        status = _status(store, hpa, now)
        if _comparable(status) != _comparable(hpa.get("status") or {}):
            writes.mutate("horizontalpodautoscalers", metadata["namespace"], metadata["name"],
                          lambda obj: obj.update(status=_keep_transitions(obj.get("status") or {}, status)),
                          subresource="status")


def _status(store: Store, hpa: dict, now: datetime) -> dict:
    spec = hpa.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    namespace = hpa["metadata"]["namespace"]
    deployment = store.peek("deployments", namespace, target.get("name", "")) if target.get("kind") == "Deployment" \
        else None
    stamp = rfc3339(now)
    if deployment is None:
        return {"currentReplicas": 0, "desiredReplicas": 0, "currentMetrics": None, "conditions": [
            _condition("AbleToScale", "False", "FailedGetScale", stamp,
                       f"the HPA controller was unable to get the target's current scale: "
                       f'{(target.get("kind") or "").lower()}s/scale.apps "{target.get("name")}" not found')]}
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    conditions = [_condition("AbleToScale", "True", "SucceededGetScale", stamp,
                             "the HPA controller was able to get the target's current scale")]
    for metric in spec.get("metrics") or []:
        failure = _metric_failure(store, metric)
        if failure is not None:
            reason, message = failure
            conditions.append(_condition("ScalingActive", "False", reason, stamp,
                                         f"the HPA was unable to compute the replica count: {message}"))
            return {"currentReplicas": replicas, "desiredReplicas": 0, "currentMetrics": None,
                    "conditions": conditions}
    conditions.append(_condition("ScalingActive", "True", "ValidMetricFound", stamp,
                                 "the HPA was able to successfully calculate a replica count from cpu resource "
                                 "utilization (percentage of request)"))
    return {"currentReplicas": replicas, "desiredReplicas": replicas, "currentMetrics": None,
            "conditions": conditions}


def _metric_failure(store: Store, metric: dict) -> tuple[str, str] | None:
    kind = metric.get("type", "")
    if kind not in METRIC_APIS:
        return None
    group, version, resource = METRIC_APIS[kind]
    apiservice = store.peek("apiservices", None, f"{version}.{group}")
    if apiservice is not None and is_available(apiservice):
        return None
    error = f"{_NOT_FOUND if apiservice is None else _UNAVAILABLE} (get {resource}.{group})"
    api = _API_NAMES[group]
    if kind in ("Resource", "ContainerResource"):
        name = ((metric.get("resource") or metric.get("containerResource") or {}).get("name")) or "cpu"
        return (f"FailedGet{kind}Metric",
                f"failed to get {name} utilization: unable to get metrics for resource {name}: "
                f"unable to fetch metrics from {api}: {error}")
    source = metric.get(kind[0].lower() + kind[1:]) or {}
    name = (source.get("metric") or {}).get("name", "")
    return f"FailedGet{kind}Metric", f"unable to get metric {name}: unable to fetch metrics from {api}: {error}"


def _condition(kind: str, status: str, reason: str, stamp: str, message: str) -> dict:
    return {"type": kind, "status": status, "lastTransitionTime": stamp, "reason": reason, "message": message}


def _comparable(status: dict) -> str:
    view = {**status, "conditions": [{k: v for k, v in condition.items() if k != "lastTransitionTime"}
                                     for condition in status.get("conditions") or []]}
    return json.dumps(view, sort_keys=True)


def _keep_transitions(old: dict, new: dict) -> dict:
    """A condition keeps its lastTransitionTime while its status stays the same."""
    before = {condition.get("type"): condition for condition in old.get("conditions") or []}
    conditions = []
    for condition in new["conditions"]:
        previous = before.get(condition["type"])
        if previous and previous.get("status") == condition["status"] and previous.get("lastTransitionTime"):
            condition = {**condition, "lastTransitionTime": previous["lastTransitionTime"]}
        conditions.append(condition)
    return {**new, "conditions": conditions}
