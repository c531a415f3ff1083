"""Failures between the components (issue 8) against the fake control plane: the table of
expected verdicts, and the single rule that decides each row.

| situation | apiserver | etcd | controller-manager | scheduler | overall | must name |
"""

from __future__ import annotations

import pytest

from cpwatch.judging.check import run_check
from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.telling.headline import summary
from cpwatch.timeutil import Deadline
from tests.fakecluster import FakeCluster

from .conftest import FAST, codes, verdicts

H, D, U, X = "healthy", "degraded", "unknown", "down"


def findings(diagnosis, code):
    return [o for o in diagnosis.observations if o.code == code]


def test_webhook_refused_on_the_checkers_writes_is_named_and_never_etcd(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="refused", resources=("pods", "configmaps"), namespaces=None)
        diagnosis = run_check_on(fc)
    result = verdicts(diagnosis)
    assert result["etcd"] != X and result["scheduler"] != X and result["controller-manager"] != X
    assert result["apiserver"] in (H, D)
    assert diagnosis.overall.value == D
    (failing,) = findings(diagnosis, "WEBHOOK_FAILING_CLOSED")
    assert failing.evidence["webhook"] == "image-policy.policy.example.org"
    assert "image-policy" in failing.evidence["configuration"]
    assert "connection refused" in failing.evidence["cause"]
    blocked = {o.evidence["probe"] for o in findings(diagnosis, "PROBE_BLOCKED")}
    assert {"etcd_write", "scheduler_canary"} <= blocked
    assert "ETCD_WRITE_FAILED" not in codes(diagnosis)
    assert "image-policy.policy.example.org" in summary(diagnosis)


def test_webhook_hanging_on_the_checkers_writes_is_named_and_never_etcd(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="timeout", timeout_seconds=1, resources=("configmaps",), namespaces=None)
        diagnosis = run_check_on(fc)
    assert verdicts(diagnosis)["etcd"] != X
    (failing,) = findings(diagnosis, "WEBHOOK_FAILING_CLOSED")
    assert "deadline" in failing.evidence["cause"]
    assert diagnosis.overall.value == D


def test_canary_blocked_by_a_hanging_webhook_names_it(run_check_on):
    """The canary pod's create carries ?timeout=: the apiserver stops waiting on the webhook
    first and answers with the webhook's name, instead of the client timing out blind."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="timeout", timeout_seconds=30, resources=("pods",), namespaces=None)
        diagnosis = run_check_on(fc)
    assert verdicts(diagnosis)["scheduler"] != X
    (failing,) = findings(diagnosis, "WEBHOOK_FAILING_CLOSED")
    assert "deadline" in failing.evidence["cause"]
    assert any(o.evidence.get("probe") == "scheduler_canary" for o in findings(diagnosis, "PROBE_BLOCKED"))


def test_no_answer_under_a_webhook_slower_than_the_write_is_not_etcd(run_check_on):
    """The webhook waits as long as the write's own ?timeout=: the connection may end with no
    answer; with a fail-closed webhook that slow on the write, etcd is not blamed for it."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="timeout", timeout_seconds=30, resources=("configmaps",), namespaces=None)
        diagnosis = run_check_on(fc, settings=FAST.with_overrides(write_timeout_s=2.0))
    assert verdicts(diagnosis)["etcd"] != X
    assert "ETCD_WRITE_FAILED" not in codes(diagnosis)


def test_webhook_denial_is_the_checkers_set_up(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="deny", deny_code=403, resources=("configmaps",), namespaces=None)
        diagnosis = run_check_on(fc)
    assert verdicts(diagnosis)["etcd"] != X
    (denied,) = findings(diagnosis, "CHECKER_WRITE_DENIED")
    assert "image-policy.policy.example.org" in denied.evidence["by"]
    assert not findings(diagnosis, "WEBHOOK_FAILING_CLOSED")


def test_webhook_outside_the_checkers_namespaces_leaves_the_verdicts_healthy(run_check_on):
    """The recorded configuration (pods and configmaps in default and demo): nothing cpwatch
    writes passes through it, and it covers nothing the control plane writes."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="refused")
        diagnosis = run_check_on(fc)
    assert set(verdicts(diagnosis).values()) == {H}
    (listed,) = findings(diagnosis, "WEBHOOKS_OK")
    assert listed.evidence["fail_closed"] == 1
    assert "image-policy.policy.example.org" in listed.evidence["fail_closed_webhooks"][0]


def test_webhook_whose_service_has_no_endpoints_is_named_even_outside_the_checkers_writes(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="refused", service=("policy", "policy-webhook", 443))  # default and demo only
        diagnosis = run_check_on(fc, read_only=True)
    assert set(verdicts(diagnosis).values()) == {H}
    assert diagnosis.overall.value == D
    (failing,) = findings(diagnosis, "WEBHOOK_FAILING_CLOSED")
    assert failing.evidence["cause"] == "its Service policy/policy-webhook has no ready endpoints"
    assert "default" in failing.evidence["covers"]


def test_webhook_whose_service_has_a_ready_endpoint_is_not_failing(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="refused", service=("policy", "policy-webhook", 443))
        fc.remove_webhooks()  # the backend answers again; the configuration stays
        fc.apply({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                  "metadata": {"name": "image-policy"}, "webhooks": [{
                      "name": "image-policy.policy.example.org", "sideEffects": "None",
                      "admissionReviewVersions": ["v1"], "failurePolicy": "Fail",
                      "clientConfig": {"service": {"namespace": "policy", "name": "policy-webhook", "port": 443}},
                      "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                 "resources": ["pods"]}]}]})
        fc.ensure_namespace("policy")
        fc.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": "policy-webhook-abc", "namespace": "policy",
                               "labels": {"kubernetes.io/service-name": "policy-webhook"}},
                  "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.7"], "conditions": {"ready": True}}],
                  "ports": [{"port": 443}]})
        diagnosis = run_check_on(fc, read_only=True)
    assert "WEBHOOK_FAILING_CLOSED" not in codes(diagnosis)
    assert diagnosis.overall.value == H


def test_webhook_on_lease_deletes_only_is_no_risk(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="refused", api_groups=("coordination.k8s.io",), resources=("leases",),
                               operations=("DELETE",), namespaces=("kube-node-lease",))
        diagnosis = run_check_on(fc, read_only=True)
    assert "WEBHOOK_COVERS_CONTROL_PLANE" not in codes(diagnosis)
    assert "WEBHOOKS_OK" in codes(diagnosis)


def test_fail_closed_webhook_covering_node_leases_is_warned_about(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.add_failing_webhook(mode="timeout", timeout_seconds=30, api_groups=("coordination.k8s.io",),
                               resources=("leases",), operations=("UPDATE",), namespaces=("kube-node-lease",))
        diagnosis = run_check_on(fc, read_only=True)
    (risk,) = findings(diagnosis, "WEBHOOK_COVERS_CONTROL_PLANE")
    assert "node Leases" in risk.evidence["writes"]
    assert diagnosis.overall.value in (H, D)


def test_aggregated_api_unavailable_names_the_apiservice_not_the_controller_manager(run_check_on):
    with FakeCluster(nodes=3, demo_objects=True) as fc:
        fc.register_unavailable_apiservice("v1beta1.metrics.k8s.io", reason="ServiceNotFound")
        fc.advance(60)
        diagnosis = run_check_on(fc)
    assert set(verdicts(diagnosis).values()) == {H}
    assert diagnosis.overall.value == D
    (unavailable,) = findings(diagnosis, "APISERVICE_UNAVAILABLE")
    assert unavailable.evidence["name"] == "v1beta1.metrics.k8s.io"
    assert unavailable.evidence["reason"] == "ServiceNotFound"
    assert "HPA" in unavailable.evidence["consequences"]


def test_just_registered_apiservice_is_given_its_grace(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.register_unavailable_apiservice("v1beta1.custom.metrics.k8s.io", reason="MissingEndpoints")
        diagnosis = run_check_on(fc)
    assert "APISERVICE_UNAVAILABLE" not in codes(diagnosis)


@pytest.mark.parametrize("state", ["expired", "not-yet-valid"])
def test_serving_certificate_outside_its_validity_is_the_apiserver_down(run_check_on, state):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.set_serving_certificate(state)
        diagnosis = run_check_on(fc)
    assert verdicts(diagnosis) == {"apiserver": X, "etcd": U, "controller-manager": U, "scheduler": U}
    (invalid,) = findings(diagnosis, "APISERVER_CERT_INVALID")
    assert invalid.evidence["verify_code"] == (10 if state == "expired" else 9)
    assert ("expired on" if state == "expired" else "not valid before") in invalid.evidence["problem"]
    assert invalid.evidence["not_after"].startswith("20")


def test_serving_certificate_from_another_ca_is_the_checkers_configuration(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.set_serving_certificate_from_other_ca()
        diagnosis = run_check_on(fc)
    assert set(verdicts(diagnosis).values()) == {U}
    (cannot,) = [o for o in findings(diagnosis, "CHECKER_CANNOT_CONNECT") if o.evidence["path"] == "/livez"]
    assert "does not chain to the CA cpwatch trusts" in cannot.evidence["detail"]
    assert "APISERVER_CERT_INVALID" not in codes(diagnosis)


@pytest.mark.parametrize(("days", "code"), [(10, "APISERVER_CERT_EXPIRING"), (90, "APISERVER_CERT_OK")])
def test_serving_certificate_expiry_is_warned_ahead(run_check_on, days, code):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.set_serving_certificate("valid", expires_in_days=days)
        diagnosis = run_check_on(fc, read_only=True)
    assert code in codes(diagnosis, "apiserver")
    assert verdicts(diagnosis)["apiserver"] == (D if days < 30 else H)


def test_etcd_at_its_space_quota_is_etcd_down_with_its_own_finding(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.etcd_nospace()
        fc.advance(20)
        diagnosis = run_check_on(fc)
    result = verdicts(diagnosis)
    assert result["etcd"] == X and result["apiserver"] in (H, D)
    assert result["controller-manager"] in (U, H) and result["scheduler"] in (U, H)
    assert "ETCD_NOSPACE" in codes(diagnosis, "etcd")
    assert "ETCD_WRITE_FAILED" not in codes(diagnosis)
    assert diagnosis.components[diagnosis.root_cause].verdict.value == X and diagnosis.root_cause.value == "etcd"


def test_storage_error_on_writes_only_is_etcd_down_while_every_health_check_passes(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.fail_writes("etcdserver: request timed out")
        diagnosis = run_check_on(fc, read_only=False)
    assert "ETCD_CHECK_PASSED" in codes(diagnosis, "etcd")
    assert "ETCD_WRITE_FAILED" in codes(diagnosis, "etcd")
    assert verdicts(diagnosis)["etcd"] == X


def test_unexplained_write_error_is_not_etcd(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.fail_writes("Internal error occurred: something unexpected", status=500, reason="InternalError")
        diagnosis = run_check_on(fc)
    assert verdicts(diagnosis)["etcd"] != X
    assert "APISERVER_WRITE_FAILED" in codes(diagnosis, "apiserver")


@pytest.mark.parametrize(("size", "code", "etcd"), [(int(1.8 * 2**30), "ETCD_DB_NEAR_QUOTA", D),
                                                    (int(0.5 * 2**30), "ETCD_DB_SIZE_OK", H)])
def test_etcd_database_size_against_the_quota(run_check_on, size, code, etcd):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.set_etcd_db_size(size)
        diagnosis = run_check_on(fc, read_only=True)
    assert code in codes(diagnosis, "etcd")
    assert verdicts(diagnosis)["etcd"] == etcd


@pytest.mark.parametrize("metric", ["etcd_db_total_size_in_bytes", "apiserver_storage_db_total_size_in_bytes",
                                    "apiserver_storage_size_bytes"])
def test_every_name_of_the_size_metric_is_read(run_check_on, metric):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.set_etcd_db_size([int(1.9 * 2**30), int(1.0 * 2**30), int(1.2 * 2**30)], metric=metric)
        diagnosis = run_check_on(fc, read_only=True)
    (near,) = findings(diagnosis, "ETCD_DB_NEAR_QUOTA")
    assert near.evidence["metric"] == metric and near.evidence["percent"] >= 90  # the largest series counts


def test_metrics_are_fetched_once_per_interval_on_a_schedule(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        kubeconfig = fc.write_kubeconfig(tmp_path / "kc")
        fetched = []
        for run_interval in (None, 60.0):
            fc.clear_requests()
            api, target = api_from_kubeconfig(str(kubeconfig), None, 3.0, Deadline.after(10))
            try:
                settings = FAST.with_overrides(metrics_interval_s=1e9)  # "now" is never in the first minute
                run_check(api, target.name, settings, read_only=True, run_interval_s=run_interval)
            finally:
                api.close()
            fetched.append(any(r.path == "/metrics" for r in fc.requests))
    assert fetched == [True, False]


def test_throttling_degrades_the_apiserver_and_is_retried(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.throttle(every=4, retry_after=0)
        diagnosis = run_check_on(fc, read_only=True)
    result = verdicts(diagnosis)
    assert result == {"apiserver": D, "etcd": H, "controller-manager": H, "scheduler": H}
    (throttled,) = findings(diagnosis, "APISERVER_THROTTLED")
    assert throttled.evidence["count"] >= 1 and throttled.evidence["gave_up"] == 0
    assert throttled.evidence["priority_level"] != "not named"


def test_persistent_throttling_is_never_down_nor_blind(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.throttle(every=1, retry_after=0)
        diagnosis = run_check_on(fc, read_only=True)
    result = verdicts(diagnosis)
    assert X not in result.values()
    assert result["apiserver"] == D
    assert findings(diagnosis, "APISERVER_THROTTLED")[0].evidence["gave_up"] >= 1
