"""SNS notifications: one message per alert transition (alarm, recovery, reminder).

Called by the Lambda pipeline for each Transition that alerting.step returns, and again for
notifications kept in the store's outbox after SNS did not accept them (the outbox holds
Notification.to_dict()). build_notification is pure; publish is the only SNS call.

A message is published with MessageStructure=json: email subscribers get `text`, a plain-text
email that an on-call engineer can act on without opening anything else (what happened, the
evidence, the runbook of findings.py, the other components, console links); every JSON-speaking
protocol (email-json, SQS, Lambda, HTTP/S) gets `document`, which carries the diagnosis
document of report.to_dict. The message attributes (cluster, component, severity, state,
transition) are Strings so subscription filter policies can select on them.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import (
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from .alerting import TransitionKind
from .aws.clients import aws_client
from .errors import PublishError
from .findings import CATALOGUE, COMPONENT_RUNBOOKS, CONTROL_PLANE, Component, Observation, Runbook, runbook_for

NOTIFICATION_SCHEMA = 1
# SNS rejects a Subject longer than 100 characters, with a line break or a control character.
SUBJECT_MAX = 100
# SNS accepts at most 256 KiB per message, and the message attributes (name, type and value)
# count towards it. With MessageStructure=json the whole JSON object is the message: the
# document goes in five times (escaped) and the text twice.
MESSAGE_MAX_BYTES = 256 * 1024
_SIZE_MARGIN = 1024
# The email text is bounded on its own so the document keeps most of the budget.
TEXT_MAX_CHARS = 48 * 1024
# Protocols that receive the JSON document; "default" and "email" get the text.
JSON_PROTOCOLS = ("email-json", "sqs", "lambda", "https", "http")

SEVERITY_CRITICAL = "critical"
SEVERITY_WARNING = "warning"
SEVERITY_INFO = "info"

CHECKER = Component.CHECKER.value
DISPLAY_NAMES = {
    Component.APISERVER.value: "kube-apiserver",
    Component.ETCD.value: "etcd",
    Component.CONTROLLER_MANAGER.value: "kube-controller-manager",
    Component.SCHEDULER.value: "kube-scheduler",
}

# SNS error codes after which publishing again cannot succeed until someone changes the
# deployment (topic, its access policy, its KMS key) or cpwatch (a rejected parameter).
_PERMANENT_CODES = frozenset({
    "NotFound", "NotFoundException", "AuthorizationError", "AccessDenied", "AccessDeniedException",
    "InvalidParameter", "InvalidParameterValue", "ValidationError", "InvalidSecurity",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
    "KMSDisabled", "KMSAccessDenied", "KMSNotFound", "KMSInvalidState", "KMSOptInRequired",
    "EndpointDisabled",
})
# Worth another try on the next run: throttling, SNS or KMS trouble, and expired temporary
# credentials (the next Lambda invocation gets fresh ones).
_RETRYABLE_CODES = frozenset({
    "Throttled", "Throttling", "ThrottlingException", "KMSThrottling", "InternalError",
    "InternalFailure", "ServiceUnavailable", "RequestTimeout", "ExpiredToken", "ExpiredTokenException",
})


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
                       dashboard_url: str | None = None) -> Notification:
    """The notification of one transition of `component`, from the run's diagnosis document."""
    kind = TransitionKind(kind)
    at, since = _utc(at), _utc(since) if since is not None else None
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
        "since": _iso(since),
        "at": _iso(at),
        "duration_s": int((at - since).total_seconds()) if since else None,
        "console_url": console_url,
        "dashboard_url": dashboard_url,
        "truncated": False,
        "diagnosis": diagnosis,
    }
    subject = _subject(cluster, component, kind, verdict, at, since)
    text = _text(cluster, component, kind, at, since, verdict, confidence, diagnosis, console_url, dashboard_url)
    attributes = {"cluster": cluster, "component": component, "severity": severity, "state": state,
                  "transition": kind.value}
    document["subject"] = subject
    return _fit(Notification(subject=subject, text=text, document=document, attributes=attributes))


def publish(sns_client, topic_arn: str, notification: Notification) -> str:
    """Publish one notification; returns SNS's MessageId. Raises PublishError.

    `sns_client`: None makes one with aws_client (bounded timeouts and retries) in the
    topic's region.
    """
    if sns_client is None:
        sns_client = _default_client(topic_arn)
    try:
        answer = sns_client.publish(
            TopicArn=topic_arn,
            Subject=notification.subject,
            Message=sns_message(notification),
            MessageStructure="json",
            MessageAttributes={name: {"DataType": "String", "StringValue": value}
                               for name, value in notification.attributes.items()},
        )
    except (ClientError, BotoConnectionError, HTTPClientError, NoCredentialsError, PartialCredentialsError,
            CredentialRetrievalError, ParamValidationError) as error:
        raise publish_error(error, topic_arn) from error
    return answer["MessageId"]


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


def publish_error(error: Exception, topic_arn: str) -> PublishError:
    """The PublishError for an exception of a botocore SNS call (the one mapping)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        detail = f"HTTP {status}: {str(details.get('Message') or '')[:300]}"
        retryable = code in _RETRYABLE_CODES or (code not in _PERMANENT_CODES and (status >= 500 or status == 429))
        return PublishError(topic_arn, code, detail, retryable)
    if isinstance(error, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return PublishError(topic_arn, "NoCredentials", f"no usable AWS credentials ({type(error).__name__})", False)
    if isinstance(error, ParamValidationError):
        return PublishError(topic_arn, "InvalidRequest", str(error)[:300], False)
    # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError, SSLError,
    # ReadTimeoutError, ConnectionClosedError: botocore has already retried.
    code = "Timeout" if isinstance(error, ReadTimeoutError) else "Unreachable"
    return PublishError(topic_arn, code, f"{type(error).__name__}: {str(error)[:300]}", True)


def eks_console_url(region: str, cluster: str) -> str:
    if region.startswith("cn-"):
        return f"https://{region}.console.amazonaws.cn/eks/home?region={region}#/clusters/{cluster}"
    if region.startswith("us-gov-"):
        return f"https://console.amazonaws-us-gov.com/eks/home?region={region}#/clusters/{cluster}"
    return f"https://{region}.console.aws.amazon.com/eks/home?region={region}#/clusters/{cluster}"


# --- subject -------------------------------------------------------------------------------


def _subject(cluster: str, component: str, kind: TransitionKind, verdict: str, at: datetime,
             since: datetime | None) -> str:
    state = "BLIND" if component == CHECKER else verdict.upper()
    if kind is TransitionKind.ALARM:
        head, tail = "[cpwatch] ALARM ", f": {component} {state}"
    elif kind is TransitionKind.RECOVERY:
        head, tail = "[cpwatch] RECOVERED ", f": {component}"
    else:
        lasting = f" for {format_duration((at - since).total_seconds())}" if since else ""
        head, tail = "[cpwatch] REMINDER ", f": {component} {state}{lasting}"
    name = _ascii(cluster)
    room = SUBJECT_MAX - len(head) - len(_ascii(tail))
    if len(name) > room:
        name = name[:max(room - 3, 1)] + "..."
    return (head + name + _ascii(tail))[:SUBJECT_MAX]


def _ascii(text: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text)


# --- email text ----------------------------------------------------------------------------


def _text(cluster: str, component: str, kind: TransitionKind, at: datetime, since: datetime | None,
          verdict: str, confidence: str, diagnosis: dict, console_url: str | None,
          dashboard_url: str | None) -> str:
    findings = [f for f in diagnosis.get("findings") or [] if isinstance(f, dict)]
    mine = _findings_of(component, findings)
    lines = [_headline(cluster, component, kind, at, since, verdict, confidence), ""]
    if diagnosis.get("summary"):
        lines += [*_wrap(f"Summary: {diagnosis['summary']}", ""), ""]
    lines += [f"What cpwatch {'sees now' if kind is TransitionKind.RECOVERY else 'found'} ({_name(component)}):"]
    lines += [line for finding in mine for line in _finding_lines(finding)] or ["  no findings"]
    if kind is not TransitionKind.RECOVERY:
        runbook = _runbook(component, mine)
        if runbook is not None:
            lines += ["", *_runbook_lines(runbook)]
    lines += ["", "Other components:", *_other_lines(component, diagnosis, findings)]
    links = [("EKS console", console_url), ("Dashboard", dashboard_url)]
    if any(url for _, url in links):
        lines += ["", "Links:", *[f"  {label + ':':<13}{url}" for label, url in links if url]]
    checked = diagnosis.get("checked_at")
    if checked:
        lines += ["", f"Checked at {checked} in {diagnosis.get('duration_ms', '?')} ms"
                      + (" (read-only: active canaries off)" if diagnosis.get("read_only") else "") + "."]
    lines += ["", "-- ",
              *textwrap.wrap("cpwatch, the out-of-band Kubernetes control-plane checker. The machine-readable "
                             "diagnosis goes to JSON subscribers (email-json, SQS, Lambda, HTTPS); filter on the "
                             "message attributes cluster, component, severity, state and transition.", 96)]
    text = "\n".join(lines) + "\n"
    if len(text) > TEXT_MAX_CHARS:
        cut = text[:TEXT_MAX_CHARS]
        text = cut + f"\n[... {len(text) - len(cut)} more characters cut; the full diagnosis is in the JSON deliveries]\n"
    return text


def _headline(cluster: str, component: str, kind: TransitionKind, at: datetime, since: datetime | None,
              verdict: str, confidence: str) -> str:
    state = f"{verdict.upper()} ({confidence} confidence)" if confidence else verdict.upper()
    began = f"since {_clock(since, at)}" if since else ""
    lasted = format_duration((at - since).total_seconds()) if since else ""
    if component == CHECKER:
        subject = f"cpwatch cannot see cluster {cluster}"
        if kind is TransitionKind.RECOVERY:
            return f"cpwatch can see cluster {cluster} again, at {_clock(at, at)}" + (
                f"; it was blind for {lasted} ({began})." if since else ".")
        if kind is TransitionKind.REMINDER:
            return f"REMINDER: {subject}, still, for {lasted} now ({began})." if since else f"REMINDER: {subject}, still."
        return f"{subject}" + (f" {began}" if since else "") + ": the control plane's verdicts are unknown, not healthy."
    subject = f"{_name(component)} of cluster {cluster}"
    if kind is TransitionKind.RECOVERY:
        return f"{subject} has RECOVERED at {_clock(at, at)}, now {verdict} ({confidence} confidence)" + (
            f"; the alarm lasted {lasted} ({began})." if since else ".")
    if kind is TransitionKind.REMINDER:
        return f"REMINDER: {subject} is still {state}" + (f", for {lasted} now ({began})." if since else ".")
    return f"{subject} is {state}" + (f" {began}." if since else ".")


def _finding_lines(finding: dict) -> list[str]:
    status = str(finding.get("status", "?")).upper()
    lines = _wrap(f"[{status}] {finding.get('code', '?')}: {finding.get('message', '')}", "  ", "      ")
    evidence = finding.get("evidence") or {}
    if status != "OK" and isinstance(evidence, dict) and evidence:
        values = ", ".join(f"{key}={_short(value)}" for key, value in evidence.items())
        lines += _wrap(f"evidence: {values}", "      ", "        ")
    return lines


def _runbook_lines(runbook: Runbook) -> list[str]:
    return [
        "What it means:", *_wrap(runbook.meaning, "  "), "",
        "How to confirm by hand:", *[f"  {command}" for command in runbook.confirm], "",
        "What to do on EKS:", *_wrap(runbook.eks, "  "), "",
        "What to do on a self-managed cluster:", *_wrap(runbook.self_managed, "  "),
    ]


def _other_lines(component: str, diagnosis: dict, findings: list[dict]) -> list[str]:
    components = diagnosis.get("components") or {}
    lines = []
    for other in (c.value for c in CONTROL_PLANE):
        if other == component:
            continue
        entry = components.get(other) or {}
        verdict = str(entry.get("verdict", "unknown"))
        line = f"  {_name(other):<24} {verdict.upper():<9}"
        if entry.get("confidence"):
            line += f" {entry['confidence']} confidence"
        if entry.get("consequence_of"):
            line += f"; not judged because {entry['consequence_of']} is down"
        elif verdict != "healthy":
            key = next((f for f in findings if f.get("component") == other and f.get("status") != "ok"
                        and f.get("code") != "NOT_JUDGED"), None)
            if key:
                line += f": {_short(key.get('message', ''), 160)}"
        lines.append(line)
    for group, title in ((Component.NODE.value, "node problems (not control-plane failures)"),
                         (CHECKER, "cpwatch itself")):
        if group == component:
            continue
        found = [f for f in findings if f.get("component") == group and f.get("status") != "ok"]
        if found:
            lines.append(f"  {title}: {len(found)}, e.g. {_short(found[0].get('message', ''), 160)}")
    return lines


def _findings_of(component: str, findings: list[dict]) -> list[dict]:
    if component == CHECKER:
        # What cpwatch could not look at, whichever component it would have spoken for.
        return [f for f in findings if f.get("code") != "NOT_JUDGED" and (
            f.get("component") == CHECKER or str(f.get("code", "")).startswith("CHECKER_")
            or f.get("status") == "unknown")]
    return [f for f in findings if f.get("component") == component]


def _runbook(component: str, findings: list[dict]) -> Runbook | None:
    for finding in findings:
        if finding.get("status") not in ("fail", "warn") and component != CHECKER:
            continue
        observation = _observation(finding)
        runbook = runbook_for(observation) if observation else None
        if runbook is not None:
            return runbook
    try:
        return COMPONENT_RUNBOOKS.get(Component(component))
    except ValueError:
        return None


def _observation(finding: dict) -> Observation | None:
    """The finding of a diagnosis document as an Observation (None for a code this version
    does not know, e.g. an outbox entry written by another version)."""
    try:
        if finding.get("code") not in CATALOGUE:
            return None
        return Observation(finding["code"], Component(finding["component"]), finding.get("evidence") or {})
    except (KeyError, ValueError):
        return None


# --- verdicts and severity -----------------------------------------------------------------


def _component_verdict(diagnosis: dict, component: str) -> tuple[str, str]:
    components = diagnosis.get("components") or {}
    if component == CHECKER:
        # As the pipeline judges it: cpwatch is blind when it cannot even judge the apiserver.
        apiserver = components.get(Component.APISERVER.value) or {}
        return ("unknown" if apiserver.get("verdict", "unknown") == "unknown" else "healthy"), ""
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
    return candidate


def _drop_passing_evidence(diagnosis: dict, component: str) -> dict:
    diagnosis["findings"] = [f if f.get("status") == "fail" else {**f, "evidence": {}}
                             for f in diagnosis.get("findings") or []]
    return diagnosis


def _cut_failing_evidence(diagnosis: dict, component: str) -> dict:
    diagnosis = _drop_passing_evidence(diagnosis, component)
    diagnosis["findings"] = [{**f, "message": _short(f.get("message", ""), 1000),
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
        "summary": _short(diagnosis.get("summary", ""), 2000), "findings": []}


_SHRINKS = (_drop_passing_evidence, _cut_failing_evidence, _only_this_component, _verdicts_only)
_SHRINK_NOTES = (
    "evidence of non-failing findings dropped",
    "evidence of non-failing findings dropped; failing findings' evidence cut short",
    "only this component's findings kept, their evidence cut short",
    "findings dropped; verdicts and summary kept",
)


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return _short(value, 256)
    if isinstance(value, list):
        return [_cut(v) for v in value[:10]] + ([f"... {len(value) - 10} more"] if len(value) > 10 else [])
    if isinstance(value, dict):
        return {"cut": True}
    return value


# --- small formatting helpers --------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """4h 2m, 12m, 45s, 2d 3h."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _name(component: str) -> str:
    return DISPLAY_NAMES.get(component, "cpwatch" if component == CHECKER else component)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _clock(moment: datetime, reference: datetime) -> str:
    """09:29 UTC, with the date when it is not the reference's day."""
    if moment.date() == reference.date():
        return f"{moment:%H:%M} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _short(value: Any, limit: int = 120) -> str:
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_short(v, 60) for v in value[:5])
        text = f"[{shown}{f', +{len(value) - 5} more' if len(value) > 5 else ''}]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _wrap(text: str, indent: str, subsequent: str | None = None) -> list[str]:
    return textwrap.wrap(text, 100, initial_indent=indent, subsequent_indent=subsequent or indent,
                         break_long_words=False, break_on_hyphens=False) or [indent.rstrip()]


def _default_client(topic_arn: str):
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3]:
        raise PublishError(topic_arn, "InvalidTopicArn", "not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)",
                           False)
    return aws_client("sns", parts[3])
