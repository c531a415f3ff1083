"""CloudWatch's alarm rule, for tests that feed it the function's own EMF output.

An alarm definition is taken from template.yaml (expanded) as written: a single metric with its
dimensions (the per-cluster alarms), or a Metrics Insights query `SELECT FN(metric) FROM
SCHEMA(namespace, Dim) GROUP BY Dim ...` (the fleet alarms: one contributor per Dim value, each
with its own state). The EMF documents become datapoints the way CloudWatch Logs makes metrics
of them (namespace, metric name and the exact dimension set identify a metric), aggregated per
period with the alarm's statistic. At the end of each period the alarm looks at its last
EvaluationPeriods periods: a missing one counts as TreatMissingData says (breaching,
notBreaching; with missing or ignore, only present datapoints count, and none at all keeps the
state (ignore) or makes it INSUFFICIENT_DATA (missing)); DatapointsToAlarm breaching ones make
ALARM, otherwise OK. A page is a transition into ALARM (AlarmActions).

The runs are placed one per period (`documents_by_period[i]` holds what the i-th scheduled run
wrote), as a schedule of rate(1 minute) places them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.template.cfn import render_sub

_QUERY = re.compile(r"SELECT (MAX|MIN|SUM|AVG|COUNT)\((\w+)\) FROM SCHEMA\((\w+), (\w+)\) GROUP BY (\w+)"
                    r"(?: ORDER BY \w+\(\) (?:ASC|DESC))?(?: LIMIT (\d+))?")
_STATISTICS = {"Maximum": max, "Minimum": min, "Sum": sum, "SampleCount": len,
               "MAX": max, "MIN": min, "SUM": sum, "COUNT": len, "AVG": lambda v: sum(v) / len(v),
               "Average": lambda v: sum(v) / len(v)}
_COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class AlarmRule:
    name: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]  # exact dimension set (single-metric alarms)
    group_by: str | None  # Metrics Insights: the contributor dimension
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str

    @classmethod
    def from_template(cls, name: str, props: dict[str, Any], region: str | None = None) -> AlarmRule:
        """`region`: the stack's, for dimension values the template builds with Fn::Sub (a
        cluster's ARN); the other pseudo parameters are tests/template/cfn.py's."""
        common = dict(name=name, evaluation_periods=props["EvaluationPeriods"],
                      datapoints_to_alarm=props.get("DatapointsToAlarm", props["EvaluationPeriods"]),
                      threshold=props["Threshold"], comparison=props["ComparisonOperator"],
                      treat_missing=props.get("TreatMissingData", "missing"))
        if "Metrics" in props:
            (query,) = props["Metrics"]
            match = _QUERY.fullmatch(query["Expression"])
            assert match, query["Expression"]
            function, metric, namespace, schema_dimension, group_by, _ = match.groups()
            assert schema_dimension == group_by, query["Expression"]
            return cls(namespace=namespace, metric=metric, dimensions=((group_by, "*"),), group_by=group_by,
                       statistic=function, period=query["Period"], **common)
        extra = {"AWS::Region": region} if region else None
        dimensions = tuple((d["Name"], render_sub(d["Value"], {}, extra)) for d in props.get("Dimensions", []))
        return cls(namespace=props["Namespace"], metric=props["MetricName"], dimensions=dimensions, group_by=None,
                   statistic=props["Statistic"], period=props["Period"], **common)

    def series(self, documents_by_period: list[list[dict]]) -> dict[str, dict[int, float]]:
        """contributor (the group-by value, or "" for a single metric) -> period -> statistic."""
        values: dict[str, dict[int, list[float]]] = {}
        for period, documents in enumerate(documents_by_period):
            for document in documents:
                for contributor, value in self._values(document):
                    values.setdefault(contributor, {}).setdefault(period, []).append(value)
        return {c: {p: _STATISTICS[self.statistic](v) for p, v in per.items()} for c, per in values.items()}

    def _values(self, document: dict):
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if directive["Namespace"] != self.namespace:
                continue
            if self.metric not in {m["Name"] for m in directive["Metrics"]}:
                continue
            raw = document[self.metric]
            samples = raw if isinstance(raw, list) else [raw]
            for dimension_set in directive["Dimensions"]:
                if set(dimension_set) != {name for name, _ in self.dimensions}:
                    continue
                if self.group_by is None:
                    if all(document.get(name) == value for name, value in self.dimensions):
                        yield from (("", float(v)) for v in samples)
                else:
                    yield from ((document[self.group_by], float(v)) for v in samples)

    def transitions(self, series: dict[int, float], periods: int) -> list[tuple[int, str]]:
        """(period, new state) each time the state changes, evaluated at the end of every period."""
        state, changes = "INSUFFICIENT_DATA", []
        for end in range(periods):
            window = [series.get(p) for p in range(end - self.evaluation_periods + 1, end + 1) if p >= 0]
            new = self._state(window, state)
            if new != state:
                changes.append((end, new))
                state = new
        return changes

    def _state(self, window: list[float | None], current: str) -> str:
        compare = _COMPARE[self.comparison]
        breaching = 0
        present = [v for v in window if v is not None]
        if self.treat_missing in ("missing", "ignore") and not present:
            return current if self.treat_missing == "ignore" else "INSUFFICIENT_DATA"
        for value in window:
            if value is None:
                breaching += self.treat_missing == "breaching"
            else:
                breaching += compare(value, self.threshold)
        return "ALARM" if breaching >= self.datapoints_to_alarm else "OK"

    def pages(self, documents_by_period: list[list[dict]]) -> dict[str, list[int]]:
        """contributor -> the periods at whose end the alarm (or that contributor) went to ALARM."""
        periods = len(documents_by_period)
        every = self.series(documents_by_period)
        if self.group_by is None and not every:
            every = {"": {}}  # a single metric with no data at all is still evaluated
        found = {}
        for contributor, series in every.items():
            alarms = [p for p, state in self.transitions(series, periods) if state == "ALARM"]
            if alarms:
                found[contributor] = alarms
        return found
