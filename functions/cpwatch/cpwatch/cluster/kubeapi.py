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

from . import servingcert
from ..errors import (
    BadResponseError,
    CannotConnectError,
    CertificateValidityError,
    DeadlineExceededError,
    NoAnswerError,
    status_error_class,
)
from .servingcert import ServingCertificate
from ..timeutil import Deadline, parse_http_date

JSON = "application/json"
TABLE = "application/json;as=Table;g=meta.k8s.io;v=v1,application/json"
# Metadata only (PartialObjectMetadata[List]); plain JSON from a server that cannot convert.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
# A list or get with resourceVersion=0 is served from the apiserver's watch cache: no etcd read,
# selectors matched in memory (pods indexed by spec.nodeName), possibly a little behind. The
# cache ignores `limit` for it and answers in one page; list_pages follows a continue token
# anyway, for servers that page.
FROM_CACHE = {"resourceVersion": "0"}
MERGE_PATCH = "application/merge-patch+json"


# API Priority and Fairness names the priority level of a throttled request by UID only.
PRIORITY_LEVEL_HEADER = "X-Kubernetes-PF-PriorityLevel-UID"
MAX_THROTTLE_RETRIES = 3
MAX_RETRY_AFTER_S = 5.0
# A call ends this long before the run's deadline: the time its probe needs to report the timeout.
REPORT_MARGIN_S = 0.5


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str
    date: datetime | None
    seconds: float
    priority_level: str | None = None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class TransferStats:
    """Requests made, bytes received and throttled answers; read by benchmarks and reports."""

    requests: int = 0
    bytes_received: int = 0
    throttled: int = 0  # 429 answers (each retried while Retry-After fits the deadline)
    throttled_gave_up: int = 0  # requests still throttled when retrying had to stop
    priority_levels: set[str] = field(default_factory=set)  # X-Kubernetes-PF-PriorityLevel-UID seen
    # Reads (GET) that got no answer at all (timed out, or the connection closed): (path, reason).
    unanswered_reads: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, received: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_received += received

    def add_unanswered(self, method: str, path: str, reason: str) -> None:
        if method == "GET" and reason in ("timeout", "closed"):
            with self._lock:
                self.unanswered_reads.append((path, reason))

    def add_throttled(self, priority_level: str | None, gave_up: bool) -> None:
        with self._lock:
            self.throttled += 1
            self.throttled_gave_up += int(gave_up)
            if priority_level:
                self.priority_levels.add(priority_level[:64])


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
        self._ssl_context = ssl_context
        self._tls_server_name = tls_server_name
        self._proxy_url = proxy_url
        self._auth_header = auth_header
        self.request_timeout_s = request_timeout_s
        self.deadline = deadline or Deadline.after(3600)
        self.stats = TransferStats()
        self._clock_offset_s: float | None = None
        self._clock_lock = threading.Lock()
        self._pool = self._new_pool(maxsize=16)

    def _new_pool(self, maxsize: int) -> urllib3.PoolManager:
        pool_args = dict(ssl_context=self._ssl_context, retries=False, maxsize=maxsize, block=False)
        if self._tls_server_name:
            pool_args["server_hostname"] = self._tls_server_name
            pool_args["assert_hostname"] = self._tls_server_name
        if self._proxy_url:
            return urllib3.ProxyManager(self._proxy_url, **pool_args)
        return urllib3.PoolManager(**pool_args)

    def close(self) -> None:
        self._pool.clear()

    def request_on_new_connection(self, method: str, path: str, accept: str = JSON) -> Response:
        """One call on a connection of its own, closed after it: a load balancer in front of
        several apiservers picks a backend per connection, so calls on new connections sample
        the backends that pooled connections may never reach. Errors as request()."""
        pool = self._new_pool(maxsize=1)
        try:
            response, _ = self._request_once(method, path, None, None, JSON, accept, None, pool=pool)
        finally:
            pool.clear()
        return response

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
        compressed: bool = False,
    ) -> Response:
        """One HTTP call. Errors: NoAnswerError, CannotConnectError, DeadlineExceededError,
        ApiStatusError subclasses (when raise_for_status).

        A 429 from API Priority and Fairness is retried after its Retry-After while that fits
        in the run's deadline (at most MAX_THROTTLE_RETRIES times); every 429 is counted in
        `stats`, so the diagnosis can say the apiserver throttled the check."""
        for attempt in range(MAX_THROTTLE_RETRIES + 1):
            response, retry_after = self._request_once(method, path, query, body, content_type, accept, timeout_s,
                                                       compressed)
            if response.status != 429:
                break
            wait = min(retry_after, MAX_RETRY_AFTER_S)
            retry = attempt < MAX_THROTTLE_RETRIES and self.deadline.remaining() > wait + 1.0
            self.stats.add_throttled(response.priority_level, gave_up=not retry)
            if not retry:
                break
            time.sleep(wait)
        if raise_for_status:
            raise_for_status_of(response, method, path)
        return response

    def _request_once(self, method: str, path: str, query: Mapping[str, str] | None, body: object,
                      content_type: str, accept: str, timeout_s: float | None,
                      compressed: bool = False, pool: urllib3.PoolManager | None = None) -> tuple[Response, float]:
        timeout = self._call_timeout(method, path, timeout_s or self.request_timeout_s)
        url = self.server + path + ("?" + urlencode(query) if query else "")
        headers = {"Accept": accept, "User-Agent": "cpwatch"}
        if compressed:
            # The apiserver gzips large answers for clients that accept it (APIResponseCompression).
            headers["Accept-Encoding"] = "gzip"
        token = self._auth_header()
        if token:
            headers["Authorization"] = token
        encoded = None
        if body is not None:
            encoded = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        started = time.monotonic()
        try:
            raw = (pool or self._pool).request(
                method, url, body=encoded, headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                preload_content=True, redirect=False,
            )
        except HTTPError as error:
            failure = _transport_error(method, path, error)
            if isinstance(failure, NoAnswerError):
                self.stats.add_unanswered(method, path, failure.reason)
            raise failure from None
        except (OSError, ssl.SSLError) as error:
            self.stats.add_unanswered(method, path, "closed")
            raise NoAnswerError(method, path, "closed", f"{type(error).__name__}: {error}") from None
        received_at = time.time()
        response = Response(
            status=raw.status,
            body=raw.data or b"",
            content_type=raw.headers.get("Content-Type", ""),
            date=parse_http_date(raw.headers.get("Date")),
            seconds=time.monotonic() - started,
            priority_level=raw.headers.get(PRIORITY_LEVEL_HEADER),
        )
        self.stats.add(_wire_length(raw.headers.get("Content-Length"), len(response.body)))
        self._observe_date(response.date, received_at)
        return response, _retry_after_s(raw.headers.get("Retry-After"))

    def _call_timeout(self, method: str, path: str, wanted_s: float) -> float:
        """The timeout of one call: what was asked, but ending REPORT_MARGIN_S before the run's
        deadline, so a call that gets no answer becomes its probe's finding (an apiserver that
        does not answer /livez is down) before the runner stops waiting for the probe."""
        available = self.deadline.remaining() - REPORT_MARGIN_S
        if available <= 0.05:
            raise DeadlineExceededError(method, path, "the run's deadline has passed")
        return min(wanted_s, available)

    def serving_certificate(self, ignore_validity: bool = False) -> ServingCertificate:
        """The apiserver's serving certificate from a handshake of its own (verified against the
        cluster CA; with ignore_validity, everything but the validity period). Errors:
        NoAnswerError, CannotConnectError, DeadlineExceededError."""
        timeout = self._call_timeout("TLS", self.server, self.request_timeout_s)
        try:
            return servingcert.read(self.server, self._ssl_context, timeout,
                                    self._tls_server_name, self._proxy_url, ignore_validity)
        except ssl.SSLCertVerificationError as error:
            raise _verification_error("TLS", self.server, error) from None
        except (TimeoutError, socket.timeout):
            raise NoAnswerError("TLS", self.server, "timeout", "TLS handshake timed out") from None
        except ConnectionRefusedError as error:
            raise NoAnswerError("TLS", self.server, "refused", str(error)) from None
        except (OSError, ssl.SSLError, ValueError) as error:
            raise NoAnswerError("TLS", self.server, "closed", f"{type(error).__name__}: {error}"[:300]) from None

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

    def post_json(self, path: str, body: object, query: Mapping[str, str] | None = None,
                  timeout_s: float | None = None) -> dict:
        return parse_json_object(self.request("POST", path, query, body=body, timeout_s=timeout_s), "POST", path)

    def merge_patch(self, path: str, patch: object, query: Mapping[str, str] | None = None,
                    timeout_s: float | None = None) -> dict:
        response = self.request("PATCH", path, query, body=patch, content_type=MERGE_PATCH, timeout_s=timeout_s)
        return parse_json_object(response, "PATCH", path)

    def delete(self, path: str, body: object = None) -> None:
        self.request("DELETE", path, body=body)


def _wire_length(content_length: str | None, decoded: int) -> int:
    """Bytes that crossed the network: Content-Length (the gzipped size, for a compressed
    answer), else the body's length."""
    return int(content_length) if content_length and content_length.isdigit() else decoded


def _retry_after_s(value: str | None) -> float:
    """Retry-After in seconds (the apiserver sends whole seconds); 1 s when absent or odd."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        return 1.0
    return seconds if 0 <= seconds < 3600 else 1.0


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
            return _verification_error(method, path, cause)
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


# OpenSSL verify codes that mean "not signed by a CA cpwatch trusts" (the configuration's CA is
# not the one that issued the server's certificate), and "issued for another name".
_OTHER_CA_CODES = (2, 18, 19, 20, 21)
_HOSTNAME_MISMATCH = 62


def _verification_error(method: str, path: str, error: ssl.SSLCertVerificationError) -> Exception:
    """A failed certificate verification: only the validity period (the health probe then checks
    the rest), or anything else (the checker's configuration)."""
    if error.verify_code in servingcert.VALIDITY_CODES:
        return CertificateValidityError(method, path, error.verify_code, _verification_detail(error))
    return CannotConnectError(method, path, "tls", _verification_detail(error))


def _verification_detail(error: ssl.SSLCertVerificationError) -> str:
    code, message = error.verify_code, error.verify_message
    if code in _OTHER_CA_CODES:
        return (f"the server's certificate does not chain to the CA cpwatch trusts ({message}, OpenSSL {code}): "
                f"check the kubeconfig's certificate-authority or the cluster's CA")
    if code == _HOSTNAME_MISMATCH:
        return f"the server's certificate is not issued for this address ({message}, OpenSSL {code})"
    return f"{message} (OpenSSL {code})"


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
