"""An HTTPS forward proxy for tests: AWS calls that cpwatch makes on a fixed https:// endpoint
(AssumeRole on https://sts.<region>.amazonaws.com, which aws/clients.py names explicitly so that no
endpoint setting can redirect it) reach a loopback server instead of AWS.

botocore sends them through HTTPS_PROXY with CONNECT; the relay answers CONNECT only for the
hosts it was given (anything else gets 403, so a test can never reach the internet through it),
terminates TLS with a certificate of its own test CA (trusted through AWS_CA_BUNDLE), and replays
each HTTP request to that host's upstream (moto, or an aws_error_endpoint), Host header kept.
`upstreams` can be changed while it runs, to make STS fail for one invocation.

    with HttpsRelay({"sts.eu-west-1.amazonaws.com": moto_url}) as relay:
        monkeypatch.setenv("HTTPS_PROXY", relay.url)
        monkeypatch.setenv("AWS_CA_BUNDLE", str(relay.ca_file))
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from tests.fakecluster.tls import make_credentials

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class HttpsRelay:
    def __init__(self, upstreams: dict[str, str]):
        self.upstreams = dict(upstreams)  # hostname -> http://127.0.0.1:<port>
        self.connects: list[str] = []  # every CONNECT target asked for, allowed or not
        credentials = make_credentials(hostnames=tuple(upstreams), addresses=())
        self._tls = credentials.server_context()
        self._directory = tempfile.TemporaryDirectory(prefix="cpwatch-relay-")
        self.ca_file = Path(self._directory.name) / "ca.pem"
        self.ca_file.write_text(credentials.ca_pem)
        relay = self

        class Tunnel(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request_line = self.rfile.readline(65537).decode("latin-1").strip()
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                method, _, rest = request_line.partition(" ")
                host = rest.split(" ")[0].rsplit(":", 1)[0]
                relay.connects.append(host)
                if method != "CONNECT" or host not in relay.upstreams:
                    self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    return
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                try:
                    secure = relay._tls.wrap_socket(self.connection, server_side=True)
                except (OSError, ssl.SSLError):
                    return
                _Forward(secure, self.client_address, relay, host)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tunnel, bind_and_activate=True)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> HttpsRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._directory.cleanup()


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def __init__(self, connection: socket.socket, address: tuple, relay: HttpsRelay, host: str) -> None:
        self.relay = relay
        self.host = host
        super().__init__(connection, address, None)

    def log_message(self, *args: object) -> None:
        return

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = urlsplit(self.relay.upstreams[self.host])
        headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        except OSError:
            self.close_connection = True
            return
        finally:
            connection.close()
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = _relay
