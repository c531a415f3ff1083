"""fail_over: the leader crashes without releasing its Lease and a standby takes over only once
the Lease has expired as client-go judges it; in between nothing runs and nothing renews."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_time

pytestmark = pytest.mark.network


def lease(fc: FakeCluster, name: str) -> dict:
    return fc.store.get("leases", "kube-system", name)["spec"]


def advance_to(fc: FakeCluster, moment) -> None:
    fc.advance(max((moment - fc.clock.now()).total_seconds(), 0))


@pytest.mark.parametrize(("component", "lease_name"), [("controller-manager", "kube-controller-manager"),
                                                       ("scheduler", "kube-scheduler")])
def test_the_standby_takes_the_lease_once_it_has_expired_in_its_eyes(fc, component, lease_name):
    fc.advance(3)
    before = lease(fc, lease_name)
    elector = fc.controller_manager.elector if component == "controller-manager" else fc.scheduler.elector
    fc.fail_over(component)
    assert not elector.leader and elector.identity != before["holderIdentity"]
    renewed = parse_time(before["renewTime"])
    advance_to(fc, renewed + timedelta(seconds=14))
    assert lease(fc, lease_name) == before  # crashed: not renewed, not released
    advance_to(fc, renewed + timedelta(seconds=15 + 2.5))
    taken = lease(fc, lease_name)
    assert taken["holderIdentity"] == elector.identity and elector.leader
    assert taken["leaseTransitions"] == before["leaseTransitions"] + 1
    # Acquired once the Lease had expired in the standby's eyes (15 s after the renewal it saw),
    # within one retry period (2 s) of that; it may have renewed since.
    acquired = parse_time(taken["acquireTime"])
    assert renewed + timedelta(seconds=15) <= acquired <= renewed + timedelta(seconds=15 + 2.5)
    assert parse_time(taken["renewTime"]) >= acquired
    assert elector.exits == 1  # the crashed process's pod restarts


def test_no_controller_runs_between_the_crash_and_the_takeover(fc, admin):
    fc.fail_over("controller-manager")
    assert admin.post("/api/v1/namespaces", {"metadata": {"name": "fresh"}}).status == 201
    fc.advance(10)
    assert fc.store.get("serviceaccounts", "fresh", "default") is None
    fc.advance(10)
    assert fc.store.get("serviceaccounts", "fresh", "default") is not None


def test_no_pod_is_scheduled_between_the_crash_and_the_takeover(fc):
    fc.fail_over("scheduler")
    fc.add_pod("default", "waiting")
    fc.advance(10)
    assert "nodeName" not in fc.store.get("pods", "default", "waiting")["spec"]
    fc.advance(10)
    assert fc.store.get("pods", "default", "waiting")["spec"]["nodeName"]


def test_a_wedged_leader_that_fails_over_is_replaced_by_a_working_one(fc):
    fc.wedge_component("scheduler")
    fc.fail_over("scheduler")
    fc.advance(20)
    fc.add_pod("default", "waiting")
    fc.advance(1)
    assert fc.store.get("pods", "default", "waiting")["spec"]["nodeName"]


def test_fail_over_names_a_component():
    with FakeCluster(nodes=1) as fc, pytest.raises(ValueError, match="unknown component"):
        fc.fail_over("etcd")
