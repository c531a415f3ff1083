"""The kubelets: node Lease renewals, NodeStatus heartbeats, and finishing terminating pods.

Who calls it: the simulation tick; FakeCluster switches single kubelets off and on. Kubernetes'
kubelet renews its Lease in kube-node-lease every 10 s (a quarter of the 40 s lease) and posts
NodeStatus every 60 s when nothing changed (nodeStatusReportFrequency, 1.17+). Its writes pass
the apiserver's write path (writes.py): UPDATE leases (CREATE when missing), UPDATE
nodes/status, DELETE pods; a refused heartbeat is tried again at the next tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..clock import micro_time, parse_time, rfc3339
from ..objects import NODE_LEASE_NAMESPACE, node_lease
from .context import Context, Refusal
from .writes import Writes

LEASE_RENEW_SECONDS = 10.0
STATUS_REPORT_SECONDS = 60.0
# The heartbeat client's timeout: min(nodeStatusUpdateFrequency 10 s, nodeLeaseDurationSeconds 40 s)
# (cmd/kubelet/app/server.go), sent as ?timeout=10s.
HEARTBEAT_TIMEOUT = 10.0


@dataclass
class KubeletState:
    live: bool = True
    last_lease: datetime | None = None
    last_status: datetime | None = None


class Kubelets:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.heartbeats = Writes(context, HEARTBEAT_TIMEOUT)
        self.writes = Writes(context)
        self.nodes: dict[str, KubeletState] = {}
        # Whether live kubelets remove deleted pods from their nodes (off in replays, whose
        # recorded cluster had heartbeats but no kubelets).
        self.finish_pods = True

    def add(self, name: str, live: bool = True, last_lease: datetime | None = None,
            last_status: datetime | None = None) -> None:
        self.nodes[name] = KubeletState(live, last_lease, last_status)

    def adopt_recorded(self, name: str, live: bool) -> None:
        """Continue from the heartbeats found in the store (replay)."""
        store = self.context.store
        lease = store.peek("leases", NODE_LEASE_NAMESPACE, name) or {}
        node = store.peek("nodes", None, name) or {}
        ready = _ready(node) or {}
        self.add(name, live, parse_time((lease.get("spec") or {}).get("renewTime")),
                 parse_time(ready.get("lastHeartbeatTime")))

    def remove(self, name: str) -> None:
        self.nodes.pop(name, None)

    def set_live(self, name: str, live: bool) -> None:
        if name not in self.nodes:
            raise KeyError(f"no kubelet for node {name!r}")
        state = self.nodes[name]
        if live and not state.live:
            # A kubelet coming back reports at once.
            state.last_lease = state.last_status = None
        state.live = live

    def tick(self, now: datetime) -> None:
        if not self.context.apiserver_answers():
            return
        store = self.context.store
        for name, state in self.nodes.items():
            if not state.live:
                continue
            due = state.last_lease is None or (now - state.last_lease).total_seconds() >= LEASE_RENEW_SECONDS
            if due and self._renew_lease(name, now) is None:
                state.last_lease = now
            node = store.peek("nodes", None, name)
            if node is None:
                continue
            ready = _ready(node)
            stale = state.last_status is None or (now - state.last_status).total_seconds() >= STATUS_REPORT_SECONDS
            if (stale or ready is None or ready.get("status") != "True") and self._post_status(node, now) is None:
                state.last_status = now
        if self.finish_pods:
            self._finish_terminating(now)

    def _renew_lease(self, name: str, now: datetime) -> Refusal | None:
        store = self.context.store
        lease = store.peek("leases", NODE_LEASE_NAMESPACE, name)
        if lease is None:
            node = store.peek("nodes", None, name)
            return None if node is None else self.heartbeats.create("leases", node_lease(node, now))
        return self.heartbeats.update("leases", {**lease, "metadata": dict(lease["metadata"]), "spec": {
            **lease["spec"], "holderIdentity": name, "renewTime": micro_time(now)}})

    def _post_status(self, node: dict, now: datetime) -> Refusal | None:
        stamp = rfc3339(now)
        conditions = []
        for condition in node.get("status", {}).get("conditions") or []:
            updated = dict(condition, lastHeartbeatTime=stamp)
            healthy = "True" if condition["type"] == "Ready" else "False"
            if condition.get("status") != healthy:
                updated.update(status=healthy, lastTransitionTime=stamp, **_HEALTHY.get(condition["type"], {}))
            conditions.append(updated)
        status = {**node.get("status", {}), "conditions": conditions}
        return self.heartbeats.update("nodes", {**node, "metadata": dict(node["metadata"]), "status": status},
                                      subresource="status")

    def _finish_terminating(self, now: datetime) -> None:
        """A live kubelet stops the containers of a deleted pod and removes the pod (its status
        manager's DELETE with grace period 0; with finalizers the pod stays, marked)."""
        store = self.context.store
        for node_name in store.index_values("pods", "terminating"):
            state = self.nodes.get(node_name)
            if not node_name or state is None or not state.live:
                continue
            for pod in store.indexed("pods", "terminating", node_name):
                metadata = pod["metadata"]
                if metadata.get("finalizers"):
                    if metadata.get("deletionGracePeriodSeconds") != 0:
                        self.writes.delete("pods", metadata["namespace"], metadata["name"], _final_delete)
                else:
                    self.writes.delete("pods", metadata["namespace"], metadata["name"])


def _final_delete(pod: dict) -> None:
    pod["metadata"]["deletionGracePeriodSeconds"] = 0


def _ready(node: dict) -> dict | None:
    for condition in node.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition
    return None


_HEALTHY = {
    "Ready": {"reason": "KubeletReady", "message": "kubelet is posting ready status"},
    "MemoryPressure": {"reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
    "DiskPressure": {"reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
    "PIDPressure": {"reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
}
