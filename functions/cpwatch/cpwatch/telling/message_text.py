"""The words of a transition's notification: its subject and its plain-text e-mail body.

Called by notification.build_notification; pure. The e-mail is what an on-call engineer (critical)
or a team's mailbox (warning) reads to act without opening anything else: which cluster (name,
account, region), what happened and how urgent it is, the evidence, the runbook of findings.py,
what lies between the components and ahead of time (each with its runbook), the other
components, console links and the evidence pack.
"""

from __future__ import annotations

import textwrap

from .alerting import Severity, Transition, TransitionKind
from .document_findings import between_components, component_runbook, findings_of, key_finding, runbook_of
from ..findings import CONTROL_PLANE, Component, Runbook
from ..identity import ClusterIdentity
from .textformat import CHECKER, ascii_only, clock, display_name, format_duration, short, wrap

# SNS rejects a Subject longer than 100 characters, with a line break or a control character.
SUBJECT_MAX = 100
# The email text is bounded on its own so the document keeps most of SNS's budget.
TEXT_MAX_CHARS = 48 * 1024
_HEADS = {TransitionKind.ALARM: "ALARM", TransitionKind.ESCALATION: "ALARM", TransitionKind.WARNING: "WARNING",
          TransitionKind.REMINDER: "REMINDER", TransitionKind.DEESCALATION: "NO LONGER DOWN"}


def state_word(component: str, verdict: str, severity: Severity = Severity.CRITICAL) -> str:
    """What the subject is in a subject line: its verdict; a warning on a verdict that is not
    impaired is an advance notice (NOTICE); the checker's page is BLIND."""
    if severity is Severity.WARNING and (component == CHECKER or verdict in ("healthy", "unknown")):
        return "NOTICE"
    if component == CHECKER:
        return "BLIND"
    return verdict.upper()


def subject(cluster: ClusterIdentity, transition: Transition, verdict: str, key_code: str | None) -> str:
    component, kind = transition.component, transition.kind
    state = state_word(component, verdict, transition.severity)
    warning = transition.severity is Severity.WARNING
    if kind is TransitionKind.RECOVERY:
        head, tails = ("CLEARED" if warning else "RECOVERED"), [f": {component}"]
    elif kind is TransitionKind.DEESCALATION:
        head, tails = _HEADS[kind], [f": {component}, still {state}"]
    else:
        head = _HEADS[kind]
        lasting = (f" for {format_duration((transition.at - transition.since).total_seconds())}"
                   if kind is TransitionKind.REMINDER and transition.since else "")
        tail = f": {component} {state}{lasting}"
        tails = [tail + f" ({key_code})", tail] if warning and key_code else [tail]
        if kind is TransitionKind.ESCALATION:
            tails = [tail + " (was a warning)", tail]
    head = f"[cpwatch] {head} "
    name = f"{ascii_only(cluster.name)} ({cluster.where})"
    for tail in tails:  # the longest that fits, the cluster's name cut last
        if len(head) + len(name) + len(ascii_only(tail)) <= SUBJECT_MAX:
            return head + name + ascii_only(tail)
    tail = ascii_only(tails[-1])
    room = SUBJECT_MAX - len(head) - len(tail)
    name = ascii_only(cluster.name)
    if len(name) > room:
        name = name[:max(room - 3, 1)] + "..."
    return (head + name + tail)[:SUBJECT_MAX]


def email_text(cluster: ClusterIdentity, transition: Transition, verdict: str, confidence: str, diagnosis: dict,
               console_url: str | None, dashboard_url: str | None, evidence_pack: str | None = None) -> str:
    component, kind = transition.component, transition.kind
    findings = [f for f in diagnosis.get("findings") or [] if isinstance(f, dict)]
    mine = findings_of(component, findings)
    lines = [_headline(cluster, transition, verdict, confidence), *_urgency_lines(transition),
             f"Cluster: {cluster.name}, account {cluster.account}, region {cluster.region} ({cluster.arn})", ""]
    if diagnosis.get("headline"):  # the words `cpwatch check` leads with
        lines += [*wrap(f"Diagnosis: {diagnosis['headline']}", "", "  "), ""]
    if diagnosis.get("summary"):
        lines += [*wrap(f"Summary: {diagnosis['summary']}", ""), ""]
    lines += [f"What cpwatch {'sees now' if kind is TransitionKind.RECOVERY else 'found'} ({display_name(component)}):"]
    lines += [line for finding in mine for line in _finding_lines(finding)] or ["  no findings"]
    shown: list[Runbook] = []
    if kind is not TransitionKind.RECOVERY:
        runbook = _runbook(component, mine)
        if runbook is not None:
            lines += ["", *_runbook_lines(runbook)]
            shown.append(runbook)
    lines += ["", *_between_lines(findings, shown)]
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
                             "message attributes cluster, cluster_arn, account, region, component, severity, state "
                             "and transition.", 96)]
    text = "\n".join(lines) + "\n"
    if len(text) > TEXT_MAX_CHARS:
        cut = text[:TEXT_MAX_CHARS]
        text = cut + f"\n[... {len(text) - len(cut)} more characters cut; the full diagnosis is in the JSON deliveries]\n"
    return text


def _headline(cluster: ClusterIdentity, transition: Transition, verdict: str, confidence: str) -> str:
    component, kind, at, since = transition.component, transition.kind, transition.at, transition.since
    state = (f"{verdict.upper()} ({confidence} confidence)" if confidence
             else state_word(component, verdict, transition.severity))
    began = f"since {clock(since, at)}" if since else ""
    lasted = format_duration((at - since).total_seconds()) if since else ""
    name = cluster.name
    if component == CHECKER and transition.severity is Severity.CRITICAL:
        what = f"cpwatch cannot see cluster {name}"
        if kind is TransitionKind.RECOVERY:
            return f"cpwatch can see cluster {name} again, at {clock(at, at)}" + (
                f"; it was blind for {lasted} ({began})." if since else ".")
        if kind is TransitionKind.DEESCALATION:
            return f"cpwatch can see cluster {name} again, at {clock(at, at)}; what EKS reports of it stays a warning."
        if kind is TransitionKind.REMINDER:
            return f"REMINDER: {what}, still, for {lasted} now ({began})." if since else f"REMINDER: {what}, still."
        return f"{what}" + (f" {began}" if since else "") + ": the control plane's verdicts are unknown, not healthy."
    notice = state_word(component, verdict, transition.severity) == "NOTICE"  # on a verdict that is not impaired
    if component == CHECKER:
        what = f"What EKS reports of cluster {name}"
        # "is NOTICE" reads badly: a notice is something the subject has, not what it is.
        state, is_ = "an advance notice", "has"
    else:
        what = f"{display_name(component)} of cluster {name}"
        state, is_ = ("an advance notice", "has") if notice else (state, "is")
    if kind is TransitionKind.RECOVERY:
        ended = "the warning lasted" if transition.severity is Severity.WARNING else "the alarm lasted"
        now = "nothing to tell" if component == CHECKER else f"now {verdict}" + (
            f" ({confidence} confidence)" if confidence else "")
        return f"{what} has RECOVERED at {clock(at, at)}, {now}" + (f"; {ended} {lasted} ({began})." if since else ".")
    if kind is TransitionKind.DEESCALATION:
        return (f"{what} is no longer down at {clock(at, at)}, but still {state}: the page ends, a warning stays "
                f"open" + (f" (the alarm lasted {lasted}, {began})." if since else "."))
    if kind is TransitionKind.REMINDER:
        return f"REMINDER: {what} {is_} still {state}" + (f", for {lasted} now ({began})." if since else ".")
    if kind is TransitionKind.ESCALATION:
        return f"{what} is {state}: the warning open {began} is now a page." if since else f"{what} is {state}."
    return f"{what} {is_} {state}" + (f" {began}." if since else ".")


def _urgency_lines(transition: Transition) -> list[str]:
    if transition.kind is TransitionKind.RECOVERY:
        return []
    if transition.severity is Severity.CRITICAL:
        return ["Urgency: critical (pages)."]
    why = ("an advance notice, told at once" if transition.kind is TransitionKind.WARNING
           and transition.since == transition.first_seen else "it has lasted since "
           + (clock(transition.first_seen, transition.at) if transition.first_seen else "the first look"))
    return wrap(f"Urgency: warning (mailboxes and chat, never a pager): {why}. It is paged if it turns into a "
                "component down.", "")


def _finding_lines(finding: dict) -> list[str]:
    status = str(finding.get("status", "?")).upper()
    lines = wrap(f"[{status}] {finding.get('code', '?')}: {finding.get('message', '')}", "  ", "      ")
    evidence = finding.get("evidence") or {}
    if status != "OK" and isinstance(evidence, dict) and evidence:
        values = ", ".join(f"{key}={short(value)}" for key, value in evidence.items())
        lines += wrap(f"evidence: {values}", "      ", "        ")
    return lines


def _runbook_lines(runbook: Runbook, indent: str = "") -> list[str]:
    inner = indent + "  "
    return [
        f"{indent}What it means:", *wrap(runbook.meaning, inner), "",
        f"{indent}How to confirm by hand:", *[f"{inner}{command}" for command in runbook.confirm], "",
        f"{indent}What to do on EKS:", *wrap(runbook.eks, inner), "",
        f"{indent}What to do on a self-managed cluster:", *wrap(runbook.self_managed, inner),
    ]


def _between_lines(findings: list[dict], shown: list[Runbook]) -> list[str]:
    """Every finding between the components or ahead of time, then each one's runbook once."""
    found = between_components(findings)
    title = "Between the components and ahead of time (webhooks, aggregated APIs, throttling, certificates, quota):"
    if not found:
        return [title, "  nothing found"]
    lines = [title, *[line for finding in found for line in _finding_lines(finding)]]
    for finding in found:
        runbook = runbook_of(finding)
        if runbook is None or runbook in shown:
            continue
        shown.append(runbook)
        lines += ["", f"  Runbook: {runbook.title} (for {finding.get('code')})", *_runbook_lines(runbook, "    ")]
    return lines


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
    for group, title in ((Component.NODE.value, "node problems (not control-plane failures)"), (CHECKER, "cpwatch itself")):
        if group == component:
            continue
        found = [f for f in findings if f.get("component") == group and f.get("status") != "ok"]
        if found:
            lines.append(f"  {title}: {len(found)}, e.g. {short(found[0].get('message', ''), 160)}")
    return lines


def _runbook(component: str, findings: list[dict]) -> Runbook | None:
    key = key_finding(component, findings)
    for finding in ([key] if key else []) + findings:
        if finding.get("status") not in ("fail", "warn") and component != CHECKER:
            continue
        runbook = runbook_of(finding)
        if runbook is not None:
            return runbook
    return component_runbook(component)
