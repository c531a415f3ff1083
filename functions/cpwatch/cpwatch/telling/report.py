"""The JSON document of a Diagnosis (a public interface: README "JSON output"), of one cluster or
of several contexts checked at once, and the CLI's exit codes.

Called by the CLI, the Lambda pipeline (the stored and published document) and tests. The text
report is textreport.py; the one-line answer every rendering shares is headline.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..judging.check import Diagnosis
from ..judging.diagnosis import Verdict
from ..judging.explanations import Explained
from ..findings import Component, Observation, ordered
from .headline import headline, summary

if TYPE_CHECKING:
    from ..judging.check import ContextResult

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
        "headline": headline(diagnosis),
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
        "findings": [finding_dict(o, diagnosis.explanation_of(o)) for o in ordered(diagnosis.observations)],
        "checked_at": diagnosis.checked_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
        "duration_ms": diagnosis.duration_ms,
        "read_only": diagnosis.read_only,
        "requests": diagnosis.requests,
        "bytes_received": diagnosis.bytes_received,
    }


def to_json(diagnosis: Diagnosis) -> str:
    return json.dumps(to_dict(diagnosis), indent=2, sort_keys=False)


def worst(results: list[ContextResult]) -> Verdict:
    return max((r.diagnosis.overall for r in results), key=lambda verdict: verdict.rank, default=Verdict.UNKNOWN)


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


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
