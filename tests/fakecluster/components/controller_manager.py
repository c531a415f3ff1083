"""kube-controller-manager: the controllers whose absence cpwatch detects.

Who calls it: the simulation tick; FakeCluster stops and starts it. Only the leader acts.
Modelled controllers and their Kubernetes timings:
- node lifecycle: every 5 s (node-monitor-period); a node whose heartbeat (node Lease renewal
  or Ready.lastHeartbeatTime) has not changed for 40 s (node-monitor-grace-period), measured on
  the controller's own observation clock, gets every condition Unknown and the
  node.kubernetes.io/unreachable taints; NoExecute evicts pods after their toleration (300 s
  by default). A newly elected controller-manager starts every node's grace period afresh.
- pod GC: every 20 s; pods bound to a node that does not exist are deleted once the node has
  been missing for a 40 s quarantine; terminating pods that were never scheduled go at once.
- Deployment controller: status.observedGeneration follows metadata.generation.
- ServiceAccount controller: every active namespace has a `default` ServiceAccount.
- namespace controller: a deleted namespace is emptied, then removed.
- HPA controller: every 15 s, whether each HPA's metrics API answers (autoscaler.py).
Each controller's items pass through its work queue (workqueues.py), which the EKS metrics
endpoint reports (eks_metrics.py): a wedged process's workers hang on their items.
Every write passes the apiserver's write path (writes.py); a refused one is tried again at the
controller's next pass: UPDATE nodes/status (Unknown conditions) and UPDATE nodes (taints),
DELETE pods (eviction, pod GC), UPDATE deployments/status, CREATE serviceaccounts, DELETE of a
deleted namespace's objects and UPDATE namespaces/finalize (the namespace deleter's Finalize,
pkg/controller/namespace/deletion), UPDATE horizontalpodautoscalers/status.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from ..clock import parse_time, rfc3339
from ..objects import NODE_LEASE_NAMESPACE, service_account
from ..resources import RESOURCES
from .autoscaler import SYNC_PERIOD as HPA_SYNC_PERIOD
from .autoscaler import sync_autoscalers
from .context import Context, Refusal
from .leader import LeaderElector
from .workqueues import NODE_LIFECYCLE, WorkQueues
from .writes import Writes

NODE_MONITOR_PERIOD = 5.0
NODE_MONITOR_GRACE = 40.0
POD_GC_PERIOD = 20.0
POD_GC_QUARANTINE = 40.0
UNREACHABLE = "node.kubernetes.io/unreachable"

_NEVER_UPDATED = {"reason": "NodeStatusNeverUpdated", "message": "Kubelet never posted node status."}
_UNKNOWN = {"reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}


class ControllerManager:
    name = "controller-manager"

    def __init__(self, context: Context) -> None:
        self.context = context
        self.writes = Writes(context)
        self.elector = LeaderElector(context, "kube-controller-manager")
        self.running = True
        self.wedged = False  # leader election goes on, the controllers do not (see FakeCluster.wedge_component)
        self.restarts = 0
        self.workqueues = WorkQueues()
        self._reset()

    def _reset(self) -> None:
        self._leading = False
        self._observed: dict[str, tuple[tuple, datetime]] = {}
        self._missing_since: dict[str, datetime] = {}
        self._next_monitor: datetime | None = None
        self._next_gc: datetime | None = None
        self._next_hpa: datetime | None = None

    # --- process control ----------------------------------------------------------------

    def stop(self, now: datetime, release_lease: bool = False) -> None:
        if release_lease:
            self.elector.release(now)
        self.elector.leader = False
        self.running = False
        self._reset()
        self.workqueues.reset()

    def start(self) -> None:
        if not self.running:
            self.running = True
            self.restarts += 1
            self.elector.restart()
            self._reset()
            self.workqueues.reset()

    def fail_over(self, now: datetime) -> None:
        """The leader process crashes; a standby instance (new identity, not wedged) takes the
        Lease once it has expired in its eyes and then starts every controller afresh."""
        self.running = True
        self.wedged = False
        self.elector.crash(now)
        self._reset()
        self.workqueues.reset()

    # --- loop ---------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        if not self.running:
            return
        leading = self.elector.tick(now)
        if not leading:
            if self._leading:
                self._reset()
                self.workqueues.reset()  # losing the Lease ends the process (leader.py)
            return
        if not self._leading:
            self._leading = True
            # Both loops run at once on start (wait.Until), then every period.
            self._next_monitor = now
            self._next_gc = now
            self._next_hpa = now
        # Each controller's items go through its work queue; a wedged process's workers hang,
        # and a stalled controller (FakeCluster.stall_controller) does no work of its own.
        store, queues, hung = self.context.store, self.workqueues, self.wedged
        namespaces = store.scan("namespaces")
        if queues.work("serviceaccount", [n["metadata"]["name"] for n in namespaces
                                          if not n["metadata"].get("deletionTimestamp")
                                          and store.peek("serviceaccounts", n["metadata"]["name"], "default") is None],
                       now, hung):
            self._service_accounts()
        if queues.work("namespace", [n["metadata"]["name"] for n in namespaces if n["metadata"].get("deletionTimestamp")],
                       now, hung):
            self._namespaces()
        if queues.work("deployment", [f"{d['metadata']['namespace']}/{d['metadata']['name']}"
                                      for d in store.scan("deployments")
                                      if (d.get("status") or {}).get("observedGeneration")
                                      != d["metadata"].get("generation", 1)], now, hung):
            self._deployments(now)
        if now >= self._next_monitor:
            self._next_monitor = now + timedelta(seconds=NODE_MONITOR_PERIOD)
            if queues.work(NODE_LIFECYCLE, [n["metadata"]["name"] for n in store.scan("nodes")], now, hung):
                self._monitor_nodes(now)
        if now >= self._next_gc and not hung:  # pod GC is a periodic loop, not a work queue
            self._next_gc = now + timedelta(seconds=POD_GC_PERIOD)
            self._pod_gc(now)
        if now >= self._next_hpa:
            self._next_hpa = now + timedelta(seconds=HPA_SYNC_PERIOD)
            hpas = [f"{h['metadata']['namespace']}/{h['metadata']['name']}"
                    for h in store.scan("horizontalpodautoscalers")]
            if queues.work("horizontalpodautoscaler", hpas, now, hung):
                sync_autoscalers(store, self.writes, now)

    # --- node lifecycle -------------------------------------------------------------------

    def _monitor_nodes(self, now: datetime) -> None:
        store = self.context.store
        seen = set()
        for node in store.scan("nodes"):
            name = node["metadata"]["name"]
            seen.add(name)
            lease = store.peek("leases", NODE_LEASE_NAMESPACE, name)
            ready = _condition(node, "Ready")
            heartbeat = (((lease or {}).get("spec") or {}).get("renewTime"),
                         (ready or {}).get("lastHeartbeatTime"))
            previous = self._observed.get(name)
            if previous is None or previous[0] != heartbeat:
                self._observed[name] = (heartbeat, now)
                probed = now
            else:
                probed = previous[1]
            silent = (now - probed).total_seconds()
            status = (ready or {}).get("status")
            if silent > NODE_MONITOR_GRACE and status != "Unknown":
                # The conditions through nodes/status, then the NoSchedule taint by a node PATCH.
                if self.writes.mutate("nodes", None, name, lambda obj: _mark_unknown(obj, now),
                                      subresource="status") is None:
                    self._taint_unreachable(name, "NoSchedule", now)
            elif status == "Unknown" and silent > NODE_MONITOR_GRACE:
                self._taint_unreachable(name, "NoSchedule", now)
                self._taint_unreachable(name, "NoExecute", now)
                self._evict(node, now)
            elif status == "True" and _has_taint(node, UNREACHABLE):
                self.writes.mutate("nodes", None, name, _remove_unreachable)
        for name in set(self._observed) - seen:
            del self._observed[name]

    def _taint_unreachable(self, name: str, effect: str, now: datetime) -> None:
        node = self.context.store.peek("nodes", None, name)
        if node is not None and not _has_taint(node, UNREACHABLE, effect):
            self.writes.mutate("nodes", None, name, lambda obj: _add_taint(obj, UNREACHABLE, effect, now))

    def _evict(self, node: dict, now: datetime) -> None:
        """Taint-based eviction of pods on an unreachable node (NoExecute taint manager)."""
        taint = _taint(node, UNREACHABLE, "NoExecute")
        if taint is None:
            return
        added = parse_time(taint.get("timeAdded")) or now
        store = self.context.store
        for pod in store.indexed("pods", "spec.nodeName", node["metadata"]["name"]):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            tolerated_for = _toleration_seconds(pod, UNREACHABLE)
            if tolerated_for is None:
                continue
            if now >= added + timedelta(seconds=tolerated_for):
                self.writes.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                                   lambda obj: _graceful_delete(obj, now))

    # --- pod GC -------------------------------------------------------------------------

    def _pod_gc(self, now: datetime) -> None:
        store = self.context.store
        for node_name in store.index_values("pods", "spec.nodeName"):
            if not node_name or store.peek("nodes", None, node_name) is not None:
                self._missing_since.pop(node_name, None)
                continue
            first_seen = self._missing_since.setdefault(node_name, now)
            if (now - first_seen).total_seconds() >= POD_GC_QUARANTINE:
                refused = [pod for pod in store.indexed("pods", "spec.nodeName", node_name)
                           if self._force_delete(pod, now) is not None]
                if not refused:
                    del self._missing_since[node_name]
        for pod in store.indexed("pods", "terminating", ""):
            self._force_delete(pod, now)

    def _force_delete(self, pod: dict, now: datetime) -> Refusal | None:
        """Pod GC's DELETE with grace period 0: gone, or marked while finalizers hold it."""
        metadata = pod["metadata"]
        if metadata.get("finalizers"):
            if metadata.get("deletionGracePeriodSeconds") == 0:
                return None
            return self.writes.delete("pods", metadata["namespace"], metadata["name"],
                                      lambda obj: _graceful_delete(obj, now, 0))
        return self.writes.delete("pods", metadata["namespace"], metadata["name"])

    # --- deployments, service accounts, namespaces ----------------------------------------

    def _deployments(self, now: datetime) -> None:
        store = self.context.store
        for deployment in store.scan("deployments"):
            generation = deployment["metadata"].get("generation", 1)
            if (deployment.get("status") or {}).get("observedGeneration") != generation:
                metadata = deployment["metadata"]
                self.writes.mutate("deployments", metadata["namespace"], metadata["name"],
                                   lambda obj: _observe_deployment(obj, now), subresource="status")

    def _service_accounts(self) -> None:
        store = self.context.store
        for namespace in store.scan("namespaces"):
            name = namespace["metadata"]["name"]
            if namespace["metadata"].get("deletionTimestamp"):
                continue
            if store.peek("serviceaccounts", name, "default") is None:
                self.writes.create("serviceaccounts", service_account(name))

    def _namespaces(self) -> None:
        store = self.context.store
        for namespace in store.scan("namespaces"):
            metadata = namespace["metadata"]
            if not metadata.get("deletionTimestamp"):
                continue
            name = metadata["name"]
            left = 0
            for plural, rt in RESOURCES.items():
                if rt.namespaced:
                    for obj in store.scan(plural, name):
                        left += self.writes.delete(plural, name, obj["metadata"]["name"]) is not None
            if not left and not metadata.get("finalizers"):
                self.writes.delete("namespaces", None, name, operation="UPDATE", subresource="finalize")


def _condition(node: dict, kind: str) -> dict | None:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def _mark_unknown(node: dict, now: datetime) -> None:
    stamp = rfc3339(now)
    status = node.setdefault("status", {})
    conditions = status.setdefault("conditions", [])
    present = {condition.get("type") for condition in conditions}
    for condition in conditions:
        condition.update(status="Unknown", lastTransitionTime=stamp, **_UNKNOWN)
    created = node["metadata"].get("creationTimestamp", stamp)
    for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        if kind not in present:
            conditions.append({"type": kind, "status": "Unknown", "lastHeartbeatTime": created,
                               "lastTransitionTime": stamp, **_NEVER_UPDATED})


def _taint(node: dict, key: str, effect: str) -> dict | None:
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("key") == key and taint.get("effect") == effect:
            return taint
    return None


def _has_taint(node: dict, key: str, effect: str | None = None) -> bool:
    return any(taint.get("key") == key and effect in (None, taint.get("effect"))
               for taint in (node.get("spec") or {}).get("taints") or [])


def _add_taint(node: dict, key: str, effect: str, now: datetime) -> None:
    if not _has_taint(node, key, effect):
        node.setdefault("spec", {}).setdefault("taints", []).append(
            {"key": key, "effect": effect, "timeAdded": rfc3339(now)})


def _remove_unreachable(node: dict) -> None:
    spec = node.setdefault("spec", {})
    spec["taints"] = [t for t in spec.get("taints") or [] if t.get("key") != UNREACHABLE]
    if not spec["taints"]:
        del spec["taints"]


def _toleration_seconds(pod: dict, key: str) -> float | None:
    """Seconds the pod tolerates a NoExecute taint `key`: 0 if not at all, None if forever."""
    for toleration in (pod.get("spec") or {}).get("tolerations") or []:
        if toleration.get("effect") not in (None, "", "NoExecute"):
            continue
        if toleration.get("operator") == "Exists" and not toleration.get("key") or toleration.get("key") == key:
            seconds = toleration.get("tolerationSeconds")
            return None if seconds is None else max(0.0, float(seconds))
    return 0.0


def _graceful_delete(pod: dict, now: datetime, grace: int | None = None) -> None:
    metadata = pod["metadata"]
    if grace is None:
        grace = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
    if not metadata.get("deletionTimestamp"):
        metadata["deletionTimestamp"] = rfc3339(now + timedelta(seconds=grace))
    metadata["deletionGracePeriodSeconds"] = grace


def _observe_deployment(deployment: dict, now: datetime) -> None:
    metadata = deployment["metadata"]
    generation = metadata.get("generation", 1)
    spec = deployment.get("spec") or {}
    status = deployment.setdefault("status", {})
    status["observedGeneration"] = generation
    metadata.setdefault("annotations", {}).setdefault("deployment.kubernetes.io/revision", "1")
    if spec.get("replicas", 1) == 0:
        for field in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            status.pop(field, None)
        stamp = rfc3339(now)
        status["conditions"] = [
            {"type": "Available", "status": "True", "lastUpdateTime": stamp, "lastTransitionTime": stamp,
             "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True", "lastUpdateTime": stamp, "lastTransitionTime": stamp,
             "reason": "NewReplicaSetAvailable",
             "message": f'ReplicaSet "{metadata["name"]}-{_template_hash(spec)}" has successfully progressed.'},
        ]


def _template_hash(spec: dict) -> str:
    digest = hashlib.sha256(json.dumps(spec.get("template", {}), sort_keys=True).encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[int(digest[i:i + 2], 16) % len(alphabet)] for i in range(0, 20, 2))
