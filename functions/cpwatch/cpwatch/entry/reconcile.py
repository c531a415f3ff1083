"""The reconcile function (discovery mode): every few minutes, one EventBridge Scheduler schedule
per discovered cluster, created for new clusters and deleted for those that are gone.

Lambda entry: cpwatch.entry.reconcile.lambda_handler (template.yaml's ReconcileFunction, on its own
slower schedule). The fleet is partitioned by (account, region): the stack's own account and one
member account per role in CPWATCH_MEMBER_ROLE_ARNS, each in every discovery region. Partitions
are reconciled independently; one whose discovery fails (role not assumable, EKS unreachable)
keeps its schedules as they are, and the run then raises so that the function's Errors alarm
pages: clusters added meanwhile are not checked until it is fixed.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import boto3
from aws_lambda_powertools import Logger

from .discovery import Partition, TagRule, discover
from ..aws.clients import aws_client
from ..aws.role_chain import CredentialsCache, assumed_session
from ..errors import AwsError, ConfigError, CpwatchError
from .invocation import Target
from .schedules import ReconcileCounts, ScheduleTemplate, reconcile_partition
from ..settings import FleetSettings, fleet_settings_from_env

# Powertools configures the "cpwatch" logger (JSON lines, LOG_LEVEL) as in handler.py; this
# module's logger is its child.
logger = Logger(service="cpwatch")
log = logging.getLogger(__name__)

PARTITION_CONCURRENCY = 6
_ROLE_SESSION = "cpwatch-reconcile"


class ReconcileError(CpwatchError):
    """Some partitions could not be reconciled; the others were."""


@dataclass(frozen=True)
class PartitionOutcome:
    partition: Partition
    clusters: int = 0
    counts: ReconcileCounts | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"account": self.partition.account, "region": self.partition.region,
                               "clusters": self.clusters}
        if self.counts is not None:
            out.update(created=self.counts.created, deleted=self.counts.deleted, kept=self.counts.kept)
        if self.error is not None:
            out["error"] = self.error
        return out


def partitions(fleet: FleetSettings) -> tuple[Partition, ...]:
    found = [Partition(fleet.account, region) for region in fleet.regions]
    for role_arn in fleet.member_role_arns:
        account = role_arn.split(":")[4]
        found += [Partition(account, region, role_arn, fleet.external_id) for region in fleet.regions]
    return tuple(found)


def schedule_template(fleet: FleetSettings) -> ScheduleTemplate:
    return ScheduleTemplate(group=fleet.schedule_group, checker_arn=fleet.checker_arn,
                            role_arn=fleet.scheduler_role_arn, dead_letter_arn=fleet.dead_letter_arn,
                            expression=fleet.schedule_expression)


def reconcile_fleet(fleet: FleetSettings, eks_for: Callable[[Partition], Any], scheduler) -> list[PartitionOutcome]:
    """Discover every partition's clusters and reconcile its schedules (partitions concurrently).
    `eks_for(partition)` gives an EKS client with that partition's credentials; `scheduler` is
    the stack's own Scheduler client. Never raises for one partition's AWS failure: it is in
    that partition's outcome.

    Clusters of one name in several partitions are each scheduled: history, alert state and
    metrics are keyed by the cluster's ARN (identity.py), which differs by account and region.
    """
    rule = TagRule(fleet.tag_key, fleet.opt_in)
    template = schedule_template(fleet)
    every = partitions(fleet)

    def find(partition: Partition) -> tuple[Target, ...] | str:
        try:
            return discover(eks_for(partition), partition, rule)
        except (AwsError, ConfigError) as error:
            log.error("%s/%s: not reconciled, its schedules are kept: %s", partition.account, partition.region, error)
            return str(error)

    with ThreadPoolExecutor(max_workers=PARTITION_CONCURRENCY, thread_name_prefix="discover") as pool:
        found = list(pool.map(find, every))

    def one(item: tuple[Partition, tuple[Target, ...] | str]) -> PartitionOutcome:
        partition, targets = item
        if isinstance(targets, str):
            return PartitionOutcome(partition, error=targets)
        try:
            counts = reconcile_partition(scheduler, partition, targets, template)
        except (AwsError, ConfigError) as error:
            log.error("%s/%s: schedules not reconciled: %s", partition.account, partition.region, error)
            return PartitionOutcome(partition, clusters=len(targets), error=str(error))
        return PartitionOutcome(partition, clusters=len(targets), counts=counts)

    with ThreadPoolExecutor(max_workers=PARTITION_CONCURRENCY, thread_name_prefix="partition") as pool:
        return list(pool.map(one, zip(every, found)))


@lru_cache(maxsize=1)
def _configuration() -> FleetSettings:
    return fleet_settings_from_env(os.environ)


@lru_cache(maxsize=1)
def _clients() -> tuple[Callable[[Partition], Any], Any]:
    session = boto3.Session()
    cache = CredentialsCache()
    home = os.environ.get("AWS_REGION") or session.region_name

    def eks_for(partition: Partition):
        if partition.role_arn is None:
            return aws_client("eks", partition.region, session)
        member = assumed_session(partition.role_arn, partition.external_id, _ROLE_SESSION, region=partition.region,
                                 session=session, cache=cache)
        return aws_client("eks", partition.region, member)

    return eks_for, aws_client("scheduler", home, session)


def lambda_handler(event: Any, context: Any) -> dict:
    try:
        fleet = _configuration()
    except ConfigError as error:
        log.error("cpwatch reconcile is misconfigured: %s", error)
        raise
    eks_for, scheduler = _clients()
    outcomes = reconcile_fleet(fleet, eks_for, scheduler)
    result = {"partitions": [o.as_dict() for o in outcomes],
              "clusters": sum(o.clusters for o in outcomes),
              "created": sum(o.counts.created for o in outcomes if o.counts),
              "deleted": sum(o.counts.deleted for o in outcomes if o.counts)}
    log.info("reconciled: %s", result)
    failed = [o for o in outcomes if o.error]
    if failed:
        # Raised on purpose: the function's Errors alarm pages (schedules of the failed
        # partitions are kept; clusters added there are not checked until this is fixed).
        raise ReconcileError(f"{len(failed)} of {len(outcomes)} partitions not reconciled: "
                             + "; ".join(f"{o.partition.account}/{o.partition.region}: {o.error}" for o in failed))
    return result
