"""What a refused write means, from the Status messages Kubernetes writes (k8s.io/apiserver and
etcd sources) and the ones recorded on a real control plane."""

import json
from pathlib import Path

import pytest

from cpwatch.errors import status_error_class
from cpwatch.probes.refusals import Cause, classify

RECORDINGS = Path(__file__).parents[2] / "data" / "real-control-plane"


def refused(status, message, reason=""):
    return status_error_class(status)("POST", "/api/v1/namespaces/cpwatch/configmaps", status, reason, message)


CASES = [
    (500, 'Internal error occurred: failed calling webhook "image-policy.example.org": failed to call webhook: '
          'Post "https://127.0.0.1:7/validate?timeout=5s": dial tcp 127.0.0.1:7: connect: connection refused',
     "InternalError", Cause.WEBHOOK_UNREACHABLE, "image-policy.example.org", "connect: connection refused"),
    (500, 'Internal error occurred: failed calling webhook "p.example.org": failed to call webhook: Post '
          '"https://svc.ns.svc:443/v?timeout=3s": context deadline exceeded',
     "InternalError", Cause.WEBHOOK_UNREACHABLE, "p.example.org", "context deadline exceeded"),
    (500, 'Internal error occurred: failed calling webhook "t.example.org": failed to call webhook: Post '
          '"https://t.ns.svc:443/": tls: failed to verify certificate: x509: certificate signed by unknown authority',
     "InternalError", Cause.WEBHOOK_UNREACHABLE, "t.example.org", "tls: failed to verify certificate"),
    (500, 'Internal error occurred: failed calling admission webhook "old.example.org": the server is currently '
          'unable to handle the request', "InternalError", Cause.WEBHOOK_UNREACHABLE, "old.example.org", ""),
    (400, 'admission webhook "deny.example.org" denied the request: image not allowed', "",
     Cause.WEBHOOK_DENIED, "deny.example.org", ""),
    (403, 'admission webhook "deny.example.org" denied the request without explanation', "Forbidden",
     Cause.WEBHOOK_DENIED, "deny.example.org", ""),
    (422, "configmaps \"cpwatch-heartbeat\" is forbidden: ValidatingAdmissionPolicy 'no-writes' with binding "
          "'no-writes-binding' denied request: failed expression", "Invalid", Cause.POLICY_DENIED, "no-writes", ""),
    (500, "etcdserver: mvcc: database space exceeded", "", Cause.ETCD_NOSPACE, "", ""),
    (500, "etcdserver: request timed out", "", Cause.STORAGE, "", ""),
    (403, 'configmaps "x" is forbidden: unable to get namespace: etcdserver: request timed out', "Forbidden",
     Cause.STORAGE, "", ""),
    (500, "Internal error occurred: resource quota evaluation timed out", "InternalError", Cause.STORAGE, "", ""),
    (504, "Timeout: request did not complete within requested timeout - context deadline exceeded", "Timeout",
     Cause.STORAGE, "", ""),
    (429, "Too many requests, please try again later.", "", Cause.THROTTLED, "", ""),
    (403, 'configmaps "cpwatch-heartbeat" is forbidden: User "cpwatch-checker" cannot patch resource "configmaps"',
     "Forbidden", Cause.FORBIDDEN, "", ""),
    (500, "Internal error occurred: conversion webhook for x failed", "InternalError", Cause.OTHER, "", ""),
]


@pytest.mark.parametrize(("status", "message", "reason", "cause", "webhook", "webhook_cause"), CASES,
                         ids=[f"{c[0]}-{c[3].value}-{i}" for i, c in enumerate(CASES)])
def test_classify(status, message, reason, cause, webhook, webhook_cause):
    refusal = classify(refused(status, message, reason))
    assert refusal.cause is cause
    assert refusal.webhook == webhook
    assert webhook_cause in refusal.webhook_cause
    assert refusal.is_etcd == (cause in (Cause.ETCD_NOSPACE, Cause.STORAGE))


@pytest.mark.parametrize(("scenario", "key", "cause"), [
    ("webhook-refused", "write_configmap", Cause.WEBHOOK_UNREACHABLE),
    ("webhook-refused", "canary_pod_create", Cause.WEBHOOK_UNREACHABLE),
    ("webhook-timeout", "write_configmap", Cause.WEBHOOK_UNREACHABLE),
    ("etcd-nospace", "write_configmap", Cause.ETCD_NOSPACE),
    ("etcd-nospace", "canary_deploy_patch", Cause.ETCD_NOSPACE),
    ("etcd-quorum-lost", "write_configmap_no_timeout", Cause.STORAGE),
])
def test_recorded_refusals(scenario, key, cause):
    recorded = json.loads((RECORDINGS / f"{scenario}.json").read_text())["responses"]
    if key not in recorded:
        pytest.fail(f"{scenario}.json has no {key}: {sorted(recorded)}")
    answer = recorded[key]
    body = answer["body"]
    assert classify(refused(answer["status"], body["message"], body.get("reason", ""))).cause is cause
