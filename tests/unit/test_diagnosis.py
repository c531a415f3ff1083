"""Correlation rules as a table: observations in, verdicts out."""

import pytest

from cpwatch.judging.diagnosis import Verdict, diagnose, overall, root_cause
from cpwatch.findings import Component, observe

A, E, K, S, N = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                 Component.NODE)
H, D, U, X = Verdict.HEALTHY, Verdict.DEGRADED, Verdict.UNKNOWN, Verdict.DOWN

HEALTHY_API = [observe("APISERVER_LIVE", A), observe("APISERVER_READS_OK", A)]
HEALTHY_ETCD = [observe("ETCD_CHECK_PASSED", E), observe("ETCD_WRITE_OK", E)]
HEALTHY_KCM = [observe("LEADER_LEASE_FRESH", K), observe("DEPLOYMENT_CANARY_OBSERVED", K)]
HEALTHY_SCHED = [observe("LEADER_LEASE_FRESH", S), observe("SCHEDULER_CANARY_ATTEMPTED", S)]
HEALTHY = HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + HEALTHY_SCHED

CASES = [
    ("all healthy", HEALTHY, {A: H, E: H, K: H, S: H}, None),
    ("apiserver unreachable: the rest unknown, not down",
     [observe("APISERVER_UNREACHABLE", A), observe("PROBE_NO_ANSWER", K), observe("PROBE_NO_ANSWER", S),
      observe("ETCD_WRITE_FAILED", E)],
     {A: X, E: U, K: U, S: U}, A),
    ("credentials rejected: everything unknown",
     [observe("CHECKER_UNAUTHORIZED", A), observe("CHECKER_UNAUTHORIZED", E), observe("CHECKER_UNAUTHORIZED", K),
      observe("CHECKER_UNAUTHORIZED", S)],
     {A: U, E: U, K: U, S: U}, None),
    ("etcd quorum lost: leases and reads are consequences",
     [observe("APISERVER_LIVE", A), observe("APISERVER_READS_NO_ANSWER", A), observe("ETCD_CHECK_FAILED", E),
      observe("ETCD_WRITE_FAILED", E), observe("PROBE_NO_ANSWER", K), observe("LEADER_LEASE_STALE", S)],
     {A: H, E: X, K: U, S: U}, E),
    ("one etcd member down: degraded, nothing down",
     HEALTHY_API + [observe("ETCD_CHECK_PASSED", E), observe("ETCD_MEMBER_UNHEALTHY", E)] + HEALTHY_KCM + HEALTHY_SCHED,
     {A: H, E: D, K: H, S: H}, E),
    ("controller-manager: stale lease and a symptom",
     HEALTHY_API + HEALTHY_ETCD + [observe("LEADER_LEASE_STALE", K), observe("NODE_READY_BUT_SILENT", K)] + HEALTHY_SCHED,
     {A: H, E: H, K: X, S: H}, K),
    ("controller-manager: symptoms without a lease verdict are degraded",
     HEALTHY_API + HEALTHY_ETCD + [observe("LEADER_LEASE_MISSING", K), observe("ORPHAN_POD_NOT_COLLECTED", K)] + HEALTHY_SCHED,
     {A: H, E: H, K: D, S: H}, K),
    ("scheduler: stale lease alone is down",
     HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + [observe("LEADER_LEASE_STALE", S)],
     {A: H, E: H, K: H, S: X}, S),
    ("componentstatuses alone only degrades",
     HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + [observe("LEADER_LEASE_FRESH", S), observe("COMPONENTSTATUS_UNHEALTHY", S)],
     {A: H, E: H, K: H, S: D}, S),
    ("node problems never decide a control-plane verdict",
     HEALTHY + [observe("NODE_NOT_READY", N), observe("POD_STUCK_ON_UNHEALTHY_NODE", N)],
     {A: H, E: H, K: H, S: H}, None),
    ("forbidden lease read is unknown, never down",
     HEALTHY_API + HEALTHY_ETCD + [observe("CHECKER_FORBIDDEN", K)] + HEALTHY_SCHED,
     {A: H, E: H, K: U, S: H}, None),
    ("slow apiserver is degraded",
     [observe("APISERVER_LIVE", A), observe("APISERVER_SLOW", A)] + HEALTHY_ETCD + HEALTHY_KCM + HEALTHY_SCHED,
     {A: D, E: H, K: H, S: H}, A),
]


@pytest.mark.parametrize(("name", "observations", "expected", "cause"), CASES, ids=[c[0] for c in CASES])
def test_rules(name, observations, expected, cause):
    verdicts = diagnose(observations)
    assert {c: v.verdict for c, v in verdicts.items()} == expected
    assert root_cause(verdicts) == cause


def test_confidence_follows_agreeing_signals():
    lease_only = diagnose(HEALTHY_API + HEALTHY_ETCD + [observe("LEADER_LEASE_STALE", K)])
    lease_and_symptom = diagnose(HEALTHY_API + HEALTHY_ETCD + [observe("LEADER_LEASE_STALE", K),
                                                               observe("DEPLOYMENT_CANARY_NOT_OBSERVED", K)])
    assert lease_only[K].confidence.value == "medium"
    assert lease_and_symptom[K].confidence.value == "high"


def test_overall_order_is_healthy_degraded_unknown_down():
    verdicts = diagnose(HEALTHY_API + HEALTHY_ETCD + [observe("CHECKER_FORBIDDEN", K), observe("ORPHAN_POD_NOT_COLLECTED", S)])
    assert overall(verdicts) is U
    verdicts = diagnose(HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + [observe("LEADER_LEASE_STALE", S), observe("CHECKER_FORBIDDEN", K)])
    assert overall(verdicts) is X


def test_consequences_name_their_cause():
    verdicts = diagnose([observe("APISERVER_UNREACHABLE", A)])
    assert verdicts[K].consequence_of is A
    assert verdicts[K].findings[0].code == "NOT_JUDGED"
