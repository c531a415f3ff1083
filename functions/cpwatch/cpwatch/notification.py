"""A transition's notification: the Notification value (subject, e-mail text, JSON document,
message attributes), built from the run's diagnosis document and fitted to SNS's size limit.

Called by publish.py (outbox entries) and tests; pure. The store's outbox holds
Notification.to_dict(). The message is published with MessageStructure=json: e-mail
subscribers get `text`; every JSON-speaking protocol (email-json, SQS, Lambda, HTTP/S) gets
`document`, which carries the diagnosis document of report.to_dict. The message attributes
(cluster, component, severity, state, transition, event_id) are Strings so subscription filter
policies can select on them. event_id names the event, not the message: the same transition
published again (after a run died between SNS accepting it and the outbox recording that) has
the same event_id, so a subscriber can drop the repeat.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from .alerting import TransitionKind
from .findings import Component
from .message_text import email_text, subject
from .textformat import CHECKER, iso, short, utc

NOTIFICATION_SCHEMA = 1
# SNS accepts at most 256 KiB per message, and the message attributes (name, type and value)
# count towards it. With MessageStructure=json the whole JSON object is the message: the
# document goes in five times (escaped) and the text twice.
MESSAGE_MAX_BYTES = 256 * 1024
_SIZE_MARGIN = 1024
# The evidence pack in a message (e-mail text and document): longer packs are cut here and the
# message names the command that prints the whole pack. An e-mail of tens of KB still reads.
EVIDENCE_MAX_CHARS = 16 * 1024
# Protocols that receive the JSON document; "default" and "email" get the text.
JSON_PROTOCOLS = ("email-json", "sqs", "lambda", "https", "http")

SEVERITY_CRITICAL = "critical"
SEVERITY_WARNING = "warning"
SEVERITY_INFO = "info"


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


def build_notification(cluster: str, region: str | None, component: str, kind: str | TransitionKind,
                       at: datetime, since: datetime | None, diagnosis: dict,
                       dashboard_url: str | None = None, first_seen: datetime | None = None,
                       evidence_pack: str | None = None, evidence_command: str | None = None) -> Notification:
    """The notification of one transition of `component`, from the run's diagnosis document.
    `first_seen`: the failure's first bad look (names the event); `evidence_pack` (and the
    command that prints it whole) for alarms and reminders."""
    kind = TransitionKind(kind)
    at, since = utc(at), utc(since) if since is not None else None
    identity = event_id(cluster, component, kind, first_seen or since or at, at)
    verdict, confidence = _component_verdict(diagnosis, component)
    severity = _severity(kind, component, verdict)
    console_url = eks_console_url(region, cluster) if region else None
    state = "ok" if kind is TransitionKind.RECOVERY else "alarm"
    document = {
        "cpwatch_notification": NOTIFICATION_SCHEMA,
        "cluster": cluster,
        "region": region,
        "component": component,
        "transition": kind.value,
        "state": state,
        "severity": severity,
        "verdict": verdict,
        "confidence": confidence,
        "since": iso(since),
        "at": iso(at),
        "duration_s": int((at - since).total_seconds()) if since else None,
        "console_url": console_url,
        "dashboard_url": dashboard_url,
        "truncated": False,
        "event_id": identity,
        "first_seen": iso(utc(first_seen)) if first_seen else None,
        "diagnosis": diagnosis,
    }
    pack = _pack_part(evidence_pack, evidence_command)
    if pack is not None:
        document["evidence_pack"] = pack
        document["evidence_command"] = evidence_command
    title = subject(cluster, component, kind, verdict, at, since)
    text = email_text(cluster, component, kind, at, since, verdict, confidence, diagnosis, console_url, dashboard_url,
                      pack)
    attributes = {"cluster": cluster, "component": component, "severity": severity, "state": state,
                  "transition": kind.value, "event_id": identity}
    document["subject"] = title
    return _fit(Notification(subject=title, text=text, document=document, attributes=attributes))


def event_id(cluster: str, component: str, kind: TransitionKind, first_seen: datetime, at: datetime) -> str:
    """A stable id of one event: cluster, component, transition and the failure's first bad
    look (a reminder also by its own time: each reminder is an event of its own)."""
    parts = [cluster, component, kind.value, utc(first_seen).isoformat()]
    if kind is TransitionKind.REMINDER:
        parts.append(utc(at).isoformat())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _pack_part(pack: str | None, command: str | None) -> str | None:
    """The evidence pack as a message carries it: whole, or its first part and the command that
    prints it whole."""
    if not pack:
        return None
    if len(pack) <= EVIDENCE_MAX_CHARS:
        return pack
    cut = pack[:EVIDENCE_MAX_CHARS].rsplit("\n", 1)[0]
    return cut + f"\n[... {len(pack) - len(cut)} more characters; the whole pack: {command or 'cpwatch evidence'}]\n"


def sns_message(notification: Notification) -> str:
    """The Message of a MessageStructure=json publish: the text for email, the document for the rest."""
    document = json.dumps(notification.document, separators=(",", ":"), ensure_ascii=False)
    return json.dumps({"default": notification.text, "email": notification.text,
                       **{protocol: document for protocol in JSON_PROTOCOLS}}, ensure_ascii=False)


def message_size(notification: Notification) -> int:
    """Bytes SNS counts against its 256 KiB limit (message, subject and attributes)."""
    attributes = sum(len(name.encode()) + len("String") + len(value.encode())
                     for name, value in notification.attributes.items())
    return len(sns_message(notification).encode()) + len(notification.subject.encode()) + attributes


def eks_console_url(region: str, cluster: str) -> str:
    if region.startswith("cn-"):
        return f"https://{region}.console.amazonaws.cn/eks/home?region={region}#/clusters/{cluster}"
    if region.startswith("us-gov-"):
        return f"https://console.amazonaws-us-gov.com/eks/home?region={region}#/clusters/{cluster}"
    return f"https://{region}.console.aws.amazon.com/eks/home?region={region}#/clusters/{cluster}"


# --- verdicts and severity -----------------------------------------------------------------


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


def _severity(kind: TransitionKind, component: str, verdict: str) -> str:
    if kind is TransitionKind.RECOVERY:
        return SEVERITY_INFO
    if component != CHECKER and verdict == "down":
        return SEVERITY_CRITICAL
    return SEVERITY_WARNING


# --- size ----------------------------------------------------------------------------------


def _fit(notification: Notification) -> Notification:
    """Shrink the document until the message fits SNS's limit, saying so in the document."""
    if message_size(notification) <= MESSAGE_MAX_BYTES - _SIZE_MARGIN:
        return notification
    component = notification.document["component"]
    for step, shrink in enumerate(_SHRINKS):
        document = dict(notification.document)
        document["diagnosis"] = shrink(dict(document.get("diagnosis") or {}), component)
        document["truncated"] = True
        document["truncation"] = _SHRINK_NOTES[step]
        candidate = Notification(notification.subject, notification.text, document, notification.attributes)
        if message_size(candidate) <= MESSAGE_MAX_BYTES - _SIZE_MARGIN:
            return candidate
    if candidate.document.get("evidence_pack"):
        # The e-mail text keeps the pack; JSON subscribers get the command that prints it.
        document = {**candidate.document, "evidence_pack": None,
                    "truncation": candidate.document["truncation"] + "; evidence pack left to evidence_command"}
        candidate = Notification(candidate.subject, candidate.text, document, candidate.attributes)
    return candidate


def _drop_passing_evidence(diagnosis: dict, component: str) -> dict:
    diagnosis["findings"] = [f if f.get("status") == "fail" else {**f, "evidence": {}}
                             for f in diagnosis.get("findings") or []]
    return diagnosis


def _cut_failing_evidence(diagnosis: dict, component: str) -> dict:
    diagnosis = _drop_passing_evidence(diagnosis, component)
    diagnosis["findings"] = [{**f, "message": short(f.get("message", ""), 1000),
                              "evidence": {k: _cut(v) for k, v in (f.get("evidence") or {}).items()}}
                             for f in diagnosis["findings"]]
    return diagnosis


def _only_this_component(diagnosis: dict, component: str) -> dict:
    diagnosis = _cut_failing_evidence(diagnosis, component)
    diagnosis["findings"] = [f for f in diagnosis["findings"] if f.get("component") == component][:20]
    return diagnosis


def _verdicts_only(diagnosis: dict, component: str) -> dict:
    return {key: diagnosis.get(key) for key in ("schema_version", "cluster", "overall", "root_cause", "components",
                                                "checked_at", "duration_ms")} | {
        "summary": short(diagnosis.get("summary", ""), 2000), "findings": []}


_SHRINKS = (_drop_passing_evidence, _cut_failing_evidence, _only_this_component, _verdicts_only)
_SHRINK_NOTES = (
    "evidence of non-failing findings dropped",
    "evidence of non-failing findings dropped; failing findings' evidence cut short",
    "only this component's findings kept, their evidence cut short",
    "findings dropped; verdicts and summary kept",
)


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return short(value, 256)
    if isinstance(value, list):
        return [_cut(v) for v in value[:10]] + ([f"... {len(value) - 10} more"] if len(value) > 10 else [])
    if isinstance(value, dict):
        return {"cut": True}
    return value
