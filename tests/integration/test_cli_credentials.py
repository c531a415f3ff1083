"""`cpwatch check` with each kind of kubeconfig credential, against the fake control plane.

The installed `cpwatch` runs as a subprocess, as a user runs it. Exec plugins are small Python
scripts written by the test. A plugin that fails, hangs, prints garbage or returns an expired
credential is one CHECKER_CREDENTIALS line and exit 64, with no request sent to the cluster
(before: cpwatch logged the plugin's error and went on as system:anonymous; a hanging plugin
held the check for a minute).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.fakecluster import FakeCluster
from tests.integration.test_cli import CPWATCH, cpwatch, timeout_margin_s

pytestmark = pytest.mark.network

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"

TOKEN_PLUGIN = """
import json, os, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
with open(os.environ["RECORD"], "w") as record:
    json.dump({"info": info, "stdin_is_tty": os.isatty(0), "stdin": sys.stdin.read(), "argv": sys.argv[1:]}, record)
print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential",
                  "status": {"token": os.environ["FAKE_TOKEN"], "expirationTimestamp": "2099-01-01T00:00:00Z"}}))
"""

CERT_PLUGIN = """
import json, os
status = {"clientCertificateData": open(os.environ["CERT"]).read(), "clientKeyData": open(os.environ["KEY"]).read()}
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": status}))
"""

FAILING_PLUGIN = """
import sys
sys.stderr.write("\\ntoken expired, run aws sso login\\nmore detail on a second line\\n")
sys.exit(1)
"""

# Like a credential helper waiting for a browser login: it says so, starts a child that keeps
# the pipes open, and never answers.
HANGING_PLUGIN = """
import subprocess, sys, time
sys.stderr.write("waiting for the browser login to complete\\n")
sys.stderr.flush()
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
time.sleep(120)
"""

GARBAGE_PLUGIN = """
print("k8s-aws-v1." + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 3)
"""

EXPIRED_PLUGIN = """
import json, os
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": os.environ["FAKE_TOKEN"], "expirationTimestamp": "2020-01-01T00:00:00Z"}}))
"""


def plugin(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def exec_user(command: str, api_version: str = V1, env: dict | None = None, **extra) -> dict:
    section = {"apiVersion": api_version, "command": command, "args": ["get-token", "--cluster-name", "fake"],
               "env": [{"name": k, "value": v} for k, v in (env or {}).items()], **extra}
    if api_version == V1:
        section.setdefault("interactiveMode", "Never")
    return {"exec": section}


def timed(*args: str, **kwargs) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = cpwatch(*args, **kwargs)
    return result, time.monotonic() - started


# --- credentials that work ------------------------------------------------------------------

def test_exec_plugin_token_is_sent_and_the_plugin_gets_client_gos_exec_info(tmp_path):
    script = plugin(tmp_path, "get-token", TOKEN_PLUGIN)
    record = tmp_path / "record.json"
    with FakeCluster(nodes=2) as fc:
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", user=exec_user(
            str(script), env={"FAKE_TOKEN": fc.checker_token, "RECORD": str(record)}, provideClusterInfo=True))
        result = cpwatch("check", "--kubeconfig", str(kubeconfig), "--read-only", "--json")
        users = {r.user for r in fc.requests}
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["overall"] == "healthy"
    assert users == {"cpwatch-checker"}
    seen = json.loads(record.read_text())
    assert seen["info"]["apiVersion"] == V1 and seen["info"]["kind"] == "ExecCredential"
    assert seen["info"]["spec"]["interactive"] is False
    assert seen["info"]["spec"]["cluster"]["server"] == fc.url
    assert seen["info"]["spec"]["cluster"]["certificate-authority-data"]
    assert seen["stdin_is_tty"] is False and seen["stdin"] == ""
    assert seen["argv"] == ["get-token", "--cluster-name", "fake"]


def test_exec_plugin_client_certificate_v1beta1(tmp_path):
    with FakeCluster(nodes=2) as fc:
        cert, key = fc.issue_client_certificate("cpwatch-checker", ("cpwatch",))
        (tmp_path / "c.crt").write_text(cert)
        (tmp_path / "c.key").write_text(key)
        script = plugin(tmp_path, "cert-plugin", CERT_PLUGIN)
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", user=exec_user(
            str(script), V1BETA1, env={"CERT": str(tmp_path / "c.crt"), "KEY": str(tmp_path / "c.key")}))
        result = cpwatch("check", "--kubeconfig", str(kubeconfig), "--read-only", "--json")
        users = {r.user for r in fc.requests}
    assert result.returncode == 0, result.stderr
    assert users == {"cpwatch-checker"}


def test_exec_command_relative_to_the_kubeconfig_file(tmp_path):
    (tmp_path / "bin").mkdir()
    plugin(tmp_path / "bin", "get-token", TOKEN_PLUGIN)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    with FakeCluster(nodes=1) as fc:
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", user=exec_user(
            "./bin/get-token", env={"FAKE_TOKEN": fc.checker_token, "RECORD": str(tmp_path / "r.json")}))
        result = subprocess.run([CPWATCH, "check", "--kubeconfig",
                                 str(kubeconfig), "--read-only"], capture_output=True, text=True, cwd=elsewhere,
                                timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("kind", ["token", "token-file", "client-certificate", "ca-file"])
def test_static_credentials_and_ca_file(tmp_path, kind):
    with FakeCluster(nodes=2) as fc:
        if kind == "token":
            user, ca_file = {"token": fc.checker_token}, False
        elif kind == "token-file":
            (tmp_path / "secrets").mkdir()
            (tmp_path / "secrets" / "token").write_text(fc.checker_token + "\n")
            user, ca_file = {"tokenFile": "secrets/token"}, False  # relative to the kubeconfig
        elif kind == "client-certificate":
            user, ca_file = fc.client_certificate_user("cpwatch-checker", ("cpwatch",)), False
        else:
            user, ca_file = {"token": fc.checker_token}, True
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", user=user, ca_file=ca_file)
        result = cpwatch("check", "--kubeconfig", str(kubeconfig), "--read-only", "--json")
        users = {r.user for r in fc.requests}
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["overall"] == "healthy"
    assert users == {"cpwatch-checker"}


@pytest.mark.parametrize(("valid_days", "warned"), [(10, True), (90, False)])
def test_client_certificate_expiring_soon_is_warned_about(tmp_path, valid_days, warned):
    with FakeCluster(nodes=2) as fc:
        user = fc.client_certificate_user("cpwatch-checker", ("cpwatch",), valid_days=valid_days)
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", user=user)
        result = cpwatch("check", "--kubeconfig", str(kubeconfig), "--read-only", "--json")
    findings = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "CHECKER_CLIENT_CERT_EXPIRING"]
    assert bool(findings) is warned, findings
    if warned:
        assert findings[0]["evidence"]["subject"] == "cpwatch-checker"
        assert findings[0]["evidence"]["days_left"] in (9, 10)
    assert json.loads(result.stdout)["overall"] == "healthy"  # the checker's own, not the cluster's


def test_client_certificate_identity_is_its_common_name_and_organizations(tmp_path):
    """kubeadm's admin.conf style: the fake reads the user from the certificate, so a
    certificate for a user without the checker's RBAC is forbidden, by that user's name."""
    with FakeCluster(nodes=1) as fc:
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", user=fc.client_certificate_user("jane", ("dev",)))
        result = cpwatch("check", "--kubeconfig", str(kubeconfig), "--read-only", "--json")
        users = {r.user for r in fc.requests}
    assert users == {"jane"}
    document = json.loads(result.stdout)
    assert result.returncode == 3
    forbidden = [f for f in document["findings"] if f["code"] == "CHECKER_FORBIDDEN"]
    assert forbidden and all('"jane"' in f["message"] for f in forbidden)


def test_client_certificate_from_another_ca_is_refused(tmp_path):
    with FakeCluster(nodes=1) as fc, FakeCluster(nodes=1) as other:
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", user=other.client_certificate_user())
        result = cpwatch("check", "--kubeconfig", str(kubeconfig), "--read-only", "--json")
        users = {r.user for r in fc.requests}
    assert users == set()  # the fake refuses the TLS handshake; nothing was served
    assert result.returncode != 0


# --- credentials that fail: one line, exit 64, nothing sent ---------------------------------

HEADER_BREAKING_PLUGIN = """
import json
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo\\r\\nX-Injected: 1"}}))
"""

FAILURES = {
    "header-breaking": (HEADER_BREAKING_PLUGIN, "the token has characters an HTTP header cannot carry"),
    "fails": (FAILING_PLUGIN, "exited with status 1: token expired, run aws sso login"),
    "garbage": (GARBAGE_PLUGIN, "printed something that is not an ExecCredential (output is not JSON"),
    "expired": (EXPIRED_PLUGIN, "returned a credential that expired at 2020-01-01T00:00:00Z"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failing_exec_plugin_is_one_line_and_exit_64_with_nothing_sent(tmp_path, case):
    body, expected = FAILURES[case]
    script = plugin(tmp_path, "aws", body)
    with FakeCluster(nodes=1) as fc:
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", context="prod",
                                         user=exec_user(str(script), env={"FAKE_TOKEN": fc.checker_token}))
        result = cpwatch("check", "--kubeconfig", str(kubeconfig))
        requests = fc.requests
        token = fc.checker_token
    assert result.returncode == 64
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cpwatch got no credentials for context prod: aws get-token --cluster-name fake: ")
    assert expected in lines[0]
    assert lines[0].endswith("(no request was sent)")
    assert requests == []
    assert token not in result.stderr and "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" not in result.stderr


def test_hanging_exec_plugin_is_killed_at_the_deadline(tmp_path):
    script = plugin(tmp_path, "aws", HANGING_PLUGIN)
    with FakeCluster(nodes=1) as fc:
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", context="prod", user=exec_user(str(script)))
        margin = timeout_margin_s()
        # --timeout counts the start-up (up to 5 s) and keeps 0.5 s for the report; 10 s leave
        # the plugin started on a loaded machine (at 5 and 6 s the deadline had passed first).
        result, elapsed = timed("check", "--kubeconfig", str(kubeconfig), "--timeout", "10")
        requests = fc.requests
    assert result.returncode == 64
    assert elapsed < 10 + margin, (elapsed, margin)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "no answer within" in lines[0] and "the run's deadline" in lines[0]
    assert "it printed: waiting for the browser login to complete" in lines[0]
    assert requests == []


def test_failing_plugin_with_json_prints_the_document_too(tmp_path):
    script = plugin(tmp_path, "aws", FAILING_PLUGIN)
    with FakeCluster(nodes=1) as fc:
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", context="prod", user=exec_user(str(script)))
        result = cpwatch("check", "--kubeconfig", str(kubeconfig), "--json")
    assert result.returncode == 64
    document = json.loads(result.stdout)
    assert document["overall"] == "unknown"
    assert [f["code"] for f in document["findings"]] == ["CHECKER_CREDENTIALS"]
    evidence = document["findings"][0]["evidence"]
    assert evidence["reason"] == "failed" and evidence["plugin"] == "aws get-token --cluster-name fake"
    assert evidence["detail"] == "exited with status 1: token expired, run aws sso login"
    assert len(result.stderr.splitlines()) == 1


def test_missing_plugin_and_missing_token_file(tmp_path):
    with FakeCluster(nodes=1) as fc:
        missing_plugin = fc.write_kubeconfig(tmp_path / "a", user=exec_user(
            "no-such-credential-helper", installHint="install it with: brew install no-such-helper"))
        missing_file = fc.write_kubeconfig(tmp_path / "b", user={"tokenFile": "gone/token"})
        first = cpwatch("check", "--kubeconfig", str(missing_plugin))
        second = cpwatch("check", "--kubeconfig", str(missing_file))
        requests = fc.requests
    assert first.returncode == 64 and second.returncode == 64
    assert "command no-such-credential-helper not found (install it with: brew install no-such-helper)" in first.stderr
    assert f"tokenFile {tmp_path / 'gone' / 'token'}: cannot be read" in second.stderr
    assert len(first.stderr.splitlines()) == 1 and len(second.stderr.splitlines()) == 1
    assert requests == []


def test_interactive_only_plugin_is_refused_without_running_it(tmp_path):
    record = tmp_path / "record.json"
    script = plugin(tmp_path, "login", TOKEN_PLUGIN)
    with FakeCluster(nodes=1) as fc:
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc", user=exec_user(
            str(script), env={"FAKE_TOKEN": fc.checker_token, "RECORD": str(record)}, interactiveMode="Always"))
        result = cpwatch("check", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 64
    assert "needs a terminal (interactiveMode: Always)" in result.stderr
    assert not record.exists()
