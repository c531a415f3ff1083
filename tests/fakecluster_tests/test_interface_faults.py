"""The faults between the components (issue 8): admission webhooks, aggregated APIs, etcd's
space quota and write errors, API Priority and Fairness throttling, /metrics and the serving
certificate; each switch, its matching rules and what the simulated components make of it."""

from __future__ import annotations

import re
import socket
import ssl
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509

from tests.fakecluster import FakeCluster

from .kube_http import Client

pytestmark = pytest.mark.network

CONFIGMAPS = "/api/v1/namespaces/{}/configmaps"
NOSPACE = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": "etcdserver: mvcc: database space exceeded", "code": 500}


def create_configmap(client: Client, namespace: str, name: str = "c", query: str = "", **options):
    return client.post(CONFIGMAPS.format(namespace) + query, {"metadata": {"name": name}}, **options)


def webhook_refused(answer) -> bool:
    return answer.status == 500 and "failed calling webhook" in answer.json["message"]


# --- admission webhooks ---------------------------------------------------------------------------

def test_webhook_configuration_is_stored_like_the_recorded_one(fc, admin):
    fc.add_failing_webhook()
    stored = admin.get("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/image-policy").json
    (hook,) = stored["webhooks"]
    assert stored["kind"] == "ValidatingWebhookConfiguration"
    assert hook["rules"] == [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                              "resources": ["pods", "configmaps"], "scope": "Namespaced"}]
    assert hook["namespaceSelector"] == {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["default", "demo"]}]}
    assert (hook["failurePolicy"], hook["timeoutSeconds"], hook["sideEffects"], hook["objectSelector"]) == (
        "Fail", 10, "None", {})
    assert hook["clientConfig"]["url"] == "https://127.0.0.1:7/validate"


def test_namespace_selector_decides(fc, admin):
    fc.add_failing_webhook()
    assert webhook_refused(create_configmap(admin, "default"))
    assert create_configmap(admin, "cpwatch").status == 201
    fc.remove_webhooks()
    fc.add_failing_webhook(namespaces=None)
    assert webhook_refused(create_configmap(admin, "cpwatch", "d"))


def test_operations_decide(fc, admin):
    assert create_configmap(admin, "default").status == 201
    fc.add_failing_webhook()
    assert webhook_refused(admin.patch(CONFIGMAPS.format("default") + "/c", {"data": {"a": "b"}}))
    assert admin.delete(CONFIGMAPS.format("default") + "/c").status == 200  # DELETE not in the rule
    fc.remove_webhooks()
    fc.add_failing_webhook(operations=("DELETE",))
    assert create_configmap(admin, "default", "d").status == 201
    assert webhook_refused(admin.delete(CONFIGMAPS.format("default") + "/d"))
    fc.remove_webhooks()
    fc.add_failing_webhook(operations=("*",))
    assert webhook_refused(admin.delete(CONFIGMAPS.format("default") + "/d"))


def test_resources_and_subresources_decide(fc, admin):
    fc.add_failing_webhook(resources=("pods",), namespaces=None)
    pod = fc.add_pod("default", "p")
    status = {"status": {"phase": "Pending"}}
    assert admin.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": "s"}}).status == 201
    assert admin.patch("/api/v1/namespaces/default/pods/p/status", status).status == 200  # pods/status
    for resources in (("pods/status",), ("*/status",), ("pods/*",)):
        fc.remove_webhooks()
        fc.add_failing_webhook(resources=resources, namespaces=None)
        assert webhook_refused(admin.patch("/api/v1/namespaces/default/pods/p/status", status)), resources
    assert pod["metadata"]["name"] == "p"


def test_scope_decides_for_cluster_scoped_objects(fc, admin):
    namespace = {"metadata": {"name": "new-one"}}
    fc.add_failing_webhook(resources=("namespaces", "nodes"), namespaces=None)  # scope Namespaced
    assert admin.post("/api/v1/namespaces", namespace).status == 201
    assert admin.patch("/api/v1/nodes/node-a", {"metadata": {"labels": {"x": "y"}}}).status == 200
    for scope in ("*", "Cluster"):
        fc.remove_webhooks()
        fc.add_failing_webhook(resources=("namespaces", "nodes"), namespaces=None, scope=scope)
        assert webhook_refused(admin.post("/api/v1/namespaces", {"metadata": {"name": f"other-{scope.lower()}"}}))
        assert webhook_refused(admin.patch("/api/v1/nodes/node-a", {"metadata": {"labels": {"x": "z"}}}))


def test_namespace_objects_match_on_their_own_labels(fc, admin):
    fc.add_failing_webhook(resources=("namespaces",), scope="*", namespaces=("blocked",))
    assert admin.post("/api/v1/namespaces", {"metadata": {"name": "free"}}).status == 201
    assert webhook_refused(admin.post("/api/v1/namespaces", {"metadata": {"name": "blocked"}}))


def test_webhook_configurations_themselves_are_exempt(fc, admin):
    fc.add_failing_webhook(resources=("*",), api_groups=("*",), operations=("*",), scope="*", namespaces=None)
    path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
    assert webhook_refused(create_configmap(admin, "cpwatch"))
    assert admin.post(path, {"metadata": {"name": "another"}, "webhooks": []}).status == 201
    assert admin.delete(f"{path}/image-policy").status == 200
    assert create_configmap(admin, "cpwatch").status == 201


def test_failure_policy_ignore_lets_writes_through(fc, admin):
    fc.add_failing_webhook(failure_policy="Ignore")
    assert create_configmap(admin, "default").status == 201
    fc.remove_webhooks()
    fc.add_failing_webhook(mode="timeout", timeout_seconds=1, failure_policy="Ignore")
    answer = create_configmap(admin, "default", "late")
    assert answer.status == 201 and answer.seconds >= 0.95


def test_denial_is_the_webhooks_own_answer(fc, admin):
    fc.add_failing_webhook(mode="deny", deny_code=403, deny_message="images from docker.io are not allowed",
                           failure_policy="Ignore")  # a denial is no call failure: Ignore does not apply
    answer = create_configmap(admin, "default")
    assert answer.status == 403
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": 'admission webhook "image-policy.policy.example.org" denied the request: '
                                      "images from docker.io are not allowed", "code": 403}


def test_tls_failure_message(fc, admin):
    fc.add_failing_webhook(mode="tls")
    assert create_configmap(admin, "default").json["details"]["causes"][0]["message"] == (
        'failed calling webhook "image-policy.policy.example.org": failed to call webhook: Post '
        '"https://127.0.0.1:9443/validate?timeout=10s": tls: failed to verify certificate: x509: certificate '
        "signed by unknown authority")


def test_timeout_is_bounded_by_the_requests_own(fc, admin):
    fc.add_failing_webhook(mode="timeout", timeout_seconds=3)
    answer = create_configmap(admin, "default", query="?timeout=1s")
    assert answer.status == 500 and 0.95 <= answer.seconds < 3  # the request's 1 s, not the webhook's 3 s
    assert answer.json["message"].endswith('Post "https://127.0.0.1:9443/validate?timeout=1s": context deadline '
                                           "exceeded")


def test_mutating_webhooks_fail_the_same_way(fc, admin):
    fc.add_failing_webhook(kind="mutating", configuration="defaults")
    assert admin.get("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/defaults").status == 200
    assert webhook_refused(create_configmap(admin, "default"))
    fc.remove_webhooks()
    assert admin.get("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/defaults").status == 404
    assert create_configmap(admin, "default").status == 201


def test_webhook_on_leases_stops_the_control_planes_own_writes(fc):
    fc.add_failing_webhook(resources=("leases",), api_groups=("coordination.k8s.io",),
                           namespaces=("kube-system", "kube-node-lease"))
    leader = fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]
    node = fc.store.get("leases", "kube-node-lease", "node-a")["spec"]
    fc.advance(30)
    assert fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"] == leader
    assert fc.store.get("leases", "kube-node-lease", "node-a")["spec"] == node
    assert not fc.controller_manager.elector.leader
    fc.remove_webhooks()
    fc.advance(2)
    assert fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"] != node["renewTime"]
    assert fc.controller_manager.elector.leader


@pytest.mark.parametrize(("arguments", "message"), [
    ({"mode": "slow"}, "webhook mode must be one of"), ({"kind": "both"}, "webhook kind"),
    ({"timeout_seconds": 31}, "between 1 and 30"), ({"failure_policy": "Open"}, "Fail or Ignore"),
    ({"operations": ("PATCH",)}, "unknown webhook operations"), ({"scope": "Node"}, "scope must be")])
def test_bad_webhook_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        FakeCluster(nodes=1).add_failing_webhook(**arguments)


# --- aggregated APIs ----------------------------------------------------------------------------

def hpa_scaling(fc: FakeCluster) -> tuple[str, str, str]:
    conditions = fc.store.get("horizontalpodautoscalers", "demo", "web")["status"]["conditions"]
    active = next(c for c in conditions if c["type"] == "ScalingActive")
    return active["status"], active["reason"], active["message"]


@pytest.fixture
def demo():
    with FakeCluster(nodes=3, demo_objects=True) as cluster:
        yield cluster


def test_unavailable_apiservice_is_listed_and_its_group_answers_503(demo):
    admin = Client(demo)
    demo.register_unavailable_apiservice(reason="MissingEndpoints")
    items = {item["metadata"]["name"]: item for item in
             admin.get("/apis/apiregistration.k8s.io/v1/apiservices").json["items"]}
    condition = items["v1beta1.metrics.k8s.io"]["status"]["conditions"][0]
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "False", "MissingEndpoints", 'endpoints for service/metrics-server in "kube-system" have no addresses '
                                     'with port name "https"')
    assert {item["status"]["conditions"][0]["reason"] for name, item in items.items()
            if name != "v1beta1.metrics.k8s.io"} == {"Local"}
    assert "v1.apps" in items and "v2.autoscaling" in items
    for path in ("/apis/metrics.k8s.io/v1beta1", "/apis/metrics.k8s.io/v1beta1/namespaces/demo/pods"):
        answer = admin.get(path)
        assert (answer.status, answer.body, answer.headers["Content-Type"]) == (
            503, "service unavailable\n", "text/plain; charset=utf-8"), path
    assert "metrics.k8s.io" in {group["name"] for group in admin.get("/apis").json["groups"]}


def test_hpa_reports_missing_then_unavailable_then_working_metrics(demo):
    demo.advance(16)
    assert hpa_scaling(demo)[:2] == ("False", "FailedGetResourceMetric")
    assert hpa_scaling(demo)[2].endswith("the server could not find the requested resource (get pods.metrics.k8s.io)")
    demo.register_unavailable_apiservice()
    demo.advance(16)
    assert hpa_scaling(demo)[2].endswith("the server is currently unable to handle the request "
                                         "(get pods.metrics.k8s.io)")
    demo.restore_apiservice()
    assert Client(demo).get("/apis/metrics.k8s.io/v1beta1").json["kind"] == "APIResourceList"
    demo.advance(16)
    assert hpa_scaling(demo)[:2] == ("True", "ValidMetricFound")


def test_hpa_status_is_the_controller_managers_work(demo):
    before = hpa_scaling(demo)
    demo.stop_component("controller-manager")
    demo.register_unavailable_apiservice()
    demo.advance(30)
    assert hpa_scaling(demo) == before
    demo.start_component("controller-manager")
    demo.advance(1)
    assert hpa_scaling(demo) != before


def test_restoring_an_unknown_apiservice_is_an_error(fc):
    with pytest.raises(KeyError, match="no APIService"):
        fc.restore_apiservice("v1.nothing.example.org")
    with pytest.raises(ValueError, match="<version>.<group>"):
        fc.register_unavailable_apiservice("metrics")


# --- etcd's space quota and write errors ---------------------------------------------------------

def test_nospace_refuses_puts_and_lets_reads_health_and_deletes_pass(fc, admin):
    assert create_configmap(admin, "default", "kept").status == 201
    fc.add_pod("default", "bound", node_name="node-a")
    fc.etcd_nospace()
    assert create_configmap(admin, "default").json == NOSPACE
    assert admin.patch(CONFIGMAPS.format("default") + "/kept", {"data": {"a": "b"}}).json == NOSPACE
    assert admin.put(CONFIGMAPS.format("default") + "/kept", {"metadata": {"name": "kept"}}).json == NOSPACE
    assert admin.delete(CONFIGMAPS.format("default") + "/kept").status == 200
    # A graceful pod deletion stores deletionTimestamp: a put.
    assert admin.delete("/api/v1/namespaces/default/pods/bound").json == NOSPACE
    for path in ("/livez", "/readyz", "/livez/etcd", "/readyz/etcd", "/healthz", "/api/v1/nodes"):
        assert admin.get(path).status == 200, path
    statuses = {item["metadata"]["name"]: item["conditions"][0] for item in
                admin.get("/api/v1/componentstatuses").json["items"]}
    assert {name: (c["status"], c["message"]) for name, c in statuses.items() if name.startswith("etcd")} == {
        f"etcd-{n}": ("False", "HTTP probe failed with statuscode: 503") for n in range(3)}
    fc.etcd_nospace(False)
    assert create_configmap(admin, "default").status == 201


def test_nospace_stops_the_components_writes_and_leaders_lose_their_leases(fc):
    node = fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"]
    leader = fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]
    fc.etcd_nospace()
    fc.advance(9)
    assert fc.scheduler.elector.leader  # within the 10 s renew deadline
    fc.advance(3)
    assert not fc.scheduler.elector.leader and not fc.controller_manager.elector.leader
    fc.advance(30)
    assert fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"] == node
    assert fc.store.get("leases", "kube-system", "kube-scheduler")["spec"] == leader
    fc.etcd_nospace(False)
    fc.advance(2)  # the next try of the restarted process (every retryPeriod) lands
    taken = fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]
    assert taken["holderIdentity"] != leader["holderIdentity"]
    assert fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"] != node


def test_fail_writes_fails_every_write_while_health_passes(fc, admin):
    assert create_configmap(admin, "default", "kept").status == 201
    fc.fail_writes()
    expected = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "etcdserver: request timed out", "code": 500}
    assert create_configmap(admin, "default").json == expected
    assert admin.delete(CONFIGMAPS.format("default") + "/kept").json == expected
    assert admin.get("/readyz?verbose").status == 200 and admin.get("/livez/etcd").status == 200
    assert all(item["conditions"][0]["status"] == "True"
               for item in admin.get("/api/v1/componentstatuses").json["items"])
    fc.fail_writes("etcdserver: leader changed", status=503, reason="ServiceUnavailable")
    answer = create_configmap(admin, "default")
    assert (answer.status, answer.json["reason"], answer.json["message"]) == (
        503, "ServiceUnavailable", "etcdserver: leader changed")
    fc.fail_writes(None)
    assert admin.delete(CONFIGMAPS.format("default") + "/kept").status == 200


# --- API Priority and Fairness --------------------------------------------------------------------

def test_throttle_rejects_every_nth_request_with_apf_headers(fc, checker):
    fc.throttle(every=3, retry_after=4)
    answers = [checker.get("/api/v1/nodes/node-a") for _ in range(6)]
    assert [answer.status for answer in answers] == [200, 200, 429, 200, 200, 429]
    rejected, passed = answers[2], answers[0]
    assert rejected.body == "Too many requests, please try again later.\n"
    assert rejected.headers["Content-Type"] == "text/plain; charset=utf-8" and rejected.headers["Retry-After"] == "4"
    level = fc.flow_control.priority_level_uids["global-default"]
    assert rejected.headers["X-Kubernetes-Pf-Prioritylevel-Uid"] == level
    assert passed.headers["X-Kubernetes-Pf-Prioritylevel-Uid"] == level
    assert rejected.headers["X-Kubernetes-Pf-Flowschema-Uid"] == fc.flow_control.flow_schema_uids["global-default"]
    fc.throttle(None)
    assert [checker.get("/api/v1/nodes/node-a").status for _ in range(4)] == [200] * 4


def test_throttle_spares_the_exempt_priority_level(fc, admin, checker):
    fc.throttle(every=1)
    assert [admin.get("/api/v1/nodes").status for _ in range(3)] == [200] * 3  # system:masters
    for path in ("/livez", "/readyz", "/healthz", "/livez?verbose"):  # flow schema `probes`
        answer = checker.get(path) if path != "/healthz" else admin.get(path)
        assert answer.status == 200, path
        assert answer.headers["X-Kubernetes-Pf-Prioritylevel-Uid"] == fc.flow_control.priority_level_uids["exempt"]
    assert checker.get("/livez/etcd").status == 429  # not one of the probes' exact paths


def test_throttle_by_fraction_and_paths(fc, checker):
    fc.throttle(fraction=0.5, paths=("/api/v1/nodes",))
    assert [checker.get("/api/v1/nodes/node-a").status for _ in range(4)] == [200, 429, 200, 429]
    assert [checker.get("/version").status for _ in range(3)] == [200] * 3
    with pytest.raises(ValueError, match="exactly one of"):
        fc.throttle(2, fraction=0.5)


def test_unauthenticated_requests_are_401_before_flow_control(fc):
    fc.throttle(every=1)
    answer = Client(fc, token="nobody").get("/api/v1/nodes")
    assert answer.status == 401 and "X-Kubernetes-Pf-Prioritylevel-Uid" not in answer.headers


# --- /metrics --------------------------------------------------------------------------------------

SIZE_SERIES = re.compile(r"^(apiserver_storage_size_bytes|etcd_db_total_size_in_bytes|"
                         r"apiserver_storage_db_total_size_in_bytes)\{.*$", re.M)


def test_metrics_size_series_follows_the_version(fc, admin):
    fc.set_etcd_db_size([100, 200, 300])
    assert SIZE_SERIES.findall(admin.get("/metrics").body) == ["apiserver_storage_size_bytes"]
    assert 'apiserver_storage_size_bytes{storage_cluster_id="etcd-0"} 100\n' in admin.get("/metrics").body
    for minor, name, line in (
            ("27", "apiserver_storage_db_total_size_in_bytes",
             'apiserver_storage_db_total_size_in_bytes{endpoint="http://127.0.0.1:23795"} 300'),
            ("29", "apiserver_storage_size_bytes", 'apiserver_storage_size_bytes{cluster="etcd-0"} 100'),
            ("22", "etcd_db_total_size_in_bytes", 'etcd_db_total_size_in_bytes{endpoint="http://127.0.0.1:23794"} 200')):
        fc.api.version = {**fc.api.version, "minor": minor}
        body = admin.get("/metrics").body
        assert set(SIZE_SERIES.findall(body)) == {name} and line in body.splitlines(), minor


def test_metrics_named_series_gzip_and_size(fc, admin):
    fc.set_etcd_db_size(5_000_000, metric="etcd_db_total_size_in_bytes")
    plain = admin.get("/metrics")
    zipped = admin.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert zipped.body == plain.body
    assert fc.requests[-1].bytes_sent < fc.requests[-2].bytes_sent / 10
    assert plain.body.count("etcd_db_total_size_in_bytes{endpoint=") == 3
    assert 300_000 < len(plain.body) < 2_000_000
    assert plain.body.startswith("# HELP ") and plain.body.endswith("\n")
    with pytest.raises(ValueError, match="one for each of the 3 members"):
        fc.set_etcd_db_size([1, 2])
    with pytest.raises(ValueError, match="size metric must be one of"):
        fc.set_etcd_db_size(1, metric="etcd_size")


def test_nospace_grows_the_database_past_the_quota(fc, admin):
    fc.etcd_nospace(quota_bytes=8 * 1024 ** 3)
    line = next(line for line in admin.get("/metrics").body.splitlines()
                if line.startswith("apiserver_storage_size_bytes{"))
    assert int(line.rsplit(" ", 1)[1]) > 8 * 1024 ** 3


# --- the serving certificate ---------------------------------------------------------------------

def handshake(fc: FakeCluster, context: ssl.SSLContext) -> ssl.SSLSocket | ssl.SSLCertVerificationError:
    raw = socket.create_connection(("127.0.0.1", fc.port), timeout=3)
    try:
        return context.wrap_socket(raw, server_hostname="127.0.0.1")
    except ssl.SSLCertVerificationError as error:
        raw.close()
        return error


@pytest.mark.parametrize(("state", "code", "message"), [("expired", 10, "certificate has expired"),
                                                        ("not-yet-valid", 9, "certificate is not yet valid")])
def test_certificate_time_faults_fail_verification_with_the_cas_trust(fc, state, code, message):
    fc.set_serving_certificate(state)
    error = handshake(fc, fc.ssl_context())
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert (error.verify_code, error.verify_message) == (code, message)
    fc.set_serving_certificate("valid")
    handshake(fc, fc.ssl_context()).close()


def test_certificate_expiring_soon_is_still_accepted_and_says_when(fc):
    fc.set_serving_certificate("valid", expires_in_days=10)
    with handshake(fc, fc.ssl_context()) as tls:
        cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    left = cert.not_valid_after_utc - datetime.now(timezone.utc)
    assert timedelta(days=9.9) < left <= timedelta(days=10)


def test_certificate_from_another_ca_is_unknown_issuer(fc):
    fc.set_serving_certificate_from_other_ca()
    error = handshake(fc, fc.ssl_context())
    assert (error.verify_code, error.verify_message) == (20, "unable to get local issuer certificate")
    with pytest.raises(ValueError, match="goes only with state 'valid'"):
        fc.set_serving_certificate("expired", expires_in_days=3)
