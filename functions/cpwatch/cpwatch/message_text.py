"""The words of a transition's notification: its subject and its plain-text e-mail body.

Called by notification.build_notification; pure. The e-mail is what an on-call engineer reads
to act without opening anything else: what happened, the evidence, the runbook of findings.py,
the other components (and what failed between them), console links.
"""

from __future__ import annotations

import textwrap
from datetime import datetime

from .alerting import TransitionKind
from .findings import CATALOGUE, COMPONENT_RUNBOOKS, CONTROL_PLANE, Component, Observation, Runbook, runbook_for
from .textformat import CHECKER, ascii_only, clock, display_name, format_duration, short, wrap

# SNS rejects a Subject longer than 100 characters, with a line break or a control character.
SUBJECT_MAX = 100
# The email text is bounded on its own so the document keeps most of SNS's budget.
TEXT_MAX_CHARS = 48 * 1024
# Groups of findings that are no component's failure, in the order the e-mail lists them.
_OTHER_GROUPS = (
    (Component.EXTENSIONS.value, "between the components: admission webhooks, aggregated APIs (not component failures)"),
    (Component.NODE.value, "node problems (not control-plane failures)"),
    (CHECKER, "cpwatch itself"),
)


def subject(cluster: str, component: str, kind: TransitionKind, verdict: str, at: datetime,
            since: datetime | None) -> str:
    state = "BLIND" if component == CHECKER else verdict.upper()
    if kind is TransitionKind.ALARM:
        head, tail = "[cpwatch] ALARM ", f": {component} {state}"
    elif kind is TransitionKind.RECOVERY:
        head, tail = "[cpwatch] RECOVERED ", f": {component}"
    else:
        lasting = f" for {format_duration((at - since).total_seconds())}" if since else ""
        head, tail = "[cpwatch] REMINDER ", f": {component} {state}{lasting}"
    name = ascii_only(cluster)
    room = SUBJECT_MAX - len(head) - len(ascii_only(tail))
    if len(name) > room:
        name = name[:max(room - 3, 1)] + "..."
    return (head + name + ascii_only(tail))[:SUBJECT_MAX]


def email_text(cluster: str, component: str, kind: TransitionKind, at: datetime, since: datetime | None,
               verdict: str, confidence: str, diagnosis: dict, console_url: str | None,
               dashboard_url: str | None, evidence_pack: str | None = None) -> str:
    findings = [f for f in diagnosis.get("findings") or [] if isinstance(f, dict)]
    mine = findings_of(component, findings)
    lines = [_headline(cluster, component, kind, at, since, verdict, confidence), ""]
    if diagnosis.get("headline"):  # the words `cpwatch check` leads with
        lines += [*wrap(f"Diagnosis: {diagnosis['headline']}", "", "  "), ""]
    if diagnosis.get("summary"):
        lines += [*wrap(f"Summary: {diagnosis['summary']}", ""), ""]
    lines += [f"What cpwatch {'sees now' if kind is TransitionKind.RECOVERY else 'found'} ({display_name(component)}):"]
    lines += [line for finding in mine for line in _finding_lines(finding)] or ["  no findings"]
    if kind is not TransitionKind.RECOVERY:
        runbook = _runbook(component, mine)
        if runbook is not None:
            lines += ["", *_runbook_lines(runbook)]
    lines += ["", "Other components:", *_other_lines(component, diagnosis, findings)]
    links = [("EKS console", console_url), ("Dashboard", dashboard_url)]
    if any(url for _, url in links):
        lines += ["", "Links:", *[f"  {label + ':':<13}{url}" for label, url in links if url]]
    if evidence_pack:
        lines += ["", "-" * 24 + " evidence pack for the support case: forward from here " + "-" * 21, "",
                  evidence_pack.rstrip("\n"), "-" * 100]
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


def findings_of(component: str, findings: list[dict]) -> list[dict]:
    if component == CHECKER:
        # What cpwatch could not look at, whichever component it would have spoken for.
        return [f for f in findings if f.get("code") != "NOT_JUDGED" and (
            f.get("component") == CHECKER or str(f.get("code", "")).startswith("CHECKER_")
            or f.get("status") == "unknown")]
    return [f for f in findings if f.get("component") == component]


def _headline(cluster: str, component: str, kind: TransitionKind, at: datetime, since: datetime | None,
              verdict: str, confidence: str) -> str:
    state = f"{verdict.upper()} ({confidence} confidence)" if confidence else verdict.upper()
    began = f"since {clock(since, at)}" if since else ""
    lasted = format_duration((at - since).total_seconds()) if since else ""
    if component == CHECKER:
        what = f"cpwatch cannot see cluster {cluster}"
        if kind is TransitionKind.RECOVERY:
            return f"cpwatch can see cluster {cluster} again, at {clock(at, at)}" + (
                f"; it was blind for {lasted} ({began})." if since else ".")
        if kind is TransitionKind.REMINDER:
            return f"REMINDER: {what}, still, for {lasted} now ({began})." if since else f"REMINDER: {what}, still."
        return f"{what}" + (f" {began}" if since else "") + ": the control plane's verdicts are unknown, not healthy."
    what = f"{display_name(component)} of cluster {cluster}"
    if kind is TransitionKind.RECOVERY:
        return f"{what} has RECOVERED at {clock(at, at)}, now {verdict} ({confidence} confidence)" + (
            f"; the alarm lasted {lasted} ({began})." if since else ".")
    if kind is TransitionKind.REMINDER:
        return f"REMINDER: {what} is still {state}" + (f", for {lasted} now ({began})." if since else ".")
    return f"{what} is {state}" + (f" {began}." if since else ".")


def _finding_lines(finding: dict) -> list[str]:
    status = str(finding.get("status", "?")).upper()
    lines = wrap(f"[{status}] {finding.get('code', '?')}: {finding.get('message', '')}", "  ", "      ")
    evidence = finding.get("evidence") or {}
    if status != "OK" and isinstance(evidence, dict) and evidence:
        values = ", ".join(f"{key}={short(value)}" for key, value in evidence.items())
        lines += wrap(f"evidence: {values}", "      ", "        ")
    return lines


def _runbook_lines(runbook: Runbook) -> list[str]:
    return [
        "What it means:", *wrap(runbook.meaning, "  "), "",
        "How to confirm by hand:", *[f"  {command}" for command in runbook.confirm], "",
        "What to do on EKS:", *wrap(runbook.eks, "  "), "",
        "What to do on a self-managed cluster:", *wrap(runbook.self_managed, "  "),
    ]


def _other_lines(component: str, diagnosis: dict, findings: list[dict]) -> list[str]:
    components = diagnosis.get("components") or {}
    lines = []
    for other in (c.value for c in CONTROL_PLANE):
        if other == component:
            continue
        entry = components.get(other) or {}
        verdict = str(entry.get("verdict", "unknown"))
        line = f"  {display_name(other):<24} {verdict.upper():<9}"
        if entry.get("confidence"):
            line += f" {entry['confidence']} confidence"
        if entry.get("consequence_of"):
            line += f"; not judged because {entry['consequence_of']} is down"
        elif verdict != "healthy":
            key = next((f for f in findings if f.get("component") == other and f.get("status") != "ok"
                        and f.get("code") != "NOT_JUDGED"), None)
            if key:
                line += f": {short(key.get('message', ''), 160)}"
        lines.append(line)
    for group, title in _OTHER_GROUPS:
        if group == component:
            continue
        found = [f for f in findings if f.get("component") == group and f.get("status") != "ok"]
        if found:
            lines.append(f"  {title}: {len(found)}, e.g. {short(found[0].get('message', ''), 160)}")
    return lines


def _runbook(component: str, findings: list[dict]) -> Runbook | None:
    for finding in findings:
        if finding.get("status") not in ("fail", "warn") and component != CHECKER:
            continue
        observation = observation_of(finding)
        runbook = runbook_for(observation) if observation else None
        if runbook is not None:
            return runbook
    try:
        return COMPONENT_RUNBOOKS.get(Component(component))
    except ValueError:
        return None


def observation_of(finding: dict) -> Observation | None:
    """The finding of a diagnosis document as an Observation (None for a code this version
    does not know, e.g. an outbox entry written by another version)."""
    try:
        if finding.get("code") not in CATALOGUE:
            return None
        return Observation(finding["code"], Component(finding["component"]), finding.get("evidence") or {})
    except (KeyError, ValueError):
        return None
