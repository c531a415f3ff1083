"""The `cpwatch check` command as a user runs it: exit codes, one JSON document, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fakecluster import FakeCluster

EXIT = {"healthy": 0, "degraded": 1, "down": 2, "unknown": 3}
ENV_FAST = {"CPWATCH_CANARY_WAIT_S": "4", "CPWATCH_CANARY_POLL_S": "0.2", "CPWATCH_REQUEST_TIMEOUT_S": "3"}


# The console script pip installed beside this interpreter: what a user runs.
CPWATCH = str(Path(sys.executable).with_name("cpwatch"))


def cpwatch(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **ENV_FAST, **(env_extra or {})}
    return subprocess.run([CPWATCH, *args], capture_output=True, text=True, env=env, timeout=60)


def timeout_margin_s() -> float:
    """What a bound on a command's wall time adds to its --timeout. --timeout counts from the
    process start (the interpreter's start-up included, up to 5 s) to the report; outside it are
    the exit after the report and, on a machine so loaded that the start-up alone outlasts the
    timeout, the start-up itself. Both are measured here and now: what a cpwatch command that
    fails at once (no such kubeconfig) takes on this machine at this load, plus 0.75 s for the
    load changing between that command and the one under test."""
    import time

    started = time.monotonic()
    result = cpwatch("check", "--kubeconfig", "/nonexistent/cpwatch-tests/kubeconfig")
    assert result.returncode == 64, result.stderr
    return time.monotonic() - started + 0.75


def test_json_healthy_is_one_document_with_the_public_shape(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        result = cpwatch("check", "--kubeconfig", str(fc.write_kubeconfig(tmp_path / "kc")), "--json")
    document = json.loads(result.stdout)  # exactly one document: json.loads rejects trailing data
    assert result.returncode == 0
    assert document["overall"] == "healthy"
    assert set(document["components"]) == {"apiserver", "etcd", "controller-manager", "scheduler"}
    for component in document["components"].values():
        assert component["verdict"] in EXIT and component["confidence"] in ("high", "medium", "low")
        assert all(isinstance(code, str) for code in component["findings"])
    for finding in document["findings"]:
        assert {"code", "component", "status", "message", "evidence"} <= set(finding)
        assert finding["status"] in ("ok", "warn", "fail", "unknown")
    assert document["checked_at"].endswith("Z") and isinstance(document["duration_ms"], int)


def test_exit_code_follows_overall_and_text_names_the_component(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.stop_component("scheduler")
        fc.advance(90)
        result = cpwatch("check", "--kubeconfig", str(fc.write_kubeconfig(tmp_path / "kc")))
    assert result.returncode == EXIT["down"]
    scheduler_line = next(line for line in result.stdout.splitlines() if line.startswith("  scheduler "))
    assert "DOWN" in scheduler_line
    assert result.stdout.splitlines()[1].startswith("scheduler down: leader Lease kube-system/kube-scheduler")
    assert "Traceback" not in result.stdout + result.stderr


def test_rejected_token_is_unknown_not_down(tmp_path):
    with FakeCluster(nodes=3) as fc:
        result = cpwatch("check", "--kubeconfig", str(fc.write_kubeconfig(tmp_path / "kc", token="wrong")), "--json")
    document = json.loads(result.stdout)
    assert result.returncode == EXIT["unknown"]
    assert all(c["verdict"] == "unknown" for c in document["components"].values())
    assert any(f["code"] == "CHECKER_UNAUTHORIZED" for f in document["findings"])
    assert "wrong" not in result.stdout + result.stderr


def test_hung_apiserver_returns_within_timeout(tmp_path):
    import time

    with FakeCluster(nodes=3) as fc:
        fc.set_apiserver("hung")
        margin = timeout_margin_s()
        started = time.monotonic()
        # --timeout counts the start-up (up to 5 s), keeps 0.5 s for the report, and the calls
        # end 0.5 s before the deadline: 10 s leave the 3 s request timeouts room to say "down".
        result = cpwatch("check", "--kubeconfig", str(fc.write_kubeconfig(tmp_path / "kc")), "--timeout", "10")
        elapsed = time.monotonic() - started
    assert result.returncode == EXIT["down"], result.stdout
    assert elapsed < 10 + margin, (elapsed, margin)


def _kubeconfig_variant(fc: FakeCluster, tmp_path: Path, change) -> Path:
    path = fc.write_kubeconfig(tmp_path / "base")
    config = yaml.safe_load(path.read_text())
    change(config)
    variant = tmp_path / "variant"
    variant.write_text(yaml.safe_dump(config))
    return variant


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["clusters"][0]["cluster"].update({"insecure-skip-tls-verify": True}), "insecure-skip-tls-verify"),
        (lambda c: c["clusters"][0]["cluster"].update({"server": "http://127.0.0.1:1"}), "is not an https:// URL"),
        (lambda c: c.update({"current-context": "nope"}), "nope"),
    ],
    ids=["skip-tls-verify", "plain-http", "missing-context"],
)
def test_configuration_errors_exit_64_with_a_clear_message(tmp_path, change, message):
    with FakeCluster(nodes=1) as fc:
        variant = _kubeconfig_variant(fc, tmp_path, change)
        result = cpwatch("check", "--kubeconfig", str(variant))
    assert result.returncode == 64
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_and_malformed_kubeconfig(tmp_path):
    missing = cpwatch("check", "--kubeconfig", str(tmp_path / "absent"))
    assert missing.returncode == 64 and "does not exist" in missing.stderr
    bad = tmp_path / "bad"
    bad.write_text("clusters: [unclosed\n")
    malformed = cpwatch("check", "--kubeconfig", str(bad))
    assert malformed.returncode == 64 and "kubeconfig" in malformed.stderr and "Traceback" not in malformed.stderr


def test_usage_errors_exit_64():
    assert cpwatch("check", "--timeout", "0").returncode == 64
    assert cpwatch("frobnicate").returncode == 64
    assert cpwatch("check", env_extra={"CPWATCH_CANARY_WAIT_S": "soon"}).returncode == 64
