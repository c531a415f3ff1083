"""Each decision of the etcd write, refused-write, webhook, APIService, etcd size and Terminating
pod probes, where only that decision decides (issue 12, mutation testing).

Each test calls one probe against the fake control plane with a real client, as the runner
does, and compares the findings with the fake's own objects: the probe alone decides what is
reported, so a changed rule, threshold or piece of evidence in it fails here. A probe's error
that the runner maps (refused connection, an unexplained 4xx) is asserted as that error.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.errors import ApiStatusError, BadResponseError, NoAnswerError
from cpwatch.probes import admission_webhooks, aggregated_apis, etcd_db_size, etcd_write, terminating_pods
from cpwatch.probes.context import ProbeContext
from cpwatch.probes.interceptors import webhooks
from cpwatch.timeutil import Deadline, parse_k8s_time
from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import rfc3339
from tests.fakecluster.rbac import RuleRef

from .conftest import FAST

RUN_ID = "b0c1d2e3"
HEARTBEAT = ("configmaps", FAST.namespace, etcd_write.HEARTBEAT)
ENDPOINTSLICE_RULE = RuleRef("ClusterRole", "", "cpwatch-reader", 7)  # list endpointslices (infra/10-rbac.yaml)
TARGET = f"ConfigMap {FAST.namespace}/{etcd_write.HEARTBEAT}"


@contextmanager
def probe_context(fc: FakeCluster, tmp_path, settings=FAST):
    """A ProbeContext as the runner builds it, on the checker's kubeconfig for the fake."""
    kubeconfig = fc.write_kubeconfig(tmp_path / "kubeconfig")
    deadline = Deadline.after(settings.run_timeout_s)
    api, _ = api_from_kubeconfig(str(kubeconfig), None, settings.request_timeout_s, deadline)
    try:
        yield ProbeContext(api=api, settings=settings, run_id=RUN_ID)
    finally:
        api.close()


def table(observations) -> list[tuple[str, str, dict]]:
    return [(o.code, o.component.value, dict(o.evidence)) for o in observations]


# --- etcd_write -------------------------------------------------------------------------------


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


MANAGED = {"matchLabels": {"app.kubernetes.io/managed-by": "cpwatch"}}  # infra/ labels the namespace and ConfigMap


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


# --- admission_webhooks: a fail-closed webhook whose Service has no ready endpoint -------------

SERVICE = ("policy", "policy-webhook", 443)


def endpoint_slice(name: str, service: str, *conditions: dict | None, namespace: str = "policy") -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"port": 443}],
            "endpoints": [{"addresses": [f"10.0.0.{n + 1}"], **({} if c is None else {"conditions": c})}
                          for n, c in enumerate(conditions)]}


def _failing(observations) -> list[str]:
    return [o.evidence["webhook"] for o in observations if o.code == "WEBHOOK_FAILING_CLOSED"]


@pytest.mark.parametrize(("conditions", "failing"), [
    ([{"ready": False}, {"ready": False}], True),
    ([None], False),                         # no conditions: ready (EndpointConditions' nil means ready)
    ([{"serving": True}], False),            # conditions without `ready`: ready
    ([{"ready": False}, {"ready": True}], False),
], ids=["none-ready", "no-conditions", "no-ready-condition", "one-ready"])
def test_a_service_webhook_fails_closed_only_without_a_ready_endpoint(conditions, failing, tmp_path):
    """Only the Service's own slices count: another Service's ready endpoints in the namespace,
    and the same Service name in another namespace, say nothing about it."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.add_failing_webhook(mode="refused", service=SERVICE)
        fc.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "policy"}})
        fc.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}})
        fc.apply(endpoint_slice("policy-webhook-a", "policy-webhook", *conditions))
        fc.apply(endpoint_slice("other-a", "other", {"ready": True}))
        fc.apply(endpoint_slice("policy-webhook-b", "policy-webhook", {"ready": True}, namespace="elsewhere"))
        found = admission_webhooks.probe(ctx)
    assert _failing(found) == (["image-policy.policy.example.org"] if failing else [])
    assert ("WEBHOOKS_OK" in [o.code for o in found]) is not failing


def test_webhooks_on_one_service_without_endpoints_fail_closed_each_from_one_read(tmp_path):
    """Two fail-closed webhooks called through one Service: both fail, read once (from the
    watch cache); a fail-open one on it and a fail-closed one called by URL are not failing."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.add_failing_webhook("url.example.org", configuration="a-url", mode="refused")  # listed first
        fc.add_failing_webhook("b.example.org", configuration="b", mode="refused", service=SERVICE)
        fc.add_failing_webhook("c.example.org", configuration="c", mode="refused", service=SERVICE)
        fc.add_failing_webhook("open.example.org", configuration="open", failure_policy="Ignore",
                               service=("policy", "open-webhook", 443))
        assert [w.name for w in webhooks(ctx).webhooks][0] == "url.example.org"
        found = admission_webhooks.probe(ctx)
        reads = [r.path for r in fc.requests if "/endpointslices" in r.path]
    assert table([o for o in found if o.code == "WEBHOOK_FAILING_CLOSED"]) == [
        ("WEBHOOK_FAILING_CLOSED", "extensions", {
            "webhook": name, "configuration": f"validatingwebhookconfiguration/{name[0]}",
            "cause": "its Service policy/policy-webhook has no ready endpoints",
            "covers": "CREATE/UPDATE pods, configmaps in default, demo"})
        for name in ("b.example.org", "c.example.org")]
    assert [o.code for o in found] == ["WEBHOOK_FAILING_CLOSED"] * 2
    assert reads == ["/apis/discovery.k8s.io/v1/namespaces/policy/endpointslices"
                     "?labelSelector=kubernetes.io%2Fservice-name%3Dpolicy-webhook&resourceVersion=0"]


def test_endpointslices_the_checker_may_not_list_are_its_own_set_up(tmp_path):
    with FakeCluster(nodes=1, rbac_drop=[ENDPOINTSLICE_RULE]) as fc, probe_context(fc, tmp_path) as ctx:
        fc.add_failing_webhook(mode="refused", service=SERVICE)
        found = admission_webhooks.probe(ctx)
    forbidden, ok = found
    assert (forbidden.code, forbidden.component.value, ok.code) == ("CHECKER_FORBIDDEN", "extensions", "WEBHOOKS_OK")
    evidence = dict(forbidden.evidence)
    assert "endpointslices" in evidence.pop("message")
    assert evidence == {"method": "GET", "path": "/apis/discovery.k8s.io/v1/namespaces/policy/endpointslices",
                        "reason": "Forbidden", "http_status": 403}
    assert ok.evidence["fail_closed"] == 1


# --- aggregated_apis --------------------------------------------------------------------------

GRACE = FAST.apiservice_grace_s
# A cluster whose admins let cpwatch read HPAs (infra/ does not grant it): the HPAs that report
# missing metrics are then counted.
HPA_READER = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "hpa-reader"},
     "rules": [{"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["list"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "hpa-reader"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "hpa-reader"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "cpwatch"}]},
]
METRICS = {  # one metric of each type; each needs a metrics API the test leaves without a backend
    "cpu": {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
    "container": {"type": "ContainerResource", "containerResource": {
        "name": "memory", "container": "app", "target": {"type": "Utilization", "averageUtilization": 60}}},
    "pods": {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
    "object": {"type": "Object", "object": {
        "metric": {"name": "hits"}, "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "web"},
        "target": {"type": "Value", "value": "100"}}},
    "external": {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "5"}}},
}


def hpa(name: str, metric: dict, target: str = "web") -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "minReplicas": 1, "maxReplicas": 5, "metrics": [metric]}}


def _web_with_hpas(fc: FakeCluster) -> None:
    fc.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    fc.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}})
    for name, metric in METRICS.items():
        fc.apply(hpa(name, metric))
    fc.apply(hpa("no-target", METRICS["cpu"], target="gone"))  # AbleToScale=False: no ScalingActive


def test_hpas_reporting_missing_metrics_are_counted_when_the_checker_may_read_them(tmp_path):
    with FakeCluster(nodes=1, rbac_overrides=HPA_READER) as fc, probe_context(fc, tmp_path) as ctx:
        _web_with_hpas(fc)
        fc.register_unavailable_apiservice()
        fc.advance(GRACE + 5)
        found = aggregated_apis.probe(ctx)
        hpa_reads = [r.path for r in fc.requests if "horizontalpodautoscalers" in r.path]
        reasons = sorted((next(c for c in h["status"]["conditions"] if c["type"] == "ScalingActive")["reason"])
                         for h in fc.store.scan("horizontalpodautoscalers") if h["metadata"]["name"] != "no-target")
    assert reasons == sorted(f"FailedGet{m['type']}Metric" for m in METRICS.values())
    assert hpa_reads == ["/apis/autoscaling/v2/horizontalpodautoscalers?resourceVersion=0"]
    assert [o.evidence["consequences"] for o in found] == [
        "5 HPA(s) report they cannot get metrics; namespace deletion and garbage collection stall on its failed "
        "discovery"]


@pytest.mark.parametrize("group", ["custom.metrics.k8s.io", "external.metrics.k8s.io"])
def test_every_metrics_api_is_a_scaling_consequence(group, tmp_path):
    """Read without the HPA list (infra/'s RBAC): the HPAs of that group cannot scale."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.register_unavailable_apiservice(f"v1beta1.{group}", service=("custom-metrics", "adapter", 443))
        fc.advance(GRACE + 5)
        [found] = aggregated_apis.probe(ctx)
    assert found.evidence["consequences"] == (f"HPAs that use {group} cannot scale; namespace deletion and garbage "
                                              "collection stall on its failed discovery")


def _aggregated(fc: FakeCluster, name: str, status: dict) -> None:
    group, version = name.split(".", 1)[1], name.split(".", 1)[0]
    fc.store.put("apiservices", {"metadata": {"name": name}, "status": status,
                                 "spec": {"service": {"namespace": "ex", "name": "ex-api", "port": 443}, "group": group,
                                          "version": version, "groupPriorityMinimum": 100, "versionPriority": 100}})


def test_an_apiservice_without_conditions_or_with_status_unknown_is_unavailable(tmp_path):
    """No Available condition yet, or one the controller could not decide: not Available. A
    long message is put on one line and cut to 200 characters."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.advance(GRACE + 5)
        stamp = rfc3339(fc.clock.now() - timedelta(seconds=GRACE + 10))
        _aggregated(fc, "v1.available.example.org", {"conditions": [  # listed first, Available for long
            {"type": "Available", "status": "True", "lastTransitionTime": stamp, "reason": "Passed"}]})
        _aggregated(fc, "v1.bare.example.org", {})
        _aggregated(fc, "v1.unknown.example.org", {"conditions": [
            {"type": "Available", "status": "Unknown", "lastTransitionTime": stamp, "reason": "",
             "message": "checking\n   discovery  " + "x" * 300}]})
        observations = aggregated_apis.probe(ctx)
    assert {(o.code, o.component.value) for o in observations} == {("APISERVICE_UNAVAILABLE", "extensions")}
    found = {o.evidence["name"]: dict(o.evidence) for o in observations}
    stalled = "namespace deletion and garbage collection stall on its failed discovery"
    assert found["v1.bare.example.org"] == {
        "name": "v1.bare.example.org", "group": "bare.example.org", "reason": "no Available condition",
        "message": "no message", "age_s": "?", "consequences": stalled}
    unknown = found["v1.unknown.example.org"]
    assert GRACE + 9 <= unknown.pop("age_s") <= GRACE + 20
    assert unknown == {"name": "v1.unknown.example.org", "group": "unknown.example.org",
                       "reason": "no Available condition", "message": ("checking discovery " + "x" * 300)[:200],
                       "consequences": stalled}
    assert len(found) == 2


def test_available_apiservices_are_counted_with_those_extensions_serve(tmp_path):
    """Available for longer than the grace: judged on the condition alone."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.serve_eks_metrics()
        fc.advance(GRACE + 5)
        stamp = rfc3339(fc.clock.now() - timedelta(seconds=GRACE + 10))
        _aggregated(fc, "v1.ok.example.org", {"conditions": [
            {"type": "Available", "status": "True", "lastTransitionTime": stamp, "reason": "Passed"}]})
        found = aggregated_apis.probe(ctx)
        stored = list(fc.store.scan("apiservices"))
        reads = [r.path for r in fc.requests if "apiservices" in r.path]
    assert reads == ["/apis/apiregistration.k8s.io/v1/apiservices?resourceVersion=0"]  # the watch cache
    assert table(found) == [("APISERVICES_AVAILABLE", "extensions", {"count": len(stored), "aggregated": 2})]
    assert len(stored) > 2


# --- etcd_db_size -----------------------------------------------------------------------------

QUOTA = FAST.etcd_quota_bytes                           # etcd's default 2 GiB
EKS_QUOTA = FAST.eks_etcd_quota_bytes                   # 8 GiB on EKS
AT_WARNING = 1717986919                                 # 80.0 % of 2 GiB once rounded to 0.1 %


def _metrics_reads(fc: FakeCluster) -> list:
    return [r for r in fc.requests if r.path == "/metrics"]


def test_a_database_at_the_warning_percent_is_near_its_quota(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.set_etcd_db_size(AT_WARNING)
        found = etcd_db_size.probe(ctx)
        [read] = _metrics_reads(fc)
        body = fc._metrics_body()
    [(code, component, evidence)] = table(found)
    metrics_bytes = evidence.pop("metrics_bytes")  # decompressed; object counts in it move with the simulation
    assert (code, component, evidence) == ("ETCD_DB_NEAR_QUOTA", "etcd", {
        "warn_percent": FAST.etcd_db_warn_percent, "size": "1.6 GiB", "quota": "2.0 GiB", "percent": 80.0,
        "metric": "apiserver_storage_size_bytes", "size_bytes": AT_WARNING, "quota_bytes": QUOTA})
    assert abs(metrics_bytes - len(body)) < 2000
    assert read.bytes_sent < len(body) / 5  # asked gzipped: the exposition is hundreds of KB


def test_a_database_just_under_the_warning_percent_is_ok(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.set_etcd_db_size(int(0.7994 * QUOTA))
        [found] = etcd_db_size.probe(ctx)
    assert (found.code, found.evidence["percent"]) == ("ETCD_DB_SIZE_OK", 79.9)  # 79.94 %, to 0.1 %


def test_an_eks_apiserver_is_judged_on_eks_8_gib_quota(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.api.version["gitVersion"] = "v1.31.4-eks-a737599"
        fc.set_etcd_db_size(AT_WARNING)
        [found] = etcd_db_size.probe(ctx)
    assert found.code == "ETCD_DB_SIZE_OK"
    assert {k: found.evidence[k] for k in ("quota", "quota_bytes", "percent")} == {
        "quota": "8.0 GiB", "quota_bytes": EKS_QUOTA, "percent": 20.0}


@pytest.mark.parametrize("metric", ["apiserver_storage_db_total_size_in_bytes", "etcd_db_total_size_in_bytes"])
def test_older_size_series_are_read_per_member_and_the_largest_taken(metric, tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.set_etcd_db_size([2**20, 3 * 2**20, 2 * 2**20], metric=metric)
        [found] = etcd_db_size.probe(ctx)
    assert (found.code, found.evidence["metric"], found.evidence["size_bytes"], found.evidence["size"]) == (
        "ETCD_DB_SIZE_OK", metric, 3 * 2**20, "3.0 MiB")


def test_metrics_without_a_size_series_are_a_probe_failure_naming_the_series(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.disable_size_metric()
        found = etcd_db_size.probe(ctx)
    assert table(found) == [("PROBE_FAILED", "etcd", {
        "probe": "etcd_db_size", "detail": "/metrics has none of apiserver_storage_size_bytes, "
                                           "apiserver_storage_db_total_size_in_bytes, etcd_db_total_size_in_bytes"})]


# --- terminating_pods -------------------------------------------------------------------------

ORPHAN_GRACE = FAST.orphan_pod_grace_s                  # 120 s
STUCK = ORPHAN_GRACE + 60


def _orphans_left(fc: FakeCluster) -> None:
    """Nobody finishes a deleted pod: no controller-manager (pod GC), no kubelet on node-a."""
    fc.stop_component("controller-manager")
    fc.lose_node("node-a")


def test_deleted_pods_on_a_vanished_node_are_orphans_not_collected(tmp_path):
    """21 orphans past the grace (20 listed); not stuck: one deleted within the grace, one that
    waits on a finalizer, one never scheduled (no node), one not deleted."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        for n in range(21):
            fc.add_pod("apps", f"orphan-{n:02}", node_name="gone", deleted_seconds_ago=STUCK + n)
        fc.add_pod("apps", "recent", node_name="gone", deleted_seconds_ago=ORPHAN_GRACE - 20)
        fc.add_pod("apps", "finalized", node_name="gone", deleted_seconds_ago=STUCK, finalizers=["example.com/keep"])
        fc.add_pod("apps", "unscheduled", deleted_seconds_ago=STUCK)
        fc.add_pod("apps", "running", node_name="gone", phase="Running")
        found = terminating_pods.probe(ctx)
    [orphans] = found
    evidence = dict(orphans.evidence)
    pods = evidence.pop("pods")
    assert (orphans.code, orphans.component.value) == ("ORPHAN_POD_NOT_COLLECTED", "controller-manager")
    assert evidence == {"count": 21, "threshold_s": int(ORPHAN_GRACE),
                        "examples": ", ".join(pods[:5]) + " and 16 more"}
    assert len(pods) == 20
    for n, text in enumerate(sorted(pods)):
        age = text.removeprefix(f"apps/orphan-{n:02} on gone (").removesuffix(" s)")
        assert STUCK + n <= int(age) <= STUCK + n + 15


def test_pods_past_the_grace_are_judged_by_their_nodes_health(tmp_path):
    """On node-a, Ready but with its kubelet gone: stuck on a Ready node (the kubelet's).
    On node-b, NotReady: stuck on an unhealthy node. Each node is read once. Checked: the
    Terminating pods bound to a node, not a running pod nor a deleted one never scheduled."""
    with FakeCluster(nodes=2) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.lose_node("node-b")
        fc.store.mutate("nodes", None, "node-b", lambda node: node["status"].update(conditions=[
            {**c, "status": "Unknown"} if c["type"] == "Ready" else c for c in node["status"]["conditions"]]))
        fc.add_pod("apps", "web-0", node_name="node-a", deleted_seconds_ago=STUCK)
        fc.add_pod("apps", "web-1", node_name="node-a", deleted_seconds_ago=STUCK + 30)
        fc.add_pod("apps", "db-0", node_name="node-b", deleted_seconds_ago=STUCK)
        fc.add_pod("apps", "running", node_name="node-a", phase="Running")      # not Terminating
        fc.add_pod("apps", "unscheduled", deleted_seconds_ago=STUCK)          # Terminating on no node
        found = terminating_pods.probe(ctx)
        node_reads = sorted(r.path for r in fc.requests if r.path.startswith("/api/v1/nodes/"))
        scans = [r.path for r in fc.requests if r.path.startswith("/api/v1/pods?includeObject")]
        pod_reads = [r.work for r in fc.requests if "fieldSelector=metadata.name" in r.path]
    ages = {o.evidence["pod"]: o.evidence["age_s"] for o in found if "age_s" in o.evidence}
    assert sorted(((code, component, {k: v for k, v in evidence.items() if k != "age_s"})
                   for code, component, evidence in table(found)), key=str) == sorted([
        ("POD_STUCK_TERMINATING", "node", {"pod": "apps/web-0", "node": "node-a"}),
        ("POD_STUCK_TERMINATING", "node", {"pod": "apps/web-1", "node": "node-a"}),
        ("POD_STUCK_ON_UNHEALTHY_NODE", "node", {"pod": "apps/db-0", "node": "node-b"}),
        ("ORPHAN_PODS_COLLECTED", "controller-manager", {"checked": 3})], key=str)
    deleted = {"apps/web-0": STUCK, "apps/web-1": STUCK + 30, "apps/db-0": STUCK}
    assert all(deleted[pod] <= age <= deleted[pod] + 15 for pod, age in ages.items()) and set(ages) == set(deleted)
    assert node_reads == ["/api/v1/nodes/node-a", "/api/v1/nodes/node-b"]
    # The scan is a Table without objects from the watch cache; each lookup (cached, then
    # consistent) asks for metadata only.
    assert scans == ["/api/v1/pods?includeObject=None&resourceVersion=0&limit=500"]
    assert len(pod_reads) == 6 and all(work.converted == work.returned == 1 for work in pod_reads)


def test_namesakes_in_two_namespaces_on_one_node_are_each_judged_once(tmp_path):
    """The Table's rows carry no namespace, so a lookup by name and node finds both namesakes:
    the one deleted within the grace (listed first) is skipped, the stuck one reported once."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.add_pod("a-team", "web-0", node_name="gone", deleted_seconds_ago=ORPHAN_GRACE - 30)
        fc.add_pod("b-team", "web-0", node_name="gone", deleted_seconds_ago=STUCK)
        [found] = terminating_pods.probe(ctx)
    assert (found.code, found.evidence["count"]) == ("ORPHAN_POD_NOT_COLLECTED", 1)
    assert found.evidence["examples"].startswith("b-team/web-0 on gone (")


def test_only_the_first_lookups_are_made_and_every_terminating_pod_is_counted(tmp_path):
    settings = FAST.with_overrides(max_terminating_lookups=2)
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path, settings) as ctx:
        _orphans_left(fc)
        for n in range(3):
            fc.add_pod("apps", f"orphan-{n}", node_name="gone", deleted_seconds_ago=STUCK)
        [found] = terminating_pods.probe(ctx)
        lookups = [r.path for r in fc.requests if "metadata.name%3Dorphan-" in r.path and "spec.nodeName" in r.path]
    assert (found.code, found.evidence["count"], len(lookups)) == ("ORPHAN_POD_NOT_COLLECTED", 2, 2)


def test_a_pod_the_cache_still_shows_but_etcd_no_longer_has_is_not_reported(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.add_pod("apps", "gone-already", node_name="gone", deleted_seconds_ago=STUCK)
        fc.freeze_watch_cache()
        fc.store.delete("pods", "apps", "gone-already")
        found = terminating_pods.probe(ctx)
    assert table(found) == [("ORPHAN_PODS_COLLECTED", "controller-manager", {"checked": 1})]


def test_a_pod_etcd_shows_waiting_on_a_finalizer_is_not_reported_from_the_cache(tmp_path):
    """The cache shows the pod stuck; etcd has it waiting on a finalizer since: the consistent
    read decides, so a pod is reported only when both say stuck."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.add_pod("apps", "kept", node_name="gone", deleted_seconds_ago=STUCK)
        fc.freeze_watch_cache()
        fc.store.mutate("pods", "apps", "kept", lambda pod: pod["metadata"].update(finalizers=["example.com/keep"]))
        found = terminating_pods.probe(ctx)
    assert table(found) == [("ORPHAN_PODS_COLLECTED", "controller-manager", {"checked": 1})]


def test_a_pod_recreated_under_its_name_since_the_cache_saw_it_deleted_is_not_reported(tmp_path):
    """A StatefulSet's pod: the cache still shows the old one Terminating; etcd already has its
    successor, not deleted, on the same node."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.add_pod("apps", "web-0", node_name="gone", deleted_seconds_ago=STUCK)
        fc.freeze_watch_cache()
        fc.store.delete("pods", "apps", "web-0")
        fc.add_pod("apps", "web-0", node_name="gone", phase="Running")
        found = terminating_pods.probe(ctx)
    assert table(found) == [("ORPHAN_PODS_COLLECTED", "controller-manager", {"checked": 1})]


def test_a_pod_list_that_does_not_come_as_a_table_is_a_bad_answer(tmp_path):
    """An apiserver serving Tables only as meta.k8s.io/v1beta1 (Kubernetes 1.10-1.14) answers
    the v1 Table request with its JSON fallback, a plain pod list: no Terminating pod can be
    told from it, which must not read as "none"."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.serve_meta_versions("v1beta1")
        with pytest.raises(BadResponseError) as raised:
            terminating_pods.probe(ctx)
    assert (raised.value.method, raised.value.path, raised.value.detail) == (
        "GET", "/api/v1/pods", "the pod list did not come as a Table with Name, Status and Node columns")


# The scan's schedule: every run below orphan_scan_every_run_below_pods pods, else in the runs
# whose minute on the apiserver's clock is a multiple of the period.
FIVE_MINUTES = datetime(2026, 3, 2, 10, 35, 5, tzinfo=timezone.utc)   # minute 35: a multiple of 5
SEVEN_PAST = datetime(2026, 3, 2, 10, 37, 5, tzinfo=timezone.utc)     # minute 37: not a multiple of 5 or 2


def _pods(fc: FakeCluster) -> int:
    return len(list(fc.store.scan("pods")))


@pytest.mark.parametrize(("start", "below", "period_s", "scanned"), [
    (SEVEN_PAST, 0, 300, False),       # as many pods as the threshold (set to the pod count), between scans
    (FIVE_MINUTES, 0, 300, True),      # its scan minute
    (SEVEN_PAST, 0, 60, True),         # a one-minute period: every run
    (SEVEN_PAST, 0, 29, True),         # under a minute rounds up to every run
    (SEVEN_PAST, 0, 120, False),       # two minutes: minute 37 is odd
    (SEVEN_PAST, 0, 90, False),        # a minute and a half rounds to two
    (SEVEN_PAST, 1, 300, True),        # fewer pods than the threshold (set to the pod count + 1)
], ids=["between-scans", "scan-minute", "one-minute", "sub-minute", "two-minutes-odd", "ninety-s", "below"])
def test_the_scan_runs_below_the_pod_threshold_or_on_its_minute(start, below, period_s, scanned, tmp_path):
    with FakeCluster(nodes=1, start_time=start) as fc:
        _orphans_left(fc)
        fc.add_pod("apps", "orphan", node_name="gone", deleted_seconds_ago=STUCK)
        fc.add_pod("apps", "running", node_name="node-a", phase="Running")
        threshold = _pods(fc) + below
        settings = FAST.with_overrides(orphan_scan_every_run_below_pods=threshold, orphan_scan_period_s=period_s)
        with probe_context(fc, tmp_path, settings) as ctx:
            found = terminating_pods.probe(ctx)
        assert _pods(fc) == threshold - below >= 2
        [count] = [r.work for r in fc.requests if r.path == "/api/v1/pods?limit=1"]
    assert [o.code for o in found] == (["ORPHAN_POD_NOT_COLLECTED"] if scanned else [])
    assert count.returned == count.converted == 1  # counted from one item's metadata and remainingItemCount
