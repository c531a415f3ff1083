"""KubeApi against real loopback sockets: each way a server can fail maps to one error type."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cpwatch.cluster.connect import ssl_context_for_ca
from cpwatch.errors import CannotConnectError, DeadlineExceededError, NoAnswerError, ServerError
from cpwatch.cluster.kubeapi import KubeApi
from cpwatch.timeutil import Deadline
from tests.fakecluster.tls import make_credentials

CREDENTIALS = make_credentials()


def api_for(url: str, ca_pem: str = CREDENTIALS.ca_pem, timeout: float = 1.0, deadline: Deadline | None = None) -> KubeApi:
    return KubeApi(url, ssl_context_for_ca(ca_pem=ca_pem), lambda: "Bearer secret-token", timeout, deadline)


@pytest.fixture
def hung_port():
    """Accepts TCP connections and never answers, not even the TLS handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def tls_server():
    """A TLS server whose answers the test sets: (status, body, delay)."""
    answer = {"status": 200, "body": b'{"kind":"Status"}', "delay": 0.0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(answer["delay"])
            self.send_response(answer["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # clients that reject the certificate hang up mid-handshake; expected here

    server = Server(("127.0.0.1", 0), Handler)
    server.socket = CREDENTIALS.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_refused_is_no_answer_refused():
    with pytest.raises(NoAnswerError) as raised:
        api_for(f"https://127.0.0.1:{free_port()}").request("GET", "/livez")
    assert raised.value.reason == "refused"


def test_hung_after_accept_is_a_timeout_within_the_request_bound(hung_port):
    started = time.monotonic()
    with pytest.raises(NoAnswerError) as raised:
        api_for(f"https://127.0.0.1:{hung_port}", timeout=0.5).request("GET", "/livez")
    assert raised.value.reason == "timeout"
    assert time.monotonic() - started < 2.0


def test_certificate_from_another_ca_is_cannot_connect_tls(tls_server):
    url, _ = tls_server
    with pytest.raises(CannotConnectError) as raised:
        api_for(url, ca_pem=make_credentials().ca_pem).request("GET", "/livez")
    assert raised.value.reason == "tls"


def test_unresolvable_name_is_cannot_connect_dns():
    with pytest.raises(CannotConnectError) as raised:
        api_for("https://cpwatch-no-such-host.invalid:443").request("GET", "/livez")
    assert raised.value.reason == "dns"


def test_slow_answer_beyond_the_bound_is_a_timeout(tls_server):
    url, answer = tls_server
    answer["delay"] = 1.5
    with pytest.raises(NoAnswerError) as raised:
        api_for(url, timeout=0.5).request("GET", "/api/v1/nodes")
    assert raised.value.reason == "timeout"


def test_status_body_becomes_typed_error_with_message(tls_server):
    url, answer = tls_server
    answer["status"] = 500
    answer["body"] = json.dumps({"kind": "Status", "status": "Failure", "reason": "InternalError",
                                 "message": "etcdserver: request timed out", "code": 500}).encode()
    with pytest.raises(ServerError) as raised:
        api_for(url).request("GET", "/api/v1/nodes")
    assert raised.value.message == "etcdserver: request timed out"
    assert "secret-token" not in str(raised.value)


def test_the_run_deadline_bounds_every_request(hung_port):
    api = api_for(f"https://127.0.0.1:{hung_port}", timeout=5.0, deadline=Deadline.after(0.6))
    started = time.monotonic()
    with pytest.raises(NoAnswerError):
        api.request("GET", "/livez")
    assert time.monotonic() - started < 1.5
    with pytest.raises(DeadlineExceededError):
        api.request("GET", "/livez")


def test_a_call_without_answer_ends_before_the_run_deadline_so_its_probe_can_report(hung_port):
    deadline = Deadline.after(2.0)
    api = api_for(f"https://127.0.0.1:{hung_port}", timeout=5.0, deadline=deadline)
    with pytest.raises(NoAnswerError):
        api.request("GET", "/livez")
    assert deadline.remaining() >= 0.3  # time enough for the probe to report it
