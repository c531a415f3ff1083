"""The admission webhook probe (probes/admission_webhooks.py) on configurations already read (issue 12).

Fail-closed webhooks on what the control plane writes. No network: the webhook configurations the
probe would read are given to the run's cache as already read.
"""

from __future__ import annotations

import pytest

from cpwatch.probes.control_plane_writes import CONTROL_PLANE_WRITES
from cpwatch.errors import ForbiddenError
from cpwatch.probes import admission_webhooks
from cpwatch.probes.context import ProbeContext
from cpwatch.probes.interceptors import WebhookView

from .helpers import SETTINGS, configuration, context, hook, table


def rule_hook(name: str, rules: list[dict], namespaces: tuple[str, ...] | None = None, **extra) -> dict:
    selector = ({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                       "values": list(namespaces)}]} if namespaces else {})
    return {"name": name, "failurePolicy": "Fail", "timeoutSeconds": 7, "namespaceSelector": selector,
            "rules": rules, **extra}


def rule(operations: list[str], groups: list[str], resources: list[str], scope: str = "*") -> dict:
    return {"operations": operations, "apiGroups": groups, "apiVersions": ["*"], "resources": resources, "scope": scope}


LEASES = rule(["UPDATE"], ["coordination.k8s.io"], ["leases"])


@pytest.mark.parametrize(("rules", "namespaces", "writes", "consequence", "key", "covers"), [
    ([LEASES], ("kube-system",), "leader Leases in kube-system",
     "the controller-manager and scheduler lose leadership and stop", "leader-leases",
     "UPDATE leases in kube-system"),
    ([LEASES], ("kube-node-lease",), "node Leases", "every node goes NotReady and its pods are evicted", "node-leases",
     "UPDATE leases in kube-node-lease"),
    ([rule(["UPDATE"], [""], ["nodes/status"])], None, "node status", "node status stops and nodes go NotReady",
     "node-status", "UPDATE nodes/status in every namespace"),
    ([rule(["CREATE"], [""], ["pods/binding"])], None, "pod binding", "no new pod can start", "pod-binding",
     "CREATE pods/binding in every namespace"),
    # the scheduler binds pods in every namespace: a webhook on one of them covers binding there
    ([rule(["CREATE"], [""], ["pods/binding"])], ("demo",), "pod binding", "no new pod can start",
     "pod-binding", "CREATE pods/binding in demo"),
    ([rule(["CREATE"], [""], ["pods"])], ("kube-system",), "pods in kube-system",
     "system pods (DaemonSets, mirror pods of static pods) cannot be created", "system-pods",
     "CREATE pods in kube-system"),
    ([rule(["UPDATE"], ["discovery.k8s.io"], ["endpointslices"])], None, "EndpointSlices",
     "Services stop following their pods", "endpointslices", "UPDATE endpointslices in every namespace"),
    ([rule(["UPDATE"], [""], ["endpoints"])], None, "Endpoints", "Services stop following their pods", "endpoints",
     "UPDATE endpoints in every namespace"),
], ids=["leader-leases", "node-leases", "node-status", "binding", "binding-in-one-namespace", "system-pods",
        "endpointslices", "endpoints"])
def test_each_control_plane_write_a_fail_closed_webhook_covers_is_named(rules, namespaces, writes, consequence, key,
                                                                       covers):
    ctx = context(("validating", configuration("guard", rule_hook("guard.example.org", rules, namespaces))))
    assert table(admission_webhooks.probe(ctx)) == [("WEBHOOK_COVERS_CONTROL_PLANE", "extensions", {
        "webhook": "guard.example.org", "configuration": "validatingwebhookconfiguration/guard", "writes": writes,
        "consequence": consequence, "timeout_s": 7, "match_conditions": False, "intercepts": [key],
        "covers": covers})]


def test_a_webhook_on_pods_in_one_namespace_does_not_cover_pods_in_kube_system():
    """Pods in kube-system are one namespace's writes: a webhook on pods in `demo` spares them."""
    ctx = context(("validating", configuration("guard", rule_hook("guard.example.org", [rule(["CREATE"], [""], ["pods"])],
                                                                  ("demo",)))))
    assert [o.code for o in admission_webhooks.probe(ctx)] == ["WEBHOOKS_OK"]


def test_a_webhook_on_every_write_names_all_seven_and_each_consequence_once():
    everything = rule_hook("all.example.org", [rule(["*"], ["*"], ["*/*"])],
                           matchConditions=[{"name": "not-me", "expression": "true"}])
    ctx = context(("mutating", configuration("all", everything)))
    [found] = admission_webhooks.probe(ctx)
    assert found.evidence["writes"] == ("leader Leases in kube-system, node Leases, node status, pod binding, "
                                        "pods in kube-system, EndpointSlices, Endpoints")
    assert found.evidence["consequence"] == "; ".join(dict.fromkeys(w.consequence for w in CONTROL_PLANE_WRITES))
    assert found.evidence["intercepts"] == [w.key for w in CONTROL_PLANE_WRITES]
    assert found.evidence["consequence"].count("Services stop following their pods") == 1
    assert (found.evidence["match_conditions"], found.evidence["configuration"]) == (True, "mutatingwebhookconfiguration/all")


def test_a_fail_open_webhook_on_every_write_is_counted_not_reported():
    everything = {**rule_hook("open.example.org", [rule(["*"], ["*"], ["*/*"])]), "failurePolicy": "Ignore"}
    found = admission_webhooks.probe(context(("validating", configuration("open", everything))))
    assert table(found) == [("WEBHOOKS_OK", "extensions", {"count": 1, "fail_closed": 0, "fail_closed_webhooks": []})]


def test_fail_closed_webhooks_that_spare_the_control_plane_are_listed_up_to_twenty():
    hooks = [hook(f"w{n:02}.example.org", namespaces=("apps",)) for n in range(21)]
    ctx = context(("validating", configuration("apps", *hooks)),
                  ("mutating", configuration("open", hook("open.example.org", failure_policy="Ignore"))))
    [found] = admission_webhooks.probe(ctx)
    assert (found.code, found.evidence["count"], found.evidence["fail_closed"]) == ("WEBHOOKS_OK", 22, 21)
    assert found.evidence["fail_closed_webhooks"] == [
        f"w{n:02}.example.org (validatingwebhookconfiguration/apps): CREATE/UPDATE configmaps in apps"
        for n in range(20)]


def test_webhook_configurations_that_could_not_be_read_fail_the_probe():
    ctx = ProbeContext(api=None, settings=SETTINGS, run_id="r")  # type: ignore[arg-type]
    error = ForbiddenError("GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", 403,
                           "Forbidden", "forbidden")
    ctx.cache.get("webhooks", lambda: WebhookView((), error=error))
    with pytest.raises(ForbiddenError) as raised:
        admission_webhooks.probe(ctx)
    assert raised.value is error
