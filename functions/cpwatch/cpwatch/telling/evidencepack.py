"""The evidence pack: a ready-to-send text for the support case of one alarm (which cluster,
what failed since when, how that was confirmed, what was ruled out, the evidence with its
times, log excerpts, and the support severity to choose, with why).

Called by pipeline.py for each alarm, escalation, warning and reminder transition (the pack is
stored with the run and carried by the notification) and rendered again by nothing else:
`cpwatch evidence` prints the stored text. Pure; all prose about findings comes from the diagnosis document (whose
messages findings.py rendered) and findings.py's runbooks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .alerting import Severity, Transition, TransitionKind
from .document_findings import component_runbook, findings_of, key_finding, runbook_of
from ..findings import CONTROL_PLANE, Component, Runbook, shows_it_works
from ..identity import ClusterIdentity
from .textformat import CHECKER, display_name, short, utc, wrap

if TYPE_CHECKING:
    from ..aws.eks_cluster import ClusterInfo  # noqa: F401 (annotations)

# Evidence keys whose values are quoted as log excerpts (the control-plane log reader's lines):
# `lines`, `*_lines`, `*excerpt*`. A list is one line per item; a text is split at line breaks
# and at " | ", the separator findings use to keep several log lines in one value.
_LOG_LINE_SEPARATOR = " | "


@dataclass(frozen=True)
class SupportSeverity:
    """One of the severities AWS Support offers when a case is opened."""

    name: str
    why: str


# AWS Support's severities, highest first: Business-critical system down (Enterprise plans),
# Production system down, Production system impaired, System impaired, General guidance. The
# choice follows what the failed component stops in a cluster (DESIGN.md, "Why it exists").
_SEVERITY = {
    Component.APISERVER.value: SupportSeverity(
        "Production system down",
        "no client can use the Kubernetes API: kubectl, controllers and kubelets all fail, so nothing can be "
        "deployed, scaled or repaired. Choose Business-critical system down (Enterprise support) if this cluster "
        "runs a business-critical workload."),
    Component.ETCD.value: SupportSeverity(
        "Production system down",
        "etcd has lost quorum: the cluster cannot store any change (no deployment, scaling, node replacement or "
        "lease renewal) and reads may hang. Choose Business-critical system down (Enterprise support) if this "
        "cluster runs a business-critical workload."),
    Component.CONTROLLER_MANAGER.value: SupportSeverity(
        "Production system impaired",
        "running pods keep serving, but the cluster no longer reacts: a failed node stays Ready and its pods are not "
        "replaced, Deployments do not roll, HPA does not scale, deleted pods stay Terminating. Raise to Production "
        "system down once workloads fail because of it (for example a node died and its pods were not replaced)."),
    Component.SCHEDULER.value: SupportSeverity(
        "Production system impaired",
        "running pods keep serving, but no new pod is placed: scale-ups, replacements and rollouts stay Pending. "
        "Raise to Production system down once workloads fail because of it (for example replacements of crashed "
        "pods stay Pending)."),
    Component.EXTENSIONS.value: SupportSeverity(
        "No support case",
        "the cause is in the cluster itself (an admission webhook that fails closed on what the control plane "
        "writes): AWS cannot fix it, the webhook's owner can; this pack is the record for your own incident."),
    CHECKER: SupportSeverity(
        "General guidance",
        "cpwatch cannot see this cluster: this is about cpwatch's access (credentials, access entry, network path) "
        "unless the EKS status or health issues above show a problem of the cluster itself; then System impaired."),
}
_DEGRADED = SupportSeverity("System impaired", "the component works, but not as it should (degraded, not down).")
_NOTICE = SupportSeverity("General guidance", "nothing fails yet: this is an advance notice (a certificate expiring, "
                          "etcd near its quota, a risk in the cluster's configuration, or what EKS reports).")


def evidence_command(cluster: ClusterIdentity, stored_at: datetime) -> str:
    """The command that prints the pack stored at `stored_at`. The cluster is named by its ARN
    (a name may mean clusters in several regions or accounts). The time is rounded up to the
    millisecond, not the second: a later run stored in the same second (a retry, a second
    invocation) would otherwise be the one found at that time."""
    moment = utc(stored_at)
    if moment.microsecond % 1000:
        moment += timedelta(microseconds=1000 - moment.microsecond % 1000)
    return f"cpwatch evidence --cluster {cluster.arn} --at {moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def cluster_facts(info: ClusterInfo | None) -> dict[str, Any] | None:
    """What DescribeCluster said, as the pack needs it (None: not an EKS cluster, or not described)."""
    if info is None:
        return None
    return {"arn": info.arn, "version": info.version, "platform_version": info.platform_version,
            "status": info.status, "health_issues": [f"{issue.code}: {issue.message}" for issue in info.health_issues]}


def evidence_pack(cluster: ClusterIdentity, facts: dict[str, Any] | None, transition: Transition,
                  confirm_looks: int, document: dict, stored_at: datetime, warning_after_minutes: float = 10.0) -> str:
    """The pack of one alarm, warning (or reminder) of `transition.component`, from the run's
    diagnosis document."""
    component = transition.component
    findings = [f for f in document.get("findings") or [] if isinstance(f, dict)]
    entry = ((document.get("extensions") if component == Component.EXTENSIONS.value
              else (document.get("components") or {}).get(component)) or {})
    critical = transition.severity is Severity.CRITICAL
    verdict = ("blind" if critical else "notice") if component == CHECKER else str(entry.get("verdict") or "unknown")
    if not critical and verdict in ("healthy", "unknown"):
        verdict = "notice"
    confidence = str(entry.get("confidence") or "")
    if verdict in ("down", "blind"):
        severity = _SEVERITY.get(component, _DEGRADED)
    else:
        severity = _NOTICE if verdict == "notice" else _DEGRADED
    failed = [f for f in findings_of(component, findings) if f.get("status") in ("fail", "warn", "unknown")]
    first_seen = utc(transition.first_seen or transition.since or transition.at)
    at = utc(transition.at)
    title = (f"cpwatch cannot see cluster {cluster.name}" if component == CHECKER and critical
             else f"{display_name(component)} of cluster {cluster.name} is {verdict.upper()}"
             + (f" ({confidence} confidence)" if confidence and verdict != "notice" else ""))
    urgency = "critical (paged)" if critical else "warning (mailbox and chat, not paged)"
    lines = [f"EVIDENCE PACK: {title}", "=" * min(len(title) + 15, 100), ""]
    if document.get("headline"):  # the words `cpwatch check` leads with
        lines += [*wrap(f"Diagnosis: {document['headline']}", "", "  "), ""]
    lines += ["Support severity to choose: " + severity.name, *wrap(f"Why: {severity.why}", "  ", "  "),
              f"cpwatch urgency: {urgency}", ""]
    lines += ["Cluster", *_cluster_lines(cluster, facts), ""]
    lines += ["When",
              f"  first seen:          {_stamp(first_seen)} (the first failing look)",
              f"  {('confirmed:' if critical else 'warned:'):<21}{_stamp(at)}"
              + (" (reminder: still failing)" if transition.kind is TransitionKind.REMINDER else ""),
              f"  lasting:             {_lasting(at - first_seen)} so far", ""]
    lines += [f"What failed ({display_name(component)})"]
    lines += [line for finding in failed for line in _finding_lines(finding)] or ["  no finding recorded"]
    how = (_confirmation_lines(component, confidence, confirm_looks, first_seen, at, failed) if critical
           else _warning_lines(transition, warning_after_minutes, first_seen, at, failed))
    lines += ["", "How it was confirmed", *how, ""]
    lines += ["What was ruled out", *_ruled_out_lines(component, document, findings), ""]
    lines += [f"Evidence (checked at {document.get('checked_at', '?')}; ages are measured on the apiserver's clock)"]
    lines += [line for finding in failed for line in _evidence_lines(finding, document)] or ["  none"]
    excerpts = [line for finding in findings for line in _log_lines(finding)]
    lines += ["", "Log excerpts", *(excerpts or ["  none: no control-plane log excerpt was read for this run"])]
    runbook = _runbook(component, failed)
    if runbook is not None:
        lines += ["", "How to confirm by hand", *[f"  {command}" for command in runbook.confirm]]
    lines += ["", f"Print this pack again: {evidence_command(cluster, stored_at)}",
              "Produced by cpwatch, which checks the control plane from outside the cluster every minute."]
    return "\n".join(lines) + "\n"


def _warning_lines(transition: Transition, after_minutes: float, first_seen: datetime, at: datetime,
                   failed: list[dict]) -> list[str]:
    notice = transition.kind is TransitionKind.WARNING and transition.first_seen == transition.since
    if notice:
        text = (f"An advance notice, told at {_stamp(at)} without waiting: it announces trouble ahead (or was "
                "measured over a long window already) and stays until the check that reported it no longer does.")
    else:
        text = (f"Impaired on every look from {_stamp(first_seen)} to {_stamp(at)}: a warning once that lasted "
                f"{after_minutes:g} minutes (shorter impairments are in the history only).")
    codes = ", ".join(dict.fromkeys(str(f.get("code")) for f in failed if f.get("status") in ("fail", "warn"))) or "none"
    return wrap(text, "  ", "  ") + wrap(f"Findings: {codes}.", "  ", "  ")


def _cluster_lines(cluster: ClusterIdentity, facts: dict[str, Any] | None) -> list[str]:
    lines = [f"  name:                {cluster.name}", f"  account:             {cluster.account}",
             f"  region:              {cluster.region}"]
    if facts is None:
        return lines + [f"  ARN:                 {cluster.arn}",
                        "  EKS:                 not described (not an EKS cluster, or DescribeCluster did not answer)"]
    lines += [f"  ARN:                 {facts.get('arn') or cluster.arn}",
              f"  Kubernetes version:  {facts.get('version') or 'unknown'}",
              f"  platform version:    {facts.get('platform_version') or 'unknown'}",
              f"  EKS status:          {facts.get('status') or 'unknown'}"]
    issues = facts.get("health_issues") or []
    lines += [f"  EKS health issue:    {short(issue, 200)}" for issue in issues] or ["  EKS health issues:   none"]
    return lines


def _finding_lines(finding: dict) -> list[str]:
    return wrap(f"[{str(finding.get('status', '?')).upper()}] {finding.get('code', '?')}: {finding.get('message', '')}",
                "  ", "      ")


def _confirmation_lines(component: str, confidence: str, looks: int, first_seen: datetime, at: datetime,
                        failed: list[dict]) -> list[str]:
    codes = ", ".join(dict.fromkeys(str(f.get("code")) for f in failed if f.get("status") == "fail")) or "none"
    how = {
        "high": "independent signals agree (the component's own signal and a symptom in the cluster)",
        "medium": "the component's own signal, without a symptom yet",
        "low": "symptoms only",
    }.get(confidence, "")
    lines = wrap(f"{looks} failing looks in a row from outside the cluster, the first at {_stamp(first_seen)}, "
                 f"the confirming one at {_stamp(at)}; each look is a full check through the cluster's apiserver.",
                 "  ", "  ")
    lines += wrap(f"Failing checks: {codes}.", "  ", "  ")
    if how and component != CHECKER:
        lines += wrap(f"Confidence {confidence}: {how}.", "  ", "  ")
    return lines


def _ruled_out_lines(component: str, document: dict, findings: list[dict]) -> list[str]:
    components = document.get("components") or {}
    lines = []
    for other in (c.value for c in CONTROL_PLANE):
        if other == component:
            continue
        entry = components.get(other) or {}
        verdict = str(entry.get("verdict") or "unknown")
        if entry.get("consequence_of"):
            because = (f"{verdict.upper()} because of {display_name(entry['consequence_of'])} (a consequence)"
                       if verdict != "unknown" else f"not judged (because {entry['consequence_of']} is down)")
            lines.append(f"  {display_name(other)}: {because}")
            continue
        passed = [f for f in findings if f.get("component") == other and f.get("status") == "ok"
                  and shows_it_works(str(f.get("code")))]
        checks = "; ".join(f"{f.get('code')}: {short(f.get('message', ''), 140)}" for f in passed[:4])
        lines += wrap(f"{display_name(other)}: {verdict.upper()}" + (f", checked by {checks}" if checks else ""),
                      "  ", "      ")
    for group, title in ((Component.EXTENSIONS.value, "between the components (webhooks, aggregated APIs)"),
                         (Component.NODE.value, "single nodes")):
        if group == component:
            continue
        problems = [f for f in findings if f.get("component") == group and f.get("status") != "ok"]
        lines += wrap(f"{title}: " + (f"{len(problems)} problem(s), reported apart, not this failure: "
                                      f"{short(problems[0].get('message', ''), 160)}" if problems else "no problem"),
                      "  ", "      ")
    return lines


def _evidence_lines(finding: dict, document: dict) -> list[str]:
    evidence = finding.get("evidence") or {}
    if not isinstance(evidence, dict) or not evidence:
        return []
    stamp = _clock_of(document.get("checked_at"))
    lines = [f"  {stamp}  {finding.get('code', '?')}"]
    for key, value in evidence.items():
        if _is_log(key):
            continue  # quoted under Log excerpts
        if isinstance(value, list) and len(value) > 1 and all(isinstance(v, str) for v in value):
            # one line per item (a wedged leader's runs, each with what showed the stall)
            lines.append(f"      {key}:")
            lines += [line for v in value[:20] for line in wrap(f"- {short(v, 600)}", "        ", "          ")]
            continue
        lines += wrap(f"{key} = {_value(value)}", "      ", "        ")
    return lines


def _log_lines(finding: dict) -> list[str]:
    evidence = finding.get("evidence") or {}
    if not isinstance(evidence, dict):
        return []
    lines = []
    for key, value in evidence.items():
        if not _is_log(key):
            continue
        quoted = value if isinstance(value, list) else [
            part for line in str(value).splitlines() for part in line.split(_LOG_LINE_SEPARATOR)]
        lines.append(f"  {finding.get('code', '?')} {key}:")
        lines += [f"    | {short(line, 300)}" for line in quoted[:40]]
        if len(quoted) > 40:
            lines.append(f"    | ... {len(quoted) - 40} more lines")
    return lines


def _is_log(key: str) -> bool:
    key = key.lower()
    return key == "lines" or key.endswith("_lines") or "excerpt" in key


def _value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return short(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")), 600)
    return short(value, 600)


def _runbook(component: str, failed: list[dict]) -> Runbook | None:
    key = key_finding(component, failed)
    for finding in ([key] if key else []) + failed:
        runbook = runbook_of(finding)
        if runbook is not None:
            return runbook
    return component_runbook(component)


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _clock_of(checked_at: Any) -> str:
    text = str(checked_at or "")
    return text[11:19] if len(text) >= 19 else "--:--:--"


def _lasting(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


# The transitions that carry an evidence pack: a page or a warning starting, and their reminders.
PACKED = (TransitionKind.ALARM, TransitionKind.ESCALATION, TransitionKind.WARNING, TransitionKind.REMINDER)


def packs_for(cluster: ClusterIdentity, info: ClusterInfo | None, transitions: list[Transition], confirm_looks,
              document: dict, stored_at: datetime, warning_after_minutes: float = 10.0) -> dict[str, str]:
    """The evidence pack of each component that alarmed, warned (or is reminded about) in a run.
    `confirm_looks(component)`: the looks that confirm its failure."""
    return {t.component: evidence_pack(cluster, cluster_facts(info), t, confirm_looks(t.component), document,
                                       stored_at, warning_after_minutes)
            for t in transitions if t.kind in PACKED}
