"""One message per event, through the REAL pipeline on moto (SNS -> SQS) and the fake control plane:

- every message carries a stable event id (message attribute `event_id`); a run that dies after
  SNS accepted a notification but before the outbox recorded it makes the only repeat, and the
  repeat has the same event id;
- AWS throttling (EKS DescribeCluster answering 429 ThrottlingException) is retried with backoff
  inside the run's deadline, and never pages by itself: cpwatch's "cannot see" alarm needs
  checker_alarm_after_runs blind runs in a row (3 by default);
- notifications SNS refuses are counted in NotificationsUndelivered (the input of the CloudWatch
  alarm that pages instead) on every run, and sent once when SNS accepts them again.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from cpwatch.telling.publish import OUTBOX_TAKEOVER
from tests.aws.deployment import Deployment, closed_port_url, deploy, transitions
from tests.aws.moto_server import aws_error_endpoint, forward

from .conftest import emf_documents, metric

pytestmark = pytest.mark.network


class Crash(BaseException):
    """The invocation dying (killed by the runtime): nothing after it runs, nothing catches it."""


class CrashAfterPublish:
    """The function's own store, except that the run dies when it comes to record that SNS
    accepted its notifications (the second alert-state write of the run: the outbox settling)."""

    def __init__(self, store):
        self._store = store
        self.writes = 0

    def claim_execution(self, *args):
        return self._store.claim_execution(*args)

    def load_state(self, *args):
        return self._store.load_state(*args)

    def put_run(self, *args):
        return self._store.put_run(*args)

    def save_state(self, *args):
        self.writes += 1
        if self.writes == 2:
            raise Crash()
        return self._store.save_state(*args)


def received(d: Deployment) -> list[tuple[str, str, str]]:
    return [(m["MessageAttributes"]["component"]["Value"], m["MessageAttributes"]["transition"]["Value"],
             m["MessageAttributes"]["event_id"]["Value"]) for m in d.messages()]


def ahead(delta: timedelta):
    return lambda: datetime.now(timezone.utc) + delta


# The crash ends the cluster's thread of the run, as the runtime killing the invocation would.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_crash_between_publish_and_record_is_the_only_repeat_and_keeps_its_event_id(deployment: Deployment):
    from cpwatch.entry import handler

    d = deployment
    d.invoke()
    d.fc.set_apiserver("down")
    crashing = CrashAfterPublish(handler.dependencies().store)

    dead = d.run(store=crashing)

    assert crashing.writes == 2  # the state with the outbox was written, then the run died recording
    assert dead["clusters"][0]["overall"] == "error"
    [first] = received(d)
    assert first[:2] == ("apiserver", "alarm")
    assert d.state()["outbox"] != []  # SNS has it, the outbox does not know
    # Within the takeover time the notification is left alone (its publisher may be alive) ...
    assert transitions(d.invoke()) == [] and received(d) == []
    # ... after it, it is published again: the one repeat, with the same event id.
    again = d.run(clock=ahead(OUTBOX_TAKEOVER + timedelta(minutes=1)))
    assert again["clusters"][0]["published"] == 1
    assert received(d) == [first]
    assert d.state()["outbox"] == []
    assert d.run(clock=ahead(OUTBOX_TAKEOVER + timedelta(minutes=2)))["clusters"][0]["published"] == 0
    assert received(d) == []

    # The recovery is another event: another id.
    d.fc.set_apiserver("up")
    for _ in range(2):  # CPWATCH_RECOVERY_RUNS=2 in the test deployment
        d.invoke()
    [recovery] = received(d)
    assert recovery[:2] == ("apiserver", "recovery") and recovery[2] != first[2]


@contextmanager
def throttling_then_moto(upstream: str, throttled: int) -> Iterator[tuple[list[int], str]]:
    """An EKS endpoint that answers the first `throttled` requests 429 ThrottlingException and
    forwards the rest to moto. Yields (what it answered: 429 or 0 for forwarded, its URL)."""
    answered: list[int] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                throttle = len(answered) < throttled
                answered.append(429 if throttle else 0)
            if throttle:
                data = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
                self.send_response(429)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-amzn-ErrorType", "ThrottlingException")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            forward(self, upstream, body or None)

        do_GET = do_POST = _relay

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    answered_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield answered, answered_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_throttled_describe_cluster_is_retried_inside_the_run(aws_env, monkeypatch, moto_server):
    # Four 429s: more than botocore's own two attempts of one call, so cpwatch's backoff between
    # connection attempts is what gets the run through.
    with deploy(aws_env, monkeypatch) as d:
        d.fc.advance(15)
        with throttling_then_moto(moto_server, throttled=4) as (answered, url):
            d.configure(AWS_ENDPOINT_URL_EKS=url)
            result = d.invoke()
        assert answered[:4] == [429] * 4 and 0 in answered
        assert result["clusters"][0]["overall"] == "healthy", result
        assert transitions(result) == [] and received(d) == []
        assert d.durations[-1] < d.bound_s()  # inside the run's deadline and its reserve for storing


def test_throttling_pages_once_after_three_blind_runs(aws_env, monkeypatch):
    with deploy(aws_env, monkeypatch) as d:
        d.fc.advance(15)
        assert d.invoke()["clusters"][0]["overall"] == "healthy"
        with aws_error_endpoint(429, "ThrottlingException", "Rate exceeded") as eks:
            d.configure(AWS_ENDPOINT_URL_EKS=eks.url)
            runs = [d.invoke() for _ in range(4)]
        counted = received(d)
        assert eks.hits >= 4 * 3  # each run retried, with backoff, more than botocore alone
        assert [r["clusters"][0]["overall"] for r in runs] == ["unknown"] * 4
        assert [transitions(r) for r in runs] == [[], [], ["checker:alarm"], []]
        assert [(c, t) for c, t, _ in counted] == [("checker", "alarm")]
        assert all(seconds < d.bound_s() for seconds in d.durations[-4:])  # inside the deadline and the reserve


def test_two_blind_runs_then_sight_page_nobody(aws_env, monkeypatch):
    with deploy(aws_env, monkeypatch) as d:
        d.fc.advance(15)
        d.invoke()
        with aws_error_endpoint(429, "ThrottlingException", "Rate exceeded") as eks:
            d.configure(AWS_ENDPOINT_URL_EKS=eks.url)
            blind = [d.invoke() for _ in range(2)]
        d.configure(AWS_ENDPOINT_URL_EKS=None)
        seeing = d.invoke()
        assert [transitions(r) for r in blind] == [[], []]
        assert seeing["clusters"][0]["overall"] == "healthy"
        assert received(d) == [] and d.alarms() == set()
        assert d.state()["components"]["checker"].get("bad_looks", 0) == 0  # defaults are left out


def test_notifications_sns_refuses_are_counted_for_the_cloudwatch_alarm_then_sent_once(deployment: Deployment,
                                                                                      capsys):
    d = deployment
    d.invoke()
    d.fc.set_apiserver("down")
    capsys.readouterr()
    with aws_error_endpoint(403, "AuthorizationError", "not authorized to perform SNS:Publish", "query") as sns:
        d.configure(AWS_ENDPOINT_URL_SNS=sns.url)
        refused = [d.invoke() for _ in range(3)]
        out = capsys.readouterr().out
    d.configure(AWS_ENDPOINT_URL_SNS=None)
    accepted = d.invoke()
    after = capsys.readouterr().out

    undelivered = [doc for doc in emf_documents(out) if "NotificationsUndelivered" in doc]
    assert [metric(doc, "NotificationsUndelivered") for doc in undelivered] == [1, 1, 1]  # one per run
    assert all(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]] for doc in undelivered)
    assert [transitions(r) for r in refused] == [["apiserver:alarm"], [], []]
    assert sns.hits >= 3
    assert accepted["clusters"][0]["published"] == 1
    assert [m[:2] for m in received(d)] == [("apiserver", "alarm")]
    assert not [doc for doc in emf_documents(after) if "NotificationsUndelivered" in doc]


def test_a_failure_seen_without_alert_state_is_counted_as_undelivered(deployment: Deployment, capsys):
    # DynamoDB unreachable: transitions cannot be decided, so no cpwatch message; a component
    # that looks down is counted, and the CloudWatch alarm on the count pages instead.
    d = deployment
    d.invoke()
    d.configure(AWS_ENDPOINT_URL_DYNAMODB=closed_port_url())
    healthy = d.invoke()
    d.fc.set_apiserver("down")
    down = d.invoke()
    out = capsys.readouterr().out

    assert healthy["clusters"][0]["overall"] == "healthy" and down["clusters"][0]["overall"] == "down"
    undelivered = {doc["cluster"]: metric(doc, "NotificationsUndelivered") for doc in emf_documents(out)
                   if "NotificationsUndelivered" in doc}
    assert undelivered == {"prod-a": 1}  # the down run only
    assert received(d) == []


@pytest.mark.parametrize(("blind_alarm_in_cloudwatch", "counted"), [("true", {}), ("false", {"prod-a": 1})])
def test_blindness_without_alert_state_is_counted_only_when_cpwatch_announces_it(
        deployment: Deployment, capsys, blind_alarm_in_cloudwatch, counted):
    # DynamoDB unreachable and EKS unreachable: cpwatch is blind. When the deployment's CloudWatch
    # blind alarm announces blindness (as the template sets it), counting it as undelivered too
    # would page a second time through notifications-undelivered.
    d = deployment
    d.invoke()
    d.configure(CPWATCH_BLIND_ALARM_IN_CLOUDWATCH=blind_alarm_in_cloudwatch,
                AWS_ENDPOINT_URL_DYNAMODB=closed_port_url(), AWS_ENDPOINT_URL_EKS=closed_port_url())
    capsys.readouterr()
    blind = d.invoke()
    out = capsys.readouterr().out

    assert blind["clusters"][0]["overall"] == "unknown", blind
    undelivered = {doc["cluster"]: metric(doc, "NotificationsUndelivered") for doc in emf_documents(out)
                   if "NotificationsUndelivered" in doc}
    assert undelivered == counted
