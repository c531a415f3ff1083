"""Which writes a webhook intercepts (k8s.io/apiserver pkg/admission/plugin/webhook/predicates)."""

import json
from pathlib import Path

import pytest

from cpwatch.probes.webhookrules import Write, parse_configuration, selector_matches

RECORDINGS = Path(__file__).parents[2] / "data" / "real-control-plane"


def configuration(rules, namespace_selector=None, object_selector=None, failure_policy=None, **extra):
    webhook = {"name": "w.example.org", "rules": rules, "clientConfig": {"url": "https://x/"},
               "namespaceSelector": namespace_selector or {}, "objectSelector": object_selector or {}, **extra}
    if failure_policy:
        webhook["failurePolicy"] = failure_policy
    return parse_configuration({"metadata": {"name": "cfg"}, "webhooks": [webhook]}, "validating")[0]


def rule(operations=("CREATE", "UPDATE"), groups=("",), resources=("pods",), scope=None):
    found = {"operations": list(operations), "apiGroups": list(groups), "apiVersions": ["v1"],
             "resources": list(resources)}
    if scope:
        found["scope"] = scope
    return found


LEASE_KUBE_SYSTEM = Write("UPDATE", "coordination.k8s.io", "leases", namespace="kube-system")
POD_BINDING = Write("CREATE", "", "pods", "binding", namespace="default")
POD_CREATE = Write("CREATE", "", "pods", namespace="demo")
NODE_STATUS = Write("UPDATE", "", "nodes", "status")
CM_UPDATE_CPWATCH = Write("UPDATE", "", "configmaps", namespace="cpwatch")

CASES = [
    ("exact resource and operation", [rule()], {}, {}, POD_CREATE, True),
    ("operation not covered", [rule(operations=("DELETE",))], {}, {}, POD_CREATE, False),
    ("'*' operation covers everything", [rule(operations=("*",))], {}, {}, POD_CREATE, True),
    ("'pods' does not cover a subresource", [rule()], {}, {}, POD_BINDING, False),
    ("'pods/*' covers pods/binding", [rule(resources=("pods/*",))], {}, {}, POD_BINDING, True),
    ("'pods/*' covers pods themselves", [rule(resources=("pods/*",))], {}, {}, POD_CREATE, True),
    ("'*' covers every resource, no subresource", [rule(groups=("*",), resources=("*",))], {}, {}, POD_BINDING, False),
    ("'*/*' covers subresources", [rule(groups=("*",), resources=("*/*",))], {}, {}, NODE_STATUS, True),
    ("'*/status' covers node status", [rule(operations=("UPDATE",), resources=("*/status",))], {}, {}, NODE_STATUS, True),
    ("group must match", [rule(groups=("apps",), resources=("*",))], {}, {}, POD_CREATE, False),
    ("leases in kube-system under a wildcard rule",
     [rule(operations=("*",), groups=("*",), resources=("*",))], {}, {}, LEASE_KUBE_SYSTEM, True),
    ("namespaceSelector In (default, demo) covers demo",
     [rule()], {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                      "values": ["default", "demo"]}]}, {}, POD_CREATE, True),
    ("namespaceSelector In (default, demo) does not cover cpwatch",
     [rule(resources=("configmaps",))],
     {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["default", "demo"]}]},
     {}, CM_UPDATE_CPWATCH, False),
    ("NotIn kube-system excludes leases there",
     [rule(operations=("*",), groups=("*",), resources=("*",))],
     {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]},
     {}, LEASE_KUBE_SYSTEM, False),
    ("namespaceSelector does not apply to cluster-scoped objects",
     [rule(operations=("UPDATE",), resources=("nodes/status",))], {"matchLabels": {"team": "a"}}, {}, NODE_STATUS, True),
    ("scope Namespaced excludes nodes",
     [rule(operations=("UPDATE",), resources=("nodes/status",), scope="Namespaced")], {}, {}, NODE_STATUS, False),
    ("scope Cluster excludes namespaced pods", [rule(scope="Cluster")], {}, {}, POD_CREATE, False),
    ("objectSelector on a label the object lacks",
     [rule()], {}, {"matchLabels": {"app": "web"}}, POD_CREATE, False),
    ("objectSelector DoesNotExist on an unlabelled object",
     [rule()], {}, {"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]}, POD_CREATE, True),
]


@pytest.mark.parametrize(("name", "rules", "ns_selector", "obj_selector", "write", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_intercepts(name, rules, ns_selector, obj_selector, write, expected):
    assert configuration(rules, ns_selector, obj_selector).intercepts(write) is expected


def test_failure_policy_defaults_to_fail_in_v1():
    assert configuration([rule()]).fail_closed
    assert configuration([rule()], failure_policy="Fail").fail_closed
    assert not configuration([rule()], failure_policy="Ignore").fail_closed


def test_timeout_defaults_to_ten_seconds():
    assert configuration([rule()]).timeout_s == 10
    assert configuration([rule()], timeoutSeconds=3).timeout_s == 3


def test_odd_fields_never_crash():
    odd = {"metadata": "x", "webhooks": [None, {"rules": "x", "namespaceSelector": [], "timeoutSeconds": True},
                                         {"rules": [{"operations": "CREATE"}]}]}
    webhooks = parse_configuration(odd, "mutating")
    assert len(webhooks) == 2 and not any(w.intercepts(POD_CREATE) for w in webhooks)


def test_unknown_selector_operator_matches_nothing():
    assert not selector_matches({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, {"a": "2"})


def test_recorded_configuration():
    recorded = json.loads((RECORDINGS / "webhook-refused.json").read_text())["responses"]["webhook_configurations"]
    (webhook,) = parse_configuration(recorded["body"]["items"][0], "validating")
    assert webhook.fail_closed and webhook.name == "image-policy.policy.example.org"
    assert webhook.intercepts(POD_CREATE)
    assert webhook.intercepts(Write("CREATE", "", "configmaps", namespace="default"))
    assert not webhook.intercepts(CM_UPDATE_CPWATCH)
    assert not webhook.intercepts(LEASE_KUBE_SYSTEM)
    assert "pods, configmaps" in webhook.coverage() and "default" in webhook.coverage()
