"""EKS's vended control-plane metrics of one cluster (CloudWatch namespace AWS/EKS, dimension
ClusterName), read with one GetMetricData call for several series.

Called by second_opinion.py. EKS publishes these series for free, every minute, for clusters on
Kubernetes 1.28 and later; older clusters have none, and a series without datapoints is simply
absent from the answer (never an error). Reading them is billed per metric requested ($0.01 per
1,000), so the caller asks only for the series a verdict needs. Errors: the AwsError family.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping

from .call_errors import AWS_CALL_ERRORS, aws_error

NAMESPACE = "AWS/EKS"
DIMENSION = "ClusterName"
PERIOD_S = 60
# GetMetricData answers at most 100,800 datapoints per call; cpwatch's reads hold a few hundred,
# so a second page is not expected. Pages are bounded anyway.
_MAX_PAGES = 3


@dataclass(frozen=True)
class Series:
    """One vended metric and the statistic the EKS documentation lists as valid for it."""

    name: str
    stat: str


# Names and statistics as in the EKS user guide ("Basic metrics in Amazon CloudWatch").
SCHEDULER_PENDING = Series("scheduler_pending_pods", "Sum")
SCHEDULER_PENDING_GATED = Series("scheduler_pending_pods_GATED", "Sum")
SCHEDULER_ATTEMPTS = Series("scheduler_schedule_attempts_total", "Sum")
APISERVER_REQUESTS = Series("apiserver_request_total", "Sum")
APISERVER_REQUESTS_5XX = Series("apiserver_request_total_5XX", "Sum")
APISERVER_REQUESTS_429 = Series("apiserver_request_total_429", "Sum")
STORAGE_SIZE = Series("apiserver_storage_size_bytes", "Maximum")


@dataclass(frozen=True)
class VendedMetrics:
    """Datapoints per series name, oldest first, each (start of its minute, value). A series
    without datapoints has no key."""

    cluster: str
    start: datetime
    end: datetime
    points: Mapping[str, tuple[tuple[datetime, float], ...]]

    def series(self, wanted: Series) -> tuple[tuple[datetime, float], ...]:
        return self.points.get(wanted.name, ())

    def by_minute(self, wanted: Series) -> dict[datetime, float]:
        return dict(self.series(wanted))


def read_vended_metrics(cloudwatch, cluster: str, series: Iterable[Series], start: datetime,
                        end: datetime) -> VendedMetrics:
    """cloudwatch:GetMetricData for `series` of `cluster` between `start` and `end`, 1-minute
    periods. Errors: AwsAccessDeniedError, AwsUnavailableError, AwsUnreachableError, ConfigError."""
    wanted = list(dict.fromkeys(series))
    queries = [
        {
            "Id": f"m{index}",
            "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": item.name,
                           "Dimensions": [{"Name": DIMENSION, "Value": cluster}]},
                "Period": PERIOD_S,
                "Stat": item.stat,
            },
            "ReturnData": True,
        }
        for index, item in enumerate(wanted)
    ]
    by_id = {query["Id"]: item for query, item in zip(queries, wanted)}
    collected: dict[str, dict[datetime, float]] = {}
    params = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}
    for _ in range(_MAX_PAGES):
        try:
            answer = cloudwatch.get_metric_data(**params)
        except AWS_CALL_ERRORS as error:
            raise aws_error(error, "cloudwatch", "GetMetricData", f"{NAMESPACE} {cluster}") from None
        for result in answer.get("MetricDataResults") or ():
            item = by_id.get(str(result.get("Id")))
            if item is None:
                continue
            points = collected.setdefault(item.name, {})
            for timestamp, value in zip(result.get("Timestamps") or (), result.get("Values") or ()):
                points[_utc(timestamp)] = float(value)
        token = answer.get("NextToken")
        if not token:
            break
        params["NextToken"] = token
    return VendedMetrics(
        cluster=cluster, start=start, end=end,
        points={name: tuple(sorted(points.items())) for name, points in collected.items() if points},
    )


def _utc(timestamp: datetime) -> datetime:
    return timestamp.replace(tzinfo=timezone.utc) if timestamp.tzinfo is None else timestamp.astimezone(timezone.utc)
