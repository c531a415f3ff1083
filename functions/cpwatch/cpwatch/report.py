"""Rendering of a Diagnosis: the JSON document (a public interface) and the text report; and of
several contexts checked at once: one line per cluster, then the details of the unhealthy ones.

Called by the CLI (and later by the Lambda's notifications). All prose about findings comes
from findings.py templates and runbooks.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .check import Diagnosis
from .diagnosis import Verdict, impairments
from .explanations import Explained
from .findings import CONTROL_PLANE, Component, Observation, Status, runbook_for

if TYPE_CHECKING:
    from .multicheck import ContextResult

SCHEMA_VERSION = 1

EXIT_CODES = {Verdict.HEALTHY: 0, Verdict.DEGRADED: 1, Verdict.DOWN: 2, Verdict.UNKNOWN: 3}
EXIT_USAGE = 64


def finding_dict(observation: Observation, explained: Explained | None = None) -> dict[str, Any]:
    found = {
        "code": observation.code,
        "component": observation.component.value,
        "status": observation.status.value,
        "message": observation.message(),
        "evidence": _jsonable(dict(observation.evidence)),
    }
    if explained is not None:
        found["explained_by"] = {"cause": explained.cause.value if explained.cause else None,
                                 "because": explained.because, "rule": explained.row}
    return found


def to_dict(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "cluster": diagnosis.cluster,
        "overall": diagnosis.overall.value,
        "root_cause": diagnosis.root_cause.value if diagnosis.root_cause else None,
        "summary": summary(diagnosis),
        "components": {
            component.value: {
                "verdict": verdict.verdict.value,
                "confidence": verdict.confidence.value,
                "findings": [o.code for o in verdict.findings],
                "consequence_of": verdict.consequence_of.value if verdict.consequence_of else None,
            }
            for component, verdict in diagnosis.components.items()
        },
        "extensions": {"verdict": diagnosis.extensions.value,
                       "findings": [o.code for o in diagnosis.observations if o.component is Component.EXTENSIONS]},
        "findings": [finding_dict(o, diagnosis.explanation_of(o)) for o in _ordered(diagnosis.observations)],
        "checked_at": diagnosis.checked_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
        "duration_ms": diagnosis.duration_ms,
        "read_only": diagnosis.read_only,
        "requests": diagnosis.requests,
        "bytes_received": diagnosis.bytes_received,
    }


def to_json(diagnosis: Diagnosis) -> str:
    return json.dumps(to_dict(diagnosis), indent=2, sort_keys=False)


def summary(diagnosis: Diagnosis) -> str:
    if diagnosis.overall is Verdict.HEALTHY:
        return f"{diagnosis.cluster}: control plane healthy"
    cause = diagnosis.cause_finding() if diagnosis.root_cause is Component.EXTENSIONS else None
    impaired = [f"cluster impaired: {o.message()}" for o in impairments(diagnosis.observations) if o is not cause]
    parts: list[str] = [f"{Component.EXTENSIONS.value} {diagnosis.extensions.value}: {cause.message()}"] \
        if cause is not None else []
    order = sorted(CONTROL_PLANE, key=lambda c: (c != diagnosis.root_cause, CONTROL_PLANE.index(c)))
    for component in order:
        verdict = diagnosis.components[component]
        if verdict.verdict is Verdict.HEALTHY:
            continue
        if verdict.consequence_of is not None:
            parts.append(consequence_phrase(diagnosis, component))
            continue
        key = verdict.key_finding()
        parts.append(f"{component.value} {verdict.verdict.value} ({verdict.confidence.value} confidence)"
                     + (f": {key.message()}" if key else ""))
    ordered = impaired + parts if diagnosis.root_cause is None else parts + impaired
    return f"{diagnosis.cluster}: " + "; ".join(ordered)


def consequence_phrase(diagnosis: Diagnosis, component: Component) -> str:
    """A component whose verdict another cause explains, in a few words."""
    verdict = diagnosis.components[component]
    cause = verdict.consequence_of
    if cause is Component.EXTENSIONS:
        webhook = next((e.webhook for e in diagnosis.explained if e.webhook and e.symptom in verdict.findings), "")
        by = f"admission webhook {webhook}" if webhook else "what is plugged in between the components"
        return f"{component.value} {verdict.verdict.value} because of {by} (a consequence, not the cause)"
    if verdict.verdict is Verdict.UNKNOWN:
        return f"{component.value} not judged (because {cause.value} is down)"
    return f"{component.value} {verdict.verdict.value} because {cause.value} is down (a consequence, not the cause)"


def to_text(diagnosis: Diagnosis) -> str:
    lines = [f"cpwatch check of {diagnosis.cluster} at {diagnosis.checked_at:%Y-%m-%d %H:%M:%S} UTC"
             f" ({diagnosis.duration_ms} ms{', read-only' if diagnosis.read_only else ''})",
             f"overall: {diagnosis.overall.value.upper()}",
             *[f"cluster impaired: {o.message()}" for o in impairments(diagnosis.observations)], ""]
    for component in CONTROL_PLANE:
        verdict = diagnosis.components[component]
        key = verdict.key_finding()
        evidence = key.message() if key else "no observation"
        if verdict.consequence_of is not None:
            evidence = consequence_phrase(diagnosis, component).split(" ", 1)[1]
        lines.append(f"  {component.value:<19} {verdict.verdict.value.upper():<9} {verdict.confidence.value:<7} {evidence}")
    problems = [o for o in _ordered(diagnosis.observations) if o.status is not Status.OK and o.code != "NOT_JUDGED"]
    if not problems:
        return "\n".join(lines + ["", "no problems found"]) + "\n"
    groups = [c for c in (*_root_first(diagnosis), Component.EXTENSIONS, Component.CHECKER, Component.NODE)
              if any(o.component is c for o in problems)]
    for component in groups:
        verdict = diagnosis.components.get(component)
        found = [o for o in problems if o.component is component]
        if verdict is not None and verdict.consequence_of is not None and verdict.verdict is Verdict.UNKNOWN:
            lines += ["", f"{component.value}: not judged because {verdict.consequence_of.value} is down "
                          f"({len(found)} probe(s) could not look; --json lists them)"]
            continue
        title = {Component.NODE: "node problems (not control-plane failures)",
                 Component.EXTENSIONS: _EXTENSIONS_TITLE,
                 Component.CHECKER: "cpwatch itself"}.get(component, f"{component.value} {verdict.verdict.value.upper() if verdict else ''}")
        lines += ["", f"{title}:"]
        lines += [f"  [{o.status.value.upper()}] {o.code}: {o.message()}" for o in found]
        lines += _runbook_lines(found)
    return "\n".join(lines) + "\n"


def headline(diagnosis: Diagnosis) -> str:
    """One line: the root cause and its key finding, or why cpwatch could not look."""
    if diagnosis.overall is Verdict.HEALTHY:
        return "control plane healthy"
    if diagnosis.root_cause is Component.EXTENSIONS:
        cause = diagnosis.cause_finding()
        return cause.message() if cause is not None else "cluster impaired between the components"
    if diagnosis.root_cause is not None:
        verdict = diagnosis.components[diagnosis.root_cause]
        key = verdict.key_finding()
        return f"{diagnosis.root_cause.value} {verdict.verdict.value}" + (f": {key.message()}" if key else "")
    impaired = impairments(diagnosis.observations)
    if impaired:
        return f"cluster impaired: {impaired[0].message()}"
    blind = next((o for o in _ordered(diagnosis.observations) if o.status is not Status.OK and o.code != "NOT_JUDGED"), None)
    return blind.message() if blind else "no observation"


def worst(results: list[ContextResult]) -> Verdict:
    return max((r.diagnosis.overall for r in results), key=lambda verdict: verdict.rank, default=Verdict.UNKNOWN)


def contexts_to_text(results: list[ContextResult], seconds: float, checked_at: datetime | None = None) -> str:
    checked_at = checked_at or datetime.now(timezone.utc)
    width = max([len("CONTEXT"), *(len(r.context) for r in results)])
    lines = [f"cpwatch check of {len(results)} context(s) at {checked_at:%Y-%m-%d %H:%M:%S} UTC ({seconds:.1f} s): "
             f"{worst(results).value.upper()}", "",
             f"  {'CONTEXT':<{width}}  {'OVERALL':<8}  {'TIME':>6}  ROOT CAUSE"]
    for result in results:
        line = " ".join(headline(result.diagnosis).split())
        line = line if len(line) <= 200 else line[:199] + "…"
        lines.append(f"  {result.context:<{width}}  {result.diagnosis.overall.value.upper():<8}  "
                     f"{result.seconds:>5.1f}s  {line}")
    text = "\n".join(lines) + "\n"
    for result in results:
        if result.diagnosis.overall is not Verdict.HEALTHY:
            text += "\n" + to_text(result.diagnosis)
    return text


def contexts_to_json(results: list[ContextResult], seconds: float, checked_at: datetime | None = None) -> str:
    checked_at = checked_at or datetime.now(timezone.utc)
    document = {
        "schema_version": SCHEMA_VERSION,
        "overall": worst(results).value,
        "checked_at": checked_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
        "duration_ms": int(seconds * 1000),
        "clusters": [{"context": r.context, "seconds": round(r.seconds, 3), "diagnosis": to_dict(r.diagnosis)}
                     for r in results],
    }
    return json.dumps(document, indent=2)


_EXTENSIONS_TITLE = "between the components: admission webhooks, aggregated APIs (not component failures)"


def _root_first(diagnosis: Diagnosis) -> list[Component]:
    return sorted(CONTROL_PLANE, key=lambda c: (c != diagnosis.root_cause, CONTROL_PLANE.index(c)))


def _runbook_lines(found: list[Observation]) -> list[str]:
    runbook = next((r for r in map(runbook_for, found) if r is not None), None)
    if runbook is None:
        return []
    return [
        f"  what it means: {runbook.meaning}",
        f"  confirm:       {runbook.confirm[0]}",
        *[f"                 {command}" for command in runbook.confirm[1:]],
        f"  on EKS:        {runbook.eks}",
        f"  self-managed:  {runbook.self_managed}",
    ]


_STATUS_ORDER = {Status.FAIL: 0, Status.WARN: 1, Status.UNKNOWN: 2, Status.OK: 3}


def _ordered(observations: tuple[Observation, ...]) -> list[Observation]:
    component_order = {c: i for i, c in enumerate((*CONTROL_PLANE, Component.EXTENSIONS, Component.NODE,
                                                   Component.CHECKER))}
    return sorted(observations, key=lambda o: (_STATUS_ORDER[o.status], component_order[o.component]))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
