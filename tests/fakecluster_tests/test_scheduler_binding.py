"""kube-scheduler's binding cycle: CREATE pods/binding through admission, the FailureHandler of a
refused binding (SchedulerError condition, FailedScheduling event, backoff), and the events
library's series, as schedule_one.go and client-go's tools/events do them."""

from __future__ import annotations

import re

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_time

pytestmark = pytest.mark.network

WEBHOOK = "placement.audit.example.org"
MESSAGE = ('binding rejected: running Bind plugin "DefaultBinder": Internal error occurred: failed calling webhook '
           f'"{WEBHOOK}": failed to call webhook: Post "https://127.0.0.1:9443/bind?timeout=3s": '
           "context deadline exceeded")


def binding_webhook(fc: FakeCluster, mode: str = "timeout") -> None:
    fc.add_failing_webhook(WEBHOOK, configuration="placement-audit", mode=mode, resources=("pods/binding",),
                           operations=("CREATE",), scope="*", namespaces=("demo",), timeout_seconds=3,
                           url="https://127.0.0.1:9443/bind")


def scheduled(fc: FakeCluster, name: str, namespace: str = "demo") -> dict | None:
    pod = fc.store.get("pods", namespace, name)
    return next((c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"), None)


def events_of(fc: FakeCluster, name: str, namespace: str = "demo") -> list[dict]:
    return sorted((e for e in fc.store.scan("events", namespace) if e["involvedObject"]["name"] == name),
                  key=lambda e: e["eventTime"])


@pytest.fixture
def demo():
    with FakeCluster(nodes=3, demo_objects=True) as cluster:
        yield cluster


def test_a_refused_binding_leaves_the_pod_unbound_with_a_scheduler_error(demo):
    bound_before = {pod["metadata"]["name"]: scheduled(demo, pod["metadata"]["name"])
                    for pod in demo.store.scan("pods", "demo") if pod["spec"].get("nodeName")}
    binding_webhook(demo)
    demo.add_pod("demo", "web-new")
    demo.advance(4)
    pod = demo.store.get("pods", "demo", "web-new")
    assert "nodeName" not in pod["spec"]
    condition = scheduled(demo, "web-new")
    assert (condition["status"], condition["reason"], condition["message"]) == ("False", "SchedulerError", MESSAGE)
    assert sorted(condition) == ["lastProbeTime", "lastTransitionTime", "message", "reason", "status", "type"]
    [event] = events_of(demo, "web-new")
    assert (event["type"], event["reason"], event["action"], event["message"]) == (
        "Warning", "FailedScheduling", "Scheduling", MESSAGE)
    assert event["reportingComponent"] == "default-scheduler" and "series" not in event
    # Pods it bound before keep PodScheduled=True.
    assert {name: scheduled(demo, name) for name in bound_before} == bound_before
    assert demo.scheduler.attempt_results["error"] == 1


def test_the_binding_fails_when_the_webhook_call_does_in_simulated_time(demo):
    binding_webhook(demo)
    with demo.simulation.lock:
        demo.add_pod("demo", "web-new")
        demo.simulation.tick()
    assert demo.scheduler.pending_queues()["active"] == 0  # being bound: in no queue
    assert scheduled(demo, "web-new") is None
    demo.advance(3)
    assert scheduled(demo, "web-new")["reason"] == "SchedulerError"
    assert demo.scheduler.pending_queues()["backoff"] == 1


def test_refused_bindings_are_retried_with_the_pod_backoff(demo):
    binding_webhook(demo)
    with demo.simulation.lock:
        demo.add_pod("demo", "web-new")
        demo.simulation.tick()
    failures, errors = [], 0
    for _ in range(60):
        demo.advance(1)
        if demo.scheduler.attempt_results["error"] > errors:
            errors = demo.scheduler.attempt_results["error"]
            failures.append(demo.clock.now())
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(failures, failures[1:])]
    # 3 s for the webhook's deadline after a backoff of 1, 2, 4, 8, then at most 10 s.
    for gap, expected in zip(gaps, (4, 5, 7, 11, 13, 13)):
        assert expected - 0.1 <= gap <= expected + 1.1, gaps
    assert len(gaps) >= 5


def test_the_events_library_makes_a_series_of_repeats(demo):
    binding_webhook(demo)
    demo.add_pod("demo", "web-new")
    demo.advance(30)
    first, second = events_of(demo, "web-new")
    pod = demo.store.get("pods", "demo", "web-new")
    # The first regards the pod before its condition was written; the second the pod after it,
    # and became a series at the third failure; later failures only count in the cache.
    assert first["involvedObject"]["resourceVersion"] != pod["metadata"]["resourceVersion"]
    assert second["involvedObject"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
    assert "series" not in first and second["series"]["count"] == 1
    assert parse_time(second["series"]["lastObservedTime"]) > parse_time(second["eventTime"])
    assert re.fullmatch(r"web-new\.[0-9a-f]{16}", second["metadata"]["name"])
    assert second["message"] == first["message"] == MESSAGE


def test_a_refusing_webhook_fails_the_binding_at_once_and_a_removed_one_lets_it_bind(demo):
    binding_webhook(demo, mode="refused")
    with demo.simulation.lock:
        demo.add_pod("demo", "web-new")
        demo.simulation.tick()
    condition = scheduled(demo, "web-new")
    assert condition["reason"] == "SchedulerError" and "connect: connection refused" in condition["message"]
    demo.remove_webhooks()
    demo.advance(11)
    pod = demo.store.get("pods", "demo", "web-new")
    assert pod["spec"]["nodeName"] and scheduled(demo, "web-new")["status"] == "True"
    assert [e["reason"] for e in events_of(demo, "web-new")][-1] == "Scheduled"
    assert demo.scheduler.attempt_results["scheduled"] >= 1


def test_the_webhook_covers_only_its_namespace(demo):
    binding_webhook(demo)
    demo.add_pod("default", "elsewhere")
    demo.advance(1)
    assert demo.store.get("pods", "default", "elsewhere")["spec"]["nodeName"]


def test_an_unschedulable_pod_gets_a_new_event_once_then_a_series(fc):
    fc.add_pod("default", "nowhere", node_selector={"no-such-label": "x"})
    fc.advance(1)
    [first] = events_of(fc, "nowhere", "default")
    fc.advance(60)
    assert len(events_of(fc, "nowhere", "default")) == 2
    fc.advance(60)
    events = events_of(fc, "nowhere", "default")
    assert len(events) == 2 and events[1]["series"]["count"] == 1
    fc.advance(60)
    assert events_of(fc, "nowhere", "default")[1]["series"]["count"] == 1  # counted in the cache only
    assert first["message"] == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
