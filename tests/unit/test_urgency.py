"""What each look means for alerting (issue 17): one row per finding class, with everything else
healthy, giving the subject's look and its advance notices."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from cpwatch.telling.alerting import Look, Notices
from cpwatch.judging.check import diagnosis_from
from cpwatch.findings import Component, observe
from cpwatch.cluster.kubeapi import TransferStats
from cpwatch.telling.report import to_dict
from cpwatch.probes.runner import ProbeResult
from cpwatch.telling.urgency import between_components, looks_of

A, E, K, S, X, C, N = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                       Component.EXTENSIONS, Component.CHECKER, Component.NODE)
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
HEALTHY = [observe("APISERVER_LIVE", A, checks=3, latency_ms=5), observe("APISERVER_READS_OK", A, median_ms=4, samples=3),
           observe("ETCD_CHECK_PASSED", E, path="/livez/etcd"), observe("ETCD_WRITE_OK", E, latency_ms=9),
           observe("LEADER_LEASE_FRESH", K, holder="kcm-1"), observe("DEPLOYMENT_CANARY_OBSERVED", K),
           observe("LEADER_LEASE_FRESH", S, holder="sched-1"), observe("SCHEDULER_CANARY_ATTEMPTED", S),
           observe("WEBHOOKS_OK", X, count=0, fail_closed=0)]
G, D, B, U = Look.GOOD, Look.DEGRADED, Look.BAD, Look.UNKNOWN


def diagnosis(*extra, drop=()):
    found = tuple(o for o in HEALTHY if o.code not in drop) + extra
    api = SimpleNamespace(stats=TransferStats(requests=10, bytes_received=1000))
    return diagnosis_from([ProbeResult("probes", found, 0.5)], "prod-a", T0, 0.5, False, api)


CASES = [
    # name, extra findings, findings dropped, the looks that differ from all good, notices seen
    ("healthy: every subject good", (), (), {}, {}),
    ("slow reads: apiserver degraded (a warning once it lasts)", (observe("APISERVER_SLOW", A),), (), {"apiserver": D}, {}),
    ("throttled: apiserver degraded", (observe("APISERVER_THROTTLED", A),), (), {"apiserver": D}, {}),
    ("certificate expiring: an advance notice", (observe("APISERVER_CERT_EXPIRING", A),), (), {"apiserver": D},
     {"apiserver": {"APISERVER_CERT_EXPIRING"}}),
    ("etcd near its quota: an advance notice", (observe("ETCD_DB_NEAR_QUOTA", E),), (), {"etcd": D},
     {"etcd": {"ETCD_DB_NEAR_QUOTA"}}),
    ("AWS/EKS 5XX share over 2 h: a notice", (observe("VENDED_APISERVER_5XX", A),), (), {"apiserver": D},
     {"apiserver": {"VENDED_APISERVER_5XX"}}),
    ("a webhook failing closed: extensions degraded", (observe("WEBHOOK_FAILING_CLOSED", X, webhook="w"),),
     ("WEBHOOKS_OK",), {"extensions": D}, {}),
    ("an aggregated API unavailable: extensions degraded", (observe("APISERVICE_UNAVAILABLE", X),), (),
     {"extensions": D}, {}),
    ("a fail-closed webhook on control-plane writes: a notice on a healthy verdict",
     (observe("WEBHOOK_COVERS_CONTROL_PLANE", X, webhook="w"), observe("APISERVICES_AVAILABLE", X)), ("WEBHOOKS_OK",),
     {}, {"extensions": {"WEBHOOK_COVERS_CONTROL_PLANE"}}),
    ("EKS reports a health issue: a notice of the checker", (observe("EKS_HEALTH_ISSUE", C, message="y"),),
     (), {}, {"checker": {"EKS_HEALTH_ISSUE"}}),
    ("a stall being counted: a notice of its component", (observe("LEADER_STALLED", K, holder="kcm-1"),), (),
     {"controller-manager": D}, {"controller-manager": {"LEADER_STALLED"}}),
    ("controller-manager down: bad", (observe("LEADER_LEASE_STALE", K),), ("LEADER_LEASE_FRESH",),
     {"controller-manager": B}, {}),
    ("a node problem: history only", (observe("NODE_NOT_READY", N, node="n"),), (), {}, {}),
    ("clock skew: history only", (observe("CHECKER_CLOCK_SKEW", C, offset_s=90),), (), {}, {}),
    ("a probe that could not look: history only", (observe("CHECKER_FORBIDDEN", E),), (), {}, {}),
]


@pytest.mark.parametrize(("name", "extra", "drop", "differ", "seen"), CASES, ids=[c[0] for c in CASES])
def test_each_finding_class_gives_its_look(name, extra, drop, differ, seen):
    looks, notices = looks_of(diagnosis(*extra, drop=drop))
    assert looks == {"apiserver": G, "etcd": G, "controller-manager": G, "scheduler": G, "extensions": G,
                     "checker": G, **differ}
    assert {name: set(n.seen) for name, n in notices.items() if n.seen} == seen


def test_blind_is_bad_for_the_checker_and_unknown_for_the_rest():
    blind = diagnosis_from([ProbeResult("p", (observe("CHECKER_UNAUTHORIZED", A, path="/livez"),), 0.1)], "prod-a", T0,
                           0.1, False, SimpleNamespace(stats=TransferStats()))
    looks, _ = looks_of(blind)
    assert looks == {"apiserver": U, "etcd": U, "controller-manager": U, "scheduler": U, "extensions": U, "checker": B}


def test_a_consequence_is_not_alerted_its_cause_is():
    webhook = observe("WEBHOOK_FAILING_CLOSED", X, webhook="w", configuration="c", cause="refused", covers="all")
    stale = observe("LEADER_LEASE_STALE", K, holder="kcm-1", intercepted_by=["w"])
    looks, _ = looks_of(diagnosis(webhook, stale, drop=("LEADER_LEASE_FRESH", "WEBHOOKS_OK")))
    assert (looks["controller-manager"], looks["extensions"]) == (U, B)


def test_a_notice_is_held_until_its_source_looks_again():
    """A run without the /metrics read does not say the database shrank; one with it does."""
    _, near = looks_of(diagnosis(observe("ETCD_DB_NEAR_QUOTA", E)))
    _, unread = looks_of(diagnosis())
    _, read = looks_of(diagnosis(observe("ETCD_DB_SIZE_OK", E)))
    assert "ETCD_DB_NEAR_QUOTA" in near["etcd"].looked_for
    assert "ETCD_DB_NEAR_QUOTA" not in unread["etcd"].looked_for
    assert read["etcd"] == Notices(frozenset(), read["etcd"].looked_for) and "ETCD_DB_NEAR_QUOTA" in read["etcd"].looked_for


def test_every_message_lists_what_lies_between_the_components():
    found = to_dict(diagnosis(observe("APISERVER_THROTTLED", A, count=3, gave_up=0, priority_level="workload-low"),
                              observe("APISERVICE_UNAVAILABLE", X, name="v1beta1.metrics.k8s.io"),
                              observe("ETCD_DB_NEAR_QUOTA", E), observe("APISERVER_CERT_EXPIRING", A),
                              observe("NODE_NOT_READY", N, node="n"), observe("APISERVER_SLOW", A)))["findings"]
    assert sorted(f["code"] for f in between_components(found)) == [
        "APISERVER_CERT_EXPIRING", "APISERVER_THROTTLED", "APISERVICE_UNAVAILABLE", "ETCD_DB_NEAR_QUOTA"]
