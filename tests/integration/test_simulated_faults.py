"""Each fault of the fake control plane (simulated, not replayed) gives its verdict."""

from __future__ import annotations

import dataclasses
import time

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakecluster import FakeCluster
from tests.scenarios import SCENARIOS

from .conftest import FAST, check, codes, verdicts

H, D, U, X = "healthy", "degraded", "unknown", "down"

EXPECTED = {
    "healthy": {"apiserver": H, "etcd": H, "controller-manager": H, "scheduler": H},
    "apiserver-down": {"apiserver": X, "etcd": U, "controller-manager": U, "scheduler": U},
    "apiserver-hung": {"apiserver": X, "etcd": U, "controller-manager": U, "scheduler": U},
    "etcd-member-lost": {"apiserver": H, "etcd": D, "controller-manager": H, "scheduler": H},
    "controller-manager-down": {"apiserver": H, "etcd": H, "controller-manager": X, "scheduler": H},
    "scheduler-down": {"apiserver": H, "etcd": H, "controller-manager": H, "scheduler": X},
    "both-down": {"apiserver": H, "etcd": H, "controller-manager": X, "scheduler": X},
    "eks-controller-stuck": {"apiserver": H, "etcd": H, "controller-manager": D, "scheduler": H},
    "eks-scheduler-stalled": {"apiserver": H, "etcd": H, "controller-manager": H, "scheduler": D},
}


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_fault_gives_its_verdicts(scenario, run_check_on):
    with FakeCluster(nodes=3) as fc:
        SCENARIOS[scenario](fc)
        diagnosis = run_check_on(fc)
    assert verdicts(diagnosis) == EXPECTED[scenario]


def test_etcd_quorum_lost_blames_etcd_only(run_check_on):
    with FakeCluster(nodes=3, etcd_health_delay=0.5) as fc:
        SCENARIOS["etcd-quorum-lost"](fc)
        diagnosis = run_check_on(fc)
    result = verdicts(diagnosis)
    assert result["etcd"] == X and result["apiserver"] == H
    assert result["controller-manager"] != X and result["scheduler"] != X


def test_slow_apiserver_under_the_request_bound_is_degraded_not_down(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.set_apiserver("slow", delay=1.2)
        diagnosis = run_check_on(fc, read_only=True)
    assert verdicts(diagnosis)["apiserver"] == D
    assert "APISERVER_SLOW" in codes(diagnosis, "apiserver")


def test_hung_apiserver_check_returns_within_its_deadline(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.set_apiserver("hung")
        started = time.monotonic()
        run_check_on(fc)
        elapsed = time.monotonic() - started
    assert elapsed < FAST.run_timeout_s + 1


def test_controller_manager_failover_is_not_a_failure(run_check_on):
    """A new leader gives every node a fresh grace period; a silent Ready node is not blamed yet."""
    with FakeCluster(nodes=3) as fc:
        fc.lose_node("node-c")
        fc.stop_component("controller-manager")
        fc.advance(20)
        fc.start_component("controller-manager")
        diagnosis = run_check_on(fc)
    assert verdicts(diagnosis)["controller-manager"] == H


def test_canaries_leave_nothing_behind(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        run_check_on(fc)
        pods = fc.store.list("pods", namespace="cpwatch")
    assert pods == []


def test_read_only_writes_nothing(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        diagnosis = run_check_on(fc, read_only=True)
        writes = [r for r in fc.requests if r.method != "GET"]
    assert writes == []
    assert verdicts(diagnosis) == EXPECTED["healthy"]


def test_no_full_pod_or_node_list(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        run_check_on(fc)
        requests = list(fc.requests)
    pod_lists = [r for r in requests if r.method == "GET" and r.path.split("?")[0] == "/api/v1/pods"]
    assert pod_lists, "the probes list pods"
    for request in pod_lists:
        query = parse_qs(urlsplit(request.path).query)
        # a one-item list counts the pods (terminating_pods: how often to scan)
        one_item = query.get("limit") == ["1"]
        assert "fieldSelector" in query or query.get("includeObject") == ["None"] or one_item, request.path
    assert not any(r.path.split("?")[0] == "/api/v1/nodes" for r in requests)


def test_hung_apiserver_is_down_when_one_request_could_take_the_whole_run(tmp_path):
    """/livez's timeout is cut short of the run's deadline, so the health probe reports the
    apiserver unreachable instead of being abandoned as timed out with the other probes."""
    settings = dataclasses.replace(FAST, run_timeout_s=2.5, request_timeout_s=2.5)
    with FakeCluster(nodes=3) as fc:
        fc.set_apiserver("hung")
        diagnosis = check(fc, tmp_path, settings=settings)
    assert "APISERVER_UNREACHABLE" in codes(diagnosis, "apiserver")
    assert verdicts(diagnosis)["apiserver"] == "down"
