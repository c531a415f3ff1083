"""Three etcd members, their quorum, and the storage faults that refuse writes only.

Who calls it: FakeCluster (faults), the API layer (reads and writes wait for quorum; writes
meet the storage faults), the components (no write lands without quorum or under a storage
fault) and componentstatuses.

Storage faults:
- NOSPACE: etcd's space-quota alarm. etcd refuses every request that adds data (puts, so
  creates, updates and patches) with `etcdserver: mvcc: database space exceeded`, while
  range (read) and delete requests still pass, and each member's /health answers 503
  `{"health":"false"}` (an active alarm fails etcd's health check).
- a write fault: every write, deletes included, fails with a given etcd error (a flaky
  member timing out proposals) while every health check passes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

MEMBERS = 3
NOSPACE_MESSAGE = "etcdserver: mvcc: database space exceeded"
# etcd's default --quota-backend-bytes (2 GiB); EKS runs 8 GiB.
DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3


@dataclass(frozen=True)
class WriteFault:
    """How the apiserver answers a write etcd refused."""

    message: str
    status: int = 500
    reason: str = ""
# componentstatuses names members in --etcd-servers order; etcd-0's port is the recorded one.
_CLIENT_PORTS = (23793, 23794, 23795)


class Etcd:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._down: frozenset[int] = frozenset()
        self.restarts = [0] * MEMBERS
        self.nospace = False
        self.write_fault: WriteFault | None = None
        self.quota_bytes = DEFAULT_QUOTA_BYTES

    def set_nospace(self, on: bool) -> None:
        self.nospace = on

    def set_write_fault(self, fault: WriteFault | None) -> None:
        self.write_fault = fault

    def refusal(self, is_delete: bool) -> WriteFault | None:
        """The fault a write meets now (None: it lands). is_delete: the write removes a key
        (a delete that leaves no object behind); marking an object deleted is a put."""
        if self.write_fault is not None:
            return self.write_fault
        if self.nospace and not is_delete:
            return WriteFault(NOSPACE_MESSAGE)
        return None

    @property
    def writable(self) -> bool:
        """True when the components' writes (Lease renewals, status updates) land."""
        return self.quorum and not self.nospace and self.write_fault is None

    @property
    def down_members(self) -> frozenset[int]:
        return self._down

    @property
    def quorum(self) -> bool:
        return MEMBERS - len(self._down) > MEMBERS // 2

    def stop_members(self, count: int) -> None:
        """Members 0..count-1 down, the others up (count 0 restores all)."""
        if not 0 <= count <= MEMBERS:
            raise ValueError(f"etcd has {MEMBERS} members; cannot stop {count}")
        with self._condition:
            down = frozenset(range(count))
            for member in self._down - down:
                self.restarts[member] += 1
            self._down = down
            self._condition.notify_all()

    def member_health(self, member: int) -> tuple[bool, str]:
        """(healthy, message) as componentstatuses reports etcd-<member>."""
        if member in self._down:
            port = _CLIENT_PORTS[member]
            return False, (f'Get "http://127.0.0.1:{port}/health": dial tcp 127.0.0.1:{port}: '
                           "connect: connection refused")
        if self.nospace:
            # The alarm fails etcd's own /health (503); the apiserver's HTTP prober says so.
            return False, "HTTP probe failed with statuscode: 503"
        return True, '{"health":"true"}'

    def endpoints(self) -> list[str]:
        """Client URLs in --etcd-servers order (the `endpoint` label of the size metric)."""
        return [f"http://127.0.0.1:{port}" for port in _CLIENT_PORTS]

    def wait_for_quorum(self, timeout: float, cancelled: Callable[[], bool]) -> bool:
        """Block until quorum holds (True), or timeout / cancelled (False)."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while not self.quorum:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or cancelled():
                    return False
                self._condition.wait(min(remaining, 0.1))
            return True
