"""kube-system static control-plane pods (kubeadm and other self-managed clusters).

kubeadm labels its static pods `tier=control-plane` and `component=<name>`. On managed control
planes (EKS) there are none, and this probe reports nothing.
"""

from __future__ import annotations

from ..findings import Component, Observation, observe
from .context import ProbeContext, condition, entries, field, whole_number

_COMPONENTS = {
    "kube-apiserver": Component.APISERVER,
    "etcd": Component.ETCD,
    "kube-controller-manager": Component.CONTROLLER_MANAGER,
    "kube-scheduler": Component.SCHEDULER,
}


def probe(ctx: ProbeContext) -> list[Observation]:
    observations: list[Observation] = []
    query = {"labelSelector": "tier=control-plane"}
    for pod in ctx.api.list_items("/api/v1/namespaces/kube-system/pods", query, page_size=ctx.settings.page_size):
        metadata, spec, status = field(pod, "metadata"), field(pod, "spec"), field(pod, "status")
        component = _COMPONENTS.get(str(field(metadata, "labels").get("component")))
        if component is None:
            continue
        restarts = sum(whole_number(c.get("restartCount")) or 0 for c in entries(status.get("containerStatuses")))
        ready = condition(pod, "Ready") or {}
        name = f"kube-system/{metadata.get('name')}"
        if ready.get("status") == "True":
            observations.append(observe("STATIC_POD_READY", component, pod=name, restarts=restarts))
        else:
            observations.append(observe("STATIC_POD_NOT_READY", component, pod=name, node=spec.get("nodeName"),
                                        restarts=restarts, reason=ready.get("reason") or status.get("phase") or "not Ready"))
    return observations
