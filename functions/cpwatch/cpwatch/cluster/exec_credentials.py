"""Credentials from a kubeconfig exec plugin, obtained the way client-go obtains them, but bounded.

Called by connect.py when a context's user has `exec` (aws eks get-token, kubelogin,
gke-gcloud-auth-plugin, ...). client-go's rules: the command and its args and env come from the
kubeconfig; a command with a path separator is relative to the kubeconfig file that defined it,
a bare name is looked up on PATH; the plugin gets the caller's environment plus `env` plus
KUBERNETES_EXEC_INFO (an ExecCredential whose spec says whether it may prompt, and, with
provideClusterInfo, which cluster it is for); it prints an ExecCredential of the same apiVersion
whose status holds a token or a client certificate and key, optionally with an expiry.

Unlike client-go and the kubernetes package, cpwatch never gives the plugin a terminal (a prompt
would hang a check nobody watches), kills it (with its children) when the run's deadline comes,
and turns every way it can fail into CredentialsError instead of carrying on without credentials.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Mapping

from ..errors import ConfigError, CredentialsError
from ..findings import Component, Observation, observe
from ..timeutil import Deadline, format_k8s_time, parse_k8s_time

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
# The cluster extension client-go hands to a plugin as spec.cluster.config.
EXEC_EXTENSION = "client.authentication.k8s.io/exec"
# After the kill, how long the plugin's pipes may take to close (children that left its process
# group can hold them open; they are then abandoned).
_REAP_S = 1.0


@dataclass(frozen=True)
class ExecConfig:
    """A kubeconfig user's `exec` section, validated."""

    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = field(repr=False)  # may hold secrets (profiles, keys)
    api_version: str
    interactive_mode: str
    install_hint: str = ""
    cluster: Mapping[str, object] | None = field(default=None, repr=False)  # spec.cluster, or None

    @property
    def display(self) -> str:
        """The command line for messages: long words (possible secrets) cut short."""
        return " ".join(_redacted_word(word) for word in (os.path.basename(self.command), *self.args[:4]))


@dataclass(frozen=True)
class ExecCredential:
    token: str | None = field(default=None, repr=False)
    client_certificate_pem: str | None = field(default=None, repr=False)
    client_key_pem: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None


def exec_config_from(section: Mapping, base_dir: str, cluster: Mapping | None, where: str) -> ExecConfig:
    """Validate a user's `exec` section. `cluster`: the kubeconfig cluster entry, passed to the
    plugin only when provideClusterInfo is true. `where` names the user in messages."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: exec must be a mapping")
    command = section.get("command")
    if not isinstance(command, str) or not command:
        raise ConfigError(f"{where}: exec.command is missing")
    api_version = section.get("apiVersion")
    if api_version not in API_VERSIONS:
        # client.authentication.k8s.io/v1alpha1 was removed in Kubernetes 1.24.
        raise ConfigError(f"{where}: exec.apiVersion {api_version!r} is not supported "
                          f"(use {' or '.join(API_VERSIONS)})")
    mode = section.get("interactiveMode")
    if mode is None:
        if api_version.endswith("/v1"):
            raise ConfigError(f"{where}: exec.interactiveMode is required with {api_version} "
                              f"({', '.join(INTERACTIVE_MODES)})")
        mode = "IfAvailable"  # client-go's default for v1beta1
    if mode not in INTERACTIVE_MODES:
        raise ConfigError(f"{where}: exec.interactiveMode must be one of {', '.join(INTERACTIVE_MODES)}, got {mode!r}")
    args = section.get("args") or []
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise ConfigError(f"{where}: exec.args must be a list of strings")
    env = []
    for item in section.get("env") or []:
        if not (isinstance(item, Mapping) and isinstance(item.get("name"), str) and isinstance(item.get("value"), str)):
            raise ConfigError(f"{where}: exec.env entries need a string name and value")
        env.append((item["name"], item["value"]))
    if os.sep in command and not os.path.isabs(command):
        command = os.path.normpath(os.path.join(base_dir, command))
    hint = section.get("installHint")
    return ExecConfig(command=command, args=tuple(args), env=tuple(env), api_version=api_version,
                      interactive_mode=mode, install_hint=hint if isinstance(hint, str) else "",
                      cluster=_cluster_info(cluster) if section.get("provideClusterInfo") is True and cluster else None)


def _cluster_info(cluster: Mapping) -> dict:
    """spec.cluster as client-go fills it (clientauthentication Cluster; CA as base64 data)."""
    info: dict[str, object] = {"server": cluster.get("server", "")}
    # (A cluster that skips verification never gets here: kubeconfig.py refuses it.)
    for key in ("tls-server-name", "proxy-url", "disable-compression"):
        if cluster.get(key):
            info[key] = cluster[key]
    if cluster.get("certificate-authority-data"):
        info["certificate-authority-data"] = cluster["certificate-authority-data"]
    for extension in cluster.get("extensions") or []:
        if isinstance(extension, Mapping) and extension.get("name") == EXEC_EXTENSION:
            info["config"] = extension.get("extension")
    return info


def with_ca(config: ExecConfig, ca_pem: str | None) -> ExecConfig:
    """The config with spec.cluster's CA filled from a certificate-authority file."""
    if config.cluster is None or ca_pem is None or "certificate-authority-data" in config.cluster:
        return config
    return replace(config, cluster={**config.cluster,
                                    "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode()})


def run_exec_plugin(config: ExecConfig, context: str, deadline: Deadline,
                    environ: Mapping[str, str] | None = None) -> ExecCredential:
    """Run the plugin once, within what is left of the deadline. Raises CredentialsError."""

    def fail(reason: str, detail: str) -> CredentialsError:
        return CredentialsError(context, config.display, reason, detail)

    if config.interactive_mode == "Always":
        raise fail("interactive", "needs a terminal (interactiveMode: Always); cpwatch runs plugins without one")
    remaining = deadline.remaining()
    if remaining <= 0.05:
        raise fail("timeout", "not run: the run's deadline has passed")
    env = {**(os.environ if environ is None else environ), **dict(config.env)}
    exec_info: dict[str, object] = {"apiVersion": config.api_version, "kind": "ExecCredential",
                                    "spec": {"interactive": False}}
    if config.cluster is not None:
        exec_info["spec"]["cluster"] = dict(config.cluster)  # type: ignore[index]
    env["KUBERNETES_EXEC_INFO"] = json.dumps(exec_info)
    try:
        # Its own session: on timeout the whole process group is killed, so a shell script's
        # children do not keep the pipes (and this call) open.
        process = subprocess.Popen([config.command, *config.args], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                   start_new_session=True)
    except FileNotFoundError:
        hint = first_line(config.install_hint)
        raise fail("not_found", f"command {config.command} not found" + (f" ({hint})" if hint else "")) from None
    except OSError as error:
        raise fail("failed", f"cannot run {config.command}: {error.strerror or type(error).__name__}") from None
    try:
        stdout, stderr = process.communicate(timeout=remaining)
    except subprocess.TimeoutExpired:
        stderr = _kill(process)
        said = first_line(stderr)
        raise fail("timeout", f"no answer within {remaining:.1f} s, the run's deadline"
                              + (f"; it printed: {said}" if said else "")) from None
    said = first_line(stderr)
    if process.returncode != 0:
        status = (f"killed by signal {-process.returncode}" if process.returncode < 0
                  else f"exited with status {process.returncode}")
        raise fail("failed", status + (f": {said}" if said else ""))
    credential, problem = parse_exec_credential(stdout, config.api_version)
    if problem:
        raise fail("bad_output", f"printed something that is not an ExecCredential ({problem})"
                                 + (f"; it printed: {said}" if said else ""))
    assert credential is not None
    if credential.expires_at is not None and credential.expires_at <= datetime.now(timezone.utc):
        raise fail("expired", f"returned a credential that expired at {format_k8s_time(credential.expires_at)}"
                              + (f"; it printed: {said}" if said else ""))
    return credential


def parse_exec_credential(output: bytes, api_version: str) -> tuple[ExecCredential | None, str | None]:
    """The credential, or None and why the output is not one. Never quotes the output: a plugin
    that prints a bare token must not have it echoed into a report."""
    try:
        document = json.loads(output)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, f"output is not JSON ({len(output)} bytes)"
    if not isinstance(document, dict) or document.get("kind") != "ExecCredential":
        return None, "kind is not ExecCredential"
    if document.get("apiVersion") != api_version:
        return None, f"apiVersion {str(document.get('apiVersion'))[:60]!r}, configured {api_version}"
    status = document.get("status")
    if not isinstance(status, dict):
        return None, "no status"
    token = status.get("token") or None
    cert = status.get("clientCertificateData") or None
    key = status.get("clientKeyData") or None
    if not all(value is None or isinstance(value, str) for value in (token, cert, key)):
        return None, "token, clientCertificateData and clientKeyData must be strings"
    if (cert is None) != (key is None):
        return None, "only one of clientCertificateData and clientKeyData"
    if token is None and cert is None:
        return None, "status has neither token nor clientCertificateData and clientKeyData"
    expires_at = None
    if status.get("expirationTimestamp") is not None:
        expires_at = parse_k8s_time(status["expirationTimestamp"])
        if expires_at is None:
            return None, "expirationTimestamp is not an RFC 3339 time"
    return ExecCredential(token, cert, key, expires_at), None


def _kill(process: subprocess.Popen) -> bytes:
    """Kill the plugin's process group; whatever it wrote to stderr so far."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    try:
        _, stderr = process.communicate(timeout=_REAP_S)
        return stderr or b""
    except subprocess.TimeoutExpired:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
        return b""


def first_line(text: bytes | str | None, limit: int = 200) -> str:
    """The first non-blank line, long words (possible tokens) cut short."""
    if not text:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = " ".join(_redacted_word(word) for word in line.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


# Base64, JWT and hex runs this long are credentials far more often than words.
_SECRET_LIKE = re.compile(r"[A-Za-z0-9+=_.\-]{40,}")


def _redacted_word(word: str) -> str:
    return _SECRET_LIKE.sub(lambda match: match.group(0)[:6] + "…", word)


def credentials_observation(error: CredentialsError) -> Observation:
    """The one finding a credentials failure becomes."""
    return observe("CHECKER_CREDENTIALS", Component.CHECKER, context=error.context, plugin=error.plugin,
                   reason=error.reason, detail=error.detail)
