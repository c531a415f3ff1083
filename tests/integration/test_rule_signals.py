"""Each probe decision in the one situation where only its own signal can decide (issue 12).

Every test runs the real check against the fake control plane, read-only unless said otherwise:
the active canaries are a second signal for the same components (a wedged scheduler leaves the
canary pod unattempted too), so switching them off leaves the signal under test alone.

Simulated time runs with real time, so ages are set a few seconds clear of a threshold, enough
for one read-only check (about a second) and the one-second resolution of the `Date` header.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.settings import Settings
from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import rfc3339

from .conftest import codes, verdicts

H, D, X = "healthy", "degraded", "down"
SETTINGS = Settings()
UNATTEMPTED_AGE = SETTINGS.unattempted_pod_age_s        # 60 s
NODE_SILENT = SETTINGS.node_heartbeat_stale_s           # 120 s
LEASE_STALE = 3 * 15 + SETTINGS.clock_margin_s          # 55 s for the default leaseDurationSeconds 15
COMPONENTS = ["controller-manager", "scheduler"]


def finding(diagnosis, code: str, component: str):
    [found] = [o for o in diagnosis.observations if o.code == code and o.component.value == component]
    return found


# --- scheduler: unattempted pending pods -------------------------------------------------------


@pytest.mark.parametrize(("age", "reported"), [(UNATTEMPTED_AGE - 4, False), (UNATTEMPTED_AGE + 2, True)],
                         ids=["just-under", "just-over"])
def test_unattempted_pending_pod_decides_while_the_scheduler_lease_is_fresh(age, reported, run_check_on):
    """A scheduler whose leader still renews its Lease but never attempts a pod: only the pending
    pod probe can see it."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "web-0", created_seconds_ago=age)
        diagnosis = run_check_on(fc, read_only=True)
    assert "LEADER_LEASE_FRESH" in codes(diagnosis, "scheduler")
    if reported:
        assert finding(diagnosis, "PODS_UNATTEMPTED", "scheduler").evidence["pods"][0].startswith("apps/web-0 ")
        assert verdicts(diagnosis)["scheduler"] == D
    else:
        assert "PODS_UNATTEMPTED" not in codes(diagnosis)
        assert verdicts(diagnosis)["scheduler"] == H
    assert {c: v for c, v in verdicts(diagnosis).items() if c != "scheduler"} == {
        "apiserver": H, "etcd": H, "controller-manager": H}


def test_pods_the_scheduler_skips_by_design_are_not_unattempted(run_check_on):
    """Gated, other-scheduler and already bound pods wait for someone else, not the scheduler."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "gated", created_seconds_ago=600, scheduling_gates=["example.com/quota"])
        fc.add_pod("apps", "custom", created_seconds_ago=600, scheduler_name="my-scheduler")
        fc.add_pod("apps", "bound", created_seconds_ago=600, node_name="node-a")
        diagnosis = run_check_on(fc, read_only=True)
    assert "PODS_UNATTEMPTED" not in codes(diagnosis)
    assert verdicts(diagnosis)["scheduler"] == H


# --- controller-manager: Ready nodes that stopped heartbeating -------------------------------


def _failover_with_silent_node(fc: FakeCluster, silent_s: float) -> None:
    """node-c silent for `silent_s` while the controller-manager was down, then a new leader
    that cannot yet have marked it (a new leader starts every node's grace period afresh)."""
    fc.advance(5)
    fc.lose_node("node-c")
    fc.stop_component("controller-manager")
    fc.advance(silent_s)
    fc.wedge_component("controller-manager")
    fc.start_component("controller-manager")


def test_silent_ready_node_right_after_a_failover_is_not_blamed(run_check_on):
    with FakeCluster(nodes=3) as fc:
        _failover_with_silent_node(fc, NODE_SILENT + 30)
        diagnosis = run_check_on(fc, read_only=True)
        ready = [c for c in fc.store.peek("nodes", None, "node-c")["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True", "the node is still Ready: only the tenure guard keeps it unblamed"
    assert "NODE_READY_BUT_SILENT" not in codes(diagnosis)
    assert "LEADER_LEASE_FRESH" in codes(diagnosis, "controller-manager")
    assert verdicts(diagnosis)["controller-manager"] == H


@pytest.mark.parametrize(("tenure", "reported"), [(NODE_SILENT - 10, False), (NODE_SILENT + 10, True)],
                         ids=["leader-younger-than-threshold", "leader-older-than-threshold"])
def test_silent_ready_node_is_blamed_once_the_leader_has_held_its_lease_past_the_threshold(
        tenure, reported, run_check_on):
    """The leader renews its Lease but its node lifecycle controller does nothing: the silent
    Ready node is the only signal, and it counts once the leader's tenure is past the threshold."""
    with FakeCluster(nodes=3) as fc:
        _failover_with_silent_node(fc, NODE_SILENT + 30)
        fc.advance(tenure)
        diagnosis = run_check_on(fc, read_only=True)
    assert "LEADER_LEASE_FRESH" in codes(diagnosis, "controller-manager")
    if reported:
        assert finding(diagnosis, "NODE_READY_BUT_SILENT", "controller-manager").evidence["count"] == 1
        assert verdicts(diagnosis)["controller-manager"] == D
    else:
        assert "NODE_READY_BUT_SILENT" not in codes(diagnosis)
        assert verdicts(diagnosis)["controller-manager"] == H


def test_silent_ready_node_long_after_a_failover_is_blamed(run_check_on):
    """A leader elected long ago (no failover in sight) that stopped marking nodes."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("controller-manager")
        fc.lose_node("node-c")
        fc.advance(NODE_SILENT + 30)
        diagnosis = run_check_on(fc, read_only=True)
    assert finding(diagnosis, "NODE_READY_BUT_SILENT", "controller-manager").evidence["nodes"][0].startswith("node-c ")
    assert verdicts(diagnosis) == {"apiserver": H, "etcd": H, "controller-manager": D, "scheduler": H}


def _set_heartbeat_now(fc: FakeCluster, node: str) -> None:
    """node's NodeStatus posted now (Ready.lastHeartbeatTime), its Lease left as it is."""
    stamp = rfc3339(fc.clock.now())

    def post(obj: dict) -> None:
        for condition in obj["status"]["conditions"]:
            condition["lastHeartbeatTime"] = stamp
    fc.store.mutate("nodes", None, node, post)


def test_a_node_lease_expires_on_its_own_duration(run_check_on):
    """A kubelet started with --node-lease-duration-seconds=10: 25 s without renewal is expired
    (the default 40 s would not be), so the node is counted as silent, still within grace."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.lose_node("node-c")
        fc.store.mutate("leases", "kube-node-lease", "node-c", lambda lease: lease["spec"].update(leaseDurationSeconds=10))
        fc.advance(25)
        diagnosis = run_check_on(fc, read_only=True)
    assert finding(diagnosis, "NODE_LIFECYCLE_OK", "controller-manager").evidence["marked"] == "1 silent node(s) within grace"


def test_a_recent_node_status_is_a_heartbeat_too(run_check_on):
    """The node lifecycle controller counts a NodeStatus post as a heartbeat as well as a Lease
    renewal: a node whose Lease is old but whose status is fresh is not silent."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("controller-manager")
        fc.lose_node("node-c")
        fc.advance(NODE_SILENT + 30)
        _set_heartbeat_now(fc, "node-c")
        diagnosis = run_check_on(fc, read_only=True)
    assert "NODE_READY_BUT_SILENT" not in codes(diagnosis)
    assert finding(diagnosis, "NODE_LIFECYCLE_OK", "controller-manager").evidence["marked"] == "1 silent node(s) within grace"


def test_a_deleted_node_with_a_lingering_lease_does_not_hide_the_next_silent_node(run_check_on):
    """node-b's Node was deleted but its Lease awaits garbage collection (by the wedged
    controller-manager); the scan goes on to node-c, silent and still Ready."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("controller-manager")
        fc.lose_node("node-b")
        fc.advance(30)
        fc.lose_node("node-c")
        fc.advance(NODE_SILENT + 30)
        fc.store.delete("nodes", None, "node-b")
        diagnosis = run_check_on(fc, read_only=True)
    assert finding(diagnosis, "NODE_READY_BUT_SILENT", "controller-manager").evidence["nodes"][0].startswith("node-c ")


def test_a_node_already_marked_does_not_hide_the_next_silent_node(run_check_on):
    """node-b was marked Unknown before the controller-manager wedged; node-c went silent after
    and stays Ready: both are reported, each for what it is."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.lose_node("node-b")
        fc.advance(60)
        fc.wedge_component("controller-manager")
        fc.lose_node("node-c")
        fc.advance(NODE_SILENT + 30)
        diagnosis = run_check_on(fc, read_only=True)
    assert finding(diagnosis, "NODE_NOT_READY", "node").evidence["node"] == "node-b"
    assert finding(diagnosis, "NODE_READY_BUT_SILENT", "controller-manager").evidence["nodes"][0].startswith("node-c ")


# --- leader Leases: fresh while 30-50 s old, stale just past the threshold -------------------


@pytest.mark.parametrize("component", COMPONENTS)
@pytest.mark.parametrize(("age", "stale"), [(30, False), (LEASE_STALE - 5, False), (LEASE_STALE + 3, True)],
                         ids=["30s", "50s", "just-past-threshold"])
def test_leader_lease_age_against_the_threshold(component, age, stale, run_check_on):
    """A leader that crashed `age` seconds ago (leaseDurationSeconds 15): fresh up to
    max(3 x 15 s, 45 s) + 10 s, stale after. componentstatuses also reports the stopped process
    (a warning: degraded), so only the Lease can make the component down."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component(component)
        fc.advance(age)
        diagnosis = run_check_on(fc, read_only=True)
    lease = finding(diagnosis, "LEADER_LEASE_STALE" if stale else "LEADER_LEASE_FRESH", component)
    assert age - 1 <= lease.evidence["age_s"] <= age + 3
    assert verdicts(diagnosis)[component] == (X if stale else D)


@pytest.mark.parametrize("component", COMPONENTS)
@pytest.mark.parametrize(("age", "stale"), [(40, False), (LEASE_STALE + 3, True)], ids=["40s", "just-past"])
def test_released_lease_is_judged_on_the_45_s_floor_not_its_1_s_duration(component, age, stale, run_check_on):
    """A gracefully stopped leader releases its Lease with leaseDurationSeconds 1 (as recorded):
    3 x 1 s would call it stale after 13 s; the 45 s floor gives a successor time to take over."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component(component, release_lease=True)
        fc.advance(age)
        diagnosis = run_check_on(fc, read_only=True)
    lease = finding(diagnosis, "LEADER_LEASE_STALE" if stale else "LEADER_LEASE_FRESH", component)
    assert age - 1 <= lease.evidence["age_s"] <= age + 3
    assert verdicts(diagnosis)[component] == (X if stale else D)


# --- a checker clock skewed against the apiserver's --------------------------------------------


@pytest.mark.parametrize("skew_s", [-3600, 3600], ids=["apiserver-behind", "apiserver-ahead"])
@pytest.mark.parametrize(("age", "stale"), [(40, False), (LEASE_STALE + 5, True)], ids=["40s", "past-threshold"])
def test_lease_ages_are_measured_on_the_apiserver_clock(skew_s, age, stale, run_check_on):
    """The fake control plane runs an hour off the checker's clock (start_time): its `Date`
    header and every renewTime its leaders write are on that clock. Ages are measured against
    `Date`, so the verdicts are those of an unskewed cluster; measured on the checker's clock a
    fresh Lease would be an hour stale (apiserver behind) or a stale one fresh (ahead)."""
    start = datetime.now(timezone.utc) + timedelta(seconds=skew_s)
    with FakeCluster(nodes=3, start_time=start) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        fc.advance(age)
        diagnosis = run_check_on(fc, read_only=True)
    skew = finding(diagnosis, "CHECKER_CLOCK_SKEW", "checker")
    assert skew is not None
    lease = finding(diagnosis, "LEADER_LEASE_STALE" if stale else "LEADER_LEASE_FRESH", "scheduler")
    assert age - 1 <= lease.evidence["age_s"] <= age + 3
    assert verdicts(diagnosis) == {"apiserver": H, "etcd": H, "controller-manager": H, "scheduler": X if stale else D}
