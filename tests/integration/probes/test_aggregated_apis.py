"""The APIService probe (probes/aggregated_apis.py) against the fake control plane (issue 12).

Unavailable APIServices and what they stall (HPAs that cannot get metrics, namespace deletion and
garbage collection), and the available ones counted.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cpwatch.probes import aggregated_apis
from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import rfc3339

from ..conftest import FAST
from .helpers import probe_context, table

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
