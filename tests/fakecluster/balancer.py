"""A round-robin TCP load balancer in front of several apiservers, as an AWS NLB with TCP health
checks fronts an EKS control plane.

Who calls it: FakeCluster(apiservers=N) with N >= 2. It forwards raw bytes, so TLS passes
through to the apiservers (they all serve the same certificate). Each accepted connection goes
to the next backend in turn; a backend that refuses the connection (`down`) is skipped for the
next one, while a hung one still completes the TCP handshake and so stays in rotation, as a TCP
health check sees it. With every backend down (refresh()) the balancer's own port refuses
connections; a connection accepted while none answers is reset. TCP_NODELAY on both legs, one
thread per connection pair, half-closes passed on, a reset on one leg reset on the other;
stop() closes every socket and joins every thread.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from typing import Sequence

CONNECT_TIMEOUT = 2.0
_CHUNK = 65536


class Balancer:
    def __init__(self, backends: Sequence[tuple[str, int]], host: str = "127.0.0.1") -> None:
        self.backends = list(backends)
        self.host = host
        self.port = 0
        self.chosen: list[int] = []  # backend index of every connection, in order (for tests)
        self._next = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accepting: list[threading.Thread] = []  # one per listening period (refresh re-listens)
        self._pairs: dict[threading.Thread, tuple[socket.socket, socket.socket]] = {}

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> int:
        self._listen()
        return self.port

    def refresh(self, serving: Sequence[bool]) -> None:
        """Which backends accept TCP now: with none, the balancer's port refuses connections."""
        with self._lock:
            if self._stopping.is_set():
                return
            if any(serving) and self._listener is None:
                self._listen()
            elif not any(serving) and self._listener is not None:
                self._close_listener()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._close_listener()
            pairs = list(self._pairs.items())
        for _, (client, backend) in pairs:
            for sock in (client, backend):
                _shutdown(sock)
        for thread in [thread for thread, _ in pairs] + self._accepting:
            thread.join(timeout=5)

    def connections(self) -> list[tuple[socket.socket, socket.socket]]:
        """The open (client leg, backend leg) pairs."""
        with self._lock:
            return list(self._pairs.values())

    @property
    def threads(self) -> list[threading.Thread]:
        """The balancer's threads still alive (none after stop())."""
        with self._lock:
            return [thread for thread in (*self._accepting, *self._pairs) if thread.is_alive()]

    # --- accepting --------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, args=(listener,), name="fakecluster-balancer", daemon=True)
        self._accepting = [t for t in self._accepting if t.is_alive()] + [thread]
        thread.start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _shutdown(listener)
            listener.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._listener is listener and not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            backend = self._connect()
            if backend is None:
                _reset(client)
                continue
            for sock in (client, backend):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._pipe, args=(client, backend), name="fakecluster-balancer-pair",
                                      daemon=True)
            with self._lock:
                if self._stopping.is_set():
                    _reset(client)
                    backend.close()
                    return
                self._pairs[thread] = (client, backend)
                thread.start()

    def _connect(self) -> socket.socket | None:
        """The next backend in turn that accepts the connection (None: every one refused)."""
        count = len(self.backends)
        for step in range(count):
            index = (self._next + step) % count
            try:
                backend = socket.create_connection(self.backends[index], timeout=CONNECT_TIMEOUT)
            except OSError:
                continue
            backend.settimeout(None)
            self._next = (index + 1) % count
            self.chosen.append(index)
            return backend
        return None

    # --- forwarding -------------------------------------------------------------------------

    def _pipe(self, client: socket.socket, backend: socket.socket) -> None:
        peers = {client: backend, backend: client}
        reading = {client, backend}
        try:
            while reading and not self._stopping.is_set():
                ready, _, _ = select.select(list(reading), [], [], 0.2)
                for source in ready:
                    try:
                        data = source.recv(_CHUNK)
                    except OSError:
                        _reset(peers[source])  # a reset on one leg is a reset on the other
                        return
                    if data:
                        try:
                            peers[source].sendall(data)
                        except OSError:
                            _reset(source)
                            return
                    else:
                        reading.discard(source)
                        try:
                            peers[source].shutdown(socket.SHUT_WR)  # pass the half-close on
                        except OSError:
                            pass
        except (OSError, ValueError):
            pass
        finally:
            for sock in (client, backend):
                try:
                    sock.close()
                except OSError:
                    pass
            with self._lock:
                self._pairs.pop(threading.current_thread(), None)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
