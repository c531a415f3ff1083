"""TLS, bearer tokens, RBAC from infra/, and ServiceAccount admission."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from tests.fakecluster import FakeCluster, RuleRef
from tests.fakecluster.auth import Identity
from tests.fakecluster.cluster import DEFAULT_INFRA

from .kube_http import Client

pytestmark = pytest.mark.network

UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_client_without_the_ca_fails_verification(fc):
    answer = Client(fc, context=ssl.create_default_context()).get("/livez")
    assert answer.status is None and answer.error == "untrusted"


def test_another_clusters_ca_is_not_trusted(fc):
    other = FakeCluster(nodes=1)
    assert Client(fc, context=other.ssl_context()).get("/livez").error == "untrusted"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_certificate_names_loopback(fc, host):
    answer = Client(fc, url=f"https://{host}:{fc.port}").get("/livez")
    assert answer.status == 200 and answer.body == "ok"


def test_certificate_has_ip_and_dns_sans(fc):
    with socket.create_connection(("127.0.0.1", fc.port), timeout=2) as raw:
        with fc.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
    sans = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}


@pytest.mark.parametrize("token", [None, "", "not-a-token"])
def test_missing_or_unknown_token_is_401(fc, token):
    answer = Client(fc, token=token or "").get("/api/v1/nodes") if token is not None else \
        Client(fc, token="").get("/livez")
    assert answer.status == 401 and answer.body == UNAUTHORIZED
    assert fc.requests[-1].user is None and fc.requests[-1].status == 401


def test_token_validator_hook_and_added_tokens():
    def validator(token: str):
        return ("eks-user", ["cpwatch", "system:authenticated"]) if token.startswith("k8s-aws-v1.") else None

    with FakeCluster(nodes=1, token_validator=validator) as fc:
        assert Client(fc, token="k8s-aws-v1.aHR0cHM6Ly9zdHM").get("/livez").status == 200
        assert Client(fc, token="k8s-aws-v2.x").get("/livez").status == 401
        fc.add_token("static", "someone", ["system:masters"])
        assert Client(fc, token="static").get("/api/v1/secrets").status == 200
        assert fc.requests[0].user == "eks-user"
    assert Identity("a", ()) == Identity("a", ())


def test_checker_reads_what_infra_grants(fc, checker):
    assert checker.get("/livez?verbose").status == 200
    assert checker.get("/readyz/etcd").status == 200
    assert checker.get("/version").status == 200
    assert checker.get("/api/v1/componentstatuses").status == 200
    assert checker.get("/api/v1/nodes/node-a").status == 200
    assert checker.get("/api/v1/pods?fieldSelector=spec.nodeName%3D").status == 200
    assert checker.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler").status == 200
    assert checker.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases").status == 200
    assert checker.patch("/api/v1/namespaces/cpwatch/configmaps/cpwatch-heartbeat",
                         {"data": {"written-at": "now"}}).status == 200
    assert checker.get("/apis/apps/v1/namespaces/cpwatch/deployments/cpwatch-canary").status == 200
    assert checker.get("/api/v1/namespaces/cpwatch/serviceaccounts/default").status == 200


@pytest.mark.parametrize(("path", "message"), [
    ("/api/v1/secrets", 'secrets is forbidden: User "cpwatch-checker" cannot list resource "secrets" in API group "" '
                        "at the cluster scope"),
    ("/api/v1/nodes", 'nodes is forbidden: User "cpwatch-checker" cannot list resource "nodes" in API group "" at '
                      "the cluster scope"),
    ("/api/v1/namespaces/kube-system/secrets/x", 'secrets "x" is forbidden: User "cpwatch-checker" cannot get '
                                                 'resource "secrets" in API group "" in the namespace "kube-system"'),
    ("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/other",
     'leases.coordination.k8s.io "other" is forbidden: User "cpwatch-checker" cannot get resource "leases" in API '
     'group "coordination.k8s.io" in the namespace "kube-system"'),
    ("/apis/coordination.k8s.io/v1/namespaces/kube-public/leases",
     'leases.coordination.k8s.io is forbidden: User "cpwatch-checker" cannot list resource "leases" in API group '
     '"coordination.k8s.io" in the namespace "kube-public"'),
    ("/healthz", 'forbidden: User "cpwatch-checker" cannot get path "/healthz"'),
    ("/api/v1/namespaces/default/configmaps", 'configmaps is forbidden: User "cpwatch-checker" cannot list resource '
                                              '"configmaps" in API group "" in the namespace "default"'),
])
def test_checker_denials_are_403_with_real_messages(checker, path, message):
    answer = checker.get(path)
    assert answer.status == 403, answer
    assert answer.json["message"] == message and answer.json["reason"] == "Forbidden" and answer.json["code"] == 403


def test_forbidden_details(checker):
    body = checker.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/other").json
    assert body["details"] == {"name": "other", "group": "coordination.k8s.io", "kind": "leases"}
    assert checker.get("/healthz").json["details"] == {}


def test_checker_writes_only_in_its_namespace(checker):
    assert checker.patch("/api/v1/namespaces/cpwatch/configmaps/other", {"data": {}}).status == 403
    assert checker.post("/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}}).status == 403
    # create carries no name, so a resourceNames rule could never allow it; pods create is unnamed.
    created = checker.post("/api/v1/namespaces/cpwatch/pods", {
        "metadata": {"name": "canary"}, "spec": {"serviceAccountName": "cpwatch-canary",
                                                  "containers": [{"name": "c", "image": "pause"}]}})
    assert created.status == 201
    assert checker.delete("/api/v1/namespaces/cpwatch/pods/canary").status == 200


def test_masters_bypass_rbac(admin):
    assert admin.get("/api/v1/secrets").status == 200
    assert admin.get("/healthz").status == 200


def test_each_infra_rule_is_needed_and_can_be_dropped():
    refs = FakeCluster(nodes=1).rbac.rule_refs()
    assert RuleRef("Role", "kube-system", "cpwatch-leader-leases", 0) in refs
    dropped = RuleRef("ClusterRole", "", "cpwatch-reader", 0)
    with FakeCluster(nodes=1, rbac_drop=[dropped]) as fc:
        checker = Client(fc, fc.checker_token)
        assert checker.get("/livez").json["message"] == 'forbidden: User "cpwatch-checker" cannot get path "/livez"'
        assert checker.get("/api/v1/componentstatuses").status == 200
        fc.rbac.restore(dropped)
        assert checker.get("/livez").status == 200
        fc.rbac.drop(RuleRef("Role", "kube-system", "cpwatch-leader-leases", 0))
        assert checker.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler").status == 403
        # the rule with resourceNames never allows list (a list carries no name): only the list rule does
        fc.rbac.restore(RuleRef("Role", "kube-system", "cpwatch-leader-leases", 0))
        assert checker.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases").status == 200
        fc.rbac.drop(RuleRef("Role", "kube-system", "cpwatch-leader-leases", 1))
        assert checker.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases").status == 403
    with pytest.raises(ValueError, match="no such RBAC rule"):
        FakeCluster(nodes=1, rbac_drop=[RuleRef("Role", "x", "y", 0)])


def test_rbac_overrides_replace_documents():
    override = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "cpwatch-reader"},
                "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}
    with FakeCluster(nodes=1, rbac_overrides=[override]) as fc:
        checker = Client(fc, fc.checker_token)
        assert checker.get("/healthz").status == 200
        assert checker.get("/livez").status == 403


def test_no_rbac_dir_denies_everything_but_masters():
    with FakeCluster(nodes=1, rbac_dir=None) as fc:
        assert Client(fc, fc.checker_token).get("/version").status == 403
        assert Client(fc).get("/version").status == 200


def test_role_binding_grants_only_in_its_namespace(checker):
    assert checker.get("/apis/coordination.k8s.io/v1/namespaces/default/leases").status == 403
    assert checker.get("/apis/coordination.k8s.io/v1/leases").status == 403


def test_pod_create_needs_its_service_account(fc, admin):
    answer = admin.post("/api/v1/namespaces/cpwatch/pods", {
        "metadata": {"name": "p"}, "spec": {"serviceAccountName": "ghost",
                                             "containers": [{"name": "c", "image": "pause"}]}})
    assert answer.status == 403
    assert answer.json["message"] == ('pods "p" is forbidden: error looking up service account cpwatch/ghost: '
                                      'serviceaccount "ghost" not found')
    fc.stop_component("controller-manager")
    assert admin.delete("/api/v1/namespaces/cpwatch/serviceaccounts/default").status == 200
    answer = admin.post("/api/v1/namespaces/cpwatch/pods", {
        "metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "pause"}]}})
    assert answer.json["message"].endswith('error looking up service account cpwatch/default: serviceaccount '
                                           '"default" not found')


def test_kubeconfig_uses_ca_data_and_checker_token(fc, tmp_path):
    path = fc.write_kubeconfig(tmp_path / "kc" / "config")
    config = yaml.safe_load(Path(path).read_text())
    assert config["clusters"][0]["cluster"]["server"] == fc.url
    assert config["users"][0]["user"]["token"] == fc.checker_token
    assert config["current-context"] == "fake"
    admin_config = yaml.safe_load(fc.write_kubeconfig(tmp_path / "admin", token=fc.admin_token, context="x").read_text())
    assert admin_config["users"][0]["user"]["token"] == fc.admin_token and admin_config["current-context"] == "x"


def test_kubernetes_client_reads_through_the_kubeconfig(fc, tmp_path):
    from kubernetes import client, config

    path = fc.write_kubeconfig(tmp_path / "config")
    api_client = config.new_client_from_config(str(path))
    try:
        node = client.CoreV1Api(api_client).read_node("node-b")
        assert node.spec.provider_id.startswith("aws:///")
        lease = client.CoordinationV1Api(api_client).read_namespaced_lease("kube-controller-manager", "kube-system")
        assert lease.spec.lease_duration_seconds == 15
    finally:
        api_client.close()


def test_infra_dir_default_is_the_repository_infra():
    assert (DEFAULT_INFRA / "10-rbac.yaml").is_file()


# --- the reads of issue 8's probes: webhook configurations, APIServices, /metrics ----------------

ISSUE_8_READS = (
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/image-policy",
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    "/apis/apiregistration.k8s.io/v1/apiservices",
    "/apis/apiregistration.k8s.io/v1/apiservices/v1.apps",
    "/metrics",
)


def test_checker_reads_webhook_configurations_apiservices_and_metrics(fc, checker):
    fc.add_failing_webhook()
    assert [checker.get(path).status for path in ISSUE_8_READS] == [200] * len(ISSUE_8_READS)


def test_checker_cannot_change_webhook_configurations_or_apiservices(fc, checker):
    fc.add_failing_webhook()
    config = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
    assert checker.delete(f"{config}/image-policy").status == 403
    assert checker.post(config, {"metadata": {"name": "mine"}, "webhooks": []}).status == 403
    assert checker.patch(f"{config}/image-policy", {"metadata": {"labels": {"a": "b"}}}).status == 403
    assert checker.delete("/apis/apiregistration.k8s.io/v1/apiservices/v1.apps").status == 403
    assert checker.delete("/metrics").status == 403  # DELETE /metrics resets them on a real apiserver


# cpwatch-reader rule -> the reads it alone allows
ISSUE_8_RULES = {4: ISSUE_8_READS[:3], 5: ISSUE_8_READS[3:5], 6: ISSUE_8_READS[5:]}


@pytest.mark.parametrize("index", sorted(ISSUE_8_RULES))
def test_each_issue_8_read_needs_its_rule(index):
    with FakeCluster(nodes=1, rbac_drop=[RuleRef("ClusterRole", "", "cpwatch-reader", index)]) as fc:
        fc.add_failing_webhook()
        checker = Client(fc, fc.checker_token)
        statuses = {path: checker.get(path).status for path in ISSUE_8_READS}
    assert {path for path, status in statuses.items() if status == 403} == set(ISSUE_8_RULES[index])


def test_metrics_denial_names_the_path():
    with FakeCluster(nodes=1, rbac_drop=[RuleRef("ClusterRole", "", "cpwatch-reader", 6)]) as fc:
        answer = Client(fc, fc.checker_token).get("/metrics")
    assert answer.json["message"] == 'forbidden: User "cpwatch-checker" cannot get path "/metrics"'
