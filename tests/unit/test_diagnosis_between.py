"""Rules for failures between the components (issue 8), as a table: each row is decided by the
one finding it is about, with everything else healthy."""

import pytest

from cpwatch.judging.diagnosis import Confidence, Verdict, diagnose, overall, root_cause
from cpwatch.findings import Component, observe

A, E, K, S, X_ = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                  Component.EXTENSIONS)
H, D, U, X = Verdict.HEALTHY, Verdict.DEGRADED, Verdict.UNKNOWN, Verdict.DOWN

API = [observe("APISERVER_LIVE", A), observe("APISERVER_READS_OK", A)]
ETCD_HEALTH = [observe("ETCD_CHECK_PASSED", E)]
KCM = [observe("LEADER_LEASE_FRESH", K), observe("DEPLOYMENT_CANARY_OBSERVED", K)]
SCHED = [observe("LEADER_LEASE_FRESH", S), observe("SCHEDULER_CANARY_ATTEMPTED", S)]
REST = KCM + SCHED

CASES = [
    # name, observations, verdicts, overall, root cause
    ("webhook failing closed: components healthy, cluster degraded",
     API + ETCD_HEALTH + [observe("WEBHOOK_FAILING_CLOSED", X_, webhook="w"), observe("PROBE_BLOCKED", E)] + REST,
     {A: H, E: H, K: H, S: H}, D, None),
    ("webhook risk (covers leases) is a warning only: overall stays healthy",
     API + ETCD_HEALTH + [observe("ETCD_WRITE_OK", E), observe("WEBHOOK_COVERS_CONTROL_PLANE", X_)] + REST,
     {A: H, E: H, K: H, S: H}, H, None),
    ("aggregated API unavailable: components healthy, cluster degraded",
     API + ETCD_HEALTH + [observe("ETCD_WRITE_OK", E), observe("APISERVICE_UNAVAILABLE", X_)] + REST,
     {A: H, E: H, K: H, S: H}, D, None),
    ("blocked canaries are unknown for their components' evidence, never down",
     API + ETCD_HEALTH + [observe("LEADER_LEASE_FRESH", K), observe("PROBE_BLOCKED", K),
                          observe("LEADER_LEASE_FRESH", S), observe("PROBE_BLOCKED", S)],
     {A: H, E: H, K: H, S: H}, H, None),
    ("serving certificate invalid: apiserver down, the rest not judged",
     [observe("APISERVER_CERT_INVALID", A), observe("PROBE_NO_ANSWER", E), observe("ETCD_WRITE_FAILED", E),
      observe("PROBE_NO_ANSWER", K), observe("PROBE_NO_ANSWER", S)],
     {A: X, E: U, K: U, S: U}, X, A),
    ("certificate from another CA: everything unknown",
     [observe("CHECKER_CANNOT_CONNECT", A), observe("CHECKER_CANNOT_CONNECT", E), observe("CHECKER_CANNOT_CONNECT", K),
      observe("CHECKER_CANNOT_CONNECT", S)],
     {A: U, E: U, K: U, S: U}, U, None),
    ("a valid certificate alone says nothing about the apiserver",
     [observe("APISERVER_CERT_OK", A), observe("CHECKER_UNAUTHORIZED", A)] + ETCD_HEALTH + REST,
     {A: U, E: H, K: H, S: H}, U, None),
    ("serving certificate expiring soon: apiserver degraded",
     API + [observe("APISERVER_CERT_EXPIRING", A)] + ETCD_HEALTH + REST,
     {A: D, E: H, K: H, S: H}, D, A),
    ("etcd space quota: etcd down while health passes; stale leases are its consequence",
     API + ETCD_HEALTH + [observe("ETCD_NOSPACE", E), observe("ETCD_MEMBER_UNHEALTHY", E),
                          observe("LEADER_LEASE_STALE", K), observe("SERVICEACCOUNT_CANARY_MISSING", K),
                          observe("LEADER_LEASE_FRESH", S), observe("PROBE_BLOCKED", S)],
     {A: H, E: X, K: U, S: H}, X, E),
    ("a storage error on the write alone, every health check passing: etcd down",
     API + ETCD_HEALTH + [observe("ETCD_WRITE_FAILED", E)] + REST,
     {A: H, E: X, K: H, S: H}, X, E),
    ("database near its quota: etcd degraded",
     API + ETCD_HEALTH + [observe("ETCD_WRITE_OK", E), observe("ETCD_DB_NEAR_QUOTA", E)] + REST,
     {A: H, E: D, K: H, S: H}, D, E),
    ("a size read from /metrics alone does not make etcd healthy",
     API + [observe("ETCD_DB_SIZE_OK", E), observe("CHECKER_FORBIDDEN", E)] + REST,
     {A: H, E: U, K: H, S: H}, U, None),
    ("throttled: apiserver degraded, never down",
     API + [observe("APISERVER_THROTTLED", A)] + ETCD_HEALTH + REST,
     {A: D, E: H, K: H, S: H}, D, A),
    ("a probe still throttled could not look: unknown, not down",
     API + ETCD_HEALTH + [observe("LEADER_LEASE_FRESH", K), observe("PROBE_THROTTLED", K)] + SCHED,
     {A: H, E: H, K: H, S: H}, H, None),
    ("an unexplained 5xx on the write: apiserver degraded, etcd not blamed",
     API + ETCD_HEALTH + [observe("APISERVER_WRITE_FAILED", A), observe("PROBE_BLOCKED", E)] + REST,
     {A: D, E: H, K: H, S: H}, D, A),
]


@pytest.mark.parametrize(("name", "observations", "expected", "worst", "cause"), CASES, ids=[c[0] for c in CASES])
def test_rules(name, observations, expected, worst, cause):
    verdicts = diagnose(observations)
    assert {c: v.verdict for c, v in verdicts.items()} == expected
    assert overall(verdicts, observations) is worst
    assert root_cause(verdicts) == cause


def test_nospace_is_high_confidence_on_its_own():
    verdicts = diagnose(API + ETCD_HEALTH + [observe("ETCD_NOSPACE", E)] + REST)
    assert verdicts[E].confidence is Confidence.HIGH
    verdicts = diagnose(API + ETCD_HEALTH + [observe("ETCD_WRITE_FAILED", E)] + REST)
    assert verdicts[E].confidence is Confidence.MEDIUM


def test_certificate_invalid_is_high_confidence():
    assert diagnose([observe("APISERVER_CERT_INVALID", A)])[A].confidence is Confidence.HIGH
