"""meta.k8s.io Table answers (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`).

Who calls it: the API layer for gets and lists. Columns and cells follow kube-apiserver's
printers (pkg/printers/internalversion/printers.go) for pods and nodes, and the default
table convertor (Name, Created At) for everything else.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Callable

from .clock import parse_time
from .resources import ResourceType
from .store import Entry

_NAME_DESCRIPTION = ("Name must be unique within a namespace. Is required when creating resources, although some "
                     "resources may allow a client to request the generation of an appropriate name automatically. "
                     "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
                     "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DESCRIPTION = ("CreationTimestamp is a timestamp representing the server time when this object was created. "
                    "It is not guaranteed to be set in happens-before order across separate operations. Clients may "
                    "not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
                    "system. Read-only. Null for lists. More info: "
                    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")


def _column(name: str, kind: str = "string", description: str = "", priority: int = 0,
            fmt: str = "") -> dict:
    return {"name": name, "type": kind, "format": fmt, "description": description, "priority": priority}


POD_COLUMNS = [
    _column("Name", fmt="name", description=_NAME_DESCRIPTION),
    _column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    _column("Status", description="The aggregate status of the containers in this pod."),
    _column("Restarts", description="The number of times the containers in this pod have been restarted and "
                                    "when the last container in this pod has restarted."),
    _column("Age", description=_AGE_DESCRIPTION),
    _column("IP", priority=1, description="podIP address allocated to the pod. Routable at least within the "
                                          "cluster. Empty if not yet allocated."),
    _column("Node", priority=1, description="NodeName indicates in which node this pod is scheduled. If empty, "
                                            "this pod is a candidate for scheduling by the scheduler defined in "
                                            "schedulerName."),
    _column("Nominated Node", priority=1, description="nominatedNodeName is set only when this pod preempts "
                                                      "other pods on the node."),
    _column("Readiness Gates", priority=1, description="If specified, all readiness gates will be evaluated for "
                                                       "pod readiness."),
]

NODE_COLUMNS = [
    _column("Name", fmt="name", description=_NAME_DESCRIPTION),
    _column("Status", description="The status of the node"),
    _column("Roles", description="The roles of the node"),
    _column("Age", description=_AGE_DESCRIPTION),
    _column("Version", description="Kubelet Version reported by the node."),
    _column("Internal-IP", priority=1, description="List of addresses reachable to the node."),
    _column("External-IP", priority=1, description="List of addresses reachable to the node."),
    _column("OS-Image", priority=1, description="OS Image reported by the node from /etc/os-release."),
    _column("Kernel-Version", priority=1, description="Kernel Version reported by the node."),
    _column("Container-Runtime", priority=1, description="ContainerRuntime Version reported by the node."),
]

DEFAULT_COLUMNS = [
    _column("Name", fmt="name", description=_NAME_DESCRIPTION),
    _column("Created At", kind="date", description=_AGE_DESCRIPTION),
]


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


@lru_cache(maxsize=4096)
def _created(stamp: str | None) -> datetime | None:
    # Lists of 150,000 pods share few creation stamps; parsing each once keeps big Tables fast.
    return parse_time(stamp)


def _age(obj: dict, now: datetime) -> str:
    stamp = obj.get("metadata", {}).get("creationTimestamp")
    created = _created(stamp) if isinstance(stamp, str) or stamp is None else parse_time(stamp)
    return human_duration((now - created).total_seconds()) if created else "<unknown>"


def pod_cells(pod: dict, now: datetime) -> list:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    reason = status.get("reason") or status.get("phase") or ""
    ready = restarts = 0
    for container in statuses:
        restarts += int(container.get("restartCount", 0))
        state = container.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            terminated = state["terminated"]
            reason = terminated.get("reason") or (f"Signal:{terminated['signal']}" if terminated.get("signal")
                                                  else f"ExitCode:{terminated.get('exitCode', 0)}")
        elif container.get("ready") and "running" in state:
            ready += 1
    if status.get("phase") == "Pending" and spec.get("schedulingGates"):
        reason = "SchedulingGated"
    if pod["metadata"].get("deletionTimestamp"):
        # NodeLost is the reason the node controller gives pods on an unreachable node.
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    gates = spec.get("readinessGates") or []
    if gates:
        true_conditions = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        passed = sum(1 for gate in gates if gate.get("conditionType") in true_conditions)
        gate_cell = f"{passed}/{len(gates)}"
    else:
        gate_cell = "<none>"
    return [pod["metadata"]["name"], f"{ready}/{len(containers)}", reason, str(restarts), _age(pod, now),
            status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gate_cell]


def node_cells(node: dict, now: datetime) -> list:
    status = node.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    ready = conditions.get("Ready")
    state = {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(key.split("/", 1)[1] for key in labels
                   if key.startswith("node-role.kubernetes.io/") and key.split("/", 1)[1])
    if labels.get("kubernetes.io/role"):
        roles.append(labels["kubernetes.io/role"])
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [node["metadata"]["name"], state, ",".join(sorted(roles)) or "<none>", _age(node, now),
            info.get("kubeletVersion", ""), addresses.get("InternalIP", "<none>"),
            addresses.get("ExternalIP", "<none>"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"]


def default_cells(obj: dict, now: datetime) -> list:
    return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp")]


PRINTERS: dict[str, tuple[list[dict], Callable[[dict, datetime], list]]] = {
    "pods": (POD_COLUMNS, pod_cells),
    "nodes": (NODE_COLUMNS, node_cells),
}


def table(resource: str, entries: list[Entry], now: datetime, include_object: str, list_metadata: dict,
          api_version: str, rt: ResourceType) -> dict:
    columns, cells = PRINTERS.get(resource, (DEFAULT_COLUMNS, default_cells))
    rows = []
    for entry in entries:
        row: dict = {"cells": cells(entry.obj, now)}
        if include_object == "Object":
            row["object"] = {"kind": rt.kind, "apiVersion": rt.api_version, **entry.obj}
        elif include_object == "None":
            row["object"] = None
        else:
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": entry.obj.get("metadata", {})}
        rows.append(row)
    return {"kind": "Table", "apiVersion": api_version, "metadata": list_metadata,
            "columnDefinitions": columns, "rows": rows}
