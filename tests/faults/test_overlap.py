"""Overlapping and repeated invocations for one cluster produce exactly one notification per
transition: concurrent invocations, an event delivered again while its first delivery still runs,
a run that outlives the next schedule (it is still publishing when the next run writes the alert
state), and the outbox takeover of a run that died while publishing.

Overlap is made deterministic by running the other invocation from inside the first one: from
its connector (between reading and writing the alert state) or from a loopback SNS endpoint that
holds the first run's Publish while the other runs. Runs later than the outbox takeover time get
a clock that is that much ahead (Dependencies.clock).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest

from cpwatch.entry import handler
from cpwatch.aws.clients import aws_client
from cpwatch.telling.publish import OUTBOX_TAKEOVER
from tests.aws.deployment import Deployment, transitions
from tests.aws.moto_server import forward

pytestmark = pytest.mark.network


@contextmanager
def held_sns(upstream: str, while_held: Callable[[], None], answer: bool = True) -> Iterator[str]:
    """An SNS endpoint in front of moto that, when the first request arrives, runs `while_held`
    (another invocation) before forwarding it; with answer=False it never answers at all (the
    publishing invocation died: the connection closes without a response)."""
    lock = threading.Lock()
    ran: list[bool] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                first = not ran
                ran.append(True)
            if first:
                while_held()
            if not answer:
                self.close_connection = True
                return
            forward(self, upstream, body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def sns_at(d: Deployment, url: str):
    return aws_client("sns", d.region, endpoint_url=url)


def ahead(delta: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(timezone.utc) + delta


def sent(d: Deployment) -> list[str]:
    return [f"{m['MessageAttributes']['component']['Value']}:{m['MessageAttributes']['transition']['Value']}"
            for m in d.messages()]


@pytest.fixture
def failing(deployment: Deployment) -> Deployment:
    """A deployment whose last run was healthy and whose apiserver now refuses connections."""
    deployment.invoke()
    deployment.fc.set_apiserver("down")
    return deployment


def test_concurrent_invocations_notify_once(failing: Deployment):
    d = failing
    events = [d.event() for _ in range(4)]
    results: list[dict] = []
    from tests.lambda_context import LambdaContext

    threads = [threading.Thread(target=lambda e=e: results.append(handler.lambda_handler(e, LambdaContext.with_remaining(50))))
               for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["clusters"][0]["overall"] for r in results) == ["down"] * 4
    assert sum(r["clusters"][0]["published"] for r in results) == 1
    assert sent(d) == ["apiserver:alarm"]
    assert d.state()["outbox"] == []


def test_event_delivered_again_while_its_first_delivery_runs_is_ignored(failing: Deployment):
    d = failing
    real_connect = handler.dependencies().connect
    again: list[dict] = []

    def connect(target, deadline):
        if not again:
            again.append(d.invoke(execution_id="exec-once"))
        return real_connect(target, deadline)

    first = d.run(execution_id="exec-once", connect=connect)
    assert again[0]["clusters"][0]["overall"] == "duplicate"
    assert transitions(first) == ["apiserver:alarm"]
    assert sent(d) == ["apiserver:alarm"]
    assert len(d.run_items()) == 2  # the healthy run and this one; the redelivery stored nothing


def test_a_run_that_outlives_the_next_schedule_notifies_once(failing: Deployment, moto_server):
    """The first run is still waiting for SNS when the next scheduled run writes the alert state:
    the first run's clearing of its outbox meets a newer state and is applied to it, so no later
    run (after the takeover time) publishes the same transition again."""
    d = failing
    next_runs: list[dict] = []
    with held_sns(moto_server, lambda: next_runs.append(d.invoke())) as sns:
        slow = d.run(sns=sns_at(d, sns))
    assert transitions(slow) == ["apiserver:alarm"] and slow["clusters"][0]["published"] == 1
    assert transitions(next_runs[0]) == [] and next_runs[0]["clusters"][0]["published"] == 0
    assert d.state()["outbox"] == []
    much_later = d.run(clock=ahead(OUTBOX_TAKEOVER + timedelta(minutes=1)))
    assert much_later["clusters"][0]["published"] == 0
    assert sent(d) == ["apiserver:alarm"]


def test_outbox_of_a_run_that_died_while_publishing_is_taken_over_once(failing: Deployment, moto_server):
    """A run that died after writing its outbox and before SNS answered: runs inside the takeover
    time leave the notification alone (its publisher may still be at it), the first run after it
    publishes it, and the dead run's own failure never sends it again."""
    d = failing
    later: dict[str, dict] = {}

    def while_held() -> None:
        later["inside"] = d.run(clock=ahead(timedelta(minutes=1)))
        later["after"] = d.run(clock=ahead(OUTBOX_TAKEOVER + timedelta(minutes=1)))

    with held_sns(moto_server, while_held, answer=False) as sns:
        dead = d.run(sns=sns_at(d, sns))
    assert transitions(dead) == ["apiserver:alarm"] and dead["clusters"][0]["published"] == 0
    assert later["inside"]["clusters"][0]["published"] == 0
    assert later["after"]["clusters"][0]["published"] == 1
    assert sent(d) == ["apiserver:alarm"]
    assert d.state()["outbox"] == []
    assert d.invoke()["clusters"][0]["published"] == 0
    assert sent(d) == []
