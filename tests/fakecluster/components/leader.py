"""Leader election on a kube-system Lease, as client-go's leaderelection package does it.

Who calls it: the controller-manager and the scheduler. A process that cannot renew for longer
than the renew deadline loses the lease and exits (the static pod restarts it); the next
process takes over with a new identity and leaseTransitions + 1. Kubernetes' defaults: lease
duration 15 s, renew deadline 10 s, retry period 2 s.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ..clock import micro_time
from ..objects import LEADER_LEASE_SECONDS, leader_lease
from .context import Context

RETRY_PERIOD = 2.0
RENEW_DEADLINE = 10.0


class LeaderElector:
    def __init__(self, context: Context, lease_name: str, host: str = "control-plane") -> None:
        self.context = context
        self.lease_name = lease_name
        self.host = host
        self.identity = self._new_identity()
        self.leader = False
        self.last_renew: datetime | None = None
        self.exits = 0  # process exits after losing the lease (restart count of its pod)

    def _new_identity(self) -> str:
        return f"{self.host}_{uuid.uuid4()}"

    def adopt(self, identity: str, renewed: datetime) -> None:
        """Continue as the recorded holder (replay)."""
        self.identity = identity
        self.leader = True
        self.last_renew = renewed

    def restart(self) -> None:
        """A new process: new identity, not leading until it acquires."""
        self.identity = self._new_identity()
        self.leader = False
        self.last_renew = None

    def tick(self, now: datetime) -> bool:
        """Acquire or renew as due; True while this process leads and can act."""
        if not self.context.can_write() or not self.context.admits("leases", "", "kube-system", "UPDATE"):
            if self.leader and self.last_renew and (now - self.last_renew).total_seconds() > RENEW_DEADLINE:
                self.leader = False
                self.exits += 1
                self.identity = self._new_identity()
            return False
        if not self.leader:
            self._acquire(now)
        elif self.last_renew is None or (now - self.last_renew).total_seconds() >= RETRY_PERIOD:
            self._renew(now)
        return self.leader

    def _acquire(self, now: datetime) -> None:
        store = self.context.store
        current = store.peek("leases", "kube-system", self.lease_name)
        if current is None:
            store.create("leases", leader_lease(self.lease_name, self.identity, now))
        else:
            spec = current.get("spec") or {}
            transitions = spec.get("leaseTransitions", 0)
            if spec.get("holderIdentity") != self.identity:
                transitions += 1
            stamp = micro_time(now)

            def take(lease: dict) -> None:
                lease["spec"] = {"holderIdentity": self.identity, "leaseDurationSeconds": LEADER_LEASE_SECONDS,
                                 "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": transitions}

            store.mutate("leases", "kube-system", self.lease_name, take)
        self.leader = True
        self.last_renew = now

    def _renew(self, now: datetime) -> None:
        store = self.context.store
        current = store.peek("leases", "kube-system", self.lease_name)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
            self._acquire(now)
            return
        lease = {**current, "metadata": dict(current["metadata"]),
                 "spec": {**current["spec"], "renewTime": micro_time(now)}}
        store.update("leases", lease)
        self.last_renew = now

    def release(self, now: datetime) -> None:
        """Graceful stop (ReleaseOnCancel): holder "" and a 1 s lease, as recorded."""
        if self.leader and self.context.can_write():
            stamp = micro_time(now)

            def give_up(lease: dict) -> None:
                spec = lease.setdefault("spec", {})
                spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": stamp,
                             "renewTime": stamp})

            self.context.store.mutate("leases", "kube-system", self.lease_name, give_up)
        self.leader = False
