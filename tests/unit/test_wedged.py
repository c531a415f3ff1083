"""Wedged is down (issue 17): a leader that renews its Lease while it does not work, on
consecutive runs a minute or more apart. Each rule has a table row in which only it decides."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from cpwatch.judging import wedged
from cpwatch.judging.check import diagnosis_from, with_observations
from cpwatch.judging.diagnosis import Confidence, Verdict
from cpwatch.findings import Component, observe
from cpwatch.cluster.kubeapi import TransferStats
from cpwatch.probes.runner import ProbeResult

A, E, K, S = Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
RUNS = 3
HEALTHY = [observe("APISERVER_LIVE", A, checks=3, latency_ms=5), observe("APISERVER_READS_OK", A, median_ms=4, samples=3),
           observe("ETCD_CHECK_PASSED", E, path="/livez/etcd"), observe("ETCD_WRITE_OK", E, latency_ms=9),
           observe("LEADER_LEASE_FRESH", S, lease="kube-system/kube-scheduler", age_s=1, holder="sched-1"),
           observe("SCHEDULER_CANARY_ATTEMPTED", S, latency_ms=30)]


def lease(holder="kcm-1"):
    return observe("LEADER_LEASE_FRESH", K, lease="kube-system/kube-controller-manager", age_s=1, holder=holder)


def canary_failed(renewed):
    return observe("DEPLOYMENT_CANARY_NOT_OBSERVED", K, object="cpwatch/cpwatch-canary", generation=5, observed=4,
                   wait_s=10, leader_renewed=renewed)


WORKS = observe("DEPLOYMENT_CANARY_OBSERVED", K, object="cpwatch/cpwatch-canary", generation=5, latency_ms=40)
HUNG = observe("CONTROLLER_WORKER_HUNG", K, controller="node-lifecycle", longest_running_s=400, threshold_s=300,
               unfinished_s=400, depth=3)
STALE = observe("LEADER_LEASE_STALE", K, lease="kube-system/kube-controller-manager", age_s=90, threshold_s=55,
                holder="kcm-1")


def look(*kcm, extra=()):
    api = SimpleNamespace(stats=TransferStats(requests=10, bytes_received=1000))
    return diagnosis_from([ProbeResult("probes", tuple(HEALTHY) + tuple(kcm) + tuple(extra), 0.5)], "prod-a", T0, 0.5,
                          False, api)


STALLED = (lease(), canary_failed(True))


def run(looks, gap_s=60.0, streaks=None):
    """Apply `wedged.update` to looks `gap_s` apart; the codes it added each time and the streaks."""
    streaks = dict(streaks or {})
    added = []
    for i, diagnosis in enumerate(looks):
        streaks, found = wedged.update(streaks, diagnosis, T0 + timedelta(seconds=i * gap_s), RUNS)
        added.append([o.code for o in found])
    return added, streaks


CASES = [
    # name, the looks, the codes added to each
    ("a canary not handled while the same holder renewed: stalled, then wedged at the third run",
     [look(*STALLED)] * 4, [["LEADER_STALLED"], ["LEADER_STALLED"], ["LEADER_WEDGED"], ["LEADER_WEDGED"]]),
    ("a failover (the Lease not renewed during the wait) never counts",
     [look(*STALLED), look(lease(), canary_failed(False)), look(*STALLED)], [["LEADER_STALLED"], [], ["LEADER_STALLED"]]),
    ("unknown renewal (a read failed) is no sighting and ends a short streak",
     [look(*STALLED), look(lease(), canary_failed(None)), look(*STALLED)], [["LEADER_STALLED"], [], ["LEADER_STALLED"]]),
    ("another holder starts over", [look(*STALLED), look(*STALLED), look(lease("kcm-2"), canary_failed(True))],
     [["LEADER_STALLED"], ["LEADER_STALLED"], ["LEADER_STALLED"]]),
    ("a stale Lease ends it (down by the Lease, not a wedge)",
     [look(*STALLED), look(*STALLED), look(STALE, canary_failed(True))], [["LEADER_STALLED"], ["LEADER_STALLED"], []]),
    ("a run that saw it work ends a short streak", [look(*STALLED), look(*STALLED), look(lease(), WORKS), look(*STALLED)],
     [["LEADER_STALLED"], ["LEADER_STALLED"], [], ["LEADER_STALLED"]]),
    ("EKS's control-plane metrics count like the canary", [look(lease(), HUNG)] * 3,
     [["LEADER_STALLED"], ["LEADER_STALLED"], ["LEADER_WEDGED"]]),
    ("wedged stays wedged through runs that show nothing either way",
     [look(*STALLED)] * 3 + [look(lease())] * 2 + [look(lease(), WORKS)],
     [["LEADER_STALLED"], ["LEADER_STALLED"], ["LEADER_WEDGED"], ["LEADER_WEDGED"], ["LEADER_WEDGED"], []]),
    ("not judged (etcd down): nothing learnt, the streak waits",
     [look(*STALLED), look(*STALLED, extra=(observe("ETCD_CHECK_FAILED", E, path="/readyz", detail="x"),)),
      look(*STALLED)], [["LEADER_STALLED"], ["LEADER_STALLED"], ["LEADER_STALLED"]]),
]


@pytest.mark.parametrize(("name", "looks", "added"), CASES, ids=[c[0] for c in CASES])
def test_the_streak(name, looks, added):
    assert run(looks)[0] == added


def test_looks_of_one_run_count_once_and_runs_a_minute_apart_give_or_take_count():
    added, streaks = run([look(*STALLED)] * 5, gap_s=20)  # 0 s .. 80 s: counted at 0 s and 60 s
    assert added == [["LEADER_STALLED"]] * 5 and streaks["controller-manager"].runs == 2
    added, streaks = run([look(*STALLED)] * 2, gap_s=0)  # a run's confirming second look
    assert streaks["controller-manager"].runs == 1
    added, _ = run([look(*STALLED)] * 3, gap_s=57)  # one run started late, the next on time
    assert added[-1] == ["LEADER_WEDGED"]
    added, _ = run([look(*STALLED)] * 3, gap_s=49)
    assert added[-1] == ["LEADER_STALLED"]


def test_a_canary_a_webhook_refuses_is_the_webhooks_not_a_stall():
    webhook = observe("WEBHOOK_FAILING_CLOSED", Component.EXTENSIONS, webhook="w", configuration="c", cause="refused",
                      covers="all")
    intercepted = observe("LEADER_LEASE_STALE", K, lease="kube-system/kube-controller-manager", age_s=90,
                          threshold_s=55, holder="kcm-1", intercepted_by=["w"])
    diagnosis = look(intercepted, canary_failed(True), extra=(webhook,))
    assert diagnosis.components[K].consequence_of is Component.EXTENSIONS
    assert run([diagnosis] * 3)[0] == [[], [], []]


def test_aws_eks_metrics_count_only_when_every_silent_minute_was_published_and_new():
    def vended(until, counted=True):
        return observe("VENDED_SCHEDULER_NOT_ATTEMPTING", S, waiting=2, minutes=8, since="08:50", until=until,
                       threshold_s=420, attempts_counted=counted)

    sched = [observe("LEADER_LEASE_FRESH", S, lease="kube-system/kube-scheduler", age_s=1, holder="sched-1")]

    def at(*found):
        api = SimpleNamespace(stats=TransferStats(requests=10, bytes_received=1000))
        rest = [o for o in HEALTHY if o.component is not S]
        return diagnosis_from([ProbeResult("p", tuple(rest) + tuple(sched) + found + (lease(), WORKS), 0.5)],
                              "prod-b", T0, 0.5, False, api)

    streaks = {}
    counted = []
    for i, found in enumerate([vended("08:57"), vended("08:58"), vended("08:58"), vended("08:59")]):
        streaks, _ = wedged.update(streaks, at(found), T0 + timedelta(minutes=i), RUNS)
        counted.append(streaks["scheduler"].runs)
    assert counted == [1, 2, 2, 3]  # the same minute read twice is not a run
    assert wedged.update({}, at(vended("08:57", counted=False)), T0, RUNS)[0] == {}


def test_a_wedged_leader_is_down_high_with_the_evidence_of_every_run():
    _, streaks = run([look(*STALLED)] * 3)
    diagnosis = look(*STALLED)
    _, found = wedged.update(streaks, diagnosis, T0 + timedelta(minutes=3), RUNS)
    judged = with_observations(diagnosis, found, first=True)

    verdict = judged.components[K]
    assert (verdict.verdict, verdict.confidence) == (Verdict.DOWN, Confidence.HIGH)
    assert verdict.key_finding().code == "LEADER_WEDGED"
    assert judged.root_cause is K
    evidence = verdict.key_finding().evidence
    assert evidence["holder"] == "kcm-1" and evidence["runs"] == 4 and evidence["needed"] == 3
    assert [line[:24] for line in evidence["sightings"]] == [f"2026-11-27 09:0{i}:00 UTC:" for i in range(3)]
    assert all("DEPLOYMENT_CANARY_NOT_OBSERVED" in line for line in evidence["sightings"])
    assert "renews its Lease but does not work" in verdict.key_finding().message()


def test_a_stall_being_counted_is_watched_a_wedged_one_is_not():
    _, counting = run([look(*STALLED)] * 2)
    _, done = run([look(*STALLED)] * 3)
    assert wedged.watched(counting, RUNS) == {"controller-manager"}
    assert wedged.watched(done, RUNS) == frozenset()
