"""Kubeconfig files as kubectl reads them -> what cpwatch needs to reach one context's cluster.

Called by connect.py (the CLI path; the Lambda connects through aws/eks_connect.py and never imports this).
Merging is the kubernetes package's KubeConfigMerger: the files of KUBECONFIG (or --kubeconfig)
are merged, missing ones ignored, the first file to define a cluster, user or context name wins,
and relative paths are resolved against the file that defined the entry. Two kubectl rules it
does not follow are applied here: the first file to set current-context wins, and an empty file
is an empty kubeconfig, not an error.

Entries are then read here, not by the package's loader: its loader runs exec plugins without a
timeout and, when one fails, logs the error and goes on without credentials. Nothing in this
module reaches the network or runs a plugin; connect.py does, under the run's deadline.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from ..errors import ConfigError
from .exec_credentials import ExecConfig, exec_config_from, with_ca


@dataclass(frozen=True)
class UserCredentials:
    """What a kubeconfig user asks to be sent. Exactly the fields kubectl would use."""

    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    client_certificate_pem: bytes | None = field(default=None, repr=False)
    client_key_pem: bytes | None = field(default=None, repr=False)
    exec: ExecConfig | None = None


@dataclass(frozen=True)
class ContextConfig:
    """One context, resolved: the cluster to reach and the credentials to send."""

    name: str
    server: str
    ca_pem: str | None  # None: the system's trust store
    tls_server_name: str | None
    proxy_url: str | None
    credentials: UserCredentials
    # Not used: cpwatch reads cluster-wide and in fixed system namespaces, and writes only in its
    # own namespace (setting `namespace`), whatever the context's default namespace is.
    namespace: str | None = None


@dataclass(frozen=True)
class Kubeconfig:
    """The merged kubeconfig: its files (in order), context names and current context."""

    paths: tuple[str, ...]
    contexts: tuple[str, ...]
    current_context: str | None
    _merged: object = field(repr=False, compare=False)

    def context(self, name: str | None = None) -> ContextConfig:
        """The named context (default: current-context). Raises ConfigError naming what is wrong."""
        from kubernetes.config.config_exception import ConfigException

        name = name or self.current_context
        if not name:
            raise ConfigError(f"{self._where()}: no current-context is set; give --context "
                              f"(contexts: {_names(self.contexts)})")
        try:
            return _resolve(self._merged, name, self._where())
        except ConfigException as error:
            raise ConfigError(f"{self._where()}: {_redact(str(error))}") from None
        except _MALFORMED as error:
            raise ConfigError(f"{self._where()}: context {name} or an entry it names is malformed "
                              f"({type(error).__name__})") from None

    def _where(self) -> str:
        return "kubeconfig " + os.pathsep.join(self.paths)


def kubeconfig_paths(explicit: str | None, environ: Mapping[str, str]) -> list[str]:
    """The files to merge, as kubectl chooses them: --kubeconfig alone (it must exist), else every
    existing file of KUBECONFIG, else ~/.kube/config."""
    if explicit:
        path = os.path.expanduser(explicit)
        if not os.path.isfile(path):
            raise ConfigError(f"kubeconfig {explicit} does not exist or is not a file")
        return [path]
    listed = [p for p in (environ.get("KUBECONFIG") or "").split(os.pathsep) if p]
    if listed:
        existing = [os.path.expanduser(p) for p in listed if os.path.isfile(os.path.expanduser(p))]
        if not existing:
            raise ConfigError(f"none of the files in KUBECONFIG exists ({os.pathsep.join(listed)})")
        return existing
    home = environ.get("HOME")
    default = str(Path(home) / ".kube" / "config") if home else os.path.expanduser("~/.kube/config")
    if not os.path.isfile(default):
        raise ConfigError(f"kubeconfig {default} does not exist or is not a file (and KUBECONFIG is not set)")
    return [default]


def load_kubeconfig(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Kubeconfig:
    """Read and merge the kubeconfig files. Raises ConfigError naming the file at fault."""
    # Imported here: the kubernetes package costs most of a second to import (every model
    # class), and only the CLI's kubeconfig path needs it.
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigMerger

    environ = os.environ if environ is None else environ
    paths = []
    current = None
    for path in kubeconfig_paths(explicit, environ):
        document = _read_yaml(path)
        if document is None:
            continue
        paths.append(path)
        if current is None and isinstance(document.get("current-context"), str) and document["current-context"]:
            current = document["current-context"]
    if not paths:
        raise ConfigError(f"kubeconfig {os.pathsep.join(kubeconfig_paths(explicit, environ))} is empty")
    merger = KubeConfigMerger("")  # no paths yet: files are added one by one below
    for path in paths:
        try:
            merger.load_config(path)
        except ConfigException as error:
            raise ConfigError(f"kubeconfig {path}: {_redact(str(error))}") from None
        except _MALFORMED as error:
            raise ConfigError(f"kubeconfig {path} is malformed ({type(error).__name__}: an entry of "
                              "clusters, users or contexts has no name or is not a mapping)") from None
    merged = merger.config
    contexts = tuple(str(entry.value["name"]) for entry in merged.value.get("contexts") or []
                     if isinstance(entry.value, Mapping) and entry.value.get("name") is not None)
    return Kubeconfig(paths=tuple(paths), contexts=contexts, current_context=current, _merged=merged)


# The one kubeconfig setting that would turn TLS verification off, and the refusal.
_SKIP_VERIFY = ("insecure-skip-tls-verify", "insecure-skip-tls-verify is set for this cluster")

# What the kubernetes package's ConfigNode raises on a kubeconfig of the wrong shape (a list
# where a mapping belongs, an entry that is null).
_MALFORMED = (KeyError, TypeError, AttributeError, ValueError)


def _read_yaml(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as error:
        raise ConfigError(f"kubeconfig {path} cannot be read ({error.strerror or type(error).__name__})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"kubeconfig {path} is not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"kubeconfig {path} is not valid YAML ({type(error).__name__})") from None
    if document is not None and not isinstance(document, dict):
        raise ConfigError(f"kubeconfig {path} is malformed (a {type(document).__name__}, not a mapping)")
    return document


def _resolve(merged, name: str, where: str) -> ContextConfig:
    from kubernetes.config.kube_config import FileOrData

    context_entry = merged["contexts"].get_with_name(name, safe=True) if "contexts" in merged else None
    if context_entry is None:
        contexts = [str(c.value.get("name")) for c in merged.value.get("contexts") or [] if isinstance(c.value, Mapping)]
        raise ConfigError(f"{where}: context {name!r} not found (contexts: {_names(contexts)})")
    context = _mapping(context_entry.value.get("context"), f"context {name}")
    cluster_name = context.get("cluster")
    if not cluster_name:
        raise ConfigError(f"{where}: context {name} names no cluster")
    cluster_entry = merged["clusters"].get_with_name(cluster_name, safe=True) if "clusters" in merged else None
    if cluster_entry is None:
        raise ConfigError(f"{where}: context {name} names cluster {cluster_name!r}, which no kubeconfig file defines")
    cluster_node = cluster_entry["cluster"]
    cluster = _mapping(cluster_node.value, f"cluster {cluster_name}")
    if cluster.get(_SKIP_VERIFY[0]):
        raise ConfigError(
            f"{where}: {_SKIP_VERIFY[1]}; "
            "cpwatch always verifies the apiserver's certificate (remove the setting and give "
            "certificate-authority or certificate-authority-data)"
        )
    cluster_dir = os.path.dirname(os.path.abspath(cluster_entry.path))
    ca_pem = _pem(FileOrData(cluster_node, "certificate-authority", file_base_path=cluster_dir),
                  f"cluster {cluster_name} certificate-authority", where)
    server = str(cluster.get("server") or "").rstrip("/")

    user_name = context.get("user")
    if not user_name:
        raise ConfigError(f"{where}: context {name} names no user; cpwatch needs credentials "
                          "(token, tokenFile, client certificate or exec plugin)")
    user_entry = merged["users"].get_with_name(user_name, safe=True) if "users" in merged else None
    if user_entry is None:
        raise ConfigError(f"{where}: context {name} names user {user_name!r}, which no kubeconfig file defines")
    user_node = user_entry["user"] if user_entry.value.get("user") else None
    user = _mapping(user_node.value if user_node is not None else {}, f"user {user_name}")
    user_dir = os.path.dirname(os.path.abspath(user_entry.path))
    credentials = _credentials(user, user_node, user_dir, cluster, ca_pem, f"{where}: user {user_name}")
    namespace = context.get("namespace")
    return ContextConfig(name=name, server=server, ca_pem=ca_pem,
                         tls_server_name=cluster.get("tls-server-name") or None,
                         proxy_url=cluster.get("proxy-url") or None, credentials=credentials,
                         namespace=namespace if isinstance(namespace, str) else None)


def _credentials(user: Mapping, user_node, user_dir: str, cluster: Mapping, ca_pem: str | None,
                 where: str) -> UserCredentials:
    from kubernetes.config.kube_config import FileOrData

    if "auth-provider" in user:
        provider = user["auth-provider"].get("name") if isinstance(user["auth-provider"], Mapping) else None
        # client-go removed the gcp and azure providers in 1.26; their replacements are exec plugins.
        raise ConfigError(f"{where}: auth-provider {provider or '(unnamed)'} is not supported; use an exec "
                          "credential plugin (gke-gcloud-auth-plugin, kubelogin)")
    if "username" in user or "password" in user:
        raise ConfigError(f"{where}: username/password (basic authentication) is not supported: "
                          "kube-apiserver removed it in Kubernetes 1.19")
    token = user.get("token") or None
    token_file = user.get("tokenFile") or None
    if token is not None and not isinstance(token, str):
        raise ConfigError(f"{where}: token must be a string")
    if token_file is not None:
        token_file = os.path.normpath(os.path.join(user_dir, os.path.expanduser(str(token_file))))
    cert = _pem(FileOrData(user_node, "client-certificate", file_base_path=user_dir), "client-certificate", where)
    key = _pem(FileOrData(user_node, "client-key", file_base_path=user_dir), "client-key", where)
    if (cert is None) != (key is None):
        missing = "client-key" if key is None else "client-certificate"
        raise ConfigError(f"{where}: {missing} (or {missing}-data) is missing; a client certificate needs both")
    exec_config = None
    # client-go sends a static token (or token file) in preference to running the plugin.
    if "exec" in user and token is None and token_file is None:
        exec_config = with_ca(exec_config_from(user["exec"], user_dir, cluster, where), ca_pem)
    if token is None and token_file is None and cert is None and exec_config is None:
        raise ConfigError(f"{where} has no credentials (token, tokenFile, client certificate or exec plugin); "
                          "cpwatch never sends anonymous requests")
    return UserCredentials(token=token, token_file=token_file,
                           client_certificate_pem=cert.encode() if cert else None,
                           client_key_pem=key.encode() if key else None, exec=exec_config)


def _pem(source, what: str, where: str) -> str | None:
    """The PEM text of a `<what>` / `<what>-data` pair (data wins, as kubectl has it), or None."""
    try:
        data = source.as_data()
    except FileNotFoundError as error:
        raise ConfigError(f"{where}: {what} file {error.filename} does not exist") from None
    except OSError as error:
        raise ConfigError(f"{where}: {what} file cannot be read ({error.strerror or type(error).__name__})") from None
    if not data:
        return None
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError, TypeError):
        raise ConfigError(f"{where}: {what}-data is not base64-encoded PEM") from None
    if "-----BEGIN" not in text:
        raise ConfigError(f"{where}: {what} is not PEM (no -----BEGIN line)")
    return text


def _mapping(value: object, what: str) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"kubeconfig: {what} is not a mapping")
    return value


def _names(names) -> str:
    names = list(names)
    return ", ".join(names[:10]) + (f", … ({len(names)} in all)" if len(names) > 10 else "") if names else "none"


def _redact(message: str) -> str:
    """Loader messages can quote kubeconfig values; keep only the first line, drop the object
    reprs the loader puts in its node names ("... in <path>/{'name': None, 'user': {'token': ...}}"),
    cut long tokens."""
    first_line = message.splitlines()[0] if message else "invalid"
    first_line = re.sub(r"[\[{].*", "<entry>", first_line)
    return " ".join(word if len(word) < 40 else word[:8] + "…" for word in first_line.split())
