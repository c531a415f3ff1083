"""Each recorded real control-plane scenario, replayed by the fake control plane, gives its verdicts."""

from __future__ import annotations

import time

import pytest

from tests.fakecluster import FakeCluster

from .conftest import FAST, codes, verdicts

HEALTHY_ALL = {"apiserver": "healthy", "etcd": "healthy", "controller-manager": "healthy", "scheduler": "healthy"}


@pytest.fixture
def replay():
    clusters = []

    def start(name: str) -> FakeCluster:
        fc = FakeCluster.from_recording(name)
        fc.start()
        clusters.append(fc)
        return fc

    yield start
    for fc in clusters:
        fc.stop()


def test_healthy(replay, run_check_on):
    diagnosis = run_check_on(replay("healthy"))
    assert verdicts(diagnosis) == HEALTHY_ALL
    assert diagnosis.overall.value == "healthy"


@pytest.mark.parametrize("name", ["node-lost-kcm-alive", "node-lost-kcm-alive-orphan-pending"])
def test_node_lost_with_live_controller_manager_is_a_node_problem(replay, run_check_on, name):
    diagnosis = run_check_on(replay(name))
    assert verdicts(diagnosis) == HEALTHY_ALL
    node_findings = [o for o in diagnosis.observations if o.component.value == "node"]
    assert [o.code for o in node_findings] == ["NODE_LEASES_EXPIRED", "NODE_NOT_READY"]
    expired = node_findings[0].evidence
    # node-c's kubelet stopped: neither its Lease nor its NodeStatus moved since
    assert (expired["count"], expired["leases"], expired["status_reported"]) == (1, 3, 0)
    assert node_findings[1].evidence["node"] == "node-c"
    # the orphan deleted 55 s before the recording is within pod GC's normal delay
    assert "ORPHAN_POD_NOT_COLLECTED" not in codes(diagnosis)


def test_kcm_down_is_down_with_high_confidence_from_independent_signals(replay, run_check_on):
    diagnosis = run_check_on(replay("kcm-down"))
    assert verdicts(diagnosis) == {**HEALTHY_ALL, "controller-manager": "down"}
    kcm = diagnosis.components[next(c for c in diagnosis.components if c.value == "controller-manager")]
    assert kcm.confidence.value == "high"
    assert {"LEADER_LEASE_STALE", "NODE_READY_BUT_SILENT", "ORPHAN_POD_NOT_COLLECTED",
            "DEPLOYMENT_CANARY_NOT_OBSERVED", "SERVICEACCOUNT_CANARY_MISSING"} <= codes(diagnosis, "controller-manager")
    assert diagnosis.root_cause.value == "controller-manager"


def test_kcm_down_read_only_still_down_from_passive_signals(replay, run_check_on):
    diagnosis = run_check_on(replay("kcm-down"), read_only=True)
    assert verdicts(diagnosis)["controller-manager"] == "down"
    assert not any(o.code.startswith("DEPLOYMENT_CANARY") for o in diagnosis.observations)


def test_scheduler_down(replay, run_check_on):
    diagnosis = run_check_on(replay("scheduler-down"))
    assert verdicts(diagnosis) == {**HEALTHY_ALL, "scheduler": "down"}
    assert {"LEADER_LEASE_STALE", "SCHEDULER_CANARY_NOT_ATTEMPTED"} <= codes(diagnosis, "scheduler")


def test_etcd_one_member_down_is_degraded_and_nothing_is_down(replay, run_check_on):
    diagnosis = run_check_on(replay("etcd-one-member-down"))
    assert verdicts(diagnosis) == {**HEALTHY_ALL, "etcd": "degraded"}
    assert "ETCD_MEMBER_UNHEALTHY" in codes(diagnosis, "etcd")


def test_etcd_quorum_lost_is_etcd_down_not_apiserver(replay, run_check_on):
    diagnosis = run_check_on(replay("etcd-quorum-lost"))
    result = verdicts(diagnosis)
    assert result["etcd"] == "down"
    assert result["apiserver"] != "down"
    assert result["controller-manager"] != "down" and result["scheduler"] != "down"
    assert {"ETCD_CHECK_FAILED", "ETCD_WRITE_FAILED"} <= codes(diagnosis, "etcd")
    assert diagnosis.root_cause.value == "etcd"


def test_apiserver_hung_is_down_within_the_deadline(replay, run_check_on):
    started = time.monotonic()
    diagnosis = run_check_on(replay("apiserver-hung"))
    elapsed = time.monotonic() - started
    assert verdicts(diagnosis) == {"apiserver": "down", "etcd": "unknown", "controller-manager": "unknown",
                                   "scheduler": "unknown"}
    assert elapsed < FAST.run_timeout_s + 1


def test_apiserver_down(replay, run_check_on):
    diagnosis = run_check_on(replay("apiserver-down"))
    assert verdicts(diagnosis) == {"apiserver": "down", "etcd": "unknown", "controller-manager": "unknown",
                                   "scheduler": "unknown"}
    assert "APISERVER_UNREACHABLE" in codes(diagnosis, "apiserver")


def test_replayed_clock_is_the_servers_not_ours(replay, run_check_on):
    """The recordings are from the past: ages use the recorded Date, and the skew is reported."""
    diagnosis = run_check_on(replay("healthy"))
    assert "CHECKER_CLOCK_SKEW" in codes(diagnosis, "checker")
    fresh = [o for o in diagnosis.observations if o.code == "LEADER_LEASE_FRESH"]
    assert fresh and all(o.evidence["age_s"] < 60 for o in fresh)
