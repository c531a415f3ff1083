"""When second opinions are read (second_opinion.plan, pure): per verdict, clock slot and alarm."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cpwatch.aws.eks_cluster import ClusterInfo, cluster_info
from cpwatch.judging.check import blind_diagnosis
from cpwatch.findings import Component, observe
from cpwatch.entry.second_opinion import APISERVER_SERIES, EARLY_WARNING_SERIES, SCHEDULER_SERIES, plan
from cpwatch.settings import Settings

A, E, K, S = Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER
SETTINGS = Settings()
OFF_SLOT = datetime(2026, 12, 1, 9, 7, 30, tzinfo=timezone.utc)  # first minute of no 15-min or 2-h slot
QUARTER = datetime(2026, 12, 1, 9, 15, 20, tzinfo=timezone.utc)  # first minute of a 15-min slot
TWO_HOURS = datetime(2026, 12, 1, 8, 0, 10, tzinfo=timezone.utc)  # first minute of a 2-h slot
LOGS_ON = ClusterInfo(name="c", endpoint=None, ca_pem=None, status="ACTIVE", log_types=("controllerManager", "scheduler"))

HEALTHY = [observe("APISERVER_LIVE", A), observe("APISERVER_READS_OK", A), observe("ETCD_WRITE_OK", E),
           observe("ETCD_CHECK_PASSED", E), observe("LEADER_LEASE_FRESH", K), observe("LEADER_LEASE_FRESH", S)]
WAITING = [o for o in HEALTHY] + [observe("PENDING_PODS_ATTEMPTED", S, pending=2)]
NONE_WAITING = HEALTHY + [observe("PENDING_PODS_ATTEMPTED", S, pending=0)]
KCM_DOWN = [o for o in HEALTHY if o.component is not K] + [observe("LEADER_LEASE_STALE", K)]
SCHED_DOWN = [o for o in HEALTHY if o.component is not S] + [observe("LEADER_LEASE_STALE", S)]
SCHED_DEGRADED = HEALTHY + [observe("PODS_UNATTEMPTED", S)]
API_DOWN = [observe("APISERVER_UNREACHABLE", A)]
BLIND = [observe("CHECKER_UNAUTHORIZED", A)]
ETCD_DOWN = [observe("APISERVER_LIVE", A), observe("ETCD_CHECK_FAILED", E), observe("LEADER_LEASE_STALE", K)]

CASES = [
    # name, observations, now, in alarm, series, log types
    ("healthy, nothing waits: nothing", NONE_WAITING, OFF_SLOT, set(), (), ()),
    ("healthy in a 2-h slot: early warnings only", NONE_WAITING, TWO_HOURS, set(), EARLY_WARNING_SERIES, ()),
    ("pods wait, off the 15-min pace: nothing", WAITING, OFF_SLOT, set(), (), ()),
    ("pods wait, on the 15-min pace: the scheduler", WAITING, QUARTER, set(), SCHEDULER_SERIES, ()),
    ("scheduler newly down: at once, with its log", SCHED_DOWN, OFF_SLOT, set(), SCHEDULER_SERIES, ("scheduler",)),
    ("scheduler down and in alarm: paced", SCHED_DOWN, OFF_SLOT, {"scheduler"}, (), ()),
    ("scheduler degraded: paced (never in alarm)", SCHED_DEGRADED, OFF_SLOT, set(), (), ()),
    ("scheduler degraded on the pace", SCHED_DEGRADED, QUARTER, set(), SCHEDULER_SERIES, ("scheduler",)),
    ("controller-manager newly down: its log only", KCM_DOWN, OFF_SLOT, set(), (), ("controllerManager",)),
    ("apiserver newly down: was it serving anyone?", API_DOWN, OFF_SLOT, set(), APISERVER_SERIES, ()),
    ("apiserver down, in alarm, off the pace: nothing", API_DOWN, OFF_SLOT, {"apiserver"}, (), ()),
    ("checker blind: was it serving anyone?", BLIND, OFF_SLOT, set(), APISERVER_SERIES, ()),
    ("checker blind and in alarm, on the pace", BLIND, QUARTER, {"checker"}, APISERVER_SERIES, ()),
    ("etcd down: the controller-manager is its consequence, no log read", ETCD_DOWN, QUARTER, set(), (), ()),
]


@pytest.mark.parametrize("name,observations,now,in_alarm,series,log_types", CASES, ids=[c[0] for c in CASES])
def test_plan(name, observations, now, in_alarm, series, log_types):
    wanted = plan(blind_diagnosis("c", tuple(observations)), LOGS_ON, SETTINGS, now, 60.0, frozenset(in_alarm))
    assert set(wanted.series) == set(series)
    assert wanted.log_types == log_types


def test_log_types_need_logging_on():
    diagnosis = blind_diagnosis("c", tuple(KCM_DOWN))
    off = ClusterInfo(name="c", endpoint=None, ca_pem=None, status="ACTIVE", log_types=("api", "audit"))
    assert plan(diagnosis, off, SETTINGS, OFF_SLOT, 60.0, frozenset()).log_types == ()
    assert plan(diagnosis, None, SETTINGS, OFF_SLOT, 60.0, frozenset()).log_types == ()


def test_window_covers_the_early_warning_period():
    wanted = plan(blind_diagnosis("c", tuple(WAITING)), LOGS_ON, SETTINGS, TWO_HOURS, 60.0, frozenset())
    assert wanted.window_s == SETTINGS.vended_metrics_interval_s


def test_describe_cluster_logging_gives_the_enabled_types():
    described = {"name": "c", "status": "ACTIVE", "logging": {"clusterLogging": [
        {"types": ["api", "audit"], "enabled": False},
        {"types": ["controllerManager", "scheduler", "authenticator"], "enabled": True}]}}
    assert cluster_info(described, "c").log_types == ("controllerManager", "scheduler", "authenticator")
    assert cluster_info({"name": "c"}, "c").log_types == ()
