"""The subject and headline of each transition kind (issue 17), a warning's urgency line, and the
subject that always names account and region, cut to SNS's 100 characters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from cpwatch.telling.alerting import Severity, Transition, TransitionKind
from cpwatch.judging.check import diagnosis_from
from cpwatch.findings import Component, observe
from cpwatch.identity import ClusterIdentity
from cpwatch.cluster.kubeapi import TransferStats
from cpwatch.telling.notification import build_notification
from cpwatch.telling.report import to_dict
from cpwatch.probes.runner import ProbeResult

A, E, K, S, X, C = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                    Component.EXTENSIONS, Component.CHECKER)
CLUSTER = ClusterIdentity("prod-a", "eu-west-1", "123456789012")
AT = datetime(2026, 6, 2, 9, 31, tzinfo=timezone.utc)
FIRST = AT - timedelta(minutes=10)
W, CRIT = Severity.WARNING, Severity.CRITICAL
HEALTHY = [observe("APISERVER_LIVE", A, checks=3, latency_ms=5), observe("APISERVER_READS_OK", A, median_ms=4, samples=3),
           observe("ETCD_CHECK_PASSED", E, path="/livez/etcd"), observe("ETCD_WRITE_OK", E, latency_ms=9),
           observe("LEADER_LEASE_FRESH", K, holder="kcm-1", age_s=1, lease="l"),
           observe("LEADER_LEASE_FRESH", S, holder="s-1", age_s=1, lease="l")]


def document(*extra) -> dict:
    api = SimpleNamespace(stats=TransferStats(requests=10, bytes_received=1000))
    return to_dict(diagnosis_from([ProbeResult("p", tuple(HEALTHY) + extra, 0.5)], "prod-a", AT, 0.5, False, api))


SLOW = observe("APISERVER_SLOW", A, median_ms=1500, samples=3, threshold_ms=1000)
COVERS = observe("WEBHOOK_COVERS_CONTROL_PLANE", X, webhook="policy.example.com", configuration="c",
                 writes="leader Leases", consequence="the controller-manager and scheduler lose leadership")
HEALTH_ISSUE = observe("EKS_HEALTH_ISSUE", C, issue="Ec2SubnetNotFound", message="subnet-1 not found", resources=[])
WHERE = "prod-a (123456789012/eu-west-1)"

CASES = [
    # name, component, kind, severity, since, first seen, extra findings, subject, first line
    ("a lasting degradation", "apiserver", TransitionKind.WARNING, W, AT, FIRST, (SLOW,),
     f"[cpwatch] WARNING {WHERE}: apiserver DEGRADED (APISERVER_SLOW)",
     "kube-apiserver of cluster prod-a is DEGRADED (low confidence) since 09:31 UTC."),
    ("a notice on a healthy verdict", "extensions", TransitionKind.WARNING, W, AT, AT, (COVERS,),
     f"[cpwatch] WARNING {WHERE}: extensions NOTICE (WEBHOOK_COVERS_CONTROL_PLANE)",
     "admission webhooks and aggregated APIs of cluster prod-a has an advance notice since 09:31 UTC."),
    ("what EKS reports", "checker", TransitionKind.WARNING, W, AT, AT, (HEALTH_ISSUE,),
     f"[cpwatch] WARNING {WHERE}: checker NOTICE (EKS_HEALTH_ISSUE)",
     "What EKS reports of cluster prod-a has an advance notice since 09:31 UTC."),
    ("a warning's daily reminder", "apiserver", TransitionKind.REMINDER, W, AT - timedelta(days=1), FIRST, (SLOW,),
     f"[cpwatch] REMINDER {WHERE}: apiserver DEGRADED for 1d 0h (APISERVER_SLOW)",
     "REMINDER: kube-apiserver of cluster prod-a is still DEGRADED (low confidence), for 1d 0h now (since "
     "2026-06-01 09:31 UTC)."),
    ("a warning cleared", "apiserver", TransitionKind.RECOVERY, W, AT - timedelta(hours=2), FIRST, (),
     f"[cpwatch] CLEARED {WHERE}: apiserver",
     "kube-apiserver of cluster prod-a has RECOVERED at 09:31 UTC, now healthy (high confidence); the warning "
     "lasted 2h 0m (since 07:31 UTC)."),
    ("the end of a page, still impaired", "apiserver", TransitionKind.DEESCALATION, CRIT, AT - timedelta(minutes=5),
     FIRST, (SLOW,), f"[cpwatch] NO LONGER DOWN {WHERE}: apiserver, still DEGRADED",
     "kube-apiserver of cluster prod-a is no longer down at 09:31 UTC, but still DEGRADED (low confidence): the "
     "page ends, a warning stays open (the alarm lasted 5m, since 09:26 UTC)."),
]


@pytest.mark.parametrize(("name", "component", "kind", "severity", "since", "first", "extra", "subject", "line"),
                         CASES, ids=[c[0] for c in CASES])
def test_subject_and_headline(name, component, kind, severity, since, first, extra, subject, line):
    notification = build_notification(CLUSTER, Transition(component, kind, AT, since, first, severity), document(*extra))
    assert notification.subject == subject
    assert notification.text.splitlines()[0] == line


def test_a_warning_says_why_it_is_one_and_that_it_does_not_page():
    lasting = build_notification(CLUSTER, Transition("apiserver", TransitionKind.WARNING, AT, AT, FIRST, W),
                                 document(SLOW)).text
    notice = build_notification(CLUSTER, Transition("extensions", TransitionKind.WARNING, AT, AT, AT, W),
                                document(COVERS)).text
    assert " ".join(lasting.split("\n\n")[0].split()).endswith(
        "Urgency: warning (mailboxes and chat, never a pager): it has lasted since 09:21 UTC. It is paged if it "
        "turns into a component down. Cluster: prod-a, account 123456789012, region eu-west-1 "
        "(arn:aws:eks:eu-west-1:123456789012:cluster/prod-a)")
    assert "an advance notice, told at once" in " ".join(notice.split())


def test_a_name_too_long_for_the_subject_is_cut_last():
    long = ClusterIdentity("c" * 100, "eu-west-1", "123456789012")
    notification = build_notification(long, Transition("controller-manager", TransitionKind.ALARM, AT, AT, AT),
                                      document())
    assert len(notification.subject) <= 100 and notification.subject.startswith("[cpwatch] ALARM ccc")
    assert notification.subject.endswith("...: controller-manager HEALTHY")
    short = build_notification(CLUSTER, Transition("controller-manager", TransitionKind.ALARM, AT, AT, AT), document())
    assert short.subject == f"[cpwatch] ALARM {WHERE}: controller-manager HEALTHY"
