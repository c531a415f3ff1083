"""Deadline-bounded HTTP calls to one kube-apiserver.

Built by connect.py; used by every probe. Each call is bounded by the request timeout and by
what is left of the run's deadline, never retried, and ends in exactly one of: a Response, or
one of the errors in errors.py. The apiserver's clock is tracked from the `Date` header of
every answer, so ages of Leases and heartbeats are measured on the server's clock.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, Mapping
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from .errors import (
    BadResponseError,
    CannotConnectError,
    DeadlineExceededError,
    NoAnswerError,
    status_error_class,
)
from .timeutil import Deadline, parse_http_date

JSON = "application/json"
TABLE = "application/json;as=Table;g=meta.k8s.io;v=v1,application/json"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str
    date: datetime | None
    seconds: float

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class TransferStats:
    """Requests made and bytes received; read by benchmarks and reports."""

    requests: int = 0
    bytes_received: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, received: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_received += received


class KubeApi:
    """Calls to one apiserver at `server` (https://host:port) with verified TLS."""

    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext,
        auth_header: Callable[[], str | None],
        request_timeout_s: float,
        deadline: Deadline | None = None,
        tls_server_name: str | None = None,
        proxy_url: str | None = None,
    ):
        if not server.startswith("https://"):
            raise ValueError("KubeApi needs an https:// server")
        self.server = server.rstrip("/")
        self._auth_header = auth_header
        self.request_timeout_s = request_timeout_s
        self.deadline = deadline or Deadline.after(3600)
        self.stats = TransferStats()
        self._clock_offset_s: float | None = None
        self._clock_lock = threading.Lock()
        pool_args = dict(ssl_context=ssl_context, retries=False, maxsize=16, block=False)
        if tls_server_name:
            pool_args["server_hostname"] = tls_server_name
            pool_args["assert_hostname"] = tls_server_name
        if proxy_url:
            self._pool: urllib3.PoolManager = urllib3.ProxyManager(proxy_url, **pool_args)
        else:
            self._pool = urllib3.PoolManager(**pool_args)

    def close(self) -> None:
        self._pool.clear()

    # --- clock ---------------------------------------------------------------------------

    @property
    def clock_offset_s(self) -> float | None:
        """Server clock minus local clock, from the latest `Date` header (None before any)."""
        return self._clock_offset_s

    def server_now(self) -> datetime:
        """Now, on the apiserver's clock when it has been seen, else on the local clock."""
        offset = self._clock_offset_s or 0.0
        return datetime.now(timezone.utc) + timedelta(seconds=offset)

    def _observe_date(self, date: datetime | None, received_at: float) -> None:
        if date is None:
            return
        # Date has one-second resolution and is truncated: the true server time is on average
        # half a second later than it says.
        offset = date.timestamp() + 0.5 - received_at
        with self._clock_lock:
            self._clock_offset_s = offset

    # --- requests ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = JSON,
        accept: str = JSON,
        timeout_s: float | None = None,
        raise_for_status: bool = True,
    ) -> Response:
        """One HTTP call. Errors: NoAnswerError, CannotConnectError, DeadlineExceededError,
        ApiStatusError subclasses (when raise_for_status)."""
        remaining = self.deadline.remaining()
        if remaining <= 0.05:
            raise DeadlineExceededError(method, path, "the run's deadline has passed")
        timeout = min(timeout_s or self.request_timeout_s, remaining)
        url = self.server + path + ("?" + urlencode(query) if query else "")
        headers = {"Accept": accept, "User-Agent": "cpwatch"}
        token = self._auth_header()
        if token:
            headers["Authorization"] = token
        encoded = None
        if body is not None:
            encoded = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        started = time.monotonic()
        try:
            raw = self._pool.request(
                method, url, body=encoded, headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                preload_content=True, redirect=False,
            )
        except HTTPError as error:
            raise _transport_error(method, path, error) from None
        except (OSError, ssl.SSLError) as error:
            raise NoAnswerError(method, path, "closed", f"{type(error).__name__}: {error}") from None
        received_at = time.time()
        response = Response(
            status=raw.status,
            body=raw.data or b"",
            content_type=raw.headers.get("Content-Type", ""),
            date=parse_http_date(raw.headers.get("Date")),
            seconds=time.monotonic() - started,
        )
        self.stats.add(len(response.body))
        self._observe_date(response.date, received_at)
        if raise_for_status:
            raise_for_status_of(response, method, path)
        return response

    def get_json(self, path: str, query: Mapping[str, str] | None = None,
                 accept: str = JSON, timeout_s: float | None = None) -> dict:
        return parse_json_object(self.request("GET", path, query, accept=accept, timeout_s=timeout_s), "GET", path)

    def list_items(self, path: str, query: Mapping[str, str] | None = None,
                   accept: str = JSON, page_size: int = 500) -> Iterator[dict]:
        """Every item of a list, fetched in pages of `page_size` with limit/continue."""
        for page in self.list_pages(path, query, accept, page_size):
            items = page.get("items")
            if not isinstance(items, list):
                raise BadResponseError("GET", path, "list answer has no items array")
            yield from (item for item in items if isinstance(item, dict))

    def list_pages(self, path: str, query: Mapping[str, str] | None = None,
                   accept: str = JSON, page_size: int = 500) -> Iterator[dict]:
        params = dict(query or {})
        params["limit"] = str(page_size)
        seen: set[str] = set()
        while True:
            page = self.get_json(path, params, accept=accept)
            yield page
            metadata = page.get("metadata")
            token = metadata.get("continue") if isinstance(metadata, dict) else None
            if not token:
                return
            # An apiserver never hands out the same token twice; an answer that does (a proxy's
            # cache, a broken server) would keep this loop asking until the run's deadline.
            if not isinstance(token, str) or token in seen:
                raise BadResponseError("GET", path, "the list answer repeats its continue token (or it is not a string)")
            seen.add(token)
            params["continue"] = token

    def post_json(self, path: str, body: object, query: Mapping[str, str] | None = None) -> dict:
        return parse_json_object(self.request("POST", path, query, body=body), "POST", path)

    def merge_patch(self, path: str, patch: object, query: Mapping[str, str] | None = None,
                    timeout_s: float | None = None) -> dict:
        response = self.request("PATCH", path, query, body=patch, content_type=MERGE_PATCH, timeout_s=timeout_s)
        return parse_json_object(response, "PATCH", path)

    def delete(self, path: str, body: object = None) -> None:
        self.request("DELETE", path, body=body)


def parse_json_object(response: Response, method: str, path: str) -> dict:
    try:
        parsed = json.loads(response.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        preview = response.text()[:80].replace("\n", " ")
        raise BadResponseError(method, path, f"answer is not JSON (HTTP {response.status}, starts {preview!r})") from None
    if not isinstance(parsed, dict):
        raise BadResponseError(method, path, f"answer is JSON but not an object (HTTP {response.status})")
    return parsed


def raise_for_status_of(response: Response, method: str, path: str) -> None:
    """Raise the ApiStatusError subclass for a non-2xx answer."""
    if not 200 <= response.status < 300:
        raise _status_error(method, path, response)


@dataclass(frozen=True)
class StatusAnswer:
    """The metav1.Status object the apiserver answers an error with."""

    code: int
    reason: str
    message: str  # one line


def status_answer(response: Response) -> StatusAnswer | None:
    """The Status in an answer's body, or None when the body is not one."""
    try:
        parsed = json.loads(response.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not (isinstance(parsed, dict) and parsed.get("kind") == "Status"):
        return None
    code = parsed.get("code")
    return StatusAnswer(code=code if isinstance(code, int) else response.status,
                        reason=str(parsed.get("reason") or ""),
                        message=one_line(str(parsed.get("message") or "")))


def one_line(text: str, limit: int = 300) -> str:
    """Text on one line (whitespace runs folded), at most `limit` characters."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[:limit - 1] + "…"


def _status_error(method: str, path: str, response: Response) -> Exception:
    reason, message = "", one_line(response.text())
    status = status_answer(response)
    if status is not None:
        reason, message = status.reason, status.message
    elif response.status >= 500:
        # The apiserver answers a failed resource request with a Status object (every recorded
        # 5xx is one). A 5xx page that is not one comes from a proxy or load balancer in front:
        # it says nothing about etcd or the apiserver's storage.
        preview = response.text()[:80].replace("\n", " ")
        return BadResponseError(method, path, f"HTTP {response.status} that is not the apiserver's "
                                              f"({response.content_type or 'no content type'}, starts {preview!r})")
    return status_error_class(response.status)(method, path, response.status, reason, message.strip())


def _transport_error(method: str, path: str, error: HTTPError) -> Exception:
    """Map urllib3's exceptions (raised directly: retries are off) to cpwatch's."""
    detail = _describe(error)
    if isinstance(error, NameResolutionError):
        return CannotConnectError(method, path, "dns", detail)
    if isinstance(error, ProxyError):
        return CannotConnectError(method, path, "proxy", detail)
    if isinstance(error, SSLError):
        cause = _root_cause(error)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return CannotConnectError(method, path, "tls", detail)
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return NoAnswerError(method, path, "timeout", "TLS handshake timed out")
        return NoAnswerError(method, path, "closed", detail)
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 2, so it is tested first.
    if isinstance(error, NewConnectionError):
        cause = _root_cause(error)
        if isinstance(cause, socket.gaierror):
            return CannotConnectError(method, path, "dns", detail)
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return NoAnswerError(method, path, "timeout", detail)
        return NoAnswerError(method, path, "refused", detail)
    if isinstance(error, (ConnectTimeoutError, ReadTimeoutError)):
        return NoAnswerError(method, path, "timeout", detail)
    if isinstance(error, ProtocolError):
        cause = _root_cause(error)
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return NoAnswerError(method, path, "timeout", detail)
        return NoAnswerError(method, path, "closed", detail)
    return NoAnswerError(method, path, "closed", detail)


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception of the chain (urllib3 raises from the socket or ssl error)."""
    seen = error
    while (nxt := seen.__cause__ or seen.__context__) is not None and nxt is not seen:
        seen = nxt
    return seen


def _describe(error: HTTPError) -> str:
    cause = _root_cause(error)
    text = f"{type(cause).__name__}: {cause}" if cause is not error else f"{type(error).__name__}: {error}"
    return text[:300]
