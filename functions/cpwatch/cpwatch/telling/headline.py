"""The answer in one line: what is wrong and why, the same words wherever a diagnosis is shown.

headline() is the first thing the CLI report says, the `headline` of the JSON document (which
the e-mail, the evidence pack and `cpwatch history` print from the stored document), and the
root-cause column of `--all-contexts`. summary() is the longer line of the JSON document: the
root cause first, then every other component that is not healthy. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..judging.diagnosis import Verdict, impairments
from ..findings import CONTROL_PLANE, Component, Status, ordered

if TYPE_CHECKING:
    from ..judging.check import Diagnosis


def headline(diagnosis: Diagnosis) -> str:
    """The root cause and its key finding; what is impaired between the components; or why
    cpwatch could not look."""
    if diagnosis.overall is Verdict.HEALTHY:
        return "control plane healthy"
    if diagnosis.root_cause is Component.EXTENSIONS:
        cause = diagnosis.cause_finding()
        return cause.message() if cause is not None else "impaired between the components"
    if diagnosis.root_cause is not None:
        verdict = diagnosis.components[diagnosis.root_cause]
        key = verdict.key_finding()
        return f"{diagnosis.root_cause.value} {verdict.verdict.value}" + (f": {key.message()}" if key else "")
    impaired = impairments(diagnosis.observations)
    if impaired:
        return f"cluster impaired: {impaired[0].message()}"
    blind = next((o for o in ordered(diagnosis.observations) if o.status is not Status.OK and o.code != "NOT_JUDGED"),
                 None)
    return blind.message() if blind else "no observation"


def summary(diagnosis: Diagnosis) -> str:
    """`<cluster>: <the root cause>; <every other component not healthy>; <impairments>`."""
    if diagnosis.overall is Verdict.HEALTHY:
        return f"{diagnosis.cluster}: control plane healthy"
    cause = diagnosis.cause_finding() if diagnosis.root_cause is Component.EXTENSIONS else None
    impaired = [f"cluster impaired: {o.message()}" for o in impairments(diagnosis.observations) if o is not cause]
    parts: list[str] = [headline(diagnosis)] if cause is not None else []
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
