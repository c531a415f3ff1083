"""The admission webhook probe (probes/admission_webhooks.py) against the fake control plane (issue 12).

A fail-closed webhook whose Service has no ready endpoint: only the Service's own EndpointSlices
count, read once from the watch cache; slices the checker may not list are its own set-up.
"""

from __future__ import annotations

import pytest

from cpwatch.probes import admission_webhooks
from cpwatch.probes.interceptors import webhooks
from tests.fakecluster import FakeCluster
from tests.fakecluster.rbac import RuleRef

from .helpers import probe_context, table

ENDPOINTSLICE_RULE = RuleRef("ClusterRole", "", "cpwatch-reader", 7)  # list endpointslices (infra/10-rbac.yaml)
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
