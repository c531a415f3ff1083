"""The HTTPS listener, with the apiserver faults that live at the socket level.

Who calls it: apiservers.py, one ApiServer per simulated kube-apiserver (its `index`). One
thread accepts, one thread per connection serves HTTP/1.1 with keep-alive (urllib3 pools reuse
connections). Modes:
- up: serve.
- down: connection refused. The listening socket is closed and every open connection is
  reset; `up` binds the same port again.
- hung: a frozen process (SIGSTOP). The kernel still completes the TCP handshake, but nothing
  answers: not the TLS handshake on new connections, not requests on open ones. Only the
  client's timeout ends a request. Leaving `hung` lets parked connections go on, like SIGCONT.
- slow: every answer is held back `slow_delay` real seconds.
The TLS context is read for each new connection, so a re-issued serving certificate
(`tls` replaced) is what the next handshake presents.
"""

from __future__ import annotations

import select
import socket
import ssl
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Callable

from . import errors
from .api import ApiRequest, ApiResponse, NoAnswer
from .clock import SimClock, http_date
from .tls import identity_of_peer
from .work import Work

MODES = ("up", "down", "hung", "slow")
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 300.0


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str  # path and query as sent
    status: int | None  # None: no HTTP answer (connection closed)
    bytes_sent: int
    user: str | None
    work: Work = field(default_factory=Work)  # what a real apiserver would have done (work.py)
    apiserver: int = 0  # index of the apiserver that answered (FakeCluster(apiservers=N))


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class ConnectionHook:
    """`action` runs once, before the handshake of the `nth` connection accepted from now by any
    apiserver sharing this hook (FakeCluster.when_connecting)."""

    def __init__(self, nth: int, action: Callable[[], None]) -> None:
        self._to_go = nth
        self._action = action
        self._lock = threading.Lock()

    def accepted(self) -> None:
        with self._lock:
            if self._to_go <= 0:
                return
            self._to_go -= 1
            if self._to_go:
                return
        self._action()


class ApiServer:
    def __init__(self, tls: ssl.SSLContext, handle: Callable[[ApiRequest], ApiResponse | NoAnswer],
                 clock: SimClock, log: RequestLog, stopping: threading.Event, host: str = "127.0.0.1",
                 index: int = 0) -> None:
        self.index = index
        self.tls = tls
        self.handle = handle
        self.clock = clock
        self.log = log
        self.stopping = stopping
        self.host = host
        self.port = 0
        self.mode = "up"
        self.slow_delay = 2.0
        self.restarts = 0  # down -> up transitions (the apiserver pod's restart count)
        self.failures: list[BaseException] = []
        self._state = threading.Condition()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self.connection_hook: ConnectionHook | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> int:
        self._listen()
        return self.port

    def stop(self) -> None:
        with self._state:
            self.stopping.set()
            self._close_listener()
            self._reset_connections()
            self._state.notify_all()

    def answers(self) -> bool:
        return self.mode in ("up", "slow") and not self.stopping.is_set()

    def set_mode(self, mode: str, delay: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"apiserver mode must be one of {', '.join(MODES)}, not {mode!r}")
        with self._state:
            previous = self.mode
            if delay is not None:
                self.slow_delay = delay
            self.mode = mode
            if mode == "down" and previous != "down":
                self._close_listener()
                self._reset_connections()
            elif previous == "down" and mode != "down" and not self.stopping.is_set():
                self.restarts += 1
                self._listen()
            self._state.notify_all()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), name="fakecluster-accept", daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()

    def _reset_connections(self) -> None:
        for connection in list(self._connections):
            _shutdown(connection)

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                connection, address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.connection_hook is not None:
                self.connection_hook.accepted()
            threading.Thread(target=self._serve_connection, args=(connection, address),
                             name="fakecluster-conn", daemon=True).start()

    # --- connections --------------------------------------------------------------------

    def wait_while_hung(self) -> None:
        with self._state:
            while self.mode == "hung" and not self.stopping.is_set():
                self._state.wait(0.2)

    def serving(self) -> bool:
        return self.mode != "down" and not self.stopping.is_set()

    def _serve_connection(self, connection: socket.socket, address: tuple) -> None:
        self._connections.add(connection)
        try:
            self.wait_while_hung()
            if not self.serving():
                return
            # Go's net package sets TCP_NODELAY on every connection, so kube-apiserver's answers
            # are never held back by Nagle's algorithm waiting for the client's delayed ACK (40 ms
            # per answer written as headers + body).
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.settimeout(HANDSHAKE_TIMEOUT)
            try:
                secure = self.tls.wrap_socket(connection, server_side=True)
            except (OSError, ssl.SSLError):
                return
            self._connections.discard(connection)
            self._connections.add(secure)
            connection = secure
            secure.settimeout(None)
            _Handler(secure, address, self, identity_of_peer(secure.getpeercert()))
        except (OSError, ssl.SSLError):
            pass
        finally:
            self._connections.discard(connection)
            try:
                connection.close()
            except OSError:
                pass


def _shutdown(connection: socket.socket) -> None:
    try:
        # socket.socket.shutdown, not SSLSocket.shutdown: only the TCP connection is cut.
        socket.socket.shutdown(connection, socket.SHUT_RDWR)
    except OSError:
        pass


def _client_gone(connection: socket.socket) -> bool:
    """True once the client has closed (or sent more than we expect) while we wait."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def __init__(self, connection: socket.socket, address: tuple, apiserver: ApiServer,
                 client_certificate: tuple[str, tuple[str, ...]] | None) -> None:
        self.apiserver = apiserver
        self.client_certificate = client_certificate
        super().__init__(connection, address, None)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        return

    def send_response(self, code: int, message: str | None = None) -> None:
        # No Server header, as kube-apiserver; Date comes from the simulated clock.
        self.send_response_only(code, message)
        self.send_header("Date", http_date(self.apiserver.clock.now()))

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        server = self.apiserver
        body = self._read_body()
        server.wait_while_hung()
        if not server.serving():
            self.close_connection = True
            return
        connection = self.connection
        request = ApiRequest(self.command, self.path, self.headers, body, lambda: _client_gone(connection),
                             self.client_certificate)
        try:
            outcome = server.handle(request)
        except Exception as error:  # noqa: BLE001 - a bug in the fake: answered 500, raised by stop()
            server.failures.append(error)
            traceback.print_exc(file=sys.stderr)
            outcome = ApiResponse(500, errors.internal(f"fake cluster bug: {error!r}").body_bytes())
        if server.mode == "slow":
            server.stopping.wait(server.slow_delay)
        server.wait_while_hung()
        if not server.serving():
            self.close_connection = True
            return
        if isinstance(outcome, NoAnswer):
            self.close_connection = True
            server.log.add(RequestRecord(self.command, self.path, None, 0, outcome.user, Work(requests=1),
                                         server.index))
            _shutdown(connection)
            return
        self.send_response(outcome.status)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", outcome.content_type)
        for name, value in outcome.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(outcome.body)))
        # Logged before the answer leaves, so a client that has its answer finds the record.
        work = replace(outcome.work, requests=1, bytes_sent=len(outcome.body))
        server.log.add(RequestRecord(self.command, self.path, outcome.status, len(outcome.body), outcome.user, work,
                                     server.index))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(outcome.body)
        self.wfile.flush()
