"""The newest lines of one EKS control-plane component's log (CloudWatch Logs), bounded.

Called by second_opinion.py, only when that component is suspected and its log type is enabled
(DescribeCluster logging.clusterLogging). EKS writes every enabled log type to the log group
/aws/eks/<cluster>/cluster, one stream family per component (kube-controller-manager-<id>,
kube-scheduler-<id>; names rotate, hence a prefix). Lines are klog's: `Lmmdd hh:mm:ss.uuuuuu
threadid file:line] message`, L being I, W, E or F. Errors: the AwsError family.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from .call_errors import AWS_CALL_ERRORS, aws_error
from .redaction import redact

# DescribeCluster log type -> the prefix of its streams.
STREAM_PREFIXES = {
    "controllerManager": "kube-controller-manager-",
    "scheduler": "kube-scheduler-",
}
# klog's header: severity letter, month and day, then the time.
_KLOG_ERROR = re.compile(r"^[EF]\d{4} \d{2}:\d{2}:\d{2}")
_MAX_LINE_CHARS = 300


def log_group(cluster: str) -> str:
    return f"/aws/eks/{cluster}/cluster"


@dataclass(frozen=True)
class LogExcerpt:
    """What a bounded read of one component's streams found."""

    log_group: str
    stream_prefix: str
    start: datetime
    lines_read: int
    newest_at: datetime | None  # the newest line read, None when there was none
    error_lines: tuple[str, ...]  # the last klog E/F lines read, newest last
    complete: bool  # every line of the window was read (False: stopped at the page bound)


def read_component_log(logs_client, cluster: str, log_type: str, start: datetime, end: datetime,
                       page_limit: int, max_pages: int, keep_errors: int,
                       time_left: Callable[[], float] | None = None) -> LogExcerpt:
    """logs:FilterLogEvents on the component's streams between `start` and `end`, at most
    `max_pages` pages of `page_limit` events (fewer when `time_left()` falls under 2 s)."""
    prefix = STREAM_PREFIXES[log_type]
    group = log_group(cluster)
    params = {"logGroupName": group, "logStreamNamePrefix": prefix, "startTime": _ms(start),
              "endTime": _ms(end), "limit": page_limit}
    lines, errors, newest = 0, [], None
    complete = False
    for _ in range(max_pages):
        if time_left is not None and time_left() < 2:
            break
        try:
            answer = logs_client.filter_log_events(**params)
        except AWS_CALL_ERRORS as error:
            raise aws_error(error, "logs", "FilterLogEvents", group) from None
        for event in answer.get("events") or ():
            if not str(event.get("logStreamName", "")).startswith(prefix):
                continue
            lines += 1
            at = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, timezone.utc)
            newest = at if newest is None or at > newest else newest
            message = str(event.get("message", "")).strip()
            if _KLOG_ERROR.match(message):
                errors.append(redact(message)[:_MAX_LINE_CHARS])
        token = answer.get("nextToken")
        if not token:
            complete = True
            break
        params["nextToken"] = token
    return LogExcerpt(log_group=group, stream_prefix=prefix, start=start, lines_read=lines, newest_at=newest,
                      error_lines=tuple(errors[-keep_errors:]), complete=complete)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
