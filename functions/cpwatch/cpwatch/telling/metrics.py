"""CloudWatch metrics of a run, written as EMF log lines through Powertools (no PutMetricData).

Called by the Lambda pipeline once per checked cluster, at the end of the run (after the
notifications, whose count is one of the metrics). CloudWatch Logs turns each line into metrics;
the Lambda needs no CloudWatch permission and a run spends no API call on them.

Namespace `cpwatch`. Names and dimensions are fixed: template.yaml's alarms and dashboard use them.
`Cluster` is the cluster's ARN (identity.py): one name in two regions or accounts is two series,
and every graph and alarm contributor names the account and region. The name, account and region
are also properties of the [Cluster] document (`cluster`, `account`, `region`).

    ComponentsDown        [Cluster]             every run; control-plane components judged down.
                                                The heartbeat: the dead-man's-switch alarm treats
                                                missing data as breaching (cpwatch stopped).
    CheckDurationMs       [Cluster]             every run; the check's wall time.
    Health                [Cluster, Component]  only when not healthy, for apiserver, etcd,
                                                controller-manager and scheduler: 1 degraded,
                                                2 unknown, 3 down (0, healthy, is not written).
    LeaseAgeSeconds       [Cluster, Component]  controller-manager and scheduler, when their
                                                leader Lease was read: seconds since renewTime.
    StaleReadyNodes       [Cluster]             only when non-zero: nodes Ready but silent.
    UnattemptedPods       [Cluster]             only when non-zero: pending pods never attempted.
    StuckTerminatingPods  [Cluster]             only when non-zero: orphans pod GC left behind plus
                                                pods stuck Terminating on nodes.
    Notifications         [Cluster]             only when non-zero: SNS messages of the run.
    Warnings              [Cluster]             only when non-zero: subjects with a warning open
                                                after the run (critical alerts are ComponentsDown's
                                                and the notifications'): the dashboard's
                                                "open warnings".
    Blind                 [Cluster]             only when 1: the run could not see its cluster
                                                (the apiserver's verdict is unknown: no AWS
                                                credentials, DescribeCluster denied, token
                                                refused, endpoint unreachable for the checker).
                                                template.yaml's blind alarm pages on it, evaluated
                                                by CloudWatch: it needs none of the function's
                                                credentials, so a blind function is still loud.

Deployment-wide, no dimension (one series, one alarm however many clusters):

    NotificationsUndelivered  []                only when non-zero: notifications SNS did not
                                                accept in a run (kept in the outbox), or, when
                                                DynamoDB holds no alert state for the run, its
                                                components that looked bad. Its alarm is how a
                                                component alarm still pages when the function
                                                cannot publish (template.yaml).

A healthy cluster has 4 continuous series (1 ComponentsDown + 1 CheckDurationMs + 2
LeaseAgeSeconds). CloudWatch bills a custom metric (name plus dimension values) for every hour
in which at least one value was published, so the values that are zero on a healthy cluster
(the six counters and the four components' Health) are written only when they are not: a
healthy fleet pays for 4 series per cluster, not 14 ($1.20 a month, not $4.20), and a graph or
alarm on them reads missing data as 0 (ComponentsDown, written every run, still says how many
components are down and is the heartbeat).

A Powertools metric set has one dimension set per EMF document, so a run writes one document
for [Cluster] (it also carries the run's properties `cluster`, `overall`, `root_cause`,
`execution_id` for Logs Insights; properties are not dimensions and cost nothing) and one per
component for [Cluster, Component] that has a value. Each document is built on its own EphemeralMetrics: no
state is shared between runs or clusters of one invocation. The service dimension Powertools
adds from POWERTOOLS_SERVICE_NAME is switched off, and POWERTOOLS_METRICS_DISABLED is not
honoured: the heartbeat is an alarm's input, not optional telemetry.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Callable

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import validate_emf_timestamp

from ..findings import CONTROL_PLANE, Component
from ..identity import ClusterIdentity

NAMESPACE = "cpwatch"
HEALTH_VALUES = {"healthy": 0, "degraded": 1, "unknown": 2, "down": 3}
LEASE_COMPONENTS = ("controller-manager", "scheduler")
_LEASE_CODES = ("LEADER_LEASE_FRESH", "LEADER_LEASE_STALE")
_STUCK_ON_NODE_CODES = ("POD_STUCK_ON_UNHEALTHY_NODE", "POD_STUCK_TERMINATING")

logger = logging.getLogger(__name__)


def emit_run_metrics(cluster: ClusterIdentity, diagnosis: dict, notifications: int, write: Callable[[str], None] = print,
                     execution_id: str | None = None, warnings: int = 0) -> list[dict]:
    """Write the run's EMF documents, one line each; returns those written. `warnings`: the
    subjects with a warning open after the run.

    Never raises for a failed write (stdout closed or full): metrics must not fail a run whose
    check and notifications are done. The failure is logged; a missing heartbeat then pages
    through the dead-man's switch.
    """
    written = []
    failures: list[str] = []
    for document in run_metric_documents(cluster, diagnosis, notifications, execution_id, warnings):
        try:
            write(json.dumps(document, separators=(",", ":")))
        except (OSError, ValueError) as error:  # ValueError: write to a closed file
            failures.append(f"{type(error).__name__}: {error}")
            continue
        written.append(document)
    if failures:
        logger.error("could not write %d of %d EMF metric documents for %s: %s", len(failures),
                     len(failures) + len(written), cluster.arn, failures[0])
    return written


def run_metric_documents(cluster: ClusterIdentity, diagnosis: dict, notifications: int,
                         execution_id: str | None = None, warnings: int = 0) -> list[dict]:
    """The EMF documents of one run (pure): the [Cluster] document first, then one per component."""
    findings = [f for f in diagnosis.get("findings") or [] if isinstance(f, dict)]
    components = diagnosis.get("components") or {}
    verdicts = {c.value: str((components.get(c.value) or {}).get("verdict") or "unknown") for c in CONTROL_PLANE}
    timestamp = _timestamp(diagnosis.get("checked_at"))

    run_metrics: list[tuple[str, str, float]] = [
        ("ComponentsDown", MetricUnit.Count, sum(1 for v in verdicts.values() if v == "down")),
        ("CheckDurationMs", MetricUnit.Milliseconds, _number(diagnosis.get("duration_ms")) or 0),
    ]
    sparse = (
        ("StaleReadyNodes", _count(findings, "NODE_READY_BUT_SILENT")),
        ("UnattemptedPods", _count(findings, "PODS_UNATTEMPTED")),
        ("StuckTerminatingPods", _count(findings, "ORPHAN_POD_NOT_COLLECTED")
         + sum(1 for f in findings if f.get("code") in _STUCK_ON_NODE_CODES)),
        ("Notifications", notifications),
        ("Warnings", warnings),
        ("Blind", 1 if verdicts[Component.APISERVER.value] == "unknown" else 0),
    )
    run_metrics += [(name, MetricUnit.Count, value) for name, value in sparse if value]
    properties = {"cluster": cluster.name, "account": cluster.account, "region": cluster.region,
                  "overall": diagnosis.get("overall"), "root_cause": diagnosis.get("root_cause"),
                  "execution_id": execution_id}
    documents = [_document({"Cluster": cluster.arn}, run_metrics, properties, timestamp)]

    for component, verdict in verdicts.items():
        health = HEALTH_VALUES.get(verdict, 2)
        metrics: list[tuple[str, str, float]] = [("Health", MetricUnit.NoUnit, health)] if health else []
        if component in LEASE_COMPONENTS:
            age = _lease_age(findings, component)
            if age is not None:
                metrics.append(("LeaseAgeSeconds", MetricUnit.Seconds, age))
        if metrics:  # an EMF document needs a metric: a healthy apiserver or etcd writes none
            documents.append(_document({"Cluster": cluster.arn, "Component": component}, metrics,
                                       {"verdict": verdict}, timestamp))
    return documents


def _document(dimensions: dict[str, str], metrics: list[tuple[str, str, float]], properties: dict[str, Any],
              timestamp: datetime | None) -> dict:
    # service="": no "service" dimension even when POWERTOOLS_SERVICE_NAME is set (the
    # template sets it for the logger); the dimension sets are fixed.
    emf = EphemeralMetrics(namespace=NAMESPACE, service="")
    for name, value in dimensions.items():
        emf.add_dimension(name=name, value=value)
    for name, unit, value in metrics:
        emf.add_metric(name=name, unit=unit, value=value)
    for key, value in properties.items():
        emf.add_metadata(key=key, value=value)
    if timestamp is not None:
        emf.set_timestamp(timestamp)
    return emf.serialize_metric_set()


def _timestamp(checked_at: Any) -> datetime | None:
    """The check's time, so a run's values land in the minute it looked (EMF accepts 14 days
    back to 2 hours ahead; outside that, the time of writing)."""
    if not isinstance(checked_at, str):
        return None
    try:
        moment = datetime.fromisoformat(checked_at)
    except ValueError:
        return None
    return moment if validate_emf_timestamp(moment) else None


def _lease_age(findings: list[dict], component: str) -> float | None:
    for finding in findings:
        if finding.get("component") == component and finding.get("code") in _LEASE_CODES:
            age = _number((finding.get("evidence") or {}).get("age_s"))
            if age is not None:
                return max(age, 0)
    return None


def _count(findings: list[dict], code: str) -> int:
    """Sum of the `count` evidence of the findings with `code` (a finding without one counts 1)."""
    total = 0
    for finding in findings:
        if finding.get("code") == code:
            count = _number((finding.get("evidence") or {}).get("count"))
            total += int(count) if count is not None else 1
    return total


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def emit_undelivered(cluster: ClusterIdentity, undelivered: int, write: Callable[[str], None] = print) -> None:
    """NotificationsUndelivered (no dimension) when a run's notifications were not all accepted;
    the cluster is a property for Logs Insights. Never raises, like emit_run_metrics."""
    if not undelivered:
        return
    document = _document({}, [("NotificationsUndelivered", MetricUnit.Count, undelivered)],
                         {"cluster": cluster.name, "cluster_arn": cluster.arn}, None)
    try:
        write(json.dumps(document, separators=(",", ":")))
    except (OSError, ValueError) as error:
        logger.error("could not write the NotificationsUndelivered metric for %s: %s", cluster.arn, error)
