"""Three etcd members and their quorum.

Who calls it: FakeCluster (faults), the API layer (reads and writes wait for quorum), the
components (no write lands without quorum) and componentstatuses.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

MEMBERS = 3
# componentstatuses names members in --etcd-servers order; etcd-0's port is the recorded one.
_CLIENT_PORTS = (23793, 23794, 23795)


class Etcd:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._down: frozenset[int] = frozenset()
        self.restarts = [0] * MEMBERS

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
        return True, '{"health":"true"}'

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
