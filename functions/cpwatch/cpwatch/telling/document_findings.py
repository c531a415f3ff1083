"""Reading the findings of a stored diagnosis document (report.to_dict): whose they are, their
runbook, and the ones that lie between the components.

Called by message_text.py, notification.py and evidencepack.py, which render notifications and
packs from the document a run stored (an outbox entry may be published by a later version, so
nothing here needs the Diagnosis object); pure.
"""

from __future__ import annotations

from ..findings import CATALOGUE, COMPONENT_RUNBOOKS, Component, Observation, Runbook, runbook_for
from .textformat import CHECKER
from .urgency import NOTICES, between_components

__all__ = ["between_components", "findings_of", "key_finding", "observation_of", "runbook_dict", "runbook_of"]


def findings_of(component: str, findings: list[dict]) -> list[dict]:
    if component == CHECKER:
        # What cpwatch could not look at, whichever component it would have spoken for.
        return [f for f in findings if f.get("code") != "NOT_JUDGED" and (
            f.get("component") == CHECKER or str(f.get("code", "")).startswith("CHECKER_")
            or f.get("status") == "unknown")]
    return [f for f in findings if f.get("component") == component]


def key_finding(component: str, findings: list[dict]) -> dict | None:
    """What a warning is about: the subject's first advance notice, else its first failing (then
    warning) finding."""
    mine = [f for f in findings_of(component, findings) if f.get("code") != "NOT_JUDGED"]
    for wanted in (lambda f: f.get("code") in NOTICES and f.get("status") != "ok",
                   lambda f: f.get("status") == "fail", lambda f: f.get("status") == "warn"):
        found = next((f for f in mine if wanted(f)), None)
        if found is not None:
            return found
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


def runbook_of(finding: dict) -> Runbook | None:
    observation = observation_of(finding)
    return runbook_for(observation) if observation is not None else None


def component_runbook(component: str) -> Runbook | None:
    try:
        return COMPONENT_RUNBOOKS.get(Component(component))
    except ValueError:
        return None


def runbook_dict(runbook: Runbook) -> dict:
    return {"title": runbook.title, "meaning": runbook.meaning, "confirm": list(runbook.confirm), "eks": runbook.eks,
            "self_managed": runbook.self_managed}
