"""A local AWS Lambda Runtime API (version 2018-06-01) for smoke tests through the real runtime
interface client (awslambdaric), the code that runs a Python handler inside Lambda.

    with LocalRuntimeApi() as api:
        process = subprocess.Popen([python, "-m", "awslambdaric", "pkg.module.handler"],
                                   env={..., "AWS_LAMBDA_RUNTIME_API": api.address})
        result = api.invoke({"detail": "{}"}, timeout_ms=20_000)
        assert result.status == "response"

What awslambdaric 4.2.2 calls. Its C++ extension `runtime_client` (aws-lambda-cpp 0.2.6 over
libcurl, HTTP/1.1 keep-alive, Content-Length bodies, an empty `Expect:` header) does the
invocation loop; Python's http.client posts init errors:

- GET  /2018-06-01/runtime/invocation/next           long poll: blocks until an event is queued;
       200 with the event as body and the headers Lambda-Runtime-Aws-Request-Id,
       Lambda-Runtime-Deadline-Ms (epoch milliseconds, from which
       context.get_remaining_time_in_millis() is computed), Lambda-Runtime-Invoked-Function-Arn,
       Lambda-Runtime-Trace-Id (optional ones it reads: -Client-Context, -Cognito-Identity,
       -Aws-Tenant-Id, -Invocation-Id; not sent here)
- POST /2018-06-01/runtime/invocation/<id>/response  the handler's result; 202
- POST /2018-06-01/runtime/invocation/<id>/error     the handler raised: {"errorMessage",
       "errorType", "requestId", "stackTrace"}, header Lambda-Runtime-Function-Error-Type; 202
- POST /2018-06-01/runtime/init/error                the handler could not be loaded
       (Runtime.ImportModuleError, Runtime.HandlerNotFound, ...); 202. The process then exits.
- GET  /2018-06-01/runtime/restore/next, POST .../restore/error: SnapStart only, not served.
"""

from __future__ import annotations

import json
import queue
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass(frozen=True)
class InvocationResult:
    status: str  # "response", "error" (the handler raised), or "init_error" (never got as far)
    body: Any  # the posted JSON, parsed (the handler's return value, or the error object)
    request_id: str = ""
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # from invoke() to the answer

    @property
    def error_type(self) -> str | None:
        return self.headers.get(ERROR_TYPE_HEADER.lower())


@dataclass
class _Invocation:
    request_id: str
    event: bytes
    deadline_ms: int
    trace_id: str
    fetched: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    result: InvocationResult | None = None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]


class LocalRuntimeApi:
    """The Runtime API of one execution environment, on 127.0.0.1 (a free port)."""

    def __init__(self, function_name: str = "cpwatch-checker", region: str = "eu-west-1",
                 account_id: str = "123456789012"):
        self.function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.requests: list[RecordedRequest] = []
        self.init_error: InvocationResult | None = None
        self._pending: queue.Queue[_Invocation] = queue.Queue()
        self._invocations: dict[str, _Invocation] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> LocalRuntimeApi:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalRuntimeApi:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def invoke(self, event: Any, timeout_ms: int = 30_000, wait_s: float | None = None) -> InvocationResult:
        """Queue `event` for the runtime and wait for its answer.

        `timeout_ms` is the function's time left, sent as the deadline; `wait_s` (default: that
        plus 5 s) bounds the wait here. An init error ends the wait at once. TimeoutError says
        whether the runtime fetched the event at all.
        """
        started = time.monotonic()
        invocation = _Invocation(
            request_id=str(uuid.uuid4()),
            event=json.dumps(event).encode(),
            deadline_ms=int(time.time() * 1000) + timeout_ms,
            trace_id=f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0",
        )
        with self._lock:
            if self.init_error is not None:
                return self.init_error
            self._invocations[invocation.request_id] = invocation
        self._pending.put(invocation)
        wait_s = timeout_ms / 1000 + 5 if wait_s is None else wait_s
        if not invocation.done.wait(wait_s):
            raise TimeoutError(f"no answer to invocation {invocation.request_id} within {wait_s:.1f} s "
                               f"({'fetched by the runtime' if invocation.fetched else 'never fetched by the runtime'})")
        assert invocation.result is not None
        result = invocation.result
        return InvocationResult(result.status, result.body, result.request_id, result.raw, result.headers,
                                time.monotonic() - started)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    # --- server side ---------------------------------------------------------------------

    def _next(self) -> _Invocation | None:
        while not self._closing.is_set():
            try:
                invocation = self._pending.get(timeout=0.1)
            except queue.Empty:
                continue
            invocation.fetched = True
            return invocation
        return None

    def _answer(self, request_id: str, status: str, raw: bytes, headers: dict[str, str]) -> bool:
        with self._lock:
            invocation = self._invocations.get(request_id)
            if invocation is None or invocation.done.is_set():
                return False
        invocation.result = InvocationResult(status, _parse(raw), request_id, raw, headers)
        invocation.done.set()
        return True

    def _init_failed(self, raw: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            self.init_error = InvocationResult("init_error", _parse(raw), "", raw, headers)
            waiting = [i for i in self._invocations.values() if not i.done.is_set()]
        for invocation in waiting:
            invocation.result = self.init_error
            invocation.done.set()

    def _handler_class(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # libcurl keeps the connection for the next poll

            def do_GET(self) -> None:
                self._record()
                if self.path != f"{API_PREFIX}/invocation/next":
                    return self._reply(404, {"errorType": "InvalidRequest", "errorMessage": f"no route {self.path}"})
                invocation = api._next()
                if invocation is None:
                    return self._reply(503, {"errorType": "ServiceUnavailable", "errorMessage": "shutting down"})
                self._reply(200, invocation.event, {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_id,
                })

            def do_POST(self) -> None:
                self._record()
                raw = self._body()
                headers = {name.lower(): value for name, value in self.headers.items()}
                parts = self.path.removeprefix(API_PREFIX + "/").split("/")
                if parts == ["init", "error"]:
                    api._init_failed(raw, headers)
                    return self._reply(202, {"status": "OK"})
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    if api._answer(parts[1], parts[2], raw, headers):
                        return self._reply(202, {"status": "OK"})
                    return self._reply(400, {"errorType": "InvalidRequestID",
                                             "errorMessage": f"unknown or answered request id {parts[1]}"})
                self._reply(404, {"errorType": "InvalidRequest", "errorMessage": f"no route {self.path}"})

            def _record(self) -> None:
                with api._lock:
                    api.requests.append(RecordedRequest(self.command, self.path, dict(self.headers.items())))

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        return Handler


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")
