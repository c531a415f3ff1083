"""The etcd write probe (probes/etcd_write.py) against the fake control plane, one decision a test (issue 12).

Each test calls the probe against the fake control plane with a real client, as the runner does,
and compares the findings with the fake's own objects: the probe alone decides what is reported,
so a changed rule, threshold or piece of evidence in it fails here (mutation testing). A probe's
error that the runner maps (refused connection, an unexplained 4xx) is asserted as that error.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cpwatch.errors import ApiStatusError, NoAnswerError
from cpwatch.probes import etcd_write
from cpwatch.probes.interceptors import webhooks
from cpwatch.timeutil import parse_k8s_time
from tests.fakecluster import FakeCluster

from ..conftest import FAST
from .helpers import MANAGED, RUN_ID, probe_context, table

HEARTBEAT = ("configmaps", FAST.namespace, etcd_write.HEARTBEAT)
TARGET = f"ConfigMap {FAST.namespace}/{etcd_write.HEARTBEAT}"


def test_heartbeat_write_lands_and_reports_its_latency(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        [found] = etcd_write.probe(ctx)
        stored, now = fc.store.peek(*HEARTBEAT), fc.clock.now()
    assert (found.code, found.component.value, set(found.evidence)) == ("ETCD_WRITE_OK", "etcd", {"latency_ms"})
    assert isinstance(found.evidence["latency_ms"], int) and 0 <= found.evidence["latency_ms"] < 3000
    assert stored["data"]["run"] == RUN_ID
    written_at = parse_k8s_time(stored["data"]["written-at"])
    assert abs(written_at - now) <= timedelta(seconds=5)  # the apiserver's time, to the second


def test_storage_error_on_the_write_is_etcd_write_failed(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.fail_writes("etcdserver: request timed out")
        found = etcd_write.probe(ctx)
    assert table(found) == [("ETCD_WRITE_FAILED", "etcd", {
        "object": TARGET, "timeout_s": FAST.write_timeout_s,
        "detail": "HTTP 500: etcdserver: request timed out", "cause": "storage"})]


def test_database_space_exceeded_is_etcd_nospace(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.etcd_nospace()
        found = etcd_write.probe(ctx)
    assert table(found) == [("ETCD_NOSPACE", "etcd", {
        "object": TARGET, "detail": "etcdserver: mvcc: database space exceeded"})]


def test_a_500_that_is_not_etcds_is_the_apiservers_and_blocks_the_probe(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.fail_writes("Internal error occurred: something unexpected", status=500, reason="InternalError")
        found = etcd_write.probe(ctx)
    detail = "Internal error occurred: something unexpected"
    assert table(found) == [
        ("APISERVER_WRITE_FAILED", "apiserver", {"object": TARGET, "status": 500, "detail": detail}),
        ("PROBE_BLOCKED", "etcd", {"probe": "etcd_write", "cause": "other", "status": 500,
                                   "because": "the apiserver failed the write with an error that is not etcd's "
                                              "(HTTP 500)"})]


def test_a_4xx_that_is_not_etcds_is_left_to_the_runner(tmp_path):
    """An unexplained 4xx is neither etcd's nor the apiserver's failure: the runner's own
    mapping reports it (the probe raises the error it got)."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.fail_writes("the object is not valid", status=422, reason="Invalid")
        with pytest.raises(ApiStatusError) as raised:
            etcd_write.probe(ctx)
    assert (raised.value.status, raised.value.message) == (422, "the object is not valid")


def test_a_webhook_that_cannot_be_called_on_the_heartbeat_blocks_the_probe(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.add_failing_webhook(mode="refused", resources=("configmaps",), namespaces=None)
        found = etcd_write.probe(ctx)
    assert [(o.code, o.component.value) for o in found] == [("WEBHOOK_FAILING_CLOSED", "extensions"),
                                                            ("PROBE_BLOCKED", "etcd")]
    assert dict(found[1].evidence) == {
        "probe": "etcd_write", "cause": "webhook-unreachable", "status": 500,
        "webhook": "image-policy.policy.example.org",
        "because": f"admission webhook image-policy.policy.example.org refused the write to {TARGET}: it cannot be "
                   "called (connect: connection refused)"}


def test_a_webhook_denying_the_heartbeat_is_the_checkers_set_up(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.add_failing_webhook(mode="deny", deny_code=403, resources=("configmaps",), namespaces=None)
        found = etcd_write.probe(ctx)
    by = "admission webhook image-policy.policy.example.org"
    assert table(found) == [
        ("CHECKER_WRITE_DENIED", "checker", {"by": by, "object": TARGET, "namespace": FAST.namespace,
                                             "detail": 'admission webhook "image-policy.policy.example.org" '
                                                       "denied the request: image not allowed"}),
        ("PROBE_BLOCKED", "etcd", {"probe": "etcd_write", "because": f"{by} denied the write to {TARGET}",
                                   "cause": "webhook-denied", "status": 403, "webhook": "image-policy.policy.example.org"})]


def test_a_missing_heartbeat_configmap_is_the_checker_not_installed(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.store.delete(*HEARTBEAT)
        [found] = etcd_write.probe(ctx)
    assert (found.code, found.component.value, found.evidence["object"]) == ("CHECKER_NOT_INSTALLED", "etcd", TARGET)
    assert etcd_write.HEARTBEAT in found.evidence["message"]


def test_a_refused_connection_is_left_to_the_runner(tmp_path):
    """No listener is the apiserver's (or the network's) state, not etcd's refusing writes."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.set_apiserver("down")
        with pytest.raises(NoAnswerError) as raised:
            etcd_write.probe(ctx)
    assert raised.value.reason == "refused"


# No answer: the write's ?timeout= is 2 s, so a webhook with timeoutSeconds 2 may have used the
# whole wait and one with 1 s cannot have. The webhook configurations are read first, as in a
# run (the admission probe reads them); under quorum loss the apiserver's reads hang too.
NO_ANSWER = FAST.with_overrides(write_timeout_s=2.0)


def _webhook_on_configmaps(fc: FakeCluster, timeout_seconds: int) -> None:
    fc.add_failing_webhook("slow.example.org", configuration="slow", mode="timeout", resources=("configmaps",),
                           namespaces=None, timeout_seconds=timeout_seconds)


@pytest.mark.parametrize("webhook_timeout_s", [None, 1], ids=["no-webhook", "webhook-faster-than-the-write"])
def test_a_write_closed_without_answer_under_quorum_loss_is_etcd(webhook_timeout_s, tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path, NO_ANSWER) as ctx:
        if webhook_timeout_s is not None:
            _webhook_on_configmaps(fc, webhook_timeout_s)
        assert len(webhooks(ctx).webhooks) == (webhook_timeout_s is not None)
        fc.stop_etcd_members(2)
        found = etcd_write.probe(ctx)
    assert table(found) == [("ETCD_WRITE_FAILED", "etcd", {
        "object": TARGET, "timeout_s": 2.0, "detail": "no answer (closed)", "cause": "no-answer"})]


@pytest.mark.parametrize("webhook_timeout_s", [2, 30], ids=["as-long-as-the-write", "longer"])
def test_no_answer_under_a_webhook_as_slow_as_the_write_blocks_the_probe(webhook_timeout_s, tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path, NO_ANSWER) as ctx:
        _webhook_on_configmaps(fc, webhook_timeout_s)
        fc.add_failing_webhook("other.example.org", configuration="other", mode="timeout", resources=("secrets",),
                               namespaces=None, timeout_seconds=30)
        assert len(webhooks(ctx).webhooks) == 2
        fc.stop_etcd_members(2)
        found = etcd_write.probe(ctx)
    assert table(found) == [("PROBE_BLOCKED", "etcd", {
        "probe": "etcd_write", "cause": "webhook-intercepts",
        "because": f"the write to {TARGET} got no answer within 2 s and fail-closed admission webhook(s) "
                   f"slow.example.org (timeoutSeconds {webhook_timeout_s}) intercept it, so the wait may be theirs"})]


@pytest.mark.parametrize("selectors", [{"namespaceSelector": MANAGED}, {"objectSelector": MANAGED}],
                         ids=["namespace-labels", "object-labels"])
def test_a_webhook_that_selects_the_checkers_labels_intercepts_the_heartbeat(selectors, tmp_path):
    """A fail-closed webhook (working backend) on UPDATEs of namespaced configmaps, selecting
    the checker's namespace or objects by their label: it intercepts the heartbeat."""
    webhook = {"name": "labels.example.org", "failurePolicy": "Fail", "timeoutSeconds": 30, "sideEffects": "None",
               "admissionReviewVersions": ["v1"], "clientConfig": {"url": "https://127.0.0.1:9443/validate"},
               "rules": [{"operations": ["UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                          "resources": ["configmaps"], "scope": "Namespaced"}], **selectors}
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path, NO_ANSWER) as ctx:
        fc.apply({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                  "metadata": {"name": "labels"}, "webhooks": [webhook]})
        assert [w.name for w in webhooks(ctx).webhooks] == ["labels.example.org"]
        fc.stop_etcd_members(2)
        [found] = etcd_write.probe(ctx)
    assert (found.code, found.evidence["cause"]) == ("PROBE_BLOCKED", "webhook-intercepts")
    assert "labels.example.org (timeoutSeconds 30)" in found.evidence["because"]


def test_only_three_slow_webhooks_are_named(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path, NO_ANSWER) as ctx:
        for n in range(4):
            fc.add_failing_webhook(f"slow{n}.example.org", configuration=f"slow{n}", mode="timeout",
                                   resources=("configmaps",), namespaces=None, timeout_seconds=30)
        assert len(webhooks(ctx).webhooks) == 4
        fc.stop_etcd_members(2)
        [found] = etcd_write.probe(ctx)
    named = ", ".join(f"slow{n}.example.org (timeoutSeconds 30)" for n in range(3))
    assert f"webhook(s) {named} intercept it" in found.evidence["because"]


def test_a_webhook_hanging_on_the_heartbeat_is_named_by_the_apiservers_answer(tmp_path):
    """The write carries ?timeout=3s and the client waits 2 s more than that (longer than its
    read timeout), so the apiserver ends the webhook's call and says why, before the client
    gives up without an answer."""
    settings = FAST.with_overrides(request_timeout_s=2.0, write_timeout_s=3.0)
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path, settings) as ctx:
        _webhook_on_configmaps(fc, 30)
        found = etcd_write.probe(ctx)
        [write] = [r for r in fc.requests if r.method == "PATCH"]
    assert [(o.code, o.evidence.get("cause")) for o in found] == [
        ("WEBHOOK_FAILING_CLOSED", "context deadline exceeded"), ("PROBE_BLOCKED", "webhook-unreachable")]
    assert write.path.endswith("?timeout=3s")


def test_a_write_the_hung_apiserver_never_answers_is_etcd_timeout(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path, NO_ANSWER) as ctx:
        assert webhooks(ctx).webhooks == ()
        fc.set_apiserver("hung")
        found = etcd_write.probe(ctx)
        fc.set_apiserver("up")
    assert table(found) == [("ETCD_WRITE_FAILED", "etcd", {
        "object": TARGET, "timeout_s": 2.0, "detail": "no answer (timeout)", "cause": "no-answer"})]
