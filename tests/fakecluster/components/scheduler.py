"""kube-scheduler: binds pending pods, or marks them Unschedulable with a FailedScheduling event.

Who calls it: the simulation tick (and a poke right after a pod is created); FakeCluster stops,
starts and fails it over. Only the leader acts. Filters, in the scheduler's plugin order, each
node reporting the first one that fails: NodeUnschedulable, TaintToleration (NoSchedule and
NoExecute taints), NodeAffinity (nodeSelector). Messages use the format of the recorded
scheduler. An unschedulable pod is retried every 60 s or when the nodes change.

Binding follows pkg/scheduler/schedule_one.go: the pod is assumed on the chosen node and bound
asynchronously by the DefaultBinder's CREATE pods/binding, which passes admission like any
write; it completes when the apiserver answers (a hanging webhook's deadline later, in
simulated time). A refused binding goes to the FailureHandler (handleBindingCycleError,
handleSchedulingFailure): the pod stays unbound, gets PodScheduled=False reason SchedulerError
with the message `binding rejected: running Bind plugin "DefaultBinder": <apiserver's
message>` (as recorded in webhook-on-binding.json), a Warning FailedScheduling event (events.py)
and waits in the backoff queue: podInitialBackoffSeconds 1 s, doubling per attempt up to
podMaxBackoffSeconds 10 s (calculateBackoffDuration). Writes: CREATE pods/binding, UPDATE
pods/status, CREATE (and PATCH) events.k8s.io events.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..clock import rfc3339
from .context import Context, Refusal
from .events import EventRecorder
from .leader import LeaderElector
from .writes import Writes

RETRY_SECONDS = 60.0
DEFAULT_SCHEDULER = "default-scheduler"
INITIAL_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0
NOTE_LENGTH_LIMIT = 1024  # events' note limit (validation.NoteLengthLimit); truncateMessage
BIND_PLUGIN = "DefaultBinder"


@dataclass
class _Binding:
    """A binding cycle under way: the apiserver answers at `done`."""

    pod: dict  # the pod as it was scheduled
    node: str
    done: datetime
    refusal: Refusal | None


class Scheduler:
    name = "scheduler"

    def __init__(self, context: Context) -> None:
        self.context = context
        self.writes = Writes(context)
        self.elector = LeaderElector(context, "kube-scheduler")
        self.events = EventRecorder(self.writes)
        self.running = True
        self.wedged = False  # leader election goes on, scheduling does not (see FakeCluster.wedge_component)
        self.restarts = 0
        self.attempt_results: Counter[str] = Counter()  # scheduler_schedule_attempts_total by result
        self._reset()

    def _reset(self) -> None:
        """A new process: empty queues and caches."""
        self._process = self.elector.process
        self._attempts: dict[str, tuple[datetime, tuple]] = {}  # unschedulable pod uid -> (when, nodes seen)
        self._tries: Counter[str] = Counter()  # pod uid -> scheduling attempts (QueuedPodInfo.Attempts)
        self._backoff: dict[str, datetime] = {}  # pod uid -> end of its backoff after an error
        self._binding: dict[str, _Binding] = {}  # pod uid -> its binding cycle
        self.attempt_results.clear()
        self.events.reset()

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
            self._reset()

    def fail_over(self, now: datetime) -> None:
        """The leader process crashes; a standby instance (new identity, not wedged) takes the
        Lease once it has expired in its eyes and then starts scheduling with empty queues."""
        self.running = True
        self.wedged = False
        self.elector.crash(now)
        self._reset()

    def remember_attempts(self, now: datetime) -> None:
        """Continue the recorded process (replay start): pods already marked Unschedulable count
        as attempted now, those that failed with an error wait in the backoff queue, and the
        recorded events are in the events library's cache."""
        for pod in self._pending():
            condition = _scheduled_condition(pod)
            uid = pod["metadata"].get("uid", "")
            if condition and condition.get("reason") == "SchedulerError":
                self._tries[uid] = 1
                self._backoff[uid] = now + timedelta(seconds=INITIAL_BACKOFF_SECONDS)
            elif condition:
                self._attempts[uid] = (now, ())
        self.events.adopt(self.context.store.scan("events"))

    def tick(self, now: datetime) -> None:
        if not self.running:
            return
        leading = self.elector.tick(now)
        if self.elector.process != self._process:
            self._reset()  # the process exited (lost its Lease) and runs again
        if not leading or self.wedged:
            return
        self.events.tick(now)
        self._finish_bindings(now)
        pending = self._pending()
        if not pending:
            return
        nodes = self.context.store.scan("nodes")
        signature = _nodes_signature(nodes)
        live_uids = set()
        for pod in pending:
            uid = pod["metadata"].get("uid", "")
            live_uids.add(uid)
            if uid in self._binding or now < self._backoff.get(uid, now):
                continue
            previous = self._attempts.get(uid)
            if previous is not None and _scheduled_condition(pod):
                when, seen = previous
                if (now - when).total_seconds() < RETRY_SECONDS and (seen == () or seen == signature):
                    continue
            self._schedule(pod, nodes, signature, now)
        for table in (self._attempts, self._tries, self._backoff):
            for uid in set(table) - live_uids - set(self._binding):
                del table[uid]

    def pending_queues(self) -> dict[str, int]:
        """scheduler_pending_pods by queue: never attempted pods wait in the active queue,
        attempted unschedulable ones in unschedulable (retried every RETRY_SECONDS), those whose
        binding failed in backoff until it ends, gated ones apart; a pod being bound is in none."""
        now = self.context.clock.now()
        pods = [pod for pod in self.context.store.indexed("pods", "spec.nodeName", "")
                if (pod.get("spec") or {}).get("schedulerName", DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER
                and not pod["metadata"].get("deletionTimestamp")
                and (pod.get("status") or {}).get("phase", "Pending") == "Pending"]
        gated = sum(1 for pod in pods if pod["spec"].get("schedulingGates"))
        uids = [pod["metadata"].get("uid", "") for pod in self._pending()]
        binding = sum(1 for uid in uids if uid in self._binding)
        backoff = sum(1 for uid in uids if uid not in self._binding and self._backoff.get(uid, now) > now)
        attempted = sum(1 for uid in uids if uid in self._attempts and uid not in self._backoff
                        and uid not in self._binding)
        return {"active": len(pods) - gated - attempted - backoff - binding, "backoff": backoff,
                "unschedulable": attempted, "gated": gated}

    def _pending(self) -> list[dict]:
        return [pod for pod in self.context.store.indexed("pods", "spec.nodeName", "")
                if (pod.get("spec") or {}).get("schedulerName", DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER
                and not pod["spec"].get("schedulingGates")
                and not pod["metadata"].get("deletionTimestamp")
                and (pod.get("status") or {}).get("phase", "Pending") == "Pending"]

    # --- scheduling cycle -----------------------------------------------------------------

    def _schedule(self, pod: dict, nodes: list[dict], signature: tuple, now: datetime) -> None:
        uid = pod["metadata"].get("uid", "")
        self._tries[uid] += 1
        reasons: Counter[str] = Counter()
        feasible = []
        for node in nodes:
            reason = _filter(pod, node)
            if reason is None:
                feasible.append(node)
            else:
                reasons[reason] += 1
        if not feasible:
            self._attempts[uid] = (now, signature)
            self._backoff.pop(uid, None)
            self.attempt_results["unschedulable"] += 1
            if nodes:
                details = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
                message = f"0/{len(nodes)} nodes are available: {details}."
            else:
                message = "no nodes available to schedule pods"
            self._failed(pod, "Unschedulable", message, now)
            return
        self._attempts.pop(uid, None)
        store = self.context.store
        assumed = Counter(binding.node for binding in self._binding.values())
        target = min(feasible, key=lambda n: (store.index_count("pods", "spec.nodeName", n["metadata"]["name"])
                                              + assumed[n["metadata"]["name"]], n["metadata"]["name"]))
        node_name = target["metadata"]["name"]
        metadata = pod["metadata"]
        binding = {"kind": "Binding", "apiVersion": "v1",
                   "metadata": {"name": metadata["name"], "namespace": metadata["namespace"], "uid": uid},
                   "target": {"kind": "Node", "name": node_name}}
        refusal = self.writes.create("pods", binding, subresource="binding", store=False)
        self._binding[uid] = _Binding(pod, node_name, now + timedelta(seconds=refusal.seconds if refusal else 0),
                                      refusal)
        self._finish_bindings(now)

    # --- binding cycle --------------------------------------------------------------------

    def _finish_bindings(self, now: datetime) -> None:
        for uid, binding in list(self._binding.items()):
            if now < binding.done:
                continue
            del self._binding[uid]
            metadata = binding.pod["metadata"]
            if binding.refusal is None:
                # The binding's storage sets nodeName and PodScheduled=True (pod registry, assignPod).
                self.context.store.mutate("pods", metadata["namespace"], metadata["name"],
                                          lambda obj: _bind(obj, binding.node, now))
                self._backoff.pop(uid, None)
                self.attempt_results["scheduled"] += 1
                self.events.record(binding.pod, "Normal", "Scheduled", "Binding",
                                   f"Successfully assigned {metadata['namespace']}/{metadata['name']} to "
                                   f"{binding.node}", now)
                continue
            self.attempt_results["error"] += 1
            self._backoff[uid] = now + timedelta(seconds=_backoff_seconds(self._tries[uid]))
            current = self.context.store.peek("pods", metadata["namespace"], metadata["name"])
            if current is not None and not (current.get("spec") or {}).get("nodeName"):
                self._failed(binding.pod, "SchedulerError",
                             f'binding rejected: running Bind plugin "{BIND_PLUGIN}": {binding.refusal.message}', now)

    def _failed(self, pod: dict, reason: str, message: str, now: datetime) -> None:
        """handleSchedulingFailure: the event regarding the pod as it was scheduled, then the
        PodScheduled condition (written only when it changes)."""
        note = message if len(message) <= NOTE_LENGTH_LIMIT else message[:NOTE_LENGTH_LIMIT - 4] + " ..."
        self.events.record(pod, "Warning", "FailedScheduling", "Scheduling", note, now)
        metadata = pod["metadata"]
        self.writes.mutate("pods", metadata["namespace"], metadata["name"],
                           lambda obj: _not_scheduled(obj, reason, message, now), subresource="status")


def _backoff_seconds(attempts: int) -> float:
    """calculateBackoffDuration: 1 s for the first attempt, doubling, at most 10 s."""
    return min(INITIAL_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


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


def _not_scheduled(pod: dict, reason: str, message: str, now: datetime) -> bool:
    """podutil.UpdatePodCondition: False when the condition is already so (no write)."""
    status = pod.setdefault("status", {})
    conditions = status.setdefault("conditions", [])
    for condition in conditions:
        if condition.get("type") == "PodScheduled":
            if condition.get("status") == "False" and condition.get("reason") == reason \
                    and condition.get("message") == message:
                return False
            if condition.get("status") != "False":
                condition["lastTransitionTime"] = rfc3339(now)
            condition.update(status="False", reason=reason, message=message, lastProbeTime=None)
            return True
    conditions.append({"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                       "lastTransitionTime": rfc3339(now), "reason": reason, "message": message})
    return True
