"""The rules of a refused write (probes/refused_writes.py), each alone (issue 12, mutation testing).

No network: the webhook configurations a probe would read are given to the run's cache as
already read, and refused writes are the Status errors the apiserver sends, in the phrasings of
k8s.io/apiserver (refusals.py names the files).
"""

from __future__ import annotations

import pytest

from cpwatch.errors import ApiStatusError, ForbiddenError, ServerError
from cpwatch.findings import Component
from cpwatch.probes.refused_writes import blocked, intercepted_reaction, observations_for
from cpwatch.probes.refusals import Cause, Refusal
from cpwatch.probes.webhookrules import Write

from .helpers import configuration, context, hook, table

TARGET = "ConfigMap watcher/cpwatch-heartbeat"
URL = 'Post "https://policy.example.svc:443/validate?timeout=10s"'


def refused(status: int, message: str, reason: str = "") -> ApiStatusError:
    kind = ForbiddenError if status == 403 else ServerError if status >= 500 else ApiStatusError
    return kind("PATCH", "/api/v1/namespaces/watcher/configmaps/cpwatch-heartbeat", status, reason, message)


# --- observations_for: what a refused write shows ----------------------------------------------


def test_a_webhook_that_cannot_be_called_is_failing_closed_and_blocks_the_probe():
    ctx = context(("validating", configuration("image-policy", hook("policy.example.org", namespaces=("watcher",)))))
    error = refused(500, f'failed calling webhook "policy.example.org": failed to call webhook: {URL}: '
                         "dial tcp 10.0.0.9:443: connect: connection refused", "InternalError")
    assert table(observations_for(ctx, "etcd_write", Component.ETCD, TARGET, error)) == [
        ("WEBHOOK_FAILING_CLOSED", "extensions", {
            "webhook": "policy.example.org", "configuration": "validatingwebhookconfiguration/image-policy",
            "cause": "connect: connection refused", "covers": "CREATE/UPDATE configmaps in watcher"}),
        ("PROBE_BLOCKED", "etcd", {
            "probe": "etcd_write", "cause": "webhook-unreachable", "status": 500, "webhook": "policy.example.org",
            "because": f"admission webhook policy.example.org refused the write to {TARGET}: it cannot be called "
                       "(connect: connection refused)"})]


def test_a_failing_webhook_whose_configuration_was_not_read_is_named_from_the_error():
    """No cause after the name, and no configuration to describe it: the error's own text."""
    ctx = context()
    message = 'failed calling webhook "gone.example.org"'
    [failing, _] = observations_for(ctx, "scheduler_canary", Component.SCHEDULER, "canary pod watcher/c", refused(500, message))
    assert table([failing]) == [("WEBHOOK_FAILING_CLOSED", "extensions", {
        "webhook": "gone.example.org", "configuration": "configuration not readable", "cause": message,
        "covers": "unknown"})]


def test_a_long_webhook_error_without_a_cause_is_cut_to_160_characters():
    ctx = context()
    message = "Internal error occurred: " + "x" * 200 + ' failed calling webhook "gone.example.org"'
    [failing, _] = observations_for(ctx, "etcd_write", Component.ETCD, TARGET, refused(500, message))
    assert failing.evidence["cause"] == message[:160]


@pytest.mark.parametrize(("message", "status", "by"), [
    ('admission webhook "policy.example.org" denied the request: configmaps are frozen', 400,
     "admission webhook policy.example.org"),
    ("ValidatingAdmissionPolicy 'frozen' with binding 'frozen-binding' denied request: configmaps are frozen", 403,
     "admission policy frozen"),
], ids=["webhook", "policy"])
def test_a_denied_write_is_the_checkers_set_up_and_blocks_the_probe(message, status, by):
    ctx = context()
    found = observations_for(ctx, "deployment_canary", Component.CONTROLLER_MANAGER, TARGET, refused(status, message))
    cause = "webhook-denied" if by.startswith("admission webhook") else "policy-denied"
    assert table(found) == [
        ("CHECKER_WRITE_DENIED", "checker", {"by": by, "object": TARGET, "detail": message, "namespace": "watcher"}),
        ("PROBE_BLOCKED", "controller-manager", {
            "probe": "deployment_canary", "because": f"{by} denied the write to {TARGET}", "cause": cause,
            "status": status, "webhook": by.rsplit(" ", 1)[1]})]


@pytest.mark.parametrize(("message", "status", "cause"), [
    ("etcdserver: request timed out", 500, "storage"),
    ("etcdserver: mvcc: database space exceeded", 500, "etcd-nospace"),
    ("etcdserver: leader changed", 403, "storage"),  # NamespaceLifecycle's own read failed on etcd
], ids=["storage", "nospace", "namespace-lookup"])
def test_etcd_refusing_the_write_blocks_the_probe_and_names_etcd(message, status, cause):
    found = observations_for(context(), "scheduler_canary", Component.SCHEDULER, "canary pod watcher/c",
                             refused(status, message))
    assert table(found) == [("PROBE_BLOCKED", "scheduler", {
        "probe": "scheduler_canary", "because": f"etcd refuses writes ({message})", "cause": cause, "status": status})]


def test_an_unexplained_server_error_blocks_the_probe_with_status_and_detail():
    found = observations_for(context(), "deployment_canary", Component.CONTROLLER_MANAGER, "Deployment watcher/d",
                             refused(500, "Internal error occurred: boom", "InternalError"))
    assert table(found) == [("PROBE_BLOCKED", "controller-manager", {
        "probe": "deployment_canary", "cause": "other", "status": 500,
        "because": "the apiserver failed the write to Deployment watcher/d: HTTP 500: Internal error occurred: boom"})]


@pytest.mark.parametrize(("status", "message"), [
    (403, 'configmaps "cpwatch-heartbeat" is forbidden: User "checker" cannot patch resource "configmaps"'),
    (422, "the object is not valid"),
    (409, "Operation cannot be fulfilled: the object has been modified"),
], ids=["rbac", "invalid", "conflict"])
def test_refusals_the_runner_maps_are_raised_again(status, message):
    error = refused(status, message)
    with pytest.raises(ApiStatusError) as raised:
        observations_for(context(), "etcd_write", Component.ETCD, TARGET, error)
    assert raised.value is error


# --- blocked: the PROBE_BLOCKED evidence --------------------------------------------------------


def test_blocked_without_a_refusal_carries_only_its_cause():
    assert table([blocked("p", Component.SCHEDULER, "because")]) == [
        ("PROBE_BLOCKED", "scheduler", {"probe": "p", "because": "because"})]
    assert table([blocked("p", Component.SCHEDULER, "because", cause="webhook-intercepts")]) == [
        ("PROBE_BLOCKED", "scheduler", {"probe": "p", "because": "because", "cause": "webhook-intercepts"})]


def test_blocked_by_a_refusal_without_a_webhook_names_none():
    found = blocked("p", Component.ETCD, "b", Refusal(Cause.STORAGE, 504, "timeout"))
    assert dict(found.evidence) == {"probe": "p", "because": "b", "cause": "storage", "status": 504}


# --- intercepted_reaction: a controller's write a fail-closed webhook intercepts ----------------

STATUS_WRITE = Write("UPDATE", "", "pods", "status", namespace="watcher")


def test_a_reaction_no_fail_closed_webhook_intercepts_is_not_blocked():
    ctx = context(("validating", configuration("open", hook("open.example.org", resources=("pods/status",),
                                                            operations=("UPDATE",), failure_policy="Ignore"))),
                  ("validating", configuration("elsewhere", hook("elsewhere.example.org", resources=("pods/status",),
                                                                 namespaces=("default",)))))
    assert intercepted_reaction(ctx, "scheduler_canary", Component.SCHEDULER, STATUS_WRITE, "binding") is None


def test_a_reaction_fail_closed_webhooks_intercept_names_the_first_three():
    hooks = [hook(f"w{n}.example.org", resources=("pods/*",), operations=("UPDATE",)) for n in range(4)]
    ctx = context(("mutating", configuration("four", *hooks)))
    found = intercepted_reaction(ctx, "scheduler_canary", Component.SCHEDULER, STATUS_WRITE, "the kubelet's status")
    names = ", ".join(f"w{n}.example.org (mutatingwebhookconfiguration/four)" for n in range(3))
    assert table([found]) == [("PROBE_BLOCKED", "scheduler", {
        "probe": "scheduler_canary", "cause": "webhook-intercepts",
        "because": f"the kubelet's status needs UPDATE pods/status in watcher, which fail-closed admission "
                   f"webhook(s) {names} intercept; a missing reaction may be theirs"})]
