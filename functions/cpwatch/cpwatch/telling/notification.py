"""A transition's notification: the Notification value (subject, e-mail text, JSON document,
message attributes), built from the run's diagnosis document and fitted to SNS's size limit.

Called by publish.py (outbox entries) and tests; pure. The store's outbox holds
Notification.to_dict(). The message is published with MessageStructure=json: e-mail
subscribers get `text`; every JSON-speaking protocol (email-json, SQS, Lambda, HTTP/S) gets
`document`, which carries the diagnosis document of report.to_dict and the findings between the
components with their runbooks. The message attributes are Strings so subscription filter
policies can select on them: cluster (its name), cluster_arn, account, region, component,
severity (critical or warning: a pager subscribes with {"severity": ["critical"]}), state (alarm,
warning or ok after the transition), transition and event_id. event_id names the event, not the
message: the same transition published again (after a run died between SNS accepting it and the
outbox recording that) has the same event_id, so a subscriber can drop the repeat; it hashes the
cluster's ARN, so namesakes in two regions or accounts never share one.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from .alerting import Severity, Transition, TransitionKind
from .document_findings import between_components, key_finding, runbook_dict, runbook_of
from ..findings import Component
from ..identity import ClusterIdentity
from .message_text import email_text, subject
from .notification_size import JSON_PROTOCOLS, MESSAGE_MAX_BYTES, fit, message_size, sns_message
from .textformat import CHECKER, iso, utc

__all__ = ["EVIDENCE_MAX_CHARS", "JSON_PROTOCOLS", "MESSAGE_MAX_BYTES", "NOTIFICATION_SCHEMA", "Notification",
           "build_notification", "eks_console_url", "event_id", "message_size", "sns_message"]

# 2: severity from the alert state (warning class), identity (cluster_arn, account, region),
# between_components; transitions escalation, warning, de-escalation.
NOTIFICATION_SCHEMA = 2
# The evidence pack in a message (e-mail text and document): longer packs are cut here and the
# message names the command that prints the whole pack. An e-mail of tens of KB still reads.
EVIDENCE_MAX_CHARS = 16 * 1024

SEVERITY_CRITICAL = Severity.CRITICAL.value
SEVERITY_WARNING = Severity.WARNING.value
# The state after each transition (attribute `state`): what is open for the subject.
_STATE = {TransitionKind.ALARM: "alarm", TransitionKind.ESCALATION: "alarm", TransitionKind.WARNING: "warning",
          TransitionKind.DEESCALATION: "warning", TransitionKind.RECOVERY: "ok"}


@dataclass(frozen=True)
class Notification:
    subject: str  # <= 100 printable ASCII characters
    text: str  # the email body
    document: dict  # machine-readable; carries the diagnosis document
    attributes: dict[str, str]  # SNS message attributes (all DataType String)

    def to_dict(self) -> dict[str, Any]:
        """For the store's outbox; Notification.from_dict gives it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def build_notification(cluster: ClusterIdentity, transition: Transition, diagnosis: dict,
                       dashboard_url: str | None = None, evidence_pack: str | None = None,
                       evidence_command: str | None = None) -> Notification:
    """The notification of one transition, from the run's diagnosis document. `evidence_pack`
    (and the command that prints it whole) for alarms, warnings and their reminders."""
    component, kind = transition.component, transition.kind
    at = utc(transition.at)
    since = utc(transition.since) if transition.since is not None else None
    first_seen = utc(transition.first_seen) if transition.first_seen is not None else None
    identity = event_id(cluster.arn, component, kind, first_seen or since or at, at)
    verdict, confidence = _component_verdict(diagnosis, component)
    severity = transition.severity.value
    state = _STATE.get(kind) or ("alarm" if transition.severity is Severity.CRITICAL else "warning")
    console_url = eks_console_url(cluster.region, cluster.name)
    findings = [f for f in diagnosis.get("findings") or [] if isinstance(f, dict)]
    key = key_finding(component, findings)
    document = {
        "cpwatch_notification": NOTIFICATION_SCHEMA,
        "cluster": cluster.name,
        "cluster_arn": cluster.arn,
        "account": cluster.account,
        "region": cluster.region,
        "component": component,
        "transition": kind.value,
        "state": state,
        "severity": severity,
        "verdict": verdict,
        "confidence": confidence,
        "key_finding": key.get("code") if key else None,
        "since": iso(since),
        "at": iso(at),
        "duration_s": int((at - since).total_seconds()) if since else None,
        "console_url": console_url,
        "dashboard_url": dashboard_url,
        "truncated": False,
        "event_id": identity,
        "first_seen": iso(first_seen) if first_seen else None,
        "between_components": [_with_runbook(f) for f in between_components(findings)],
        "diagnosis": diagnosis,
    }
    pack = _pack_part(evidence_pack, evidence_command)
    if pack is not None:
        document["evidence_pack"] = pack
        document["evidence_command"] = evidence_command
    title = subject(cluster, transition, verdict, key.get("code") if key else None)
    text = email_text(cluster, transition, verdict, confidence, diagnosis, console_url, dashboard_url, pack)
    attributes = {"cluster": cluster.name, "cluster_arn": cluster.arn, "account": cluster.account,
                  "region": cluster.region, "component": component, "severity": severity, "state": state,
                  "transition": kind.value, "event_id": identity}
    document["subject"] = title
    return fit(Notification(subject=title, text=text, document=document, attributes=attributes))


def event_id(cluster_arn: str, component: str, kind: TransitionKind, first_seen: datetime, at: datetime) -> str:
    """A stable id of one event: the cluster's ARN, component, transition and the first look of
    what it is about (a reminder also by its own time: each reminder is an event of its own)."""
    parts = [cluster_arn, component, kind.value, utc(first_seen).isoformat()]
    if kind is TransitionKind.REMINDER:
        parts.append(utc(at).isoformat())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _with_runbook(finding: dict) -> dict:
    runbook = runbook_of(finding)
    return {"code": finding.get("code"), "component": finding.get("component"), "status": finding.get("status"),
            "message": finding.get("message"), "evidence": finding.get("evidence") or {},
            "runbook": runbook_dict(runbook) if runbook is not None else None}


def _pack_part(pack: str | None, command: str | None) -> str | None:
    """The evidence pack as a message carries it: whole, or its first part and the command that
    prints it whole."""
    if not pack:
        return None
    if len(pack) <= EVIDENCE_MAX_CHARS:
        return pack
    cut = pack[:EVIDENCE_MAX_CHARS].rsplit("\n", 1)[0]
    return cut + f"\n[... {len(pack) - len(cut)} more characters; the whole pack: {command or 'cpwatch evidence'}]\n"


def eks_console_url(region: str, cluster: str) -> str:
    if region.startswith("cn-"):
        return f"https://{region}.console.amazonaws.cn/eks/home?region={region}#/clusters/{cluster}"
    if region.startswith("us-gov-"):
        return f"https://console.amazonaws-us-gov.com/eks/home?region={region}#/clusters/{cluster}"
    return f"https://{region}.console.aws.amazon.com/eks/home?region={region}#/clusters/{cluster}"


def _component_verdict(diagnosis: dict, component: str) -> tuple[str, str]:
    components = diagnosis.get("components") or {}
    if component == CHECKER:
        # As the pipeline judges it: cpwatch is blind when it cannot even judge the apiserver.
        apiserver = components.get(Component.APISERVER.value) or {}
        return ("unknown" if apiserver.get("verdict", "unknown") == "unknown" else "healthy"), ""
    if component == Component.EXTENSIONS.value:
        return str((diagnosis.get("extensions") or {}).get("verdict") or "unknown"), ""
    entry = components.get(component) or {}
    return str(entry.get("verdict") or "unknown"), str(entry.get("confidence") or "low")
