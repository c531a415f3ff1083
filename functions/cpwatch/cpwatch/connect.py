"""Turn a kubeconfig context into a KubeApi.

Called by the CLI; the Lambda path (EKS DescribeCluster + token) adds its own constructor here.
The kubernetes package's loader reads the kubeconfig (files or inline data, exec plugins, token
refresh); cpwatch then makes its own TLS context so that verification can never be turned off.
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

import yaml
from urllib3.exceptions import LocationValueError
from urllib3.util import parse_url

from .errors import ConfigError
from .kubeapi import KubeApi
from .timeutil import Deadline


@dataclass(frozen=True)
class ClusterTarget:
    """What a report says about where it looked (never credentials)."""

    name: str
    server: str


def default_kubeconfig_path(environ: dict[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    first = (environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return first or str(Path.home() / ".kube" / "config")


def api_from_kubeconfig(
    path: str | None,
    context: str | None,
    request_timeout_s: float,
    deadline: Deadline | None = None,
) -> tuple[KubeApi, ClusterTarget]:
    # Imported here: loading the kubernetes package costs most of a second (it imports every
    # model class), and only this path needs it.
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import load_kube_config

    config_path = path or default_kubeconfig_path()
    if not Path(config_path).is_file():
        raise ConfigError(f"kubeconfig {config_path} does not exist or is not a file")
    configuration = Configuration()
    try:
        load_kube_config(config_file=config_path, context=context,
                         client_configuration=configuration, persist_config=False)
    except ConfigException as error:
        raise ConfigError(f"kubeconfig {config_path}: {_redact(str(error))}") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        # The loader raises these on malformed YAML structure (a list where a map belongs, ...).
        raise ConfigError(f"kubeconfig {config_path} is malformed ({type(error).__name__})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"kubeconfig {config_path} is not valid YAML ({type(error).__name__})") from None

    if not configuration.verify_ssl:
        raise ConfigError(
            f"kubeconfig {config_path}: insecure-skip-tls-verify is set for this cluster; "
            "cpwatch always verifies the apiserver's certificate (remove the setting and give "
            "certificate-authority or certificate-authority-data)"
        )
    server = (configuration.host or "").rstrip("/")
    if not server.startswith("https://"):
        raise ConfigError(f"kubeconfig {config_path}: server {server or '(none)'} is not an https:// URL")
    # Checked here, not at the first request: urllib3 would raise then, and a malformed server or
    # proxy URL must read as this configuration error, never as an apiserver that does not answer.
    problem = _url_problem(server, ("https",))
    if problem:
        raise ConfigError(f"kubeconfig {config_path}: server {server} is not a usable URL ({problem})")
    problem = _url_problem(configuration.proxy, ("http", "https")) if configuration.proxy else None
    if problem:
        # The proxy URL is not echoed: it may carry a user name and password.
        raise ConfigError(f"kubeconfig {config_path}: proxy-url is not a usable http:// or https:// URL ({problem})")

    context_name = context or _current_context(config_path)
    ssl_context = _ssl_context(configuration, config_path)

    def auth_header() -> str | None:
        return configuration.get_api_key_with_prefix("BearerToken")

    api = KubeApi(
        server=server,
        ssl_context=ssl_context,
        auth_header=auth_header,
        request_timeout_s=request_timeout_s,
        deadline=deadline,
        tls_server_name=configuration.tls_server_name or None,
        proxy_url=configuration.proxy or None,
    )
    return api, ClusterTarget(name=context_name or server, server=server)


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


def _ssl_context(configuration, config_path: str) -> ssl.SSLContext:
    try:
        context = ssl_context_for_ca(ca_file=configuration.ssl_ca_cert or None)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    except (ssl.SSLError, OSError) as error:
        raise ConfigError(f"kubeconfig {config_path}: certificate data is unusable ({type(error).__name__}: {error.strerror or error})") from None
    return context


def _current_context(path: str) -> str | None:
    with open(path, encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    name = loaded.get("current-context") if isinstance(loaded, dict) else None
    return name if isinstance(name, str) and name else None


def _redact(message: str) -> str:
    """Loader messages can quote kubeconfig values; keep only the first line, drop the object
    reprs the loader puts in its node names ("... in <path>/{'name': None, 'user': {'token': ...}}"),
    cut long tokens."""
    first_line = message.splitlines()[0] if message else "invalid"
    first_line = re.sub(r"[\[{].*", "<entry>", first_line)
    return " ".join(word if len(word) < 40 else word[:8] + "…" for word in first_line.split())
