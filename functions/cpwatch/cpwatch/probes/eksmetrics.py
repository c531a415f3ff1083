"""The EKS control-plane metrics API: reading its Prometheus text and judging it (pure).

Called by probes/eks_metrics.py (both of its probes). EKS (1.28 and later) serves the
metrics of its kube-controller-manager and kube-scheduler through the apiserver, as an
aggregated API: GET /apis/metrics.eks.amazonaws.com/v1/{kcm,ksh}/container/metrics (RBAC:
resources kcm/metrics and ksh/metrics, verb get). Only the lines of the series used here are
parsed, with prometheus_client's parser; the rest of the exposition is skipped unread.

What the series mean (k8s.io/client-go util/workqueue, exported by component-base as
workqueue_*; `name` is the queue's name, which is the controller's: node_lifecycle_controller,
horizontalpodautoscaler, job, endpoint, ...):
- workqueue_depth: items ready and waiting for a worker (items waiting out a rate-limit or
  AddAfter delay are not counted until they are ready);
- workqueue_queue_duration_seconds (histogram): observed when a worker takes an item, so its
  _count is the number of items ever taken;
- workqueue_unfinished_work_seconds: the sum of the ages of the items being processed now;
- workqueue_longest_running_processor_seconds: the age of the oldest item being processed now.
A worker blocked in Get() receives an item the moment it is ready, so ready items that no
worker takes while no worker is busy mean the controller's workers do not run; a worker busy
with one item for minutes means it hangs. kube-scheduler: scheduler_pending_pods{queue} (active,
backoff, unschedulable, gated) and scheduler_schedule_attempts_total{result}; its loop pops the
active queue continuously, so pods waiting there while no attempt is counted mean it is stuck.
leader_election_master_status{name} says whether the answering instance leads: a standby
kube-scheduler queues pending pods it never attempts, so only a leader's queues are judged.
"""

from __future__ import annotations

from dataclasses import dataclass

from .prometheus_text import metric_families

GROUP_PATH = "/apis/metrics.eks.amazonaws.com/v1"
KCM_PATH = f"{GROUP_PATH}/kcm/container/metrics"
KSH_PATH = f"{GROUP_PATH}/ksh/container/metrics"
KCM_LEASE = "kube-controller-manager"
KSH_LEASE = "kube-scheduler"

_LEADER = "leader_election_master_status"
_QUEUE_SERIES = ("workqueue_depth", "workqueue_adds_total", "workqueue_queue_duration_seconds",
                 "workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds")
_SCHEDULER_SERIES = ("scheduler_pending_pods", "scheduler_schedule_attempts_total")
PENDING_QUEUES = ("active", "backoff", "unschedulable", "gated")


class MetricsTextError(ValueError):
    """The answer is not Prometheus text exposition."""


@dataclass(frozen=True)
class WorkQueue:
    name: str
    depth: float = 0.0
    adds: float = 0.0
    taken: float = 0.0  # items handed to a worker (workqueue_queue_duration_seconds_count)
    unfinished_s: float = 0.0
    longest_running_s: float = 0.0


@dataclass(frozen=True)
class ControllerManagerLook:
    leader: bool | None  # None: the exposition does not say
    queues: dict[str, WorkQueue]


@dataclass(frozen=True)
class SchedulerLook:
    leader: bool | None
    pending: dict[str, float]  # queue -> pods
    attempts: float  # scheduling attempts of every result since the process started


@dataclass(frozen=True)
class StuckQueue:
    queue: WorkQueue
    rule: str  # "worker-hung" or "workers-idle"
    first_depth: float


def parse_controller_manager(text: str) -> ControllerManagerLook:
    samples = _samples(text, (*_QUEUE_SERIES, _LEADER))
    fields: dict[str, dict[str, float]] = {}
    for name, labels, value in samples:
        queue = labels.get("name")
        field = _QUEUE_FIELDS.get(name)  # None for the leader series, whose `name` is its Lease
        if field and queue:
            fields.setdefault(queue, {})[field] = value
    queues = {queue: WorkQueue(queue, **values) for queue, values in sorted(fields.items())}
    return ControllerManagerLook(_leader(samples, KCM_LEASE), queues)


_QUEUE_FIELDS = {
    "workqueue_depth": "depth",
    "workqueue_adds_total": "adds",
    "workqueue_queue_duration_seconds_count": "taken",
    "workqueue_unfinished_work_seconds": "unfinished_s",
    "workqueue_longest_running_processor_seconds": "longest_running_s",
}


def parse_scheduler(text: str) -> SchedulerLook:
    samples = _samples(text, (*_SCHEDULER_SERIES, _LEADER))
    pending = {queue: 0.0 for queue in PENDING_QUEUES}
    attempts = 0.0
    for name, labels, value in samples:
        if name == "scheduler_pending_pods" and labels.get("queue"):
            pending[labels["queue"]] = pending.get(labels["queue"], 0.0) + value
        elif name == "scheduler_schedule_attempts_total":
            attempts += value  # one series per profile and result
    return SchedulerLook(_leader(samples, KSH_LEASE), pending, attempts)


def hung_workers(look: ControllerManagerLook, stuck_after_s: float) -> list[StuckQueue]:
    """Queues whose oldest item in processing has been running for stuck_after_s or longer."""
    return [StuckQueue(queue, "worker-hung", queue.depth) for queue in look.queues.values()
            if queue.longest_running_s >= stuck_after_s]


def waiting_without_workers(look: ControllerManagerLook) -> list[WorkQueue]:
    """Queues holding ready items while no worker processes anything: a second look decides."""
    return [queue for queue in look.queues.values() if queue.depth > 0 and queue.unfinished_s == 0]


def idle_workers(first: ControllerManagerLook, second: ControllerManagerLook) -> list[StuckQueue]:
    """Queues that held ready items at both looks, with no item taken and no worker busy in
    between, and not fewer items at the second: the controller's workers are not running."""
    stuck = []
    for before in waiting_without_workers(first):
        after = second.queues.get(before.name)
        if after is None or after.unfinished_s > 0:
            continue
        # before.depth > 0, so the second condition also means items still wait
        if after.taken == before.taken and after.depth >= before.depth:
            stuck.append(StuckQueue(after, "workers-idle", before.depth))
    return stuck


def scheduler_stalled(first: SchedulerLook, second: SchedulerLook) -> bool:
    """Pods ready to schedule at both looks and not one attempt in between."""
    return first.pending["active"] > 0 and second.pending["active"] > 0 and second.attempts == first.attempts


def _leader(samples: list[tuple[str, dict[str, str], float]], lease: str) -> bool | None:
    values = [value for name, labels, value in samples if name == _LEADER and labels.get("name") == lease]
    return None if not values else any(value == 1 for value in values)


def _samples(text: str, families: tuple[str, ...]) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of the wanted families' samples; histogram buckets are skipped."""
    wanted = tuple(f"{family}{{" for family in families) + tuple(f"{family} " for family in families) \
        + tuple(f"{family}_count" for family in families)
    types = tuple(f"# TYPE {family} " for family in families)
    lines = [line for line in text.splitlines() if line.startswith(wanted) or line.startswith(types)]
    try:
        return [(sample.name, dict(sample.labels), float(sample.value))
                for family in metric_families("\n".join(lines) + "\n")
                for sample in family.samples if sample.value == sample.value]  # not NaN
    except ValueError as error:
        raise MetricsTextError(f"not Prometheus text: {str(error)[:120]}") from None

