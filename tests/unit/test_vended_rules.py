"""AWS/EKS vended metrics -> findings (vended_rules.py): each rule as a table of minutes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.aws.vended_metrics import (
    APISERVER_REQUESTS,
    APISERVER_REQUESTS_5XX,
    APISERVER_REQUESTS_429,
    SCHEDULER_ATTEMPTS,
    SCHEDULER_PENDING,
    SCHEDULER_PENDING_GATED,
    STORAGE_SIZE,
    Series,
    VendedMetrics,
)
from cpwatch.judging.diagnosis import Confidence, Verdict, diagnose
from cpwatch.findings import Component, observe
from cpwatch.settings import Settings
from cpwatch.judging.vended_rules import apiserver_findings, scheduler_findings, storage_findings

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
SETTINGS = Settings()


def metrics(**series: list[float | None]) -> VendedMetrics:
    """Series by attribute-ish name -> one value per minute from T0 (None: no datapoint)."""
    names = {"pending": SCHEDULER_PENDING, "gated": SCHEDULER_PENDING_GATED, "attempts": SCHEDULER_ATTEMPTS,
             "requests": APISERVER_REQUESTS, "e5xx": APISERVER_REQUESTS_5XX, "e429": APISERVER_REQUESTS_429,
             "storage": STORAGE_SIZE}
    points: dict[str, tuple] = {}
    for key, values in series.items():
        item: Series = names[key]
        kept = tuple((T0 + timedelta(minutes=i), float(v)) for i, v in enumerate(values) if v is not None)
        if kept:
            points[item.name] = kept
    return VendedMetrics("prod-a", T0, T0 + timedelta(minutes=15), points)


def codes(found) -> list[str]:
    return [o.code for o in found]


SCHEDULER_CASES = [
    ("pods wait 7 minutes, no attempt counted", dict(pending=[3] * 7, attempts=[0] * 7), ["VENDED_SCHEDULER_NOT_ATTEMPTING"]),
    ("attempts counter absent while pods wait (it exists only after a first attempt)",
     dict(pending=[3] * 8), ["VENDED_SCHEDULER_NOT_ATTEMPTING"]),
    ("6 minutes is within the 5 min + 30 s retry of unschedulable pods plus a period",
     dict(pending=[3] * 6, attempts=[0] * 6), ["VENDED_SCHEDULER_ATTEMPTING"]),
    ("an attempt in the newest minute", dict(pending=[3] * 9, attempts=[0] * 8 + [2]), ["VENDED_SCHEDULER_ATTEMPTING"]),
    ("an attempt 8 minutes ago, silent since for 7 minutes",
     dict(pending=[3] * 9, attempts=[0, 4] + [0] * 7), ["VENDED_SCHEDULER_NOT_ATTEMPTING"]),
    ("only gated pods wait: the scheduler does not try them",
     dict(pending=[2] * 10, gated=[2] * 10, attempts=[0] * 10), ["VENDED_SCHEDULER_ATTEMPTING"]),
    ("a missing minute breaks the run", dict(pending=[3, 3, 3, None, 3, 3, 3, 3], attempts=[0] * 8),
     ["VENDED_SCHEDULER_ATTEMPTING"]),
    ("no pod waits", dict(pending=[0] * 10, attempts=[0] * 10), ["VENDED_SCHEDULER_ATTEMPTING"]),
    ("no scheduler series at all (cluster before 1.28)", dict(requests=[100] * 10), []),
]


@pytest.mark.parametrize("name,series,expected", SCHEDULER_CASES, ids=[c[0] for c in SCHEDULER_CASES])
def test_scheduler_rule(name, series, expected):
    assert codes(scheduler_findings(metrics(**series), SETTINGS)) == expected


def test_scheduler_finding_names_the_silent_minutes():
    found = scheduler_findings(metrics(pending=[1, 5, 5, 5, 5, 5, 5, 5, 4], gated=[1] * 9, attempts=[2] + [0] * 8),
                               SETTINGS)[0]
    assert found.evidence["waiting"] == 3 and found.evidence["minutes"] == 8
    assert (found.evidence["since"], found.evidence["until"]) == ("09:01", "09:08")


def test_scheduler_silence_threshold_is_the_setting():
    series = metrics(pending=[3] * 5, attempts=[0] * 5)
    assert codes(scheduler_findings(series, SETTINGS.with_overrides(vended_scheduler_silent_s=300.0))) == [
        "VENDED_SCHEDULER_NOT_ATTEMPTING"]


APISERVER_CASES = [
    ("5XX above 5 %", dict(requests=[1000] * 10, e5xx=[60] * 10, e429=[0] * 10), False, ["VENDED_APISERVER_5XX"]),
    ("5XX below 5 %: judged, below both thresholds", dict(requests=[1000] * 10, e5xx=[40] * 10), False,
     ["VENDED_APISERVER_RATES_OK"]),
    ("429 above 5 %", dict(requests=[1000] * 10, e429=[100] * 10), False, ["VENDED_APISERVER_429"]),
    ("too few requests to judge a share", dict(requests=[9] * 10, e5xx=[9] * 10), False, []),
    ("serving wanted: the newest minute", dict(requests=[1000] * 10), True,
     ["VENDED_APISERVER_RATES_OK", "VENDED_APISERVER_SERVING"]),
    ("no apiserver series", dict(pending=[0]), True, []),
]


@pytest.mark.parametrize("name,series,serving,expected", APISERVER_CASES, ids=[c[0] for c in APISERVER_CASES])
def test_apiserver_rule(name, series, serving, expected):
    assert codes(apiserver_findings(metrics(**series), SETTINGS, serving)) == expected


def test_apiserver_serving_reports_the_newest_minute():
    found = apiserver_findings(metrics(requests=[10, 20, 0], e5xx=[0, 1, 0]), SETTINGS, True)
    assert found[-1].evidence == {"requests": 0, "minute": "09:02", "errors_5xx": 0, "throttled_429": 0}


def test_5xx_share_evidence():
    found = apiserver_findings(metrics(requests=[500, 500], e5xx=[25, 75]), SETTINGS, False)[0]
    assert (found.evidence["percent"], found.evidence["errors"], found.evidence["requests"]) == (10.0, 100, 1000)


@pytest.mark.parametrize("size,expected", [(7 * 2**30, "ETCD_DB_NEAR_QUOTA"), (6 * 2**30, "ETCD_DB_SIZE_OK")])
def test_storage_size_against_the_eks_quota(size, expected):
    found = storage_findings(metrics(storage=[1.0, size]), SETTINGS)
    assert codes(found) == [expected] and found[0].evidence["quota_bytes"] == 8 * 2**30
    assert found[0].component is Component.ETCD


def test_no_storage_series_no_finding():
    assert storage_findings(metrics(requests=[1]), SETTINGS) == []


# Only the vended rule decides: the apiserver-side scheduler probes are all healthy.
@pytest.mark.parametrize("attempts,confidence", [([0] * 8, Confidence.MEDIUM), ([None] * 8, Confidence.LOW),
                                                 ([0] * 7 + [None], Confidence.LOW)])
def test_scheduler_not_attempting_alone_is_degraded(attempts, confidence):
    """Medium when EKS published zero attempts in every silent minute (documented: the attempts of
    each period); low when inferred from a counter it did not publish (undocumented)."""
    healthy = [observe("LEADER_LEASE_FRESH", Component.SCHEDULER), observe("PENDING_PODS_ATTEMPTED", Component.SCHEDULER)]
    vended = scheduler_findings(metrics(pending=[3] * 8, attempts=attempts), SETTINGS)
    assert diagnose(healthy)[Component.SCHEDULER].verdict is Verdict.HEALTHY
    verdict = diagnose(healthy + vended)[Component.SCHEDULER]
    assert (verdict.verdict, verdict.confidence) == (Verdict.DEGRADED, confidence)


def test_scheduler_not_attempting_with_a_stale_lease_is_down_high():
    found = [observe("LEADER_LEASE_STALE", Component.SCHEDULER), *scheduler_findings(metrics(pending=[3] * 8), SETTINGS)]
    verdict = diagnose(found)[Component.SCHEDULER]
    assert (verdict.verdict, verdict.confidence) == (Verdict.DOWN, Confidence.HIGH)


@pytest.mark.parametrize("code,component", [("VENDED_SCHEDULER_ATTEMPTING", Component.SCHEDULER),
                                            ("VENDED_APISERVER_SERVING", Component.APISERVER),
                                            ("CONTROL_PLANE_LOG_NO_ERROR", Component.CONTROLLER_MANAGER)])
def test_outside_context_alone_never_makes_a_component_healthy(code, component):
    assert diagnose([observe(code, component)])[component].verdict is Verdict.UNKNOWN
