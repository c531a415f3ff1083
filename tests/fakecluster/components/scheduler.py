"""kube-scheduler: binds pending pods, or marks them Unschedulable with a FailedScheduling event.

Who calls it: the simulation tick (and a poke right after a pod is created); FakeCluster stops
and starts it. Only the leader acts. Filters, in the scheduler's plugin order, each node
reporting the first one that fails: NodeUnschedulable, TaintToleration (NoSchedule and
NoExecute taints), NodeAffinity (nodeSelector). Messages use the format of the recorded
scheduler. An unschedulable pod is retried every 60 s or when the nodes change.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from ..clock import rfc3339
from ..objects import event
from .context import Context
from .leader import LeaderElector

RETRY_SECONDS = 60.0
DEFAULT_SCHEDULER = "default-scheduler"


class Scheduler:
    name = "scheduler"

    def __init__(self, context: Context) -> None:
        self.context = context
        self.elector = LeaderElector(context, "kube-scheduler")
        self.running = True
        self.wedged = False  # leader election goes on, scheduling does not (see FakeCluster.wedge_component)
        self.restarts = 0
        self._attempts: dict[str, tuple[datetime, tuple]] = {}  # pod uid -> (when, nodes seen)
        self.attempt_results: Counter[str] = Counter()  # scheduler_schedule_attempts_total by result

    def stop(self, now: datetime, release_lease: bool = False) -> None:
        if release_lease:
            self.elector.release(now)
        self.elector.leader = False
        self.running = False

    def start(self) -> None:
        if not self.running:
            self.running = True
            self.restarts += 1
            self.elector.restart()
            self._attempts.clear()
            self.attempt_results.clear()

    def remember_attempts(self, now: datetime) -> None:
        """Treat pods already marked Unschedulable as attempted now (replay start)."""
        for pod in self._pending():
            if _scheduled_condition(pod):
                self._attempts[pod["metadata"].get("uid", "")] = (now, ())

    def tick(self, now: datetime) -> None:
        if not self.running or not self.elector.tick(now) or self.wedged:
            return
        pending = self._pending()
        if not pending:
            return
        nodes = self.context.store.scan("nodes")
        signature = _nodes_signature(nodes)
        live_uids = set()
        for pod in pending:
            uid = pod["metadata"].get("uid", "")
            live_uids.add(uid)
            previous = self._attempts.get(uid)
            if previous is not None and _scheduled_condition(pod):
                when, seen = previous
                if (now - when).total_seconds() < RETRY_SECONDS and (seen == () or seen == signature):
                    continue
            self._attempts[uid] = (now, signature)
            self._schedule(pod, nodes, now)
        for uid in set(self._attempts) - live_uids:
            del self._attempts[uid]

    def pending_queues(self) -> dict[str, int]:
        """scheduler_pending_pods by queue: never attempted pods wait in the active queue,
        attempted ones in unschedulable (retried every RETRY_SECONDS, without a backoff queue),
        gated ones apart."""
        pods = [pod for pod in self.context.store.indexed("pods", "spec.nodeName", "")
                if (pod.get("spec") or {}).get("schedulerName", DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER
                and not pod["metadata"].get("deletionTimestamp")
                and (pod.get("status") or {}).get("phase", "Pending") == "Pending"]
        gated = sum(1 for pod in pods if pod["spec"].get("schedulingGates"))
        attempted = sum(1 for pod in self._pending() if pod["metadata"].get("uid", "") in self._attempts)
        return {"active": len(pods) - gated - attempted, "backoff": 0, "unschedulable": attempted, "gated": gated}

    def _pending(self) -> list[dict]:
        return [pod for pod in self.context.store.indexed("pods", "spec.nodeName", "")
                if (pod.get("spec") or {}).get("schedulerName", DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER
                and not pod["spec"].get("schedulingGates")
                and not pod["metadata"].get("deletionTimestamp")
                and (pod.get("status") or {}).get("phase", "Pending") == "Pending"]

    def _schedule(self, pod: dict, nodes: list[dict], now: datetime) -> None:
        reasons: Counter[str] = Counter()
        feasible = []
        for node in nodes:
            reason = _filter(pod, node)
            if reason is None:
                feasible.append(node)
            else:
                reasons[reason] += 1
        store = self.context.store
        metadata = pod["metadata"]
        self.attempt_results["scheduled" if feasible else "unschedulable"] += 1
        if feasible:
            target = min(feasible, key=lambda n: (store.index_count("pods", "spec.nodeName", n["metadata"]["name"]),
                                                  n["metadata"]["name"]))["metadata"]["name"]
            store.mutate("pods", metadata["namespace"], metadata["name"], lambda obj: _bind(obj, target, now))
            store.create("events", event(pod, "Scheduled",
                                         f"Successfully assigned {metadata['namespace']}/{metadata['name']} "
                                         f"to {target}", now, event_type="Normal", action="Binding"))
            return
        if nodes:
            details = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
            message = f"0/{len(nodes)} nodes are available: {details}."
        else:
            message = "no nodes available to schedule pods"
        updated = store.mutate("pods", metadata["namespace"], metadata["name"],
                               lambda obj: _unschedulable(obj, message, now))
        store.create("events", event(updated or pod, "FailedScheduling", message, now))


def _nodes_signature(nodes: list[dict]) -> tuple:
    """What scheduling decisions depend on, without the heartbeats that change every minute."""
    return tuple((n["metadata"]["name"], bool((n.get("spec") or {}).get("unschedulable")),
                  tuple((t.get("key"), t.get("effect")) for t in (n.get("spec") or {}).get("taints") or ()))
                 for n in nodes)


def _scheduled_condition(pod: dict) -> dict | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled":
            return condition
    return None


def _filter(pod: dict, node: dict) -> str | None:
    spec = node.get("spec") or {}
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    if spec.get("unschedulable") and not _tolerates(tolerations, {"key": "node.kubernetes.io/unschedulable",
                                                                  "effect": "NoSchedule"}):
        return "node(s) were unschedulable"
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint):
            return f"node(s) had taint {{{taint.get('key')}: {taint.get('value', '')}}}, that the pod didn't tolerate"
    labels = node["metadata"].get("labels") or {}
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    if any(labels.get(key) != value for key, value in selector.items()):
        return "node(s) didn't match Pod's node affinity/selector"
    return None


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration.get("key") == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def _bind(pod: dict, node_name: str, now: datetime) -> None:
    pod["spec"]["nodeName"] = node_name
    status = pod.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                       "lastTransitionTime": rfc3339(now)})
    status["conditions"] = conditions


def _unschedulable(pod: dict, message: str, now: datetime) -> bool:
    status = pod.setdefault("status", {})
    conditions = status.setdefault("conditions", [])
    for condition in conditions:
        if condition.get("type") == "PodScheduled":
            if condition.get("status") == "False" and condition.get("reason") == "Unschedulable" \
                    and condition.get("message") == message:
                return False
            if condition.get("status") != "False":
                condition["lastTransitionTime"] = rfc3339(now)
            condition.update(status="False", reason="Unschedulable", message=message, lastProbeTime=None)
            return True
    conditions.append({"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                       "lastTransitionTime": rfc3339(now), "reason": "Unschedulable", "message": message})
    return True
