"""The evidence pack's text (pure): the support severity per failed component, first seen versus
confirmed, what was ruled out, evidence and log excerpts, a cluster without DescribeCluster; how a
message carries a long pack; the event id of a transition; --at of `cpwatch evidence`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from cpwatch.telling.alerting import Severity, Transition, TransitionKind
from cpwatch.judging.check import diagnosis_from
from cpwatch.errors import ConfigError
from cpwatch.telling.evidencepack import evidence_command, evidence_pack
from cpwatch.findings import Component, observe
from cpwatch.telling.history import parse_at
from cpwatch.identity import ClusterIdentity
from cpwatch.cluster.kubeapi import TransferStats
from cpwatch.telling.notification import EVIDENCE_MAX_CHARS, build_notification, event_id
from cpwatch.telling.report import to_dict
from cpwatch.probes.runner import ProbeResult

A, E, K, S, X = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                 Component.EXTENSIONS)
FIRST = datetime(2026, 6, 2, 9, 29, 5, tzinfo=timezone.utc)
AT = FIRST + timedelta(minutes=1)
STORED = AT + timedelta(seconds=1, microseconds=250_000)
CLUSTER = ClusterIdentity("prod-a", "eu-west-1", "123456789012")
ARN = "arn:aws:eks:eu-west-1:123456789012:cluster/prod-a"
FACTS = {"arn": "arn:aws:eks:eu-west-1:123456789012:cluster/prod-a", "version": "1.31", "platform_version": "eks.12",
         "status": "ACTIVE", "health_issues": []}

HEALTHY = {
    A: [observe("APISERVER_LIVE", A, checks=23, latency_ms=12)],
    E: [observe("ETCD_CHECK_PASSED", E, path="/livez/etcd"), observe("ETCD_WRITE_OK", E, latency_ms=14)],
    K: [observe("LEADER_LEASE_FRESH", K, lease="kube-system/kube-controller-manager", age_s=2, holder="cp-1")],
    S: [observe("LEADER_LEASE_FRESH", S, lease="kube-system/kube-scheduler", age_s=1, holder="cp-1")],
}
KCM_DOWN = [observe("LEADER_LEASE_STALE", K, lease="kube-system/kube-controller-manager", age_s=152, threshold_s=55,
                    holder="ip-10-0-1-12_5f0c", renew_time="2026-06-02T09:28:33.000000Z"),
            observe("NODE_READY_BUT_SILENT", K, count=1, examples="node-c", nodes=["node-c"], threshold_s=120)]
ETCD_DOWN = [observe("ETCD_CHECK_FAILED", E, path="/readyz", detail="[-]etcd failed: reason withheld"),
             observe("ETCD_WRITE_FAILED", E, object="cpwatch/cpwatch-heartbeat", timeout_s=5,
                     detail="500 resource quota evaluation timed out")]
APISERVER_DOWN = [observe("APISERVER_UNREACHABLE", A, path="/livez", reason="refused", detail="connection refused")]


def document(replace=None, extra=()) -> dict:
    flat = tuple(o for found in {**HEALTHY, **(replace or {})}.values() for o in found) + tuple(extra)
    api = SimpleNamespace(stats=TransferStats(requests=14, bytes_received=20480))
    return to_dict(diagnosis_from([ProbeResult("probes", flat, 1.2)], "prod-a", AT, 1.2, False, api))


def pack(component: str, doc: dict, facts=FACTS, kind=TransitionKind.ALARM, severity=Severity.CRITICAL) -> str:
    transition = Transition(component, kind, AT, AT, FIRST, severity)
    return evidence_pack(CLUSTER, facts, transition, 2, doc, STORED)


def test_controller_manager_pack_has_every_part():
    text = pack("controller-manager", document({K: KCM_DOWN}))

    assert text.splitlines()[0] == "EVIDENCE PACK: kube-controller-manager of cluster prod-a is DOWN (high confidence)"
    assert "ARN:                 arn:aws:eks:eu-west-1:123456789012:cluster/prod-a" in text
    assert "region:              eu-west-1" in text and "account:             123456789012" in text
    assert "Kubernetes version:  1.31" in text and "platform version:    eks.12" in text
    assert "first seen:          2026-06-02 09:29:05 UTC (the first failing look)" in text
    assert "confirmed:           2026-06-02 09:30:05 UTC" in text
    assert "lasting:             1m 00s so far" in text
    assert "[FAIL] LEADER_LEASE_STALE" in text and "[FAIL] NODE_READY_BUT_SILENT" in text
    assert "Failing checks: LEADER_LEASE_STALE, NODE_READY_BUT_SILENT." in text
    assert "Confidence high: independent signals agree" in text
    assert "kube-apiserver: HEALTHY, checked by APISERVER_LIVE" in text
    assert "etcd: HEALTHY, checked by ETCD_CHECK_PASSED" in text and "ETCD_WRITE_OK" in text
    assert "kube-scheduler: HEALTHY, checked by LEADER_LEASE_FRESH" in text
    assert "09:30:05  LEADER_LEASE_STALE" in text and "renew_time = 2026-06-02T09:28:33.000000Z" in text
    assert "Support severity to choose: Production system impaired" in text
    assert f"Print this pack again: cpwatch evidence --cluster {ARN} --at 2026-06-02T09:30:06.250Z" in text
    assert "cpwatch urgency: critical (paged)" in text


def test_findings_that_show_nothing_about_a_component_do_not_rule_it_out():
    """An API not served here or a valid certificate describes a component without showing that
    it works: it is not listed among the checks that ruled the component out."""
    not_served = observe("EKS_METRICS_NOT_SERVED", S, path="/apis/metrics.eks.amazonaws.com/v1/ksh/container/metrics",
                         http_status=404)
    certificate = observe("APISERVER_CERT_OK", A, not_after="2027-06-02T09:00:00Z", days_left=365)
    text = pack("controller-manager", document({K: KCM_DOWN}, extra=(not_served, certificate)))

    assert "kube-scheduler: HEALTHY, checked by LEADER_LEASE_FRESH" in text
    assert "EKS_METRICS_NOT_SERVED" not in text and "APISERVER_CERT_OK" not in text


@pytest.mark.parametrize(("component", "replace", "severity"), [
    ("apiserver", {A: APISERVER_DOWN, E: [], K: [], S: []}, "Production system down"),
    ("etcd", {E: ETCD_DOWN}, "Production system down"),
    ("controller-manager", {K: KCM_DOWN}, "Production system impaired"),
    ("checker", {A: [observe("CHECKER_UNAUTHORIZED", A, path="/livez")], E: [], K: [], S: []}, "General guidance"),
])
def test_severity_follows_what_the_failed_component_stops(component, replace, severity):
    text = pack(component, document(replace))

    assert f"Support severity to choose: {severity}\n" in text


def test_a_degraded_component_is_system_impaired():
    slow = [observe("LEADER_LEASE_FRESH", K, lease="kube-system/kube-controller-manager", age_s=2, holder="cp-1"),
            observe("NODE_READY_BUT_SILENT", K, count=1, examples="node-c", nodes=["node-c"], threshold_s=120)]
    doc = document({K: slow})
    assert doc["components"]["controller-manager"]["verdict"] == "degraded"

    assert "Support severity to choose: System impaired\n" in pack("controller-manager", doc)
    warned = pack("controller-manager", doc, kind=TransitionKind.WARNING, severity=Severity.WARNING)
    assert "Support severity to choose: System impaired\n" in warned
    assert "cpwatch urgency: warning (mailbox and chat, not paged)" in warned
    assert "warned:              2026-06-02 09:30:05 UTC" in warned
    assert "Impaired on every look from 2026-06-02 09:29:05 UTC to 2026-06-02 09:30:05 UTC" in " ".join(
        warned.split())


def test_an_advance_notice_is_general_guidance_and_says_it_was_told_at_once():
    expiring = observe("APISERVER_CERT_EXPIRING", A, not_after="2026-06-13T09:00:00Z", days_left=11, warn_days=30)
    doc = document(extra=(expiring,))
    transition = Transition("apiserver", TransitionKind.WARNING, AT, AT, AT, Severity.WARNING)
    text = evidence_pack(CLUSTER, FACTS, transition, 2, doc, STORED)

    assert text.splitlines()[0] == "EVIDENCE PACK: kube-apiserver of cluster prod-a is DEGRADED (low confidence)"
    assert "Support severity to choose: System impaired\n" in text
    assert "An advance notice, told at 2026-06-02 09:30:05 UTC without waiting" in " ".join(text.split())
    assert "[WARN] APISERVER_CERT_EXPIRING" in text


def test_apiserver_down_names_the_rest_not_judged():
    text = pack("apiserver", document({A: APISERVER_DOWN, E: [], K: [], S: []}))

    assert text.count("not judged (because apiserver is down)") == 3


def test_failures_between_components_are_ruled_out_by_name():
    webhook = observe("WEBHOOK_FAILING_CLOSED", X, webhook="w", configuration="c",
                      cause="connect: connection refused", covers="CREATE/UPDATE configmaps in every namespace")
    text = pack("controller-manager", document({K: KCM_DOWN}, extra=(webhook,)))

    ruled_out = " ".join(text.split("What was ruled out\n")[1].split("\n\n")[0].split())
    assert "between the components (webhooks, aggregated APIs): 1 problem(s), reported apart, not this failure" \
        in ruled_out
    assert "single nodes: no problem" in ruled_out


def test_log_excerpts_are_quoted_line_by_line():
    lines = ["E1201 09:28:31 leaderelection.go:332] error retrieving resource lock: context deadline exceeded",
             "I1201 09:28:33 leaderelection.go:285] failed to renew lease kube-system/kube-controller-manager"]
    with_logs = [observe("LEADER_LEASE_STALE", K, lease="kube-system/kube-controller-manager", age_s=152,
                         threshold_s=55, holder="cp-1", renew_time="2026-06-02T09:28:33.000000Z", log_lines=lines)]
    text = pack("controller-manager", document({K: with_logs}))
    without = pack("controller-manager", document({K: KCM_DOWN}))

    excerpts = text.split("Log excerpts\n")[1]
    assert "  LEADER_LEASE_STALE log_lines:\n" in excerpts
    assert all(f"    | {line}\n" in excerpts for line in lines)
    assert "log_lines =" not in text  # quoted once, under Log excerpts
    assert "none: no control-plane log excerpt was read for this run" in without


def test_log_lines_joined_in_one_value_are_quoted_one_by_one():
    errors = [observe("LEADER_LEASE_STALE", K, lease="kube-system/kube-controller-manager", age_s=152,
                      threshold_s=55, holder="cp-1", renew_time="2026-06-02T09:28:33.000000Z",
                      log_group="/aws/eks/prod-a/cluster",
                      lines="E1201 09:28:31 leader election lost | F1201 09:28:31 leaderelection lost")]
    text = pack("controller-manager", document({K: errors}))

    excerpts = text.split("Log excerpts\n")[1]
    assert "    | E1201 09:28:31 leader election lost\n    | F1201 09:28:31 leaderelection lost\n" in excerpts
    assert "log_group = /aws/eks/prod-a/cluster" in text  # a name, not a log line


def test_a_cluster_without_describe_cluster():
    text = pack("controller-manager", document({K: KCM_DOWN}), facts=None)

    assert "EKS:                 not described (not an EKS cluster, or DescribeCluster did not answer)" in text
    assert f"ARN:                 {ARN}" in text  # known before connecting (identity.py)
    assert "Kubernetes version" not in text


def test_the_command_names_the_run_by_its_arn_to_the_millisecond_rounded_up():
    assert evidence_command(CLUSTER, datetime(2026, 6, 2, 9, 30, 6, 1, tzinfo=timezone.utc)) == \
        f"cpwatch evidence --cluster {ARN} --at 2026-06-02T09:30:06.001Z"
    assert evidence_command(CLUSTER, datetime(2026, 6, 2, 9, 30, 6, 999_001, tzinfo=timezone.utc)) == \
        f"cpwatch evidence --cluster {ARN} --at 2026-06-02T09:30:07.000Z"
    assert evidence_command(CLUSTER, datetime(2026, 6, 2, 9, 30, 6, 5000, tzinfo=timezone.utc)) == \
        f"cpwatch evidence --cluster {ARN} --at 2026-06-02T09:30:06.005Z"


def test_notification_carries_the_pack_or_its_first_part_and_the_command():
    doc = document({K: KCM_DOWN})
    text = pack("controller-manager", doc)
    command = evidence_command(CLUSTER, STORED)
    alarm = Transition("controller-manager", TransitionKind.ALARM, AT, AT, FIRST)
    whole = build_notification(CLUSTER, alarm, doc, evidence_pack=text, evidence_command=command)
    long_pack = text + "".join(f"evidence line {i}\n" for i in range(2000))
    cut = build_notification(CLUSTER, alarm, doc, evidence_pack=long_pack, evidence_command=command)

    assert text in whole.text and whole.document["evidence_pack"] == text
    assert len(long_pack) > EVIDENCE_MAX_CHARS
    assert long_pack[:1000] in cut.text
    assert cut.document["evidence_pack"].endswith(f"more characters; the whole pack: {command}]\n")
    assert len(cut.document["evidence_pack"]) < EVIDENCE_MAX_CHARS + 200
    assert f"the whole pack: {command}" in cut.text


def test_event_id_names_the_event_not_the_message():
    reminder_at = AT + timedelta(hours=4)
    other_region = "arn:aws:eks:us-east-1:123456789012:cluster/prod-a"
    other_account = "arn:aws:eks:eu-west-1:210987654321:cluster/prod-a"
    alarm = event_id(ARN, "etcd", TransitionKind.ALARM, FIRST, AT)

    assert alarm == event_id(ARN, "etcd", TransitionKind.ALARM, FIRST, AT + timedelta(seconds=30))
    assert len({alarm,
                event_id(other_region, "etcd", TransitionKind.ALARM, FIRST, AT),
                event_id(other_account, "etcd", TransitionKind.ALARM, FIRST, AT),
                event_id(ARN, "scheduler", TransitionKind.ALARM, FIRST, AT),
                event_id(ARN, "etcd", TransitionKind.RECOVERY, FIRST, AT),
                event_id(ARN, "etcd", TransitionKind.WARNING, FIRST, AT),
                event_id(ARN, "etcd", TransitionKind.ESCALATION, FIRST, AT),
                event_id(ARN, "etcd", TransitionKind.ALARM, FIRST + timedelta(minutes=5), AT),
                event_id(ARN, "etcd", TransitionKind.REMINDER, FIRST, reminder_at),
                event_id(ARN, "etcd", TransitionKind.REMINDER, FIRST, reminder_at + timedelta(hours=4))}) == 10
    notification = build_notification(CLUSTER, Transition("etcd", TransitionKind.ALARM, AT, AT, FIRST),
                                      document({E: ETCD_DOWN}))
    assert notification.attributes["event_id"] == notification.document["event_id"] == alarm


NOW = datetime(2026, 6, 2, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-06-02T09:31:03Z", datetime(2026, 6, 2, 9, 31, 3, tzinfo=timezone.utc)),
    ("2026-06-02 09:31", datetime(2026, 6, 2, 9, 31, tzinfo=timezone.utc)),
    ("2026-06-02T11:31:03+02:00", datetime(2026, 6, 2, 9, 31, 3, tzinfo=timezone.utc)),
])
def test_at_is_utc_unless_it_has_an_offset(raw, expected):
    assert parse_at(raw, NOW) == expected


@pytest.mark.parametrize(("raw", "message"), [
    ("soon", "--at must be a time like 2026-06-02T09:31:03Z or '2026-06-02 09:31' (UTC unless it carries an "
             "offset), got 'soon'"),
    ("2026-06-02T12:05:00Z", "--at '2026-06-02T12:05:00Z' is in the future (now is 2026-06-02T12:00:00Z)"),
])
def test_bad_at(raw, message):
    with pytest.raises(ConfigError) as error:
        parse_at(raw, NOW)
    assert str(error.value) == message
