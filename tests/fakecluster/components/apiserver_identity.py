"""The identity Leases of the apiservers (Kubernetes 1.26+; the fake simulates 1.31): each
kube-apiserver holds a Lease in kube-system named by its identity (objects.apiserver_identity),
holder `<lease name>_<uuid of the process>`, leaseDurationSeconds 3600, renewed every 10 s
(IdentityLeaseRenewIntervalPeriod) by its lease controller (pkg/controlplane/apiserver/server.go,
start-kube-apiserver-identity-lease-controller).

Who calls it: the simulation tick. Each apiserver renews through its own loopback client, so
only while it answers (up or slow; a hung or down one stops) and through the write path
(writes.py: a fail-closed webhook on kube-system Leases or an etcd fault stops the renewal,
which is tried again at the next interval). A restarted apiserver is a new process: a new
holder. Replays of the 1.24 recordings switch it off (that version had no identity Leases).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Callable, Sequence

from ..clock import micro_time
from ..objects import APISERVER_IDENTITY_LEASE_SECONDS, apiserver_identity, apiserver_identity_lease
from .context import Context
from .writes import Writes

RENEW_INTERVAL = 10.0


class ApiserverIdentities:
    def __init__(self, context: Context, hostnames: Sequence[str], answers: Callable[[int], bool],
                 restarts: Callable[[int], int]) -> None:
        self.context = context
        self.writes = Writes(context)
        self.hostnames = list(hostnames)
        self.answers = answers
        self.restarts = restarts
        self.enabled = True
        self._process: list[int | None] = [None] * len(self.hostnames)
        self._holder: list[str] = [""] * len(self.hostnames)
        self._next: list[datetime | None] = [None] * len(self.hostnames)

    def lease_name(self, index: int) -> str:
        return apiserver_identity(self.hostnames[index])

    def tick(self, now: datetime) -> None:
        if not self.enabled:
            return
        for index, hostname in enumerate(self.hostnames):
            if not self.answers(index):
                continue
            if self._process[index] != self.restarts(index):
                self._process[index] = self.restarts(index)
                self._holder[index] = f"{apiserver_identity(hostname)}_{uuid.uuid4()}"
                self._next[index] = None
            if self._next[index] is not None and now < self._next[index]:
                continue
            self._next[index] = now + timedelta(seconds=RENEW_INTERVAL)
            self._renew(index, now)

    def _renew(self, index: int, now: datetime) -> None:
        lease = apiserver_identity_lease(self.hostnames[index], self._holder[index], now)
        stored = self.context.store.peek("leases", "kube-system", lease["metadata"]["name"])
        if stored is None:
            self.writes.create("leases", lease)
            return
        labels = {**(stored["metadata"].get("labels") or {}), **lease["metadata"]["labels"]}
        self.writes.update("leases", {**stored, "metadata": {**stored["metadata"], "labels": labels}, "spec": {
            **(stored.get("spec") or {}), "holderIdentity": self._holder[index],
            "leaseDurationSeconds": APISERVER_IDENTITY_LEASE_SECONDS, "renewTime": micro_time(now)}})
