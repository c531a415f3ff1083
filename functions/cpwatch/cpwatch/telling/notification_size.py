"""Fitting a notification into SNS's 256 KiB: what is dropped first, and saying so.

Called by notification.build_notification; pure.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .textformat import short

if TYPE_CHECKING:
    from .notification import Notification

# SNS accepts at most 256 KiB per message, and the message attributes (name, type and value)
# count towards it. With MessageStructure=json the whole JSON object is the message: the
# document goes in five times (escaped) and the text twice.
MESSAGE_MAX_BYTES = 256 * 1024
_SIZE_MARGIN = 1024
# Protocols that receive the JSON document; "default" and "email" get the text.
JSON_PROTOCOLS = ("email-json", "sqs", "lambda", "https", "http")


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


def fit(notification: Notification) -> Notification:
    """Shrink the document until the message fits SNS's limit, saying so in the document."""
    if message_size(notification) <= MESSAGE_MAX_BYTES - _SIZE_MARGIN:
        return notification
    component = notification.document["component"]
    for step, shrink in enumerate(_SHRINKS):
        document = dict(notification.document)
        document["diagnosis"] = shrink(dict(document.get("diagnosis") or {}), component)
        document["truncated"] = True
        document["truncation"] = _SHRINK_NOTES[step]
        candidate = type(notification)(notification.subject, notification.text, document, notification.attributes)
        if message_size(candidate) <= MESSAGE_MAX_BYTES - _SIZE_MARGIN:
            return candidate
    if candidate.document.get("evidence_pack"):
        # The e-mail text keeps the pack; JSON subscribers get the command that prints it.
        document = {**candidate.document, "evidence_pack": None,
                    "truncation": candidate.document["truncation"] + "; evidence pack left to evidence_command"}
        candidate = type(notification)(candidate.subject, candidate.text, document, candidate.attributes)
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
