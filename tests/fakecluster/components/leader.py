"""Leader election on a kube-system Lease, as client-go's leaderelection package does it
(staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go, tryAcquireOrRenew).

Who calls it: the controller-manager and the scheduler, every tick. Every retryPeriod (2 s) the
process reads the Lease: a missing one is created (CREATE), otherwise the process takes or renews
it with an UPDATE, both through the apiserver's write path (writes.py, so a fail-closed webhook
on kube-system Leases stops them). A process that is not the holder takes the Lease only once
it has expired as client-go judges it: leaseDurationSeconds after this process last saw the
record change (its own observation time, not renewTime), or at once when the holder is "" (a
released Lease); taking it counts leaseTransitions + 1. A leader that cannot renew for longer
than the renew deadline (10 s) loses the Lease and its process exits (OnStoppedLeading; the static
pod restarts it with a new identity, which starts observing afresh). Kubernetes' defaults: lease
duration 15 s, renew deadline 10 s, retry period 2 s.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from ..clock import micro_time, parse_time
from ..objects import LEADER_LEASE_SECONDS, leader_lease
from .context import Context
from .writes import Writes

RETRY_PERIOD = 2.0
RENEW_DEADLINE = 10.0
# The leader-election client's ?timeout=, as in the recorded leader-election log lines
# (webhook-on-leases.json: `...leases/kube-controller-manager?timeout=5s`).
CLIENT_TIMEOUT = 5.0
NAMESPACE = "kube-system"


class LeaderElector:
    def __init__(self, context: Context, lease_name: str, host: str = "control-plane") -> None:
        self.context = context
        self.writes = Writes(context, CLIENT_TIMEOUT)
        self.lease_name = lease_name
        self.host = host
        self.exits = 0  # process exits after losing the lease (restart count of its pod)
        self.process = 0  # counts the processes that ran: a component resets its state on a new one
        self._new_process(takes_over_at_once=False)

    def _new_process(self, takes_over_at_once: bool) -> None:
        self.process += 1
        self.identity = f"{self.host}_{uuid.uuid4()}"
        self.leader = False
        self.last_renew: datetime | None = None
        self._observed: dict | None = None  # the Lease spec as this process last read it ...
        self._observed_at: datetime | None = None  # ... and when it saw it change
        self._next_try: datetime | None = None
        self._takes_over_at_once = takes_over_at_once

    def adopt(self, identity: str, renewed: datetime) -> None:
        """Continue as the recorded holder (replay)."""
        self.identity = identity
        self.leader = True
        self.last_renew = renewed

    def restart(self) -> None:
        """A process started by FakeCluster.start_component: a new identity that takes the Lease
        at its first try (the fake's shortcut: client-go would first wait leaseDurationSeconds
        from its first look at a Lease held by the stopped process; fail_over models that)."""
        self._new_process(takes_over_at_once=True)

    def crash(self, now: datetime) -> None:
        """The leader process dies without releasing; a standby with a new identity, which has
        been watching the Lease and last saw it change at its renewTime, takes over once the
        Lease has expired in its eyes (FakeCluster.fail_over)."""
        lease = self.context.store.peek("leases", NAMESPACE, self.lease_name)
        if self.leader:
            self.exits += 1
        self._new_process(takes_over_at_once=False)
        if lease is not None:
            spec = lease.get("spec") or {}
            self._observed = spec
            self._observed_at = min(parse_time(spec.get("renewTime")) or now, now)
        self._next_try = now + timedelta(seconds=RETRY_PERIOD)

    def tick(self, now: datetime) -> bool:
        """Try to acquire or renew when due; True while this process leads and can act."""
        if self._next_try is None or now >= self._next_try:
            seconds = self._try(now)
            self._next_try = now + timedelta(seconds=RETRY_PERIOD + seconds)
        if self.leader and self.last_renew is not None and (now - self.last_renew).total_seconds() > RENEW_DEADLINE:
            # leaderelection lost: the process exits and its static pod starts it again.
            self.exits += 1
            self._new_process(takes_over_at_once=False)
        return self.leader

    def _try(self, now: datetime) -> float:
        """One tryAcquireOrRenew; the simulated seconds a refused write took."""
        context = self.context
        if not context.apiserver_answers() or not context.etcd.quorum:
            return 0.0  # the Get itself fails (refused, or hangs without quorum)
        current = context.store.peek("leases", NAMESPACE, self.lease_name)
        if current is None:
            refusal = self.writes.create("leases", leader_lease(self.lease_name, self.identity, now))
            if refusal is not None:
                return refusal.seconds
            self._took(leader_lease(self.lease_name, self.identity, now)["spec"], now)
            return 0.0
        spec = current.get("spec") or {}
        if spec != self._observed:
            self._observed, self._observed_at = spec, now
        holder = spec.get("holderIdentity") or ""
        is_leader = holder == self.identity
        if not is_leader:
            self.leader = False
        duration = spec.get("leaseDurationSeconds") or LEADER_LEASE_SECONDS
        if holder and not is_leader and not self._takes_over_at_once and self._observed_at is not None \
                and now < self._observed_at + timedelta(seconds=duration):
            return 0.0  # held by another and not yet expired in this process's eyes
        stamp = micro_time(now)
        if is_leader:
            new_spec = {**spec, "renewTime": stamp}
        else:
            new_spec = {"holderIdentity": self.identity, "leaseDurationSeconds": LEADER_LEASE_SECONDS,
                        "acquireTime": stamp, "renewTime": stamp,
                        "leaseTransitions": spec.get("leaseTransitions", 0) + 1}
        refusal = self.writes.update("leases", {**current, "metadata": dict(current["metadata"]), "spec": new_spec})
        if refusal is not None:
            return refusal.seconds
        self._took(new_spec, now)
        return 0.0

    def _took(self, spec: dict, now: datetime) -> None:
        self._observed, self._observed_at = spec, now
        self._takes_over_at_once = False
        self.leader = True
        self.last_renew = now

    def release(self, now: datetime) -> None:
        """Graceful stop (ReleaseOnCancel): holder "" and a 1 s lease, as recorded."""
        if self.leader and self.context.apiserver_answers():
            stamp = micro_time(now)

            def give_up(lease: dict) -> None:
                spec = lease.setdefault("spec", {})
                spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": stamp,
                             "renewTime": stamp})

            self.writes.mutate("leases", NAMESPACE, self.lease_name, give_up)
        self.leader = False
