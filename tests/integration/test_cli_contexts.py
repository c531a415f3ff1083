"""`cpwatch check --all-contexts` / `--contexts a,b` over a KUBECONFIG of several files.

Four fake control planes' contexts in two files (plus a missing one in the list): a healthy
cluster, one whose scheduler is down, one whose apiserver hangs, and a context whose exec plugin
fails. They are checked at once under one deadline: one line per cluster, then the details of
the ones not healthy; the exit code is the worst verdict's.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from tests.fakecluster import FakeCluster
from tests.integration.test_cli import cpwatch, timeout_margin_s
from tests.integration.test_cli_credentials import FAILING_PLUGIN, exec_user, plugin

pytestmark = pytest.mark.network

# The four looks share this deadline after the interpreter's start-up, which --timeout counts: on
# a loaded machine the start-up takes seconds, and the hung cluster's look needs its 3 s request
# timeouts within what is left to be called down (at 8 s a loaded run saw it unknown).
TIMEOUT_S = 12


def merged_kubeconfig(directory: Path, clusters: dict[str, FakeCluster], locked_user: dict) -> str:
    """KUBECONFIG=missing:first:second, green and red in the first file, frozen and locked in the second."""
    files = []
    for name, contexts in (("first", ("green", "red")), ("second", ("frozen", "locked"))):
        document: dict = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
        for context in contexts:
            fc = clusters["green" if context == "locked" else context]
            part = yaml.safe_load(fc.write_kubeconfig(directory / f"{context}.part", context=context).read_text())
            if context == "locked":
                part["users"][0]["user"] = locked_user
            for key in ("clusters", "users", "contexts"):
                document[key] += part[key]
        document["current-context"] = contexts[0]
        path = directory / name
        path.write_text(yaml.safe_dump(document))
        files.append(str(path))
    return os.pathsep.join([str(directory / "missing"), *files])


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    directory = tmp_path_factory.mktemp("contexts")
    script = plugin(directory, "aws", FAILING_PLUGIN)
    with FakeCluster(nodes=2) as green, FakeCluster(nodes=2) as red, FakeCluster(nodes=1) as frozen:
        red.stop_component("scheduler")
        red.advance(90)
        frozen.set_apiserver("hung")
        clusters = {"green": green, "red": red, "frozen": frozen}
        yield merged_kubeconfig(directory, clusters, exec_user(str(script))), clusters


def run(kubeconfig_env: str, *args: str):
    started = time.monotonic()
    result = cpwatch("check", *args, env_extra={"KUBECONFIG": kubeconfig_env})
    return result, time.monotonic() - started


def table(stdout: str) -> dict[str, list[str]]:
    lines = stdout.split("\n\n")[1].splitlines()[1:]  # the block after the title, without its header
    return {line.split()[0]: line.split(maxsplit=3)[1:] for line in lines}


def test_all_contexts_one_line_each_then_details_worst_exit_code_within_the_deadline(fleet):
    kubeconfig, _ = fleet
    margin = timeout_margin_s()
    result, elapsed = run(kubeconfig, "--all-contexts", "--timeout", str(TIMEOUT_S))
    assert result.returncode == 2, result.stdout + result.stderr  # down is the worst verdict
    assert elapsed < TIMEOUT_S + margin, (elapsed, margin)
    title = result.stdout.splitlines()[0]
    assert "4 context(s)" in title and title.endswith(": DOWN")
    rows = table(result.stdout)
    assert list(rows) == ["green", "red", "frozen", "locked"]
    assert [rows[name][0] for name in rows] == ["HEALTHY", "DOWN", "DOWN", "UNKNOWN"]
    assert rows["green"][2] == "control plane healthy"
    assert rows["red"][2].startswith("scheduler down: ")
    assert rows["frozen"][2].startswith("apiserver down: ")
    # a row is cut at a word to the 100 columns of a pipe; the details below say it whole
    assert rows["locked"][2].startswith("cpwatch got no credentials for context locked")
    table_lines = result.stdout.split("\n\n")[1].splitlines()
    assert all(len(line) <= 100 for line in table_lines)
    assert all(line.endswith("…") for line in table_lines if len(line) >= 99)
    details = result.stdout.split("\n\n", 2)[2]
    assert "token expired, run aws sso login" in details
    assert "cpwatch check of red" in details and "cpwatch check of frozen" in details
    assert "cpwatch check of locked" in details and "CHECKER_CREDENTIALS" in details
    assert "cpwatch check of green" not in details
    assert result.stderr == "" and "Traceback" not in result.stdout


def test_json_is_one_document_with_each_clusters_diagnosis(fleet):
    kubeconfig, _ = fleet
    result, _ = run(kubeconfig, "--all-contexts", "--json", "--read-only", "--timeout", str(TIMEOUT_S))
    document = json.loads(result.stdout)
    assert result.returncode == 2, result.stdout
    assert document["overall"] == "down"
    assert [c["context"] for c in document["clusters"]] == ["green", "red", "frozen", "locked"]
    overall = {c["context"]: c["diagnosis"]["overall"] for c in document["clusters"]}
    assert overall == {"green": "healthy", "red": "down", "frozen": "down", "locked": "unknown"}
    locked = next(c for c in document["clusters"] if c["context"] == "locked")["diagnosis"]
    assert [f["code"] for f in locked["findings"]] == ["CHECKER_CREDENTIALS"]
    assert all(isinstance(c["seconds"], float) for c in document["clusters"])


def test_selected_contexts_only(fleet):
    kubeconfig, clusters = fleet
    clusters["green"].clear_requests()
    result, _ = run(kubeconfig, "--contexts", "green,locked", "--read-only")
    assert result.returncode == 3  # unknown (the locked context) is worse than healthy
    assert list(table(result.stdout)) == ["green", "locked"]
    # green's cluster served green only: the locked context, which points at it too, sent nothing
    assert {r.user for r in clusters["green"].requests} == {"cpwatch-checker"}


def test_unknown_context_is_a_usage_error_before_any_check(fleet):
    kubeconfig, clusters = fleet
    clusters["green"].clear_requests()
    result, _ = run(kubeconfig, "--contexts", "green,nope")
    assert result.returncode == 64
    assert "context(s) not found in the kubeconfig: nope" in result.stderr
    assert clusters["green"].requests == []


def test_single_context_of_the_second_file_with_a_missing_first_entry(fleet):
    kubeconfig, _ = fleet
    result, _ = run(kubeconfig, "--read-only", "--json")  # current-context: the first file's (green)
    assert result.returncode == 0 and json.loads(result.stdout)["cluster"] == "green"
    second, _ = run(kubeconfig, "--context", "locked")
    assert second.returncode == 64 and "no credentials for context locked" in second.stderr
