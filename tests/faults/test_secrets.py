"""No secret leaves cpwatch: every scenario (healthy, a confirmed alarm, each fault of the matrix,
a redelivered event, a misconfiguration that makes the handler raise) runs through the REAL
handler with EKS tokens signed by a cross-account role (events/cross-account.json), and every
output is searched for every secret:

- outputs: log records (caplog, with exception texts), stdout and stderr (Powertools JSON logs,
  EMF metric lines), every DynamoDB item, every SNS message as delivered to SQS (with the
  evidence packs they carry), the handler's return values and the texts and tracebacks of the
  exceptions it raised, and what `cpwatch evidence` prints of each stored pack;
- secrets: each bearer token the fake apiserver was shown (whole, and its base64 payload), the
  X-Amz-Signature and X-Amz-Security-Token of the presigned URL inside each, the function's own
  secret access key (a long distinctive one), the role's secret keys and session tokens as moto
  issued them, and the role's external id; each long one also as every 32-character piece, so a
  shortened or partly redacted copy counts as a leak too.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import traceback
import zlib
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.aws.deployment import ROLE_ACCOUNT, Deployment, closed_port_url, deploy
from tests.aws.moto_server import EKS_TOKEN_PREFIX, aws_error_endpoint, decode_eks_token
from tests.fakecluster.tls import make_credentials

pytestmark = pytest.mark.network

FUNCTION_SECRET_KEY = "cpwatchFakeSecretKey/" + secrets.token_urlsafe(30)
EXTERNAL_ID = "cpwatch-payments-7f3b"  # events/cross-account.json


def scenarios(d: Deployment):
    """(name, action) pairs; each action makes one fault (and undoes it when its run is done)."""
    fc = d.fc

    @contextlib.contextmanager
    def nothing():
        yield

    @contextlib.contextmanager
    def scheduler_down():
        fc.stop_component("scheduler", release_lease=True)
        fc.advance(90)
        yield
        fc.start_component("scheduler")

    @contextlib.contextmanager
    def token_refused():
        d.auth.refuse = True
        yield
        d.auth.refuse = False

    @contextlib.contextmanager
    def rbac_dropped():
        refs = fc.rbac.rule_refs()
        for ref in refs:
            fc.rbac.drop(ref)
        yield
        for ref in refs:
            fc.rbac.restore(ref)

    @contextlib.contextmanager
    def endpoint(url: str):
        d.point_at(url, make_credentials().ca_pem if url == fc.url else fc.ca_pem)
        yield
        d.point_at(fc.url)

    @contextlib.contextmanager
    def apiserver(mode: str):
        d.configure(CPWATCH_RUN_TIMEOUT_S="4", CPWATCH_WRITE_TIMEOUT_S="1")
        fc.set_apiserver(mode)
        yield
        fc.set_apiserver("up")
        d.configure(CPWATCH_RUN_TIMEOUT_S="12", CPWATCH_WRITE_TIMEOUT_S="3")

    @contextlib.contextmanager
    def aws_service(name: str, status: int | None = None, code: str = "", protocol: str = "json"):
        with contextlib.ExitStack() as stack:
            url = closed_port_url() if status is None else stack.enter_context(
                aws_error_endpoint(status, code, "injected", protocol)).url
            d.configure(**{f"AWS_ENDPOINT_URL_{name}": url})
            yield
            d.configure(**{f"AWS_ENDPOINT_URL_{name}": None})

    @contextlib.contextmanager
    def assume_role_denied():
        [host] = d.relay.upstreams
        original = d.relay.upstreams[host]
        with aws_error_endpoint(403, "AccessDenied", "not authorized to perform sts:AssumeRole", "query") as sts:
            d.relay.upstreams[host] = sts.url
            d.configure()
            yield
            d.relay.upstreams[host] = original
            d.configure()

    @contextlib.contextmanager
    def misconfigured():
        d.configure(CPWATCH_CANARY_WAIT_S="soon")
        yield
        d.configure(CPWATCH_CANARY_WAIT_S="3")

    return [
        ("healthy", nothing()),
        ("scheduler-down-alarm", scheduler_down()),
        ("recovery-1", nothing()), ("recovery-2", nothing()),
        ("apiserver-401", token_refused()),
        ("apiserver-403", rbac_dropped()),
        ("apiserver-other-ca", endpoint(fc.url)),
        ("apiserver-no-such-host", endpoint("https://cpwatch-no-such-host.invalid")),
        ("apiserver-refusing", apiserver("down")),
        ("apiserver-hung", apiserver("hung")),
        ("eks-access-denied", aws_service("EKS", 403, "AccessDeniedException")),
        ("eks-throttled", aws_service("EKS", 429, "ThrottlingException")),
        ("sts-assume-role-denied", assume_role_denied()),
        ("dynamodb-unreachable", aws_service("DYNAMODB")),
        ("sns-failing", aws_service("SNS", 500, "InternalError", "query")),
        ("misconfigured", misconfigured()),
    ]


def readable(value: object) -> str:
    """A binary DynamoDB attribute as text (decompressed when it is zlib data), so a secret
    inside a compressed document is found too."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return zlib.decompress(value).decode("utf-8", "replace")
        except zlib.error:
            return bytes(value).decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} in a DynamoDB item")


def secrets_of(d: Deployment) -> dict[str, str]:
    from moto.sts.models import sts_backends

    found = {"function secret key": FUNCTION_SECRET_KEY, "external id": EXTERNAL_ID}
    for index, token in enumerate(d.auth.tokens):
        found[f"token {index}"] = token
        found[f"token {index} payload"] = token[len(EKS_TOKEN_PREFIX):]
        query = dict(parse_qsl(urlsplit(decode_eks_token(token)).query))
        found[f"token {index} signature"] = query["X-Amz-Signature"]
        if "X-Amz-Security-Token" in query:
            found[f"token {index} session token"] = query["X-Amz-Security-Token"]
    for index, role in enumerate(sts_backends[ROLE_ACCOUNT]["aws"].assumed_roles):
        found[f"role {index} secret key"] = role.secret_access_key
        found[f"role {index} session token"] = role.session_token
    return found


def test_no_output_of_any_scenario_carries_a_secret(aws_env, monkeypatch, capsys, caplog):
    # cpwatch's own loggers at DEBUG (LogLevel=DEBUG in template.yaml sets LOG_LEVEL, which
    # Powertools applies to them); other libraries at the runtime's default WARNING.
    caplog.set_level("DEBUG", logger="cpwatch")
    outputs: dict[str, str] = {}
    # One blind run alarms here, so each "cannot see" scenario publishes (and stores a pack), and
    # one look confirms: whether a confirming look fits in the run depends on the machine's load
    # (a slow first look leaves no time for it), and the outputs searched must not.
    with deploy(aws_env, monkeypatch, cross_account=True, secret_key=FUNCTION_SECRET_KEY,
                env={"CPWATCH_CHECKER_ALARM_AFTER_RUNS": "1", "CPWATCH_CONFIRM_LOOKS": "1"}) as d:
        d.fc.advance(15)
        outcomes = []
        for name, fault in scenarios(d):
            with fault:
                try:
                    outcomes.append((name, d.invoke()))
                except Exception as error:  # noqa: BLE001 - its text and traceback are outputs too
                    outputs[f"exception of {name}"] = "".join(traceback.format_exception(error))
        last_handled = next(result["execution_id"] for _, result in reversed(outcomes) if result.get("execution_id"))
        outcomes.append(("redelivered", d.invoke(execution_id=last_handled)))
        outputs["handler results"] = json.dumps(outcomes, default=str)
        outputs["dynamodb"] = json.dumps(d.items(), default=readable)
        messages = d.messages()
        outputs["sns"] = json.dumps(messages)
        printed = [evidence_printed(d, json.loads(m["Message"])["evidence_command"]) for m in messages
                   if json.loads(m["Message"]).get("evidence_command")]
        outputs["cpwatch evidence"] = "\n".join(out for run in printed for out in (run.stdout, run.stderr))
        found = secrets_of(d)
    captured = capsys.readouterr()
    outputs["stdout (logs and EMF)"] = captured.out
    outputs["stderr"] = captured.err
    outputs["log records"] = caplog.text

    # The scenarios did what they claim (so the search is not vacuous).
    results = dict(outcomes)
    assert "exception of misconfigured" in outputs
    assert results["scheduler-down-alarm"]["clusters"][0]["transitions"] == ["scheduler:alarm"]
    assert results["apiserver-401"]["clusters"][0]["transitions"] == ["checker:alarm"]
    assert results["redelivered"]["clusters"][0]["overall"] == "duplicate"
    assert len(messages) >= 3 and '"_aws"' in captured.out
    packs = [json.loads(m["Message"]).get("evidence_pack") or "" for m in messages]
    assert sum(1 for p in packs if p.startswith("EVIDENCE PACK")) >= 2  # the scheduler's and the checker's
    assert len(printed) >= 2 and all(run.returncode == 0 for run in printed)
    assert all(run.stdout.startswith("EVIDENCE PACK") for run in printed)
    assert any("401" in run.stdout or "Unauthorized" in run.stdout for run in printed)  # the refused token's alarm
    assert sum(1 for key in found if key.endswith("signature")) >= 1
    assert any(key.startswith("role") for key in found)

    leaks = {(secret_name, output_name) for secret_name, secret in found.items() for piece in pieces(secret)
             for output_name, text in outputs.items() if piece in text}
    assert sorted(leaks) == []


def evidence_printed(d: Deployment, command: str) -> subprocess.CompletedProcess:
    """`cpwatch evidence` as the notification names it, run as a command against the table."""
    args = command.split()[2:]
    return subprocess.run([sys.executable, "-m", "cpwatch.entry.cli", "evidence", *args, "--table", d.table],
                          capture_output=True, text=True, env=os.environ, timeout=60)  # the table: in AWS_REGION


def pieces(secret: str, width: int = 32) -> list[str]:
    """The secret, and every 32 characters of it (so a cut or partly redacted copy is found too)."""
    if len(secret) <= 2 * width:
        return [secret]
    return [secret[start:start + width] for start in range(0, len(secret) - width + 1, width // 2)]
