"""Canary safety: canary objects never accumulate, never take node resources, and are never
created in read-only mode (neither from the CLI's check nor in the Lambda)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cpwatch.probes.scheduler_canary import CANARY_LABEL, NEVER_SCHEDULE_LABEL, canary_pod
from tests.aws.deployment import Deployment
from tests.fakecluster import FakeCluster
from tests.integration.conftest import FAST, check, codes

pytestmark = pytest.mark.network

INFRA = Path(__file__).resolve().parents[2] / "infra"
CANARY_LABELS = {"app.kubernetes.io/managed-by": "cpwatch", CANARY_LABEL: "scheduler"}
SETTINGS = FAST.with_overrides(canary_wait_s=1.5, canary_poll_s=0.1)


def pods_in(fc: FakeCluster, namespace: str = "cpwatch") -> set[str]:
    return {p["metadata"]["name"] for p in fc.store.list("pods", namespace=namespace)}


def test_a_canary_left_by_a_crashed_run_is_deleted_by_the_next_run(tmp_path):
    """A run that died between creating its canary pod and deleting it leaves the pod behind; the
    next run deletes canaries older than canary_leftover_age_s by label, and nothing else."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        selector = {NEVER_SCHEDULE_LABEL: "true"}
        fc.add_pod("cpwatch", "cpwatch-canary-crashed", labels=CANARY_LABELS, node_selector=selector,
                   created_seconds_ago=600)
        fc.add_pod("cpwatch", "cpwatch-canary-in-flight", labels=CANARY_LABELS, node_selector=selector,
                   created_seconds_ago=30)  # another run's, still waiting for the scheduler
        fc.add_pod("cpwatch", "someone-elses-pod", labels={CANARY_LABEL: "scheduler"}, created_seconds_ago=600)
        diagnosis = check(fc, tmp_path, SETTINGS)
        left = pods_in(fc)
    assert "SCHEDULER_CANARY_ATTEMPTED" in codes(diagnosis)
    assert left == {"cpwatch-canary-in-flight", "someone-elses-pod"}


def test_repeated_runs_leave_no_canary_behind(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        for _ in range(3):
            check(fc, tmp_path, SETTINGS)
        assert pods_in(fc) == set()
        serviceaccounts = {s["metadata"]["name"] for s in fc.store.list("serviceaccounts", namespace="cpwatch")}
        assert "default" in serviceaccounts  # the ServiceAccount canary is recreated, not lost


def test_canaries_never_take_node_resources(tmp_path):
    pod = canary_pod("cpwatch-canary-x", "cpwatch")
    assert pod["spec"]["nodeSelector"] == {NEVER_SCHEDULE_LABEL: "true"}
    assert "nodeName" not in pod["spec"] and not pod["spec"].get("tolerations")
    deployments = [d for d in yaml.safe_load_all((INFRA / "20-canary-objects.yaml").read_text())
                   if d and d["kind"] == "Deployment"]
    assert [d["spec"]["replicas"] for d in deployments] == [0]

    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        nodes = fc.store.list("nodes")
        assert not any(NEVER_SCHEDULE_LABEL in (n["metadata"].get("labels") or {}) for n in nodes)
        fc.clear_requests()
        check(fc, tmp_path, SETTINGS)
        created = [r for r in fc.requests if r.method == "POST" and r.path.startswith("/api/v1/namespaces/cpwatch/pods")]
        deployment = fc.store.peek("deployments", "cpwatch", "cpwatch-canary")
        bound = [p for p in fc.store.list("pods") if (p["metadata"].get("labels") or {}).get(CANARY_LABEL)
                 and (p.get("spec") or {}).get("nodeName")]
    assert len(created) == 1  # the scheduler canary was made, and the scheduler could place it nowhere
    assert deployment["spec"]["replicas"] == 0 and bound == []


def test_read_only_check_writes_nothing(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.clear_requests()
        check(fc, tmp_path, SETTINGS, read_only=True)
        writes = [(r.method, r.path) for r in fc.requests if r.method != "GET"]
        assert pods_in(fc) == set()
    assert writes == []


def test_read_only_deployment_writes_nothing_in_the_cluster(deployment: Deployment):
    d = deployment
    d.configure(CPWATCH_READ_ONLY="true")
    d.fc.clear_requests()
    result = d.invoke()
    assert result["clusters"][0]["overall"] == "healthy"
    assert [(r.method, r.path) for r in d.fc.requests if r.method != "GET"] == []
    assert d.fc.requests, "the run did look"
