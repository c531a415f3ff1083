"""kube-system static control-plane pods (kubeadm and other self-managed clusters).

kubeadm labels its static pods `tier=control-plane` and `component=<name>`. On managed control
planes (EKS) there are none, and this probe reports nothing. kube-system also holds a DaemonSet
pod per node (thousands on a large cluster), so the list comes from the apiserver's watch cache
(resourceVersion=0); a pod it shows as not Ready is read again consistently first.
"""

from __future__ import annotations

from ..findings import Component, Observation, observe
from ..cluster.kubeapi import FROM_CACHE
from .context import ProbeContext, condition, entries, field, pod_consistently, whole_number

_COMPONENTS = {
    "kube-apiserver": Component.APISERVER,
    "etcd": Component.ETCD,
    "kube-controller-manager": Component.CONTROLLER_MANAGER,
    "kube-scheduler": Component.SCHEDULER,
}


def probe(ctx: ProbeContext) -> list[Observation]:
    observations: list[Observation] = []
    query = {"labelSelector": "tier=control-plane", **FROM_CACHE}
    for pod in ctx.api.list_items("/api/v1/namespaces/kube-system/pods", query, page_size=ctx.settings.page_size):
        if _component(pod) is None:
            continue
        if (condition(pod, "Ready") or {}).get("status") != "True":
            pod = _consistent(ctx, pod)
            if pod is None or _component(pod) is None:
                continue
        metadata, spec, status = field(pod, "metadata"), field(pod, "spec"), field(pod, "status")
        component = _component(pod)
        restarts = sum(whole_number(c.get("restartCount")) or 0 for c in entries(status.get("containerStatuses")))
        ready = condition(pod, "Ready") or {}
        name = f"kube-system/{metadata.get('name')}"
        if ready.get("status") == "True":
            observations.append(observe("STATIC_POD_READY", component, pod=name, restarts=restarts))
        else:
            observations.append(observe("STATIC_POD_NOT_READY", component, pod=name, node=spec.get("nodeName"),
                                        restarts=restarts, reason=ready.get("reason") or status.get("phase") or "not Ready"))
    return observations


def _component(pod: dict) -> Component | None:
    return _COMPONENTS.get(str(field(field(pod, "metadata"), "labels").get("component")))


def _consistent(ctx: ProbeContext, pod: dict) -> dict | None:
    return pod_consistently(ctx, "kube-system", str(field(pod, "metadata").get("name")))
