"""Smoke tests through the real Lambda runtime interface client (awslambdaric), the code that
loads and calls the handler inside Lambda, against tests/lambda_runtime.py's local Runtime API.

The harness is proven first with tests/aws/echo_handler.py (events, deadlines, errors, init
errors); then cpwatch.entry.handler.lambda_handler is cold-started the way Lambda does it and must
answer a bad payload with a summary, not an error, and check a cluster (moto and the fake
control plane) loading no package the function's build leaves out (kubernetes is the CLI's).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from importlib.metadata import packages_distributions, requires
from importlib.util import find_spec
from pathlib import Path
from typing import Iterator

import pytest

from tests.aws.deployment import FAST_ENV, deploy
from tests.aws.moto_server import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY
from tests.lambda_runtime import LocalRuntimeApi

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parents[2]
TASK_ROOT = REPO / "functions" / "cpwatch"  # the SAM CodeUri: what Lambda puts in /var/task
EVENTS = REPO / "events"
REGION = "eu-west-1"
FUNCTION_NAME = "cpwatch-checker"
COLD_START_BUDGET_S = 20


def lambda_environment(api: LocalRuntimeApi, handler: str, pythonpath: Path, **extra: str) -> dict[str, str]:
    """What Lambda gives a python3.13 function (no inherited variables: no real credentials)."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(TASK_ROOT),
        "PYTHONPATH": str(pythonpath),
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": "/nonexistent/cpwatch-tests/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/cpwatch-tests/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


class Runtime:
    """`python -m awslambdaric <handler>` as Lambda starts it; output kept for failure messages."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path):
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "awslambdaric", env["_HANDLER"]], env=env,
                                        cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._out.close()


@pytest.fixture
def runtime_api() -> Iterator[LocalRuntimeApi]:
    with LocalRuntimeApi(function_name=FUNCTION_NAME, region=REGION) as api:
        yield api


@pytest.fixture
def start_runtime(runtime_api: LocalRuntimeApi, tmp_path: Path):
    started: list[Runtime] = []

    def start(handler: str, pythonpath: Path, cwd: Path, **extra: str) -> Runtime:
        runtime = Runtime(lambda_environment(runtime_api, handler, pythonpath, **extra), cwd,
                          tmp_path / f"runtime-{len(started)}.log")
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()


# --- the harness, proven with a trivial handler ---------------------------------------------


def test_echo_handler_answers_through_awslambdaric(runtime_api, start_runtime):
    runtime = start_runtime("tests.aws.echo_handler.handler", REPO, REPO)

    first = runtime_api.invoke({"hello": "world"}, timeout_ms=60_000, wait_s=15)
    second = runtime_api.invoke({"n": 2}, timeout_ms=3_000, wait_s=15)  # same (warm) process

    assert first.status == "response", runtime.output()
    assert first.body["echo"] == {"hello": "world"}
    assert first.body["request_id"] == first.request_id
    assert first.body["function_arn"] == runtime_api.function_arn
    # The deadline header reaches context.get_remaining_time_in_millis().
    assert 45_000 < first.body["remaining_ms"] <= 60_000
    assert second.status == "response" and second.body["echo"] == {"n": 2}
    assert 0 < second.body["remaining_ms"] <= 3_000
    assert runtime.process.poll() is None  # still polling for the next event
    paths = runtime_api.paths()
    assert paths[:2] == ["GET /2018-06-01/runtime/invocation/next",
                         f"POST /2018-06-01/runtime/invocation/{first.request_id}/response"]


def test_handler_exception_is_posted_as_invocation_error(runtime_api, start_runtime):
    runtime = start_runtime("tests.aws.echo_handler.fail", REPO, REPO)

    result = runtime_api.invoke({}, timeout_ms=10_000, wait_s=15)

    assert result.status == "error", runtime.output()
    assert result.body["errorType"] == "ValueError"
    assert result.body["errorMessage"] == "echo handler failed on purpose"
    assert result.body["requestId"] == result.request_id


def test_missing_handler_is_posted_as_init_error(runtime_api, start_runtime):
    runtime = start_runtime("tests.aws.echo_handler.missing", REPO, REPO)

    result = runtime_api.invoke({}, timeout_ms=10_000, wait_s=15)

    assert result.status == "init_error", runtime.output()
    assert result.body["errorType"] == "Runtime.HandlerNotFound"
    runtime.process.wait(timeout=5)
    assert runtime.process.returncode != 0


# --- cpwatch's handler ----------------------------------------------------------------------


def bad_input_event() -> dict:
    return json.loads((EVENTS / "bad-input.json").read_text())


def test_cpwatch_handler_rejects_bad_input_through_awslambdaric(runtime_api, start_runtime, moto_server):
    # As template.yaml configures the function; AWS_ENDPOINT_URL: no call can reach AWS.
    runtime = start_runtime("cpwatch.entry.handler.lambda_handler", TASK_ROOT, TASK_ROOT,
                            AWS_ENDPOINT_URL=moto_server,
                            POWERTOOLS_SERVICE_NAME="cpwatch", POWERTOOLS_METRICS_NAMESPACE="cpwatch",
                            LOG_LEVEL="INFO", CPWATCH_TABLE_NAME="cpwatch-smoke",
                            CPWATCH_TOPIC_ARN=f"arn:aws:sns:{REGION}:123456789012:cpwatch-smoke")
    started = time.monotonic()

    result = runtime_api.invoke(bad_input_event(), timeout_ms=60_000, wait_s=COLD_START_BUDGET_S)

    assert time.monotonic() - started < COLD_START_BUDGET_S
    assert "GET /2018-06-01/runtime/invocation/next" in runtime_api.paths()
    assert result.status == "response", f"{result.status}: {result.body}\n{runtime.output()}"
    assert isinstance(result.body, dict) and "status" in result.body, result.body
    assert result.body["status"] == "rejected", result.body
    assert result.body.get("error"), result.body


# Imported in try/except by a shipped package, which works without them; installed here (for
# the dev tools), so the import succeeds in the tests, but the artifact has them not.
OPTIONAL_IMPORTS_OF_SHIPPED = {
    "certifi",  # botocore.httpsession: without it, botocore's own cacert.pem (DEFAULT_CA_BUNDLE)
}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_distributions(requirements: Path) -> set[str]:
    return {normalized(line.split("==")[0]) for line in requirements.read_text().splitlines() if "==" in line}


def imported_top_level_modules(importtime_output: str) -> set[str]:
    """Top-level names of the modules -X importtime reported (`import time: self | cumulative | name`)."""
    names = set()
    for line in importtime_output.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    return names


def test_cpwatch_handler_checks_a_cluster_importing_only_what_its_build_ships(runtime_api, start_runtime, aws_env,
                                                                             monkeypatch):
    # What the runtime itself loads is Lambda's (awslambdaric and its requirements); everything
    # else must come from the stdlib, cpwatch or a pin of functions/cpwatch/requirements.txt.
    runtime_own = {"awslambdaric"} | {normalized(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0])
                                      for r in requires("awslambdaric") or [] if "extra ==" not in r}
    shipped = pinned_distributions(TASK_ROOT / "requirements.txt")
    with deploy(aws_env, monkeypatch) as d:
        d.fc.advance(15)
        runtime = start_runtime("cpwatch.entry.handler.lambda_handler", TASK_ROOT, TASK_ROOT,
                                AWS_ENDPOINT_URL=aws_env.endpoint, PYTHONPROFILEIMPORTTIME="1",
                                POWERTOOLS_SERVICE_NAME="cpwatch", POWERTOOLS_METRICS_NAMESPACE="cpwatch",
                                LOG_LEVEL="INFO", CPWATCH_TABLE_NAME=d.table, CPWATCH_TOPIC_ARN=d.topic, **FAST_ENV)

        result = runtime_api.invoke(d.event(), timeout_ms=60_000, wait_s=COLD_START_BUDGET_S + 30)
        runtime.stop()  # every import of the invocation is in the log now

        assert result.status == "response", f"{result.status}: {result.body}\n{runtime.output()}"
        assert result.body["clusters"][0]["overall"] == "healthy", result.body
        assert d.auth.tokens, "the check never reached the control plane"
    output = runtime.log.read_text(errors="replace")
    modules = imported_top_level_modules(output) - set(sys.stdlib_module_names) - {"cpwatch"}
    provided_by = packages_distributions()
    # Optional imports (urllib3's brotli, botocore's awscrt, site's sitecustomize) are attempted
    # and logged even when nothing provides them: not installed here, so not loaded either.
    attempted_only = {module for module in modules if module not in provided_by and find_spec(module) is None}
    unknown = sorted(module for module in modules - attempted_only if module not in provided_by)
    imported = {normalized(dist) for module in modules - attempted_only - set(unknown) for dist in provided_by[module]}

    # importtime was read (prometheus-client is imported only by runs that parse metrics)
    assert {"boto3", "aws-lambda-powertools"} <= imported
    assert "kubernetes" not in modules
    assert unknown == [], (unknown, sorted(modules))
    assert imported - shipped - runtime_own - OPTIONAL_IMPORTS_OF_SHIPPED == set()
