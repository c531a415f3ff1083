"""The apiserver's serving certificate, read from a TLS handshake that sends no request.

Used by KubeApi (its `serving_certificate`) for two questions:
- When does the certificate expire? A verified handshake, then getpeercert().
- A handshake failed verification with OpenSSL's "certificate has expired" (10) or "certificate
  is not yet valid" (9): is the certificate otherwise trusted? A second handshake verifies the
  chain and the host name against the same CA with X509_V_FLAG_NO_CHECK_TIME, which skips only
  the validity period. If that passes, the certificate chains to the trusted CA and every client
  is refused: the apiserver's failure, not the checker's configuration (a certificate from
  another CA fails with 20, "unable to get local issuer certificate", which stays the checker's).
Nothing is sent over these connections; no credentials are involved.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ..timeutil import format_k8s_time

# OpenSSL X509_V_ERR_* codes of ssl.SSLCertVerificationError.verify_code.
CERT_NOT_YET_VALID = 9
CERT_HAS_EXPIRED = 10
VALIDITY_CODES = (CERT_NOT_YET_VALID, CERT_HAS_EXPIRED)
# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: verify the chain but not the validity periods.
_NO_CHECK_TIME = 0x200000


@dataclass(frozen=True)
class ServingCertificate:
    subject: str
    not_before: datetime
    not_after: datetime

    def problem(self, now: datetime) -> str:
        if self.not_after <= now:
            return f"expired on {format_k8s_time(self.not_after)}"
        if self.not_before > now:
            return f"is not valid before {format_k8s_time(self.not_before)} (check the clocks too)"
        return "chains to a CA certificate outside its validity period"


def read(server: str, context: ssl.SSLContext, timeout_s: float, server_hostname: str | None = None,
         proxy_url: str | None = None, ignore_validity: bool = False) -> ServingCertificate:
    """The peer certificate of `server` (https://host:port). Raises OSError / ssl.SSLError."""
    if ignore_validity:
        context = _without_time_check(context)
    parts = urlsplit(server)
    host, port = parts.hostname or "", parts.port or 443
    sock = _open(host, port, timeout_s, proxy_url)
    try:
        with context.wrap_socket(sock, server_hostname=server_hostname or host) as tls:
            peer = tls.getpeercert()
    finally:
        sock.close()
    if not peer:
        raise ssl.SSLError("the server sent no certificate")
    return ServingCertificate(subject=_subject(peer), not_before=_time(peer["notBefore"]),
                              not_after=_time(peer["notAfter"]))


def _without_time_check(context: ssl.SSLContext) -> ssl.SSLContext:
    """A context trusting the same CA certificates, verifying everything but the validity period."""
    relaxed = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    relaxed.check_hostname = context.check_hostname
    relaxed.verify_mode = ssl.CERT_REQUIRED
    cas = context.get_ca_certs(binary_form=True)
    if not cas:
        raise ssl.SSLError("no CA certificate to verify against")
    for der in cas:
        relaxed.load_verify_locations(cadata=der)
    relaxed.verify_flags = int(context.verify_flags) | _NO_CHECK_TIME
    return relaxed


def _open(host: str, port: int, timeout_s: float, proxy_url: str | None) -> socket.socket:
    if not proxy_url:
        return socket.create_connection((host, port), timeout=timeout_s)
    proxy = urlsplit(proxy_url)
    sock = socket.create_connection((proxy.hostname or "", proxy.port or 80), timeout=timeout_s)
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer and len(answer) < 8192:
        chunk = sock.recv(1024)
        if not chunk:
            break
        answer += chunk
    status = answer.split(b" ", 2)[1:2]
    if status != [b"200"]:
        sock.close()
        raise OSError(f"proxy refused CONNECT to {host}:{port}")
    return sock


def _time(value: str) -> datetime:
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(value), timezone.utc)


def _subject(peer: dict) -> str:
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return "?"
