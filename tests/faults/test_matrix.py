"""The self-fault matrix: every fault of cpwatch's own dependencies and of its path to the
apiserver, through the REAL Lambda handler on moto and the fake control plane.

Each row asserts what was reported (verdicts and finding codes of the run), stored (run items,
the alert state), published (SNS messages read back from an SQS subscription) and emitted (EMF
heartbeat), and how long the invocation took. Rules checked on every row:

- the invocation returns inside the Lambda time it was given;
- "cpwatch cannot see this cluster" is the `checker` alert with CHECKER_* findings and every
  control-plane verdict `unknown`, never a component `down`;
- a run that could not be stored is still logged and emitted as metrics.

The catch-up tests at the end show the alert state recovering on the next run without a
duplicate or a lost transition.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

import pytest

from cpwatch.telling.store import document_of

from tests.aws.deployment import Deployment, closed_port_url, deploy, silent_endpoint, transitions
from tests.aws.moto_server import aws_error_endpoint
from tests.fakecluster.tls import make_credentials

from .conftest import heartbeats, metric

pytestmark = pytest.mark.network

CONTROL_PLANE = ("apiserver", "etcd", "controller-manager", "scheduler")
BLIND = {c: "unknown" for c in CONTROL_PLANE}
HEALTHY = {c: "healthy" for c in CONTROL_PLANE}
APISERVER_DOWN = {"apiserver": "down", "etcd": "unknown", "controller-manager": "unknown", "scheduler": "unknown"}


@dataclass(frozen=True)
class Row:
    name: str
    fault: Callable[[Deployment, contextlib.ExitStack], None]
    verdicts: dict[str, str] | None  # of the run (None: not stored, so read from the EMF health values)
    codes: frozenset[str] = frozenset()  # finding codes the run must contain
    stored: bool = True  # this run's item is in DynamoDB
    published: tuple[str, ...] = ()  # component:transition of the SNS messages of this run
    alarms: frozenset[str] | None = frozenset()  # components in alarm afterwards (None: state unchanged)
    outbox: int = 0  # notifications kept for the next run
    # Bound of this invocation's wall time; None: the handler's own (Deployment.bound_s: the
    # check's budget plus the reserve for storing and publishing).
    max_s: float | None = None
    apiserver_down: bool = False  # the cluster has a real fault too (refusing), so there is a transition to lose
    remaining_s: float = 50.0  # Lambda time left when the invocation starts
    via: str = "handler"  # "handler": lambda_handler; "run": pipeline.handle with replaced Dependencies
    run_changes: Callable[[Deployment], dict] = field(default=lambda d: {})
    emf: bool = True  # the run's heartbeat reaches stdout
    status: str = "ok"
    notes: tuple[str, ...] = ()  # fragments the cluster outcome's notes must contain
    token_kept: bool = False  # no HTTP request (so no token) reached the apiserver during the run


# --- faults ----------------------------------------------------------------------------------


def endpoint_of(service: str, status: int, code: str, protocol: str = "json"):
    def apply(d: Deployment, stack: contextlib.ExitStack) -> None:
        endpoint = stack.enter_context(aws_error_endpoint(status, code, "injected by the fault matrix", protocol))
        d.configure(**{f"AWS_ENDPOINT_URL_{service}": endpoint.url})
    return apply


def unreachable(service: str):
    def apply(d: Deployment, stack: contextlib.ExitStack) -> None:
        d.configure(**{f"AWS_ENDPOINT_URL_{service}": closed_port_url()})
    return apply


def silent(service: str):
    def apply(d: Deployment, stack: contextlib.ExitStack) -> None:
        d.configure(**{f"AWS_ENDPOINT_URL_{service}": stack.enter_context(silent_endpoint())})
    return apply


def no_credentials(d: Deployment, stack: contextlib.ExitStack) -> None:
    d.configure(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)


def token_rejected(d: Deployment, stack: contextlib.ExitStack) -> None:
    d.auth.refuse = True


def rbac_dropped(d: Deployment, stack: contextlib.ExitStack) -> None:
    for ref in d.fc.rbac.rule_refs():
        d.fc.rbac.drop(ref)


def other_ca(d: Deployment, stack: contextlib.ExitStack) -> None:
    d.point_at(d.fc.url, make_credentials().ca_pem)


def unresolvable(d: Deployment, stack: contextlib.ExitStack) -> None:
    d.point_at("https://cpwatch-no-such-host.invalid")


def apiserver(mode: str, delay: float = 2.0, **env: str):
    def apply(d: Deployment, stack: contextlib.ExitStack) -> None:
        if env:
            d.configure(**env)
        d.fc.set_apiserver(mode, delay)
    return apply


def nothing(d: Deployment, stack: contextlib.ExitStack) -> None:
    pass


def broken_emit(d: Deployment) -> dict:
    def emit(line: str) -> None:
        raise OSError(28, "No space left on device")
    return {"emit": emit}


def concurrent_run(d: Deployment) -> dict:
    """A connector that lets another whole invocation run (and write the alert state) between
    this run's read of the state and its conditional write."""
    from cpwatch.entry import handler

    real_connect = handler.dependencies().connect
    raced = []

    def connect(target, deadline):
        if not raced:
            raced.append(d.invoke())
        return real_connect(target, deadline)

    return {"connect": connect}


CHECKER_ALARM = ("checker:alarm",)

ROWS = [
    # DynamoDB: the check still runs and reports; nothing is stored; no transition is notified
    # (the alert state is unknown), and the next run catches up (test_*_catch_up below).
    Row("dynamodb-unreachable", unreachable("DYNAMODB"), None, stored=False, alarms=None,
        apiserver_down=True, notes=("DynamoDB could not", "alert state not available")),
    Row("dynamodb-throttled", endpoint_of("DYNAMODB", 400, "ProvisionedThroughputExceededException"), None,
        stored=False, alarms=None, apiserver_down=True,
        notes=("ProvisionedThroughputExceededException", "alert state not available")),
    # Accepts connections and never answers: one call's bounded attempts (~5 s), then the run
    # stops calling DynamoDB, and still reports and writes its metrics.
    Row("dynamodb-hanging", silent("DYNAMODB"), None, stored=False, alarms=None, apiserver_down=True,
        notes=("DynamoDB could not", "not called again", "alert state not available")),
    Row("dynamodb-conditional-write-lost", nothing, APISERVER_DOWN, frozenset({"APISERVER_UNREACHABLE"}),
        published=("apiserver:alarm",), alarms=frozenset({"apiserver"}), apiserver_down=True, via="run",
        run_changes=concurrent_run, notes=("another invocation updated the alert state first",)),
    # SNS and metrics
    Row("sns-failing", endpoint_of("SNS", 500, "InternalError", "query"), APISERVER_DOWN,
        frozenset({"APISERVER_UNREACHABLE"}), alarms=frozenset({"apiserver"}), outbox=1, apiserver_down=True,
        notes=("not sent yet",)),
    Row("sns-hanging", silent("SNS"), APISERVER_DOWN, frozenset({"APISERVER_UNREACHABLE"}),
        alarms=frozenset({"apiserver"}), outbox=1, apiserver_down=True, notes=("not sent yet",)),
    Row("metrics-flush-failing", nothing, APISERVER_DOWN, frozenset({"APISERVER_UNREACHABLE"}),
        published=("apiserver:alarm",), alarms=frozenset({"apiserver"}), apiserver_down=True, via="run",
        run_changes=broken_emit, emf=False),
    # AWS identity and EKS: cpwatch cannot see the cluster -> the checker alert, nothing down
    Row("no-credentials", no_credentials, None, stored=False, alarms=None,
        notes=("DynamoDB could not",)),
    Row("eks-access-denied", endpoint_of("EKS", 403, "AccessDeniedException"), BLIND,
        frozenset({"CHECKER_AWS_DENIED"}), published=CHECKER_ALARM, alarms=frozenset({"checker"})),
    Row("eks-not-found", endpoint_of("EKS", 404, "ResourceNotFoundException"), BLIND,
        frozenset({"CHECKER_AWS_FAILED"}), published=CHECKER_ALARM, alarms=frozenset({"checker"})),
    # Throttling is tried again with backoff while the 12 s run keeps 5 s for its look.
    Row("eks-throttled", endpoint_of("EKS", 429, "ThrottlingException"), BLIND,
        frozenset({"CHECKER_AWS_FAILED"}), published=CHECKER_ALARM, alarms=frozenset({"checker"})),
    # the path to the apiserver
    Row("apiserver-401", token_rejected, BLIND, frozenset({"CHECKER_UNAUTHORIZED"}), published=CHECKER_ALARM,
        alarms=frozenset({"checker"})),
    Row("apiserver-403-rbac", rbac_dropped, BLIND, frozenset({"CHECKER_FORBIDDEN"}), published=CHECKER_ALARM,
        alarms=frozenset({"checker"})),
    Row("apiserver-other-ca", other_ca, BLIND, frozenset({"CHECKER_CANNOT_CONNECT"}), published=CHECKER_ALARM,
        alarms=frozenset({"checker"}), token_kept=True),
    Row("apiserver-name-does-not-resolve", unresolvable, BLIND, frozenset({"CHECKER_CANNOT_CONNECT"}),
        published=CHECKER_ALARM, alarms=frozenset({"checker"}), token_kept=True),
    Row("apiserver-refusing", apiserver("down"), APISERVER_DOWN, frozenset({"APISERVER_UNREACHABLE"}),
        published=("apiserver:alarm",), alarms=frozenset({"apiserver"})),
    # A look at a hung apiserver lasts the longest request: the write probe's (1 s + 2 s here),
    # so the second look that confirms the alarm fits in the 12 s run.
    Row("apiserver-hung-after-accept", apiserver("hung", CPWATCH_WRITE_TIMEOUT_S="1"), APISERVER_DOWN,
        frozenset({"APISERVER_UNREACHABLE"}), published=("apiserver:alarm",), alarms=frozenset({"apiserver"})),
    # Slow answers (0.35 s each, under the request timeout) above a 250 ms latency threshold:
    # degraded, not down, and no page.
    Row("apiserver-slow", apiserver("slow", 0.35, CPWATCH_LATENCY_WARN_MS="250"), {**HEALTHY, "apiserver": "degraded"},
        frozenset({"APISERVER_SLOW"})),
    # Lambda time
    Row("lambda-time-nearly-exhausted", nothing, None, stored=False, alarms=None, remaining_s=4.0, max_s=1.0,
        emf=False, status="skipped", apiserver_down=True),
    # 9.5 s left: 3.5 s to look (6 s are kept for storing and publishing); the look ends at that
    # deadline, no confirming look fits, so the next run confirms.
    Row("lambda-time-short-and-apiserver-hung", apiserver("hung"), APISERVER_DOWN,
        frozenset({"APISERVER_UNREACHABLE"}), remaining_s=9.5),
]

MEASURED: dict[str, float] = {}


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_fault(row: Row, deployment: Deployment, capsys, caplog):
    d = deployment
    first = d.invoke()
    assert first["clusters"][0]["overall"] == "healthy", first
    before = d.state()
    runs_before = len(d.run_items())
    capsys.readouterr()
    caplog.clear()
    if row.apiserver_down:
        d.fc.set_apiserver("down")

    with contextlib.ExitStack() as stack:
        row.fault(d, stack)
        d.fc.clear_requests()
        if row.via == "run":
            result = d.run(remaining_s=row.remaining_s, **row.run_changes(d))
        else:
            result = d.invoke(remaining_s=row.remaining_s)
        seconds = d.durations[-1]
        out = capsys.readouterr().out
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        MEASURED[row.name] = seconds
        with capsys.disabled():  # shown with -s: the run times of the matrix
            print(f"\nfault-matrix {row.name}: {seconds:.2f} s")

        # time: inside the Lambda time given, and inside the row's own bound or else the handler's
        bound = row.max_s if row.max_s is not None else d.bound_s(row.remaining_s)
        assert seconds < row.remaining_s and seconds < bound, (seconds, bound)
        assert result["status"] == row.status, result
        if row.status == "skipped":
            assert any("not enough time" in message for message in errors), errors
        else:
            [outcome] = [c for c in result["clusters"] if c["cluster"] == d.cluster]
            assert outcome["stored"] is row.stored, outcome
            for fragment in row.notes:
                assert any(fragment in note for note in outcome["notes"]), (fragment, outcome["notes"])

        if row.token_kept:
            assert d.fc.requests == [], "a request (with the token) went to an unverified server"
        # reported and stored
        runs = d.run_items()
        expected_new_runs = (1 if row.stored else 0) + (1 if row.via == "run" and row.run_changes is concurrent_run else 0)
        assert len(runs) == runs_before + expected_new_runs
        if row.verdicts is not None:
            [item] = [r for r in runs if r.get("execution_id", {}).get("S") == result["execution_id"]]
            document = document_of(item)
            verdicts = {name: c["verdict"] for name, c in document["components"].items()}
            assert verdicts == row.verdicts
            assert row.codes <= {f["code"] for f in document["findings"]}
            checker_codes = {f["code"] for f in document["findings"] if f["component"] in ("checker", "apiserver")}
            if row.verdicts == BLIND:
                assert any(code.startswith("CHECKER_") for code in checker_codes)
        state = d.state()
        if row.alarms is None:
            assert state == before, "the alert state must not change when it cannot be read"
        else:
            assert {name for name, c in state["components"].items() if c.get("alarm")} == row.alarms
            assert len(state["outbox"]) == row.outbox

        # published
        messages = d.messages()
        sent = tuple(f"{m['MessageAttributes']['component']['Value']}:{m['MessageAttributes']['transition']['Value']}"
                     for m in messages)
        assert sent == row.published

        # emitted: the run's heartbeat, with its verdicts, even when it was not stored
        beats = [b for b in heartbeats(out) if b.get("execution_id") == result.get("execution_id")]
        if row.emf:
            assert len(beats) == 1, beats
            expected_down = sum(1 for v in (row.verdicts or {}).values() if v == "down")
            if row.verdicts is None and row.apiserver_down:
                expected_down = 1
            assert metric(beats[0], "ComponentsDown") == expected_down
        else:
            assert beats == []
        if not row.stored and row.status == "ok":
            assert any("run not stored" in message for message in errors), errors


def test_cross_account_assume_role_denied_is_the_checker_alert(aws_env, monkeypatch, capsys):
    """STS failing: the cross-account role cannot be assumed, so there is no token and no look."""
    with deploy(aws_env, monkeypatch, cross_account=True, env={"CPWATCH_CHECKER_ALARM_AFTER_RUNS": "1"}) as d:
        d.fc.advance(15)
        assert d.invoke()["clusters"][0]["overall"] == "healthy"
        [sts_host] = d.relay.upstreams
        with aws_error_endpoint(403, "AccessDenied", "not authorized to perform sts:AssumeRole", "query") as sts:
            d.relay.upstreams[sts_host] = sts.url
            d.configure()  # cold start: no cached role credentials
            result = d.invoke()
        seconds = d.durations[-1]
        MEASURED["sts-assume-role-denied"] = seconds
        with capsys.disabled():
            print(f"\nfault-matrix sts-assume-role-denied: {seconds:.2f} s")
        assert sts.hits >= 1 and seconds < d.bound_s()
        [outcome] = result["clusters"]
        assert outcome["overall"] == "unknown" and outcome["stored"] and outcome["transitions"] == ["checker:alarm"]
        document = document_of(next(r for r in d.run_items() if r["execution_id"]["S"] == result["execution_id"]))
        assert {c["verdict"] for c in document["components"].values()} == {"unknown"}
        assert "CHECKER_AWS_DENIED" in {f["code"] for f in document["findings"]}
        assert [m["MessageAttributes"]["component"]["Value"] for m in d.messages()] == ["checker"]
        assert metric(heartbeats(capsys.readouterr().out)[-1], "ComponentsDown") == 0


# --- catching up ---------------------------------------------------------------------------


def sent(d: Deployment) -> list[str]:
    return [f"{m['MessageAttributes']['component']['Value']}:{m['MessageAttributes']['transition']['Value']}"
            for m in d.messages()]


def test_dynamodb_back_the_next_run_notifies_the_transition_once(deployment: Deployment):
    d = deployment
    d.invoke()
    d.fc.set_apiserver("down")
    d.configure(AWS_ENDPOINT_URL_DYNAMODB=closed_port_url())
    assert d.invoke()["clusters"][0]["overall"] == "down"
    assert sent(d) == []
    d.configure(AWS_ENDPOINT_URL_DYNAMODB=None)
    assert transitions(d.invoke()) == ["apiserver:alarm"]
    assert transitions(d.invoke()) == []
    assert sent(d) == ["apiserver:alarm"]
    assert d.alarms() == {"apiserver"}


def test_sns_back_the_next_run_publishes_the_outbox_exactly_once(deployment: Deployment):
    d = deployment
    d.invoke()
    d.fc.set_apiserver("down")
    with aws_error_endpoint(500, "InternalError", "injected", "query") as sns:
        d.configure(AWS_ENDPOINT_URL_SNS=sns.url)
        assert transitions(d.invoke()) == ["apiserver:alarm"]
    assert sns.hits >= 1 and sent(d) == []
    assert len(d.state()["outbox"]) == 1
    d.configure(AWS_ENDPOINT_URL_SNS=None)
    retry = d.invoke()
    assert retry["clusters"][0]["published"] == 1 and transitions(retry) == []
    d.invoke()
    assert sent(d) == ["apiserver:alarm"]
    assert d.state()["outbox"] == []


def test_checker_alarm_recovers_when_cpwatch_can_see_again(deployment: Deployment):
    d = deployment
    d.invoke()
    d.auth.refuse = True
    assert transitions(d.invoke()) == ["checker:alarm"]
    d.auth.refuse = False
    d.configure()  # a new token (the cached one was refused)
    results = [d.invoke() for _ in range(2)]
    assert [transitions(r) for r in results] == [[], ["checker:recovery"]]
    assert sent(d) == ["checker:alarm", "checker:recovery"]
