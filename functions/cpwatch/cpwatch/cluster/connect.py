"""Turn a kubeconfig context into a KubeApi.

Called by the CLI. kubeconfig.py reads and merges the files; here the context's credentials are
obtained (a token file read, an exec plugin run within the run's deadline) and cpwatch makes its
own TLS context, so that verification can never be turned off and no request is ever sent
without the credentials the context asks for. aws/eks_connect.py builds the Lambda's KubeApi and only
shares ssl_context_for_ca with this module.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from urllib3.exceptions import LocationValueError
from urllib3.util import parse_url

from . import clientcert
from .clientcert import ClientCertificate
from ..errors import ConfigError, CredentialsError
from .kubeapi import KubeApi
from ..timeutil import Deadline


@dataclass(frozen=True)
class ClusterTarget:
    """What a report says about where it looked (never credentials)."""

    name: str
    server: str
    client_certificate: ClientCertificate | None = None  # the one the context authenticates with


def api_from_kubeconfig(
    path: str | None,
    context: str | None,
    request_timeout_s: float,
    deadline: Deadline | None = None,
) -> tuple[KubeApi, ClusterTarget]:
    """The KubeApi of one context of the merged kubeconfig (path: --kubeconfig, else
    $KUBECONFIG, else ~/.kube/config). Raises ConfigError or CredentialsError."""
    from .kubeconfig import load_kubeconfig

    return api_for_context(load_kubeconfig(path).context(context), request_timeout_s, deadline)


def api_for_context(context, request_timeout_s: float, deadline: Deadline | None = None) -> tuple[KubeApi, ClusterTarget]:
    """`context`: a kubeconfig.ContextConfig. Validates the URLs, obtains the credentials (within
    the deadline) and builds the KubeApi. Raises ConfigError or CredentialsError."""
    from .exec_credentials import run_exec_plugin

    deadline = deadline or Deadline.after(3600)
    where = f"kubeconfig context {context.name}"
    server = context.server
    if not server.startswith("https://"):
        raise ConfigError(f"{where}: server {server or '(none)'} is not an https:// URL")
    # Checked here, not at the first request: urllib3 would raise then, and a malformed server or
    # proxy URL must read as this configuration error, never as an apiserver that does not answer.
    problem = _url_problem(server, ("https",))
    if problem:
        raise ConfigError(f"{where}: server {server} is not a usable URL ({problem})")
    problem = _url_problem(context.proxy_url, ("http", "https")) if context.proxy_url else None
    if problem:
        # The proxy URL is not echoed: it may carry a user name and password.
        raise ConfigError(f"{where}: proxy-url is not a usable http:// or https:// URL ({problem})")

    ssl_context = _ssl_context(context.ca_pem, where)
    credentials = context.credentials
    token = credentials.token
    if credentials.client_certificate_pem and credentials.client_key_pem:
        try:
            _load_client_certificate(ssl_context, credentials.client_certificate_pem, credentials.client_key_pem)
        except (ssl.SSLError, OSError) as error:
            raise ConfigError(f"{where}: the client certificate or key is unusable ({type(error).__name__}; "
                              "is it PEM, and does the key match the certificate?)") from None
    client_certificate = clientcert.read(credentials.client_certificate_pem) if credentials.client_certificate_pem else None
    if credentials.token_file:
        token = _read_token_file(credentials.token_file, context.name)
    elif credentials.exec is not None:
        issued = run_exec_plugin(credentials.exec, context.name, deadline)
        token = issued.token
        if issued.client_certificate_pem and issued.client_key_pem:
            client_certificate = clientcert.read(issued.client_certificate_pem)
            try:
                _load_client_certificate(ssl_context, issued.client_certificate_pem.encode(),
                                         issued.client_key_pem.encode())
            except (ssl.SSLError, OSError) as error:
                raise CredentialsError(context.name, credentials.exec.display, "bad_output",
                                       f"returned a client certificate or key that cannot be used ({type(error).__name__})") from None
    if token is not None and not _HEADER_SAFE.fullmatch(token):
        # http.client would refuse the header at the first request, quoting the token in its error.
        source = credentials.exec.display if credentials.exec and not credentials.token_file else "token"
        raise CredentialsError(context.name, source, "bad_output",
                               "the token has characters an HTTP header cannot carry (spaces, line breaks, non-ASCII)")
    header = f"Bearer {token}" if token else None

    api = KubeApi(
        server=server,
        ssl_context=ssl_context,
        auth_header=lambda: header,
        request_timeout_s=request_timeout_s,
        deadline=deadline,
        tls_server_name=context.tls_server_name,
        proxy_url=context.proxy_url,
    )
    return api, ClusterTarget(name=context.name, server=server, client_certificate=client_certificate)


_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def _read_token_file(path: str, context: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise CredentialsError(context, f"tokenFile {path}", "unreadable", f"cannot be read ({reason})") from None
    if not token:
        raise CredentialsError(context, f"tokenFile {path}", "unreadable", "is empty")
    return token


def _url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """Why urllib3 could not use `url` (scheme, host or port), or None."""
    if not isinstance(url, str):  # the loader passes a YAML list or map through as it is
        return "not a string"
    try:
        parsed = parse_url(url)
    except LocationValueError as error:
        return type(error).__name__
    if parsed.scheme not in schemes:
        return f"scheme {parsed.scheme or '(none)'} not supported"
    if not parsed.host:
        return "no host"
    return None


def ssl_context_for_ca(ca_pem: str | None = None, ca_file: str | None = None) -> ssl.SSLContext:
    """A client TLS context that verifies the server against the given CA (or the system's)."""
    context = ssl.create_default_context(cafile=ca_file, cadata=ca_pem)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _ssl_context(ca_pem: str | None, where: str) -> ssl.SSLContext:
    try:
        return ssl_context_for_ca(ca_pem=ca_pem)
    except (ssl.SSLError, ValueError) as error:
        raise ConfigError(f"{where}: certificate-authority is unusable ({type(error).__name__})") from None


def _load_client_certificate(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Raises ssl.SSLError (not PEM, key does not match) or OSError."""
    # ssl loads a certificate chain only from files: they live in a private directory for the
    # moment of loading.
    with tempfile.TemporaryDirectory(prefix="cpwatch-") as directory:
        cert_file = os.path.join(directory, "client.crt")
        key_file = os.path.join(directory, "client.key")
        for name, data in ((cert_file, cert_pem), (key_file, key_pem)):
            descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(cert_file, key_file)
