"""The cluster's kube-apiserver processes and, with two or more, the load balancer in front of
them: their listeners, modes (up, down, hung, slow), addresses and restarts.

Who calls it: FakeCluster. Every apiserver is its own HTTPS listener (server.py) on its own
port with its own mode; all share one Api handler (so one store, clock, authentication and
request log, each record naming the apiserver that answered) and serve one certificate. With
one apiserver its URL is the cluster's, as always; with two or more the cluster's URL is the
balancer's (balancer.py). A mode set before start() applies once the listeners exist.
"""

from __future__ import annotations

import ssl
import threading
from typing import Callable

from .api import ApiRequest, ApiResponse, NoAnswer
from .balancer import Balancer
from .clock import SimClock
from .server import MODES, ApiServer, ConnectionHook, RequestLog

HOST = "127.0.0.1"


class ApiServers:
    def __init__(self, count: int, handle: Callable[[ApiRequest], ApiResponse | NoAnswer], clock: SimClock,
                 log: RequestLog, stopping: threading.Event) -> None:
        if count < 1:
            raise ValueError(f"a cluster needs at least one apiserver, not {count}")
        self.count = count
        self._handle = handle
        self._clock = clock
        self._log = log
        self._stopping = stopping
        self._pending: list[tuple[str, float] | None] = [None] * count
        self.servers: list[ApiServer] = []
        self.balancer: Balancer | None = None

    @property
    def started(self) -> bool:
        return bool(self.servers)

    def start(self, tls: ssl.SSLContext) -> None:
        self.servers = [ApiServer(tls, self._handle, self._clock, self._log, self._stopping, HOST, index=index)
                        for index in range(self.count)]
        for server, pending in zip(self.servers, self._pending):
            server.start()
            if pending is not None:
                server.set_mode(*pending)
        if self.count >= 2:
            self.balancer = Balancer([(HOST, server.port) for server in self.servers], HOST)
            self.balancer.start()
            self.balancer.refresh([server.serving() for server in self.servers])

    def stop(self) -> None:
        if self.balancer is not None:
            self.balancer.stop()
        for server in self.servers:
            server.stop()

    @property
    def failures(self) -> list[BaseException]:
        return [failure for server in self.servers for failure in server.failures]

    # --- addresses ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self.servers:
            return 0
        return self.balancer.port if self.balancer is not None else self.servers[0].port

    def url(self, index: int | None = None) -> str:
        """The cluster's URL (index None: the balancer's with two or more), or apiserver `index`'s."""
        if not self.servers:
            raise RuntimeError("the fake cluster is not started")
        port = self.port if index is None else self.servers[self._index(index)].port
        return f"https://{HOST}:{port}"

    # --- modes --------------------------------------------------------------------------

    def set_mode(self, mode: str, delay: float, index: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"apiserver mode must be one of {', '.join(MODES)}, not {mode!r}")
        indexes = range(self.count) if index is None else [self._index(index)]
        for i in indexes:
            if self.servers:
                self.servers[i].set_mode(mode, delay)
            else:
                self._pending[i] = (mode, delay)
        if self.balancer is not None:
            self.balancer.refresh([server.serving() for server in self.servers])

    @property
    def modes(self) -> tuple[str, ...]:
        if self.servers:
            return tuple(server.mode for server in self.servers)
        return tuple(pending[0] if pending else "up" for pending in self._pending)

    def answers(self, index: int | None = None) -> bool:
        """Whether apiserver `index` (None: any of them) answers requests (up or slow)."""
        if index is not None and self.servers:
            return self.servers[self._index(index)].answers()
        if self.servers:
            return any(server.answers() for server in self.servers)
        modes = self.modes if index is None else (self.modes[self._index(index)],)
        return any(mode in ("up", "slow") for mode in modes)

    def restarts(self, index: int) -> int:
        """down -> up transitions of apiserver `index` (its pod's restart count)."""
        return self.servers[self._index(index)].restarts if self.servers else 0

    # --- TLS and connection hooks ---------------------------------------------------------

    def set_tls(self, tls: ssl.SSLContext) -> None:
        for server in self.servers:
            server.tls = tls

    def when_connecting(self, hook: ConnectionHook) -> None:
        """`hook` counts the connections every apiserver accepts (through the balancer or not)."""
        if not self.servers:
            raise RuntimeError("the fake cluster is not started")
        for server in self.servers:
            server.connection_hook = hook

    def _index(self, index: int) -> int:
        if not 0 <= index < self.count:
            raise IndexError(f"no apiserver {index}: this cluster has {self.count} (0..{self.count - 1})")
        return index
