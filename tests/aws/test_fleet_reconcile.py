"""Discovery mode against moto in server mode (EKS, Scheduler, IAM, STS): clusters over 3 regions
of 2 accounts (the member account through the role infra/aws/member-account.yaml creates),
reconciled into one Scheduler schedule each; clusters added, deleted, opted out and opted in
between reconciles; nothing created twice, also by two reconciles at once; a partition whose
discovery fails keeps its schedules; a cluster name taken twice is scheduled once and reported.

moto 5.2.5 paginates both ListClusters and ListSchedules. The first test lists 101 clusters and
schedules in one partition of each account (two of cpwatch's own pages of 100) and 5 in the four
others; the rest list 21 per partition in pages of 10 (three pages each): the same paging code at
a fraction of the calls. The size itself, 1,002 clusters, is `make bench`'s (bench/reconcile.py).
"""

from __future__ import annotations

import functools
import json
import math
import threading

import pytest

from cpwatch.entry import discovery, reconcile, schedules
from cpwatch.entry.discovery import Partition
from cpwatch.aws.role_chain import CredentialsCache, assumed_session
from cpwatch.entry.invocation import parse_event
from cpwatch.settings import fleet_settings_from_env
from tests.aws.fleet import (
    CHECKER_ARN,
    CHECKER_ROLE_ARN,
    DEAD_LETTER_ARN,
    EXTERNAL_ID,
    MEMBER_ACCOUNT,
    MEMBER_ROLE_ARN,
    MEMBER_ROLE_NAME,
    REGIONS,
    SCHEDULER_ROLE_ARN,
    CallCounter,
    fleet_environment,
    make_fleet,
)
from tests.aws.https_relay import HttpsRelay
from tests.aws.moto_server import ACCOUNT_ID, AwsClients, aws_error_endpoint

PAGED = 101  # two pages of ListClusters and ListSchedules at cpwatch's page size (100)
UNPAGED = 5
PAGED_PARTITIONS = {(ACCOUNT_ID, "eu-west-1"), (MEMBER_ACCOUNT, "eu-west-1")}  # one of each account
SMALLER = 21
SMALL_PAGE = 10


@pytest.fixture
def fleet(aws_env):
    """Six partitions: 101 clusters in one of each account, 5 in the others (212 clusters)."""
    made = make_fleet(aws_env, UNPAGED)
    for account, region in sorted(PAGED_PARTITIONS):
        prefix = f"{'own' if account == ACCOUNT_ID else 'mem'}-{region}"
        made.add(account, region, [f"{prefix}-{i:04d}" for i in range(UNPAGED, PAGED)])
    return made


@pytest.fixture
def smaller_fleet(aws_env, monkeypatch):
    """126 clusters listed in pages of 10: still several pages of ListClusters and ListSchedules
    per partition (10, 10, 1), for the tests whose point is not the size."""
    monkeypatch.setattr(discovery, "list_cluster_names",
                        functools.partial(discovery.list_cluster_names, page_size=SMALL_PAGE))
    monkeypatch.setattr(schedules, "LIST_PAGE_SIZE", SMALL_PAGE)
    return make_fleet(aws_env, SMALLER)


def clients(fleet, counter: CallCounter):
    """The reconcile function's clients, on moto, each call counted: EKS with the partition's
    credentials (the member account's through AssumeRole with the external id), Scheduler with
    the stack's own."""
    sts = counter.watch(fleet.aws.client("sts"))
    cache = CredentialsCache()  # as the function keeps it across warm invocations

    def eks_for(partition: Partition):
        if partition.role_arn is None:
            return counter.watch(fleet.aws.client("eks", partition.region))
        session = assumed_session(partition.role_arn, partition.external_id, "cpwatch-reconcile", sts,
                                  region=partition.region, cache=cache)
        return counter.watch(fleet.aws.client("eks", partition.region, session=session))

    return eks_for, counter.watch(fleet.aws.client("scheduler"))


def expected_targets(fleet) -> set[tuple[str, str, str | None]]:
    return {(name, region, None if account == ACCOUNT_ID else MEMBER_ROLE_ARN)
            for (account, region), names in fleet.clusters.items() for name in names}


def scheduled_targets(schedules: dict[str, dict]) -> set[tuple[str, str, str | None]]:
    found = set()
    for schedule in schedules.values():
        (target,) = parse_event(json.loads(schedule["Target"]["Input"])).targets
        found.add((target.cluster, target.region, target.role_arn))
    return found


def test_every_cluster_of_six_partitions_reconciled_once_each(fleet):
    settings = fleet_settings_from_env(fleet_environment())
    counter = CallCounter()
    eks_for, scheduler = clients(fleet, counter)

    outcomes = reconcile.reconcile_fleet(settings, eks_for, scheduler)

    assert [o.error for o in outcomes] == [None] * 6
    total = 2 * PAGED + 4 * UNPAGED
    assert sum(o.clusters for o in outcomes) == total
    calls = counter.reset()
    pages = 2 * 2 + 4 * 1
    assert calls == {"ListClusters": pages, "DescribeCluster": total, "ListSchedules": 6,
                     "CreateSchedule": total, "AssumeRole": 1}
    made = fleet.schedules()
    assert len(made) == total
    assert scheduled_targets(made) == expected_targets(fleet)
    for name, schedule in made.items():
        assert len(name) <= 64
        assert schedule["ScheduleExpression"] == "rate(1 minute)"
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"} and schedule["State"] == "ENABLED"
        target = schedule["Target"]
        assert (target["Arn"], target["RoleArn"], target["DeadLetterConfig"]["Arn"]) == (
            CHECKER_ARN, SCHEDULER_ROLE_ARN, DEAD_LETTER_ARN)
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
        (parsed,) = parse_event(json.loads(target["Input"])).targets
        assert parsed.external_id == (EXTERNAL_ID if parsed.role_arn else None)

    again = reconcile.reconcile_fleet(settings, eks_for, scheduler)

    assert {(o.partition.account, o.partition.region): (o.counts.created, o.counts.deleted, o.counts.kept)
            for o in again} == {partition: (0, 0, len(names)) for partition, names in fleet.clusters.items()}
    calls = counter.reset()
    assert calls == {"ListClusters": pages, "DescribeCluster": total, "ListSchedules": pages}
    assert fleet.schedules().keys() == made.keys()


def test_added_removed_opted_out_and_opted_in_clusters(smaller_fleet):
    settings = fleet_settings_from_env(fleet_environment())
    eks_for, scheduler = clients(smaller_fleet, CallCounter())
    reconcile.reconcile_fleet(settings, eks_for, scheduler)
    before = smaller_fleet.schedules()

    smaller_fleet.add(ACCOUNT_ID, "us-east-1", [f"new-{i}" for i in range(30)])
    smaller_fleet.add(MEMBER_ACCOUNT, "ap-southeast-2", [f"new-member-{i}" for i in range(12)])
    smaller_fleet.add(ACCOUNT_ID, "us-east-1", ["made-by-create-cluster"], through_api=True)
    smaller_fleet.add(ACCOUNT_ID, "eu-west-1", ["still-creating"], status="CREATING")
    smaller_fleet.add(MEMBER_ACCOUNT, "eu-west-1", ["opted-out"], tags={"cpwatch": "false"})
    gone = smaller_fleet.clusters[(ACCOUNT_ID, "eu-west-1")][:20]
    smaller_fleet.remove(ACCOUNT_ID, "eu-west-1", gone)
    smaller_fleet.tag(MEMBER_ACCOUNT, "us-east-1", "mem-us-east-1-0007", {"cpwatch": "False"})

    outcomes = {(o.partition.account, o.partition.region): o for o in reconcile.reconcile_fleet(settings, eks_for, scheduler)}

    assert (outcomes[(ACCOUNT_ID, "us-east-1")].counts.created, outcomes[(ACCOUNT_ID, "us-east-1")].counts.deleted) == (31, 0)
    assert outcomes[(MEMBER_ACCOUNT, "ap-southeast-2")].counts.created == 12
    assert (outcomes[(ACCOUNT_ID, "eu-west-1")].counts.created, outcomes[(ACCOUNT_ID, "eu-west-1")].counts.deleted) == (0, 20)
    assert (outcomes[(MEMBER_ACCOUNT, "us-east-1")].counts.created, outcomes[(MEMBER_ACCOUNT, "us-east-1")].counts.deleted) == (0, 1)
    assert outcomes[(MEMBER_ACCOUNT, "eu-west-1")].counts.created == 0
    after = smaller_fleet.schedules()
    expected = expected_targets(smaller_fleet) - {("still-creating", "eu-west-1", None), ("opted-out", "eu-west-1", MEMBER_ROLE_ARN),
                                          ("mem-us-east-1-0007", "us-east-1", MEMBER_ROLE_ARN)}
    assert scheduled_targets(after) == expected
    assert len(after) == 6 * SMALLER + 31 + 12 - 20 - 1
    # Schedules of clusters that stayed are the same schedules, not new ones.
    kept = set(before) & set(after)
    assert len(kept) == 6 * SMALLER - 20 - 1
    assert all(after[name]["CreationDate"] == before[name]["CreationDate"] for name in kept)

    smaller_fleet.tag(MEMBER_ACCOUNT, "us-east-1", "mem-us-east-1-0007", {"cpwatch": "true"})
    opted_in = settings.__class__(**{**settings.__dict__, "opt_in": True})
    only_tagged = reconcile.reconcile_fleet(opted_in, eks_for, scheduler)

    assert sum(o.clusters for o in only_tagged) == 1
    assert scheduled_targets(smaller_fleet.schedules()) == {("mem-us-east-1-0007", "us-east-1", MEMBER_ROLE_ARN)}


def test_two_reconciles_at_once_create_nothing_twice(smaller_fleet):
    settings = fleet_settings_from_env(fleet_environment())
    results = []

    def run():
        eks_for, scheduler = clients(smaller_fleet, CallCounter())
        results.append(reconcile.reconcile_fleet(settings, eks_for, scheduler))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(o.error is None for outcome in results for o in outcome)
    created = sum(o.counts.created for outcome in results for o in outcome)
    assert 6 * SMALLER <= created + sum(o.counts.kept for o in results[0]) + sum(o.counts.kept for o in results[1])
    made = smaller_fleet.schedules()
    assert len(made) == 6 * SMALLER and scheduled_targets(made) == expected_targets(smaller_fleet)


def test_a_partition_that_cannot_be_listed_keeps_its_schedules(smaller_fleet):
    settings = fleet_settings_from_env(fleet_environment())
    counter = CallCounter()
    eks_for, scheduler = clients(smaller_fleet, counter)
    reconcile.reconcile_fleet(settings, eks_for, scheduler)
    assert counter.reset()["ListClusters"] == 6 * math.ceil(SMALLER / SMALL_PAGE) == 18  # the small pages apply
    smaller_fleet.remove(MEMBER_ACCOUNT, "us-east-1", smaller_fleet.clusters[(MEMBER_ACCOUNT, "us-east-1")][:5])

    with aws_error_endpoint(403, "AccessDeniedException", "not authorized to perform eks:ListClusters") as denied:
        denied_clients = AwsClients(denied.url, "us-east-1")

        def eks_for_with_denial(partition: Partition):
            if (partition.account, partition.region) == (MEMBER_ACCOUNT, "us-east-1"):
                return denied_clients.client("eks", "us-east-1")
            return eks_for(partition)

        outcomes = reconcile.reconcile_fleet(settings, eks_for_with_denial, scheduler)

    failed = [o for o in outcomes if o.error]
    assert [(o.partition.account, o.partition.region) for o in failed] == [(MEMBER_ACCOUNT, "us-east-1")]
    assert "AccessDeniedException" in failed[0].error
    # The 5 deleted clusters' schedules stay until their partition can be listed again.
    assert len(smaller_fleet.schedules()) == 6 * SMALLER


def test_the_reconcile_function_end_to_end(smaller_fleet, monkeypatch):
    """The Lambda entry point with the template's environment: AssumeRole goes to the regional
    STS endpoint (https://sts.<region>.amazonaws.com), relayed to moto; nothing leaves."""
    relay = HttpsRelay({f"sts.{region}.amazonaws.com": smaller_fleet.aws.endpoint for region in REGIONS})
    with relay:
        monkeypatch.setenv("HTTPS_PROXY", relay.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("AWS_CA_BUNDLE", str(relay.ca_file))
        for name, value in fleet_environment().items():
            monkeypatch.setenv(name, value)
        reconcile._configuration.cache_clear()
        reconcile._clients.cache_clear()
        try:
            result = reconcile.lambda_handler({}, None)
            again = reconcile.lambda_handler({}, None)
            # STS refuses the member role (as IAM does for a wrong external id): the member's
            # partitions fail, the run raises for the Errors alarm, the rest is reconciled.
            smaller_fleet.remove(MEMBER_ACCOUNT, "us-east-1", smaller_fleet.clusters[(MEMBER_ACCOUNT, "us-east-1")][:3])
            smaller_fleet.remove(ACCOUNT_ID, "us-east-1", smaller_fleet.clusters[(ACCOUNT_ID, "us-east-1")][:2])
            reconcile._clients.cache_clear()  # a new environment: no cached role credentials
            with aws_error_endpoint(403, "AccessDenied", "not authorized to perform sts:AssumeRole", "query") as sts:
                for region in REGIONS:
                    relay.upstreams[f"sts.{region}.amazonaws.com"] = sts.url
                with pytest.raises(reconcile.ReconcileError, match=f"{MEMBER_ACCOUNT}/us-east-1"):
                    reconcile.lambda_handler({}, None)
        finally:
            reconcile._configuration.cache_clear()
            reconcile._clients.cache_clear()
    assert (result["clusters"], result["created"], result["deleted"]) == (6 * SMALLER, 6 * SMALLER, 0)
    assert (again["clusters"], again["created"], again["deleted"]) == (6 * SMALLER, 0, 0)
    # Own us-east-1 lost its 2 schedules; the member's us-east-1 kept its 3 (not listed).
    assert len(smaller_fleet.schedules()) == 6 * SMALLER - 2
    iam_role = smaller_fleet.aws.client("iam", session=smaller_fleet.member_session).get_role(RoleName=MEMBER_ROLE_NAME)["Role"]
    (trust,) = iam_role["AssumeRolePolicyDocument"]["Statement"]
    assert CHECKER_ROLE_ARN in trust["Principal"]["AWS"]
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}


def test_a_cluster_name_in_two_partitions_is_scheduled_in_both(smaller_fleet):
    """Clusters are keyed by ARN (issue 17): a namesake in another account and region is a
    cluster of its own, checked like any other."""
    settings = fleet_settings_from_env(fleet_environment())
    eks_for, scheduler = clients(smaller_fleet, CallCounter())
    taken = smaller_fleet.clusters[(ACCOUNT_ID, "eu-west-1")][0]
    smaller_fleet.add(MEMBER_ACCOUNT, "us-east-1", [taken])

    outcomes = {(o.partition.account, o.partition.region): o for o in reconcile.reconcile_fleet(settings, eks_for, scheduler)}

    assert [k for k, o in outcomes.items() if o.error] == []
    assert outcomes[(MEMBER_ACCOUNT, "us-east-1")].counts.created == SMALLER + 1
    assert (taken, "us-east-1", MEMBER_ROLE_ARN) in scheduled_targets(smaller_fleet.schedules())
    assert (taken, "eu-west-1", None) in scheduled_targets(smaller_fleet.schedules())
