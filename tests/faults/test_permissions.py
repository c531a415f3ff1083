"""Permissions are the least that works, and TLS verification cannot be switched off.

- infra/10-rbac.yaml: with every rule the checker sees everything (no CHECKER_FORBIDDEN, in a
  healthy cluster and in one with a silent node, where nodes are read); without any one rule,
  the probe that needs it reports CHECKER_FORBIDDEN for the right component, which is then
  `unknown`, never `down` (the fake control plane enforces exactly the manifests' rules). The
  rules grant no wildcard, cluster-wide reads only, and writes only in namespace cpwatch.
- IAM (template.yaml): no wildcard actions, resources scoped — tests/template/test_iam.py;
  checkov passes with a written reason for every skip — tests/template/test_checkov.py.
- TLS: nothing in functions/ can turn verification off; a kubeconfig asking for
  insecure-skip-tls-verify is refused before any request is made (and `cpwatch check` exits 64:
  tests/integration/test_cli.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.errors import ConfigError
from tests.fakecluster import FakeCluster
from tests.fakecluster.rbac import RuleRef, rbac_documents
from tests.integration.conftest import FAST, check, verdicts

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
SETTINGS = FAST.with_overrides(canary_wait_s=1.5, canary_poll_s=0.1)


def reader(index: int) -> RuleRef:
    return RuleRef("ClusterRole", "", "cpwatch-reader", index)


def silent_node(fc: FakeCluster) -> None:
    """node-c's kubelet stops: its Lease expires, so the heartbeat probe reads the Node."""
    fc.lose_node("node-c")
    fc.advance(70)


def nothing(fc: FakeCluster) -> None:
    fc.advance(15)


def service_webhook(fc: FakeCluster) -> None:
    """A fail-closed webhook called through a Service: its endpoints are read."""
    fc.add_failing_webhook(mode="refused", service=("policy", "policy-webhook", 443))
    fc.advance(15)


# rule -> (cluster set-up, (component, path fragment) of the request it alone allows)
NEEDED = {
    reader(0): (nothing, ("apiserver", "/livez")),
    reader(1): (nothing, ("checker", "/api/v1/componentstatuses")),
    reader(2): (silent_node, ("controller-manager", "/api/v1/nodes/node-c")),
    reader(3): (nothing, ("scheduler", "/api/v1/pods")),
    RuleRef("Role", "kube-system", "cpwatch-leader-leases", 0): (nothing, ("controller-manager", "leases/kube-controller-manager")),
    RuleRef("Role", "kube-system", "cpwatch-leader-leases", 1): (nothing, ("apiserver", "/namespaces/kube-system/leases")),
    RuleRef("Role", "kube-node-lease", "cpwatch-node-leases", 0): (nothing, ("controller-manager", "/namespaces/kube-node-lease/leases")),
    RuleRef("Role", "cpwatch", "cpwatch-canaries", 0): (nothing, ("etcd", "/configmaps/cpwatch-heartbeat")),
    RuleRef("Role", "cpwatch", "cpwatch-canaries", 1): (nothing, ("scheduler", "/namespaces/cpwatch/pods")),
    RuleRef("Role", "cpwatch", "cpwatch-canaries", 2): (nothing, ("controller-manager", "/deployments/cpwatch-canary")),
    RuleRef("Role", "cpwatch", "cpwatch-canaries", 3): (nothing, ("controller-manager", "/serviceaccounts/default")),
    reader(4): (nothing, ("extensions", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations")),
    reader(5): (nothing, ("extensions", "/apis/apiregistration.k8s.io/v1/apiservices")),
    reader(6): (nothing, ("etcd", "/metrics")),
    reader(7): (service_webhook, ("extensions", "/apis/discovery.k8s.io/v1/namespaces/policy/endpointslices")),
    reader(8): (nothing, ("controller-manager", "/apis/metrics.eks.amazonaws.com/v1/kcm/container/metrics")),
}


RULE_CASES = [pytest.param(rule, id=str(rule)) for rule in NEEDED]


def test_the_table_names_every_rule_of_infra():
    with FakeCluster(nodes=1) as fc:
        assert set(fc.rbac.rule_refs()) == set(NEEDED)


@pytest.mark.parametrize("setup", [nothing, silent_node], ids=["healthy", "silent-node"])
def test_with_every_rule_nothing_is_forbidden(tmp_path, setup):
    with FakeCluster(nodes=3) as fc:
        setup(fc)
        diagnosis = check(fc, tmp_path, SETTINGS)
        statuses = [r.status for r in fc.requests]
    assert not [o for o in diagnosis.observations if o.code == "CHECKER_FORBIDDEN"]
    assert 403 not in statuses


@pytest.mark.parametrize("rule", RULE_CASES)
def test_each_rule_is_needed_by_a_probe(tmp_path, rule):
    setup, (component, fragment) = NEEDED[rule]
    with FakeCluster(nodes=3, rbac_drop=[rule]) as fc:
        setup(fc)
        diagnosis = check(fc, tmp_path, SETTINGS)
    forbidden = [o for o in diagnosis.observations if o.code == "CHECKER_FORBIDDEN"]
    assert any(o.component.value == component and fragment in str(o.evidence.get("path")) for o in forbidden), \
        [(o.component.value, o.evidence.get("path")) for o in forbidden]
    assert "down" not in verdicts(diagnosis).values()  # could not look: never a component down


def test_rules_grant_no_wildcard_and_write_only_in_the_checkers_namespace():
    writes = {"create", "update", "patch", "delete", "deletecollection"}
    for document in rbac_documents(INFRA):
        if document["kind"] not in ("ClusterRole", "Role"):
            continue
        namespace = document["metadata"].get("namespace", "")
        for rule in document["rules"]:
            for key in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"):
                assert "*" not in rule.get(key, []), (document["metadata"]["name"], rule)
            if document["kind"] == "ClusterRole":
                assert set(rule["verbs"]) <= {"get", "list"}, rule
            if writes & set(rule["verbs"]):
                assert namespace == "cpwatch", (document["metadata"]["name"], rule)
                assert rule.get("resourceNames") or rule["resources"] == ["pods"], rule


# --- TLS ---------------------------------------------------------------------------------------

# Ways Python code turns certificate verification off.
TLS_OFF = re.compile(
    r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|_create_unverified_context|"
    r"disable_warnings|InsecureRequestWarning|PYTHONHTTPSVERIFY|cert_reqs\s*=\s*['\"]?(CERT_)?NONE|insecure",
    re.IGNORECASE,
)
# The one place the word may appear: the refusal of a kubeconfig that asks for it.
REFUSAL = ("functions/cpwatch/cpwatch/cluster/kubeconfig.py", "insecure-skip-tls-verify is set for this cluster")
CLIENT_TLS = "functions/cpwatch/cpwatch/cluster/connect.py"  # ssl_context_for_ca: the one client TLS context


def test_nothing_in_the_function_code_turns_tls_verification_off():
    found = []
    for path in sorted((REPO / "functions").rglob("*")):
        if path.suffix not in (".py", ".txt", ".in", ".cfg", ".toml", ".json") or "__pycache__" in path.parts:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if TLS_OFF.search(line):
                relative = str(path.relative_to(REPO))
                if (relative, REFUSAL[1]) == REFUSAL and REFUSAL[1] in line:
                    continue
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []
    refusal = (REPO / REFUSAL[0]).read_text()
    assert refusal.count("insecure") == 2 and refusal.count(REFUSAL[1]) == 1  # the key and the refusal, one line
    assert "verify_mode = ssl.CERT_REQUIRED" in (REPO / CLIENT_TLS).read_text()


@pytest.mark.parametrize("with_ca", [True, False], ids=["with-ca-data", "without-ca"])
def test_kubeconfig_asking_to_skip_verification_is_refused_before_any_request(tmp_path, with_ca):
    with FakeCluster(nodes=1) as fc:
        path = fc.write_kubeconfig(tmp_path / "kubeconfig")
        config = yaml.safe_load(path.read_text())
        cluster = config["clusters"][0]["cluster"]
        cluster["insecure-skip-tls-verify"] = True
        if not with_ca:
            del cluster["certificate-authority-data"]
        path.write_text(yaml.safe_dump(config))
        fc.clear_requests()
        with pytest.raises(ConfigError, match="insecure-skip-tls-verify"):
            api_from_kubeconfig(str(path), None, 3.0)
        assert fc.requests == []
