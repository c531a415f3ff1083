"""The controller-manager's work queues, kept as client-go's workqueue counts them.

Who calls it: components/controller_manager.py (each controller's sync hands its items here and
does its work only if a worker takes them) and eks_metrics.py (renders the workqueue_* series).
client-go: Add() counts adds and depth; a worker's Get() takes a ready item (depth - 1, and the
queue_duration histogram observes it); Done() ends the processing (work_duration observes it).
A stalled controller is either `hung` (its worker holds one item: unfinished_work_seconds and
longest_running_processor_seconds grow with the clock while new items pile up in depth) or
`idle` (no worker runs, as while a controller waits for its informers to sync: items pile up,
nothing is taken, nothing is in processing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

# Queue names of the modelled controllers, as kube-controller-manager names them.
NODE_LIFECYCLE = "node_lifecycle_controller"
QUEUES = (NODE_LIFECYCLE, "deployment", "serviceaccount", "namespace", "horizontalpodautoscaler")


@dataclass
class QueueState:
    adds: int = 0
    taken: int = 0
    waiting: set[str] = field(default_factory=set)  # ready keys; depth is their number
    work_seconds: float = 0.0  # sum of finished processing times (work_duration_seconds_sum)
    hung_since: datetime | None = None  # the item a hung worker holds, since when

    @property
    def depth(self) -> int:
        return len(self.waiting)


class WorkQueues:
    def __init__(self) -> None:
        self.queues = {name: QueueState() for name in QUEUES}
        self.stalled: dict[str, str] = {}  # queue -> "hung" | "idle" (FakeCluster.stall_controller)

    def stall(self, name: str, mode: str | None) -> None:
        if name not in self.queues:
            raise ValueError(f"unknown work queue {name!r}; expected one of {', '.join(QUEUES)}")
        if mode not in (None, "hung", "idle"):
            raise ValueError(f"a controller stalls 'hung' or 'idle', not {mode!r}")
        if mode is None:
            self.stalled.pop(name, None)
            self.queues[name].hung_since = None  # the worker returns; the next sync takes the backlog
        else:
            self.stalled[name] = mode

    def unhang_all(self) -> None:
        for name, queue in self.queues.items():
            if self.stalled.get(name) != "hung":
                queue.hung_since = None

    def reset(self) -> None:
        """A new process: counters start again; a hung worker died with the old one."""
        self.queues = {name: QueueState() for name in QUEUES}

    def work(self, name: str, keys: Iterable[str], now: datetime, all_hung: bool = False) -> bool:
        """Add `keys` (a key already waiting is not added again, as in client-go); True when a
        worker takes what waits (the controller then does its work)."""
        queue = self.queues[name]
        new = set(keys) - queue.waiting
        queue.adds += len(new)
        queue.waiting |= new
        mode = "hung" if all_hung else self.stalled.get(name)
        if mode == "idle":
            return False
        if mode == "hung":
            if queue.hung_since is None and queue.waiting:
                queue.waiting.pop()  # the worker took one item and never returns from it
                queue.taken += 1
                queue.hung_since = now
            return False
        if queue.hung_since is not None:
            return False  # the hung worker still holds its item
        queue.taken += queue.depth
        queue.work_seconds += 0.004 * queue.depth  # a few ms per item: a few API calls
        queue.waiting.clear()
        return True

    def longest_running_s(self, name: str, now: datetime) -> float:
        since = self.queues[name].hung_since
        return 0.0 if since is None else max((now - since).total_seconds(), 0.0)
