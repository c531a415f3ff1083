"""Every diagnosis rule in the one situation where only it decides (issue 12), and the leader
Lease threshold as a table.

Each row changes one signal against a background in which every other signal is healthy, so a
rule that is dropped, inverted or moved changes exactly the verdict named in the row.
"""

from __future__ import annotations

import pytest

from cpwatch.judging.diagnosis import ComponentVerdict, Confidence, Verdict, diagnose, overall, root_cause
from cpwatch.findings import Component, observe
from cpwatch.probes.leader_leases import stale_after_s
from cpwatch.settings import Settings

A, E, K, S, N, C = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                    Component.NODE, Component.CHECKER)
H, D, U, X = Verdict.HEALTHY, Verdict.DEGRADED, Verdict.UNKNOWN, Verdict.DOWN
HIGH, MEDIUM, LOW = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW

LIVE = observe("APISERVER_LIVE", A)
READS_OK = observe("APISERVER_READS_OK", A)
ETCD_OK = observe("ETCD_CHECK_PASSED", E)
WRITE_OK = observe("ETCD_WRITE_OK", E)
FRESH_K, FRESH_S = observe("LEADER_LEASE_FRESH", K), observe("LEADER_LEASE_FRESH", S)
NODES_OK = observe("NODE_LIFECYCLE_OK", K)
PODS_ATTEMPTED = observe("PENDING_PODS_ATTEMPTED", S)


def background(*replaced: str) -> list:
    """Every component healthy on two signals, minus the findings named in `replaced`."""
    healthy = [LIVE, READS_OK, ETCD_OK, WRITE_OK, FRESH_K, NODES_OK, FRESH_S, PODS_ATTEMPTED]
    return [o for o in healthy if f"{o.code}/{o.component.value}" not in replaced]


# (name, observations, {component: (verdict, confidence)} for the components that differ from
# healthy/high, root cause)
ROWS = [
    ("background: all healthy, high confidence", background(), {}, None),
    # etcd
    ("a write failing while every health check passes: etcd down",
     background("ETCD_WRITE_OK/etcd") + [observe("ETCD_WRITE_FAILED", E)], {E: (X, MEDIUM)}, E),
    ("etcd check failing while writes succeed: etcd down",
     background("ETCD_CHECK_PASSED/etcd") + [observe("ETCD_CHECK_FAILED", E)], {E: (X, MEDIUM)}, E),
    ("check and write failing: etcd down, high",
     background("ETCD_CHECK_PASSED/etcd", "ETCD_WRITE_OK/etcd")
     + [observe("ETCD_CHECK_FAILED", E), observe("ETCD_WRITE_FAILED", E)], {E: (X, HIGH)}, E),
    ("a failed write with reads hanging: two signals, high; the hanging reads are explained by etcd",
     background("ETCD_WRITE_OK/etcd", "APISERVER_READS_OK/apiserver")
     + [observe("ETCD_WRITE_FAILED", E), observe("APISERVER_READS_NO_ANSWER", A)],
     {E: (X, HIGH), A: (H, MEDIUM)}, E),
    ("reads hanging without an etcd failure: the apiserver is degraded",
     background("APISERVER_READS_OK/apiserver") + [observe("APISERVER_READS_NO_ANSWER", A)], {A: (D, LOW)}, A),
    ("one etcd member unhealthy: degraded, low",
     background() + [observe("ETCD_MEMBER_UNHEALTHY", E)], {E: (D, LOW)}, E),
    ("two etcd warnings: degraded, medium",
     background() + [observe("ETCD_MEMBER_UNHEALTHY", E), observe("COMPONENTSTATUS_UNHEALTHY", E)], {E: (D, MEDIUM)}, E),
    ("etcd seen working once: healthy, medium", background("ETCD_WRITE_OK/etcd"), {E: (H, MEDIUM)}, None),
    ("etcd not seen at all: unknown, low", background("ETCD_WRITE_OK/etcd", "ETCD_CHECK_PASSED/etcd"),
     {E: (U, LOW)}, None),
    # etcd down explains the leaders' stale Leases
    ("etcd down: stale Leases are its consequence, not separate alerts",
     background("ETCD_WRITE_OK/etcd", "LEADER_LEASE_FRESH/controller-manager", "LEADER_LEASE_FRESH/scheduler")
     + [observe("ETCD_WRITE_FAILED", E), observe("LEADER_LEASE_STALE", K), observe("LEADER_LEASE_STALE", S)],
     {E: (X, MEDIUM), K: (U, LOW), S: (U, LOW)}, E),
    ("etcd down: a degraded scheduler is its consequence too",
     background("ETCD_WRITE_OK/etcd", "PENDING_PODS_ATTEMPTED/scheduler")
     + [observe("ETCD_WRITE_FAILED", E), observe("PODS_UNATTEMPTED", S)],
     {E: (X, MEDIUM), S: (U, LOW)}, E),
    ("etcd down: a healthy controller-manager stays healthy",
     background("ETCD_WRITE_OK/etcd") + [observe("ETCD_WRITE_FAILED", E)], {E: (X, MEDIUM)}, E),
    ("etcd down: a slow apiserver is explained, not degraded",
     background("ETCD_WRITE_OK/etcd") + [observe("ETCD_WRITE_FAILED", E), observe("APISERVER_SLOW", A)],
     {E: (X, MEDIUM)}, E),
    ("etcd down: an apiserver that is not ready is still its own finding",
     background("ETCD_WRITE_OK/etcd") + [observe("ETCD_WRITE_FAILED", E), observe("APISERVER_NOT_READY", A)],
     {E: (X, MEDIUM), A: (D, LOW)}, E),
    # apiserver
    ("apiserver unreachable: down, high; the rest unknown",
     [observe("APISERVER_UNREACHABLE", A)], {A: (X, HIGH), E: (U, LOW), K: (U, LOW), S: (U, LOW)}, A),
    ("livez failing while reachable: down, medium; the rest unknown",
     background() + [observe("APISERVER_LIVEZ_FAILED", A)], {A: (X, MEDIUM), E: (U, LOW), K: (U, LOW), S: (U, LOW)}, A),
    ("two apiserver warnings: degraded, medium",
     background() + [observe("APISERVER_SLOW", A), observe("APISERVER_NOT_READY", A)], {A: (D, MEDIUM)}, A),
    # controller-manager and scheduler
    ("a silent Ready node alone, Lease fresh: controller-manager degraded, low",
     background("NODE_LIFECYCLE_OK/controller-manager") + [observe("NODE_READY_BUT_SILENT", K)], {K: (D, LOW)}, K),
    ("two controller-manager symptoms, Lease fresh: degraded, medium",
     background() + [observe("NODE_READY_BUT_SILENT", K), observe("ORPHAN_POD_NOT_COLLECTED", K)], {K: (D, MEDIUM)}, K),
    ("controller-manager Lease stale alone: down, medium",
     background("LEADER_LEASE_FRESH/controller-manager") + [observe("LEADER_LEASE_STALE", K)], {K: (X, MEDIUM)}, K),
    ("controller-manager Lease stale with a symptom: down, high",
     background("LEADER_LEASE_FRESH/controller-manager")
     + [observe("LEADER_LEASE_STALE", K), observe("DEPLOYMENT_CANARY_NOT_OBSERVED", K)], {K: (X, HIGH)}, K),
    ("unattempted pods alone, Lease fresh: scheduler degraded, low",
     background("PENDING_PODS_ATTEMPTED/scheduler") + [observe("PODS_UNATTEMPTED", S)], {S: (D, LOW)}, S),
    ("scheduler Lease stale alone: down, medium",
     background("LEADER_LEASE_FRESH/scheduler") + [observe("LEADER_LEASE_STALE", S)], {S: (X, MEDIUM)}, S),
    ("scheduler Lease stale and unattempted pods: down, high",
     background("LEADER_LEASE_FRESH/scheduler", "PENDING_PODS_ATTEMPTED/scheduler")
     + [observe("LEADER_LEASE_STALE", S), observe("PODS_UNATTEMPTED", S)], {S: (X, HIGH)}, S),
    ("componentstatuses alone: a warning degrades, low",
     background() + [observe("COMPONENTSTATUS_UNHEALTHY", S)], {S: (D, LOW)}, S),
    ("missing Lease and nothing else: unknown, never down",
     background("LEADER_LEASE_FRESH/scheduler", "PENDING_PODS_ATTEMPTED/scheduler")
     + [observe("LEADER_LEASE_MISSING", S)], {S: (U, LOW)}, None),
    ("one working signal: healthy, medium", background("NODE_LIFECYCLE_OK/controller-manager"), {K: (H, MEDIUM)}, None),
    # EKS control-plane metrics API (issue 10)
    ("a hung controller worker, Lease fresh: controller-manager degraded, low",
     background() + [observe("CONTROLLER_WORKER_HUNG", K, controller="node_lifecycle_controller")], {K: (D, LOW)}, K),
    ("a controller queue not draining, Lease fresh: controller-manager degraded, low",
     background() + [observe("CONTROLLER_QUEUE_NOT_DRAINING", K, controller="job")], {K: (D, LOW)}, K),
    ("scheduler not attempting its active queue, Lease fresh: scheduler degraded, low",
     background() + [observe("SCHEDULER_NOT_ATTEMPTING", S)], {S: (D, LOW)}, S),
    ("metrics endpoint failing with the Lease stale: down, high instead of medium",
     background("LEADER_LEASE_FRESH/controller-manager")
     + [observe("LEADER_LEASE_STALE", K), observe("EKS_METRICS_FAILING", K)], {K: (X, HIGH)}, K),
    ("scheduler metrics endpoint failing with its Lease stale: down, high",
     background("LEADER_LEASE_FRESH/scheduler")
     + [observe("LEADER_LEASE_STALE", S), observe("EKS_METRICS_FAILING", S)], {S: (X, HIGH)}, S),
    ("metrics endpoint failing with a symptom, Lease fresh: degraded, medium instead of low",
     background("NODE_LIFECYCLE_OK/controller-manager")
     + [observe("NODE_READY_BUT_SILENT", K), observe("EKS_METRICS_FAILING", K)], {K: (D, MEDIUM)}, K),
    ("metrics endpoint failing alone, Lease fresh: no verdict change",
     background() + [observe("EKS_METRICS_FAILING", K), observe("EKS_METRICS_FAILING", S)], {}, None),
    ("metrics endpoint failing and nothing else seen: still unknown, never down",
     background("LEADER_LEASE_FRESH/controller-manager", "NODE_LIFECYCLE_OK/controller-manager")
     + [observe("EKS_METRICS_FAILING", K)], {K: (U, LOW)}, None),
    ("metrics API absent, standby or quiet: context only, confidence unchanged",
     background("NODE_LIFECYCLE_OK/controller-manager", "PENDING_PODS_ATTEMPTED/scheduler")
     + [observe("EKS_METRICS_NOT_SERVED", K), observe("CONTROLLER_QUEUES_DRAINING", K),
        observe("EKS_METRICS_STANDBY", S), observe("SCHEDULER_QUEUES_MOVING", S)],
     {K: (H, MEDIUM), S: (H, MEDIUM)}, None),
    # never decisive
    ("node and checker findings never decide a control-plane verdict",
     background() + [observe("NODE_NOT_READY", N), observe("CHECKER_CLOCK_SKEW", C)], {}, None),
]


@pytest.mark.parametrize(("name", "observations", "different", "cause"), ROWS, ids=[r[0] for r in ROWS])
def test_rule(name, observations, different, cause):
    verdicts = diagnose(observations)
    expected = {c: different.get(c, (H, HIGH)) for c in (A, E, K, S)}
    assert {c: (v.verdict, v.confidence) for c, v in verdicts.items()} == expected
    assert root_cause(verdicts) == cause


def test_consequences_name_etcd_and_keep_their_own_findings():
    stale = observe("LEADER_LEASE_STALE", K)
    verdicts = diagnose(background("ETCD_WRITE_OK/etcd", "LEADER_LEASE_FRESH/controller-manager")
                        + [observe("ETCD_WRITE_FAILED", E), stale])
    assert verdicts[K].consequence_of is E and verdicts[S].consequence_of is None
    assert [o.code for o in verdicts[K].findings] == ["NOT_JUDGED", "NODE_LIFECYCLE_OK", "LEADER_LEASE_STALE"]
    note = verdicts[K].findings[0]
    assert (verdicts[K].component, note.component) == (K, K)
    assert note.evidence == {"cause": "etcd is down: leader Leases cannot be renewed and controllers cannot write",
                             "root_cause": "etcd"}
    assert verdicts[K].key_finding().code == "LEADER_LEASE_STALE"


def test_explained_apiserver_findings_stay_in_the_evidence():
    slow = observe("APISERVER_SLOW", A)
    verdicts = diagnose(background("ETCD_WRITE_OK/etcd") + [observe("ETCD_WRITE_FAILED", E), slow])
    assert verdicts[A].verdict is H and slow in verdicts[A].findings


@pytest.mark.parametrize(("verdicts", "expected"), [
    ({A: H, E: H, K: H, S: H}, H),
    ({A: H, E: D, K: H, S: H}, D),
    ({A: H, E: D, K: U, S: H}, U),
    ({A: H, E: D, K: U, S: X}, X),
    ({}, U),
])
def test_overall_is_the_worst_verdict(verdicts, expected):
    assert overall({c: ComponentVerdict(c, v, HIGH, ()) for c, v in verdicts.items()}) is expected


def test_root_cause_prefers_down_then_dependency_order_and_skips_consequences():
    def v(component, verdict, cause=None):
        return ComponentVerdict(component, verdict, HIGH, (), cause)
    assert root_cause({A: v(A, H), E: v(E, D), K: v(K, X), S: v(S, X)}) is K
    assert root_cause({A: v(A, D), E: v(E, H), K: v(K, D), S: v(S, H)}) is A
    assert root_cause({A: v(A, H), E: v(E, H), K: v(K, X, E), S: v(S, D)}) is S
    assert root_cause({A: v(A, H), E: v(E, U), K: v(K, U), S: v(S, H)}) is None


@pytest.mark.parametrize(("verdict", "findings", "key"), [
    (X, ["LEADER_LEASE_FRESH", "COMPONENTSTATUS_UNHEALTHY", "LEADER_LEASE_STALE"], "LEADER_LEASE_STALE"),
    (D, ["LEADER_LEASE_FRESH", "COMPONENTSTATUS_UNHEALTHY"], "COMPONENTSTATUS_UNHEALTHY"),
    (U, ["NOT_JUDGED", "LEADER_LEASE_FRESH", "LEADER_LEASE_MISSING"], "LEADER_LEASE_MISSING"),
    (H, ["COMPONENTSTATUS_UNHEALTHY", "LEADER_LEASE_FRESH"], "LEADER_LEASE_FRESH"),
    (U, ["NOT_JUDGED"], "NOT_JUDGED"),
])
def test_key_finding_is_the_first_of_the_status_the_verdict_rests_on(verdict, findings, key):
    observations = tuple(observe(code, K) for code in findings)
    assert ComponentVerdict(K, verdict, HIGH, observations).key_finding().code == key


def test_key_finding_of_no_findings_is_none():
    assert ComponentVerdict(K, U, LOW, ()).key_finding() is None


# --- leader Lease stale threshold --------------------------------------------------------------

# client-go's defaults: leaseDuration 15 s; a gracefully stopped leader writes 1 s (as recorded);
# kube-controller-manager and kube-scheduler accept --leader-elect-lease-duration (10 s, 60 s).
THRESHOLDS = [
    (15, 55.0),     # max(3 x 15, 45) + 10
    (60, 190.0),    # max(3 x 60, 45) + 10: a longer lease waits longer
    (20, 70.0),     # 3 x 20 above the floor
    (10, 55.0),     # 3 x 10 under the 45 s floor
    (1, 55.0),      # a released Lease
    (None, 55.0),   # missing: client-go's default 15 s
    (0, 55.0),      # not a duration: the default
    (-15, 55.0),
    ("60", 55.0),   # a string is not a JSON number: the default
    (0.5, 55.0),
]


@pytest.mark.parametrize(("duration", "threshold"), THRESHOLDS, ids=[repr(t[0]) for t in THRESHOLDS])
def test_stale_threshold_from_the_lease_duration(duration, threshold):
    assert stale_after_s(Settings(), duration) == threshold


def test_stale_threshold_follows_the_settings():
    settings = Settings(lease_duration_factor=2.0, lease_min_stale_s=30.0, clock_margin_s=5.0)
    assert stale_after_s(settings, 10) == 35.0
    assert stale_after_s(settings, 20) == 45.0
