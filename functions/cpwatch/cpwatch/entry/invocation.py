"""Parsing of the Lambda's event: which clusters to check, and the scheduler's execution id.

Called by pipeline.handle. Accepted payloads (samples in events/):
- the schedule's Input (what template.yaml configures):
  {"targets": [{"cluster": "prod-a", "region": "eu-west-1", "role_arn": "...", "external_id": "...",
  "read_only": false}], "execution_id": "<aws.scheduler.execution-id>", "scheduled_time": "..."}
- an EventBridge-style event ({"id": ..., "source": "aws.scheduler", "detail": "{}"}); `detail`
  arrives as a JSON string and may itself carry "targets"; without any, the default targets
  (setting CPWATCH_TARGETS) are checked.
Every mistake raises EventError with a message naming the field; nothing is checked then.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import CpwatchError

MAX_TARGETS = 50
_CLUSTER = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
_REGION = re.compile(r"^[a-z]{2,4}(-[a-z0-9]+)+-\d+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_TARGET_KEYS = {"cluster", "region", "role_arn", "external_id", "read_only"}


class EventError(CpwatchError):
    """The event payload is not something cpwatch can act on; nothing was checked."""


@dataclass(frozen=True)
class Target:
    cluster: str
    region: str
    role_arn: str | None = None
    external_id: str | None = None
    read_only: bool | None = None  # None: the deployment's default

    def __repr__(self) -> str:  # the external id is a shared secret of the role's trust policy
        return f"Target(cluster={self.cluster!r}, region={self.region!r}, role_arn={self.role_arn!r})"


@dataclass(frozen=True)
class Invocation:
    targets: tuple[Target, ...]
    execution_id: str | None
    scheduled_time: str | None


def parse_event(event: Any, default_targets: tuple[Target, ...] = (), default_region: str | None = None) -> Invocation:
    if not isinstance(event, dict):
        raise EventError(f"event must be a JSON object, got {type(event).__name__}")
    payload = event
    execution_id = _optional_str(event, "execution_id")
    if "detail" in event and "targets" not in event:
        payload = _detail(event["detail"])
        execution_id = execution_id or _optional_str(event, "id")
    raw_targets = payload.get("targets")
    if raw_targets is None:
        if not default_targets:
            raise EventError("event has no \"targets\" and no default targets are configured (CPWATCH_TARGETS)")
        targets = default_targets
    else:
        targets = parse_targets(raw_targets, default_region)
    return Invocation(targets=targets, execution_id=execution_id,
                      scheduled_time=_optional_str(payload, "scheduled_time") or _optional_str(event, "time"))


def parse_targets(raw: Any, default_region: str | None = None) -> tuple[Target, ...]:
    if not isinstance(raw, list) or not raw:
        raise EventError("\"targets\" must be a non-empty list")
    if len(raw) > MAX_TARGETS:
        raise EventError(f"\"targets\" has {len(raw)} entries; at most {MAX_TARGETS} per invocation "
                         "(fan out with one schedule per cluster)")
    targets = tuple(_target(entry, index, default_region) for index, entry in enumerate(raw))
    names = [(t.cluster, t.region, t.role_arn) for t in targets]
    if len(set(names)) != len(names):
        raise EventError("\"targets\" lists the same cluster twice")
    return targets


def _target(entry: Any, index: int, default_region: str | None) -> Target:
    where = f"targets[{index}]"
    if not isinstance(entry, dict):
        raise EventError(f"{where} must be an object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - _TARGET_KEYS)
    if unknown:
        raise EventError(f"{where} has unknown field(s): {', '.join(unknown)}")
    cluster = entry.get("cluster")
    if not isinstance(cluster, str) or not _CLUSTER.match(cluster):
        raise EventError(f"{where}.cluster must be an EKS cluster name (letters, digits, '-', '_'), got {cluster!r}")
    region = entry.get("region", default_region)
    if not isinstance(region, str) or not _REGION.match(region):
        raise EventError(f"{where}.region must look like eu-west-1, got {region!r}")
    role_arn = entry.get("role_arn")
    if role_arn is not None and (not isinstance(role_arn, str) or not _ROLE_ARN.match(role_arn)):
        raise EventError(f"{where}.role_arn must be an IAM role ARN, got {role_arn!r}")
    external_id = entry.get("external_id")
    if external_id is not None and (not isinstance(external_id, str) or not 2 <= len(external_id) <= 1224):
        raise EventError(f"{where}.external_id must be a string of 2 to 1224 characters")
    if external_id is not None and role_arn is None:
        raise EventError(f"{where}.external_id needs role_arn")
    read_only = entry.get("read_only")
    if read_only is not None and not isinstance(read_only, bool):
        raise EventError(f"{where}.read_only must be true or false, got {read_only!r}")
    return Target(cluster, region, role_arn, external_id, read_only)


def _detail(detail: Any) -> dict:
    if isinstance(detail, str):
        try:
            detail = json.loads(detail) if detail.strip() else {}
        except ValueError:
            raise EventError("event \"detail\" is a string but not JSON") from None
        except RecursionError:  # json's decoder gives up on arrays or objects nested too deep
            raise EventError("event \"detail\" is nested too deeply") from None
    if not isinstance(detail, dict):
        raise EventError(f"event \"detail\" must be an object, got {type(detail).__name__}")
    return detail


def _optional_str(source: dict, key: str) -> str | None:
    value = source.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 256:
        raise EventError(f"\"{key}\" must be a string of 1 to 256 characters")
    return value
