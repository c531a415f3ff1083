"""EventBridge Scheduler schedules of discovered clusters: one per cluster, in a schedule group
of their own, created and deleted idempotently.

Called by reconcile.py once per (account, region) partition whose discovery succeeded. A
schedule's name is `<account>-<region>-<digest>-<cluster>` (cut at Scheduler's 64 characters):
the prefix lets ListSchedules(NamePrefix=...) list exactly one partition's schedules, so a
partition whose discovery failed keeps its schedules; the digest covers everything the schedule
says (target, input, expression), so a changed setting replaces the schedule instead of leaving
a stale one, and two clusters whose names are cut alike still get different names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .discovery import Partition
from ..aws.call_errors import AWS_CALL_ERRORS, aws_error
from ..errors import AwsNotFoundError, AwsUnavailableError
from .invocation import Target

NAME_LIMIT = 64  # Scheduler: 1-64 of [0-9a-zA-Z-_.]
LIST_PAGE_SIZE = 100


@dataclass(frozen=True)
class ScheduleTemplate:
    """What every discovered cluster's schedule shares (from the stack, through the environment)."""

    group: str
    checker_arn: str
    role_arn: str
    dead_letter_arn: str
    expression: str = "rate(1 minute)"


@dataclass(frozen=True)
class ReconcileCounts:
    created: int = 0
    deleted: int = 0
    kept: int = 0


def schedule_input(target: Target) -> str:
    """The checker's event, as template.yaml's per-cluster schedules write it; <aws.scheduler.*>
    are filled in by Scheduler for each invocation (execution_id makes a run idempotent)."""
    entry: dict = {"cluster": target.cluster, "region": target.region}
    if target.role_arn:
        entry["role_arn"] = target.role_arn
    if target.external_id:
        entry["external_id"] = target.external_id
    return json.dumps({"targets": [entry], "execution_id": "<aws.scheduler.execution-id>",
                       "scheduled_time": "<aws.scheduler.scheduled-time>"}, separators=(",", ":"))


def schedule_target(target: Target, template: ScheduleTemplate) -> dict:
    return {
        "Arn": template.checker_arn,
        "RoleArn": template.role_arn,
        "Input": schedule_input(target),
        # A stale check is worthless and the next one is a minute away: no retries.
        "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
        "DeadLetterConfig": {"Arn": template.dead_letter_arn},
    }


def schedule_name(partition: Partition, target: Target, template: ScheduleTemplate) -> str:
    spec = json.dumps([schedule_target(target, template), template.expression], sort_keys=True)
    digest = hashlib.sha256(spec.encode()).hexdigest()[:12]
    return f"{partition.key}-{digest}-{target.cluster}"[:NAME_LIMIT]


def existing_names(scheduler, group: str, prefix: str) -> set[str]:
    """Names of the group's schedules starting with `prefix` (every page)."""
    names: set[str] = set()
    kwargs: dict = {"GroupName": group, "NamePrefix": prefix, "MaxResults": LIST_PAGE_SIZE}
    while True:
        try:
            page = scheduler.list_schedules(**kwargs)
        except AWS_CALL_ERRORS as error:
            raise aws_error(error, "scheduler", "ListSchedules", group) from None
        names |= {s["Name"] for s in page.get("Schedules") or []}
        token = page.get("NextToken")
        if not token:
            return names
        kwargs["NextToken"] = token


def reconcile_partition(scheduler, partition: Partition, targets: tuple[Target, ...],
                        template: ScheduleTemplate) -> ReconcileCounts:
    """Make the partition's schedules exactly one per target: create the missing, delete the
    rest. Safe to run twice or concurrently: a schedule created meanwhile (ConflictException)
    counts as there, one deleted meanwhile (ResourceNotFoundException) as gone."""
    wanted = {schedule_name(partition, t, template): t for t in targets}
    present = existing_names(scheduler, template.group, f"{partition.key}-")
    created = deleted = 0
    for name in sorted(set(wanted) - present):
        target = wanted[name]
        try:
            scheduler.create_schedule(
                Name=name, GroupName=template.group, ScheduleExpression=template.expression,
                FlexibleTimeWindow={"Mode": "OFF"}, State="ENABLED",
                Description=f"cpwatch check of EKS cluster {target.cluster} ({partition.account}, {partition.region})"[:512],
                Target=schedule_target(target, template))
            created += 1
        except AWS_CALL_ERRORS as error:
            mapped = aws_error(error, "scheduler", "CreateSchedule", name)
            if not (isinstance(mapped, AwsUnavailableError) and mapped.code == "ConflictException"):
                raise mapped from None
    for name in sorted(present - set(wanted)):
        try:
            scheduler.delete_schedule(Name=name, GroupName=template.group)
            deleted += 1
        except AWS_CALL_ERRORS as error:
            mapped = aws_error(error, "scheduler", "DeleteSchedule", name)
            if not isinstance(mapped, AwsNotFoundError):
                raise mapped from None
    return ReconcileCounts(created=created, deleted=deleted, kept=len(present & set(wanted)))
