"""Kubeconfig files merged and read as kubectl does (client-go's loading rules).

Before: cpwatch read only the first entry of KUBECONFIG, so `missing:real` failed with "does not
exist" and a context of the second file was "not found".
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import yaml

from cpwatch.errors import ConfigError
from cpwatch.cluster.exec_credentials import parse_exec_credential
from cpwatch.cluster.kubeconfig import load_kubeconfig

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CA_DATA = base64.b64encode(CA.encode()).decode()


def write(path: Path, clusters=(), users=(), contexts=(), current: str | None = None, **extra) -> Path:
    document = {"apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": n, "cluster": c} for n, c in clusters],
                "users": [{"name": n, "user": u} for n, u in users],
                "contexts": [{"name": n, "context": c} for n, c in contexts], **extra}
    if current:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document))
    return path


def cluster(server: str = "https://a.example:6443", **extra) -> dict:
    return {"server": server, "certificate-authority-data": CA_DATA, **extra}


def env(*paths: Path | str) -> dict:
    return {"KUBECONFIG": os.pathsep.join(str(p) for p in paths), "HOME": "/nonexistent"}


def test_missing_files_in_kubeconfig_are_ignored(tmp_path):
    real = write(tmp_path / "real", [("a", cluster())], [("u", {"token": "t"})], [("a", {"cluster": "a", "user": "u"})], "a")
    config = load_kubeconfig(None, env(tmp_path / "missing", real))
    assert config.paths == (str(real),)
    assert config.context().server == "https://a.example:6443"


def test_context_defined_in_the_second_file(tmp_path):
    first = write(tmp_path / "one", [("a", cluster())], [("u", {"token": "t"})], [("a", {"cluster": "a", "user": "u"})], "a")
    second = write(tmp_path / "two", [("b", cluster("https://b.example"))], [("v", {"token": "s"})],
                   [("b", {"cluster": "b", "user": "v"})], "b")
    config = load_kubeconfig(None, env(first, second))
    assert config.contexts == ("a", "b")
    context = config.context("b")
    assert context.server == "https://b.example" and context.credentials.token == "s"


def test_first_file_to_define_a_name_wins_and_sets_current_context(tmp_path):
    first = write(tmp_path / "one", [("shared", cluster("https://first"))], [("u", {"token": "first-token"})],
                  [("c", {"cluster": "shared", "user": "u"})], "c")
    second = write(tmp_path / "two", [("shared", cluster("https://second"))], [("u", {"token": "second-token"})],
                   [("c", {"cluster": "shared", "user": "u"}), ("d", {"cluster": "shared", "user": "u"})], "d")
    config = load_kubeconfig(None, env(first, second))
    assert config.current_context == "c"
    context = config.context()
    assert context.name == "c" and context.server == "https://first" and context.credentials.token == "first-token"
    # A context of the second file still uses the first file's definition of a shared name.
    assert config.context("d").server == "https://first"


def test_relative_paths_resolve_against_the_file_that_defined_the_entry(tmp_path):
    (tmp_path / "b" / "pki").mkdir(parents=True)
    (tmp_path / "b" / "pki" / "ca.crt").write_text(CA)
    first = write(tmp_path / "a.yaml", contexts=[("x", {"cluster": "bc", "user": "bu"})], current="x")
    second = write(tmp_path / "b" / "config", [("bc", {"server": "https://b", "certificate-authority": "pki/ca.crt"})],
                   [("bu", {"tokenFile": "pki/token", "exec": {"command": "./bin/helper"}})])
    context = load_kubeconfig(None, env(first, second)).context()
    assert context.ca_pem == CA
    assert context.credentials.token_file == str(tmp_path / "b" / "pki" / "token")
    assert context.credentials.exec is None  # a token file is used in preference to the plugin


def test_exec_command_with_a_path_is_relative_to_its_file_and_a_bare_name_is_looked_up_on_path(tmp_path):
    exec_v1 = {"apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Never"}
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub" / "config",
                 [("c", cluster())], [("rel", {"exec": {**exec_v1, "command": "./bin/get-token"}}),
                                      ("bare", {"exec": {**exec_v1, "command": "aws", "args": ["eks", "get-token"]}})],
                 [("rel", {"cluster": "c", "user": "rel"}), ("bare", {"cluster": "c", "user": "bare"})])
    config = load_kubeconfig(str(path), {})
    assert config.context("rel").credentials.exec.command == str(tmp_path / "sub" / "bin" / "get-token")
    assert config.context("bare").credentials.exec.command == "aws"
    assert config.context("bare").credentials.exec.display == "aws eks get-token"


def test_empty_file_is_an_empty_kubeconfig(tmp_path):
    (tmp_path / "empty").write_text("")
    real = write(tmp_path / "real", [("a", cluster())], [("u", {"token": "t"})], [("a", {"cluster": "a", "user": "u"})], "a")
    assert load_kubeconfig(None, env(tmp_path / "empty", real)).contexts == ("a",)


def test_explicit_kubeconfig_overrides_the_environment(tmp_path):
    listed = write(tmp_path / "listed", [("a", cluster())], [("u", {"token": "t"})], [("a", {"cluster": "a", "user": "u"})], "a")
    explicit = write(tmp_path / "explicit", [("e", cluster("https://e"))], [("u", {"token": "t"})],
                     [("e", {"cluster": "e", "user": "u"})], "e")
    config = load_kubeconfig(str(explicit), env(listed))
    assert config.contexts == ("e",)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: ({}, str(p / "absent")), "does not exist"),
        (lambda p: (env(p / "x", p / "y"), None), "none of the files in KUBECONFIG exists"),
        (lambda p: ({"HOME": str(p)}, None), f"{os.sep}.kube{os.sep}config does not exist"),
    ],
    ids=["explicit-missing", "kubeconfig-all-missing", "no-default"],
)
def test_no_file_to_read(tmp_path, setup, message):
    environ, explicit = setup(tmp_path)
    with pytest.raises(ConfigError, match=message):
        load_kubeconfig(explicit, environ)


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"auth-provider": {"name": "gcp"}}, "auth-provider gcp is not supported; use an exec credential plugin"),
        ({"username": "admin", "password": "secret-password"}, "basic authentication"),
        ({}, "has no credentials"),
        ({"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}},
         "exec.apiVersion 'client.authentication.k8s.io/v1alpha1' is not supported"),
        ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "x"}},
         "exec.interactiveMode is required"),
        ({"client-certificate-data": CA_DATA}, r"client-key \(or client-key-data\) is missing"),
        ({"client-certificate": "nope.crt", "client-key": "nope.key"}, "client-certificate file .*nope.crt does not exist"),
    ],
    ids=["auth-provider", "basic", "empty", "v1alpha1", "v1-no-interactive-mode", "cert-without-key", "cert-file-missing"],
)
def test_users_cpwatch_cannot_use_are_refused_by_name(tmp_path, user, message):
    path = write(tmp_path / "kc", [("c", cluster())], [("u", user)], [("c", {"cluster": "c", "user": "u"})], "c")
    with pytest.raises(ConfigError, match=message) as raised:
        load_kubeconfig(str(path), {}).context()
    assert "secret-password" not in str(raised.value)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"cluster": "c", "user": "ghost"}, "names user 'ghost', which no kubeconfig file defines"),
        ({"cluster": "ghost", "user": "u"}, "names cluster 'ghost', which no kubeconfig file defines"),
        ({"cluster": "c"}, "names no user"),
    ],
)
def test_context_naming_what_does_not_exist(tmp_path, context, message):
    path = write(tmp_path / "kc", [("c", cluster())], [("u", {"token": "t"})], [("x", context)], "x")
    with pytest.raises(ConfigError, match=message):
        load_kubeconfig(str(path), {}).context()


def test_unknown_context_lists_the_known_ones(tmp_path):
    path = write(tmp_path / "kc", [("c", cluster())], [("u", {"token": "t"})],
                 [("prod", {"cluster": "c", "user": "u"}), ("staging", {"cluster": "c", "user": "u"})], "prod")
    with pytest.raises(ConfigError, match=r"context 'dev' not found \(contexts: prod, staging\)"):
        load_kubeconfig(str(path), {}).context("dev")


def test_context_namespace_and_proxy_are_read(tmp_path):
    path = write(tmp_path / "kc", [("c", cluster(**{"proxy-url": "http://proxy:3128", "tls-server-name": "api"}))],
                 [("u", {"token": "t"})], [("c", {"cluster": "c", "user": "u", "namespace": "team-a"})], "c")
    context = load_kubeconfig(str(path), {}).context()
    assert (context.proxy_url, context.tls_server_name, context.namespace) == ("http://proxy:3128", "api", "team-a")


# --- ExecCredential parsing ---------------------------------------------------------------

V1 = "client.authentication.k8s.io/v1"


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        (b"", "output is not JSON (0 bytes)"),
        (b"k8s-aws-v1.abcdef", "output is not JSON"),
        (b'{"kind": "Other", "apiVersion": "%s"}' % V1.encode(), "kind is not ExecCredential"),
        (b'{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "status": {"token": "t"}}',
         "apiVersion 'client.authentication.k8s.io/v1beta1', configured client.authentication.k8s.io/v1"),
        (b'{"kind": "ExecCredential", "apiVersion": "%s"}' % V1.encode(), "no status"),
        (b'{"kind": "ExecCredential", "apiVersion": "%s", "status": {}}' % V1.encode(), "neither token nor"),
        (b'{"kind": "ExecCredential", "apiVersion": "%s", "status": {"clientCertificateData": "x"}}' % V1.encode(),
         "only one of"),
        (b'{"kind": "ExecCredential", "apiVersion": "%s", "status": {"token": "t", "expirationTimestamp": "soon"}}'
         % V1.encode(), "expirationTimestamp is not an RFC 3339 time"),
    ],
)
def test_output_that_is_not_an_exec_credential(output, problem):
    credential, found = parse_exec_credential(output, V1)
    assert credential is None and problem in found


def test_exec_credential_with_token_and_expiry():
    credential, problem = parse_exec_credential(
        b'{"kind": "ExecCredential", "apiVersion": "%s", "status": {"token": "abc", '
        b'"expirationTimestamp": "2030-01-02T03:04:05Z"}}' % V1.encode(), V1)
    assert problem is None and credential.token == "abc"
    assert credential.expires_at.isoformat() == "2030-01-02T03:04:05+00:00"
    assert "abc" not in repr(credential)
