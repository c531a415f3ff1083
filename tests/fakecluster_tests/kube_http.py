"""A small HTTPS client for the fake's tests: urllib over a context that trusts the fake's CA.

Every call ends in an Answer: an HTTP status and body, or `error` naming how it failed without
an answer, in the categories the recordings show (refused, handshake-timeout, read-timeout,
closed).
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from tests.fakecluster import FakeCluster


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: object = None  # parsed JSON, or text
    headers: dict = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def json(self) -> dict:
        assert isinstance(self.body, dict), f"not JSON: {self.body!r}"
        return self.body


def error_kind(error: BaseException) -> str:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    text = str(reason)
    if isinstance(reason, ConnectionRefusedError) or "Connection refused" in text:
        return "refused"
    if "handshake" in text:
        return "handshake-timeout"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "read-timeout"
    if isinstance(reason, (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine)):
        return "closed"
    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return "untrusted"
    return f"other: {type(reason).__name__}: {text}"


def recorded_error_kind(text: str) -> str:
    if "Connection refused" in text:
        return "refused"
    if "handshake" in text:
        return "handshake-timeout"
    if "read operation timed out" in text:
        return "read-timeout"
    if "closed connection without response" in text:
        return "closed"
    return f"other: {text}"


class Client:
    def __init__(self, fc: FakeCluster, token: str | None = None, context: ssl.SSLContext | None = None,
                 url: str | None = None) -> None:
        self.fc = fc
        self.token = fc.admin_token if token is None else token
        self.context = context or fc.ssl_context()
        self.url = url or fc.url

    def request(self, method: str, path: str, body: object = None, *, accept: str | None = None,
                content_type: str = "application/json", timeout: float = 5.0,
                headers: dict | None = None) -> Answer:
        data = None
        all_headers = dict(headers or {})
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        if accept:
            all_headers["Accept"] = accept
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=all_headers)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=timeout) as response:
                return _answer(response.status, response.read(), dict(response.headers), started)
        except urllib.error.HTTPError as error:
            return _answer(error.code, error.read(), dict(error.headers), started)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            return Answer(None, error=error_kind(error), seconds=time.monotonic() - started)

    def get(self, path: str, **options) -> Answer:
        return self.request("GET", path, **options)

    def post(self, path: str, body: object, **options) -> Answer:
        return self.request("POST", path, body, **options)

    def patch(self, path: str, body: object, content_type: str = "application/merge-patch+json", **options) -> Answer:
        return self.request("PATCH", path, body, content_type=content_type, **options)

    def put(self, path: str, body: object, **options) -> Answer:
        return self.request("PUT", path, body, **options)

    def delete(self, path: str, body: object = None, **options) -> Answer:
        return self.request("DELETE", path, body, **options)


def _answer(status: int, raw: bytes, headers: dict, started: float) -> Answer:
    if headers.get("Content-Encoding") == "gzip":
        raw = gzip.decompress(raw)
    text = raw.decode()
    try:
        body: object = json.loads(text)
    except ValueError:
        body = text
    return Answer(status, body, headers, None, time.monotonic() - started)
