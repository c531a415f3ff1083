"""The CloudWatch alarm rule of tests/aws/alarm_rule.py on hand-made EMF documents: what the
template's blind and heartbeat alarms do with short blips, missing runs and several clusters."""

from __future__ import annotations

import pytest

from tests.aws.alarm_rule import AlarmRule
from tests.template.cfn import PSEUDO, REGION, expand, resources_of_type

# Metrics are keyed by the cluster's ARN (issue 17), as the template's alarms build it.
PROD_A = f"arn:aws:eks:{REGION}:{PSEUDO['AWS::AccountId']}:cluster/prod-a"
PROD_B = f"arn:aws:eks:{REGION}:{PSEUDO['AWS::AccountId']}:cluster/prod-b"


def emf(cluster: str, **metrics: float) -> dict:
    return {"_aws": {"Timestamp": 0, "CloudWatchMetrics": [{"Namespace": "cpwatch", "Dimensions": [["Cluster"]],
                                                            "Metrics": [{"Name": n} for n in metrics]}]},
            "Cluster": cluster, **{name: [value] for name, value in metrics.items()}}


@pytest.fixture(scope="module")
def rules() -> dict[str, AlarmRule]:
    template = expand({"ClusterNames": "prod-a"})
    return {name: AlarmRule.from_template(name, r["Properties"])
            for name, r in resources_of_type(template, "AWS::CloudWatch::Alarm").items()
            if "Metrics" in r["Properties"] or r["Properties"].get("Namespace") == "cpwatch"}


def minutes(*blind: int, cluster: str = PROD_A, total: int = 8) -> list[list[dict]]:
    return [[emf(cluster, ComponentsDown=0, **({"Blind": 1} if m in blind else {}))] for m in range(total)]


def test_two_blind_minutes_do_not_page(rules):
    assert rules["BlindAlarmproda"].pages(minutes(2, 3)) == {}
    assert rules["FleetBlindAlarm"].pages(minutes(2, 3)) == {}


def test_three_blind_minutes_page_at_the_third(rules):
    assert rules["BlindAlarmproda"].pages(minutes(2, 3, 4)) == {"": [4]}
    assert rules["FleetBlindAlarm"].pages(minutes(2, 3, 4)) == {PROD_A: [4]}


def test_a_blind_minute_between_sighted_ones_restarts_the_count(rules):
    assert rules["BlindAlarmproda"].pages(minutes(1, 2, 4, 5)) == {}


def test_fleet_alarm_pages_for_a_second_cluster_while_the_first_is_in_alarm(rules):
    documents = [a + b for a, b in zip(minutes(0, 1, 2, 3, 4, 5, 6, 7), minutes(4, 5, 6, cluster=PROD_B))]
    assert rules["FleetBlindAlarm"].pages(documents) == {PROD_A: [2], PROD_B: [6]}
    # The listed cluster's own alarm sees only its cluster.
    assert rules["BlindAlarmproda"].pages(documents) == {"": [2]}


def test_runs_that_stop_page_through_the_heartbeat_not_blind(rules):
    documents = minutes()[:3] + [[] for _ in range(5)]
    assert rules["HeartbeatMissingAlarmproda"].pages(documents) == {"": [5]}
    assert rules["FleetHeartbeatMissingAlarm"].pages(documents) == {PROD_A: [5]}
    assert rules["BlindAlarmproda"].pages(documents) == {}


def test_no_data_at_all_pages_the_heartbeat(rules):
    assert rules["HeartbeatMissingAlarmproda"].pages([[] for _ in range(4)]) == {"": [2]}


def test_a_namesake_in_another_region_is_not_the_listed_cluster(rules):
    """The listed cluster's alarms match its ARN only: prod-a of another region, blind, pages
    through the fleet alarm as a contributor of its own, never as this stack's prod-a."""
    elsewhere = PROD_A.replace(REGION, "us-east-1")
    documents = [a + b for a, b in zip(minutes(), minutes(2, 3, 4, cluster=elsewhere))]
    assert rules["BlindAlarmproda"].pages(documents) == {}
    assert rules["FleetBlindAlarm"].pages(documents) == {elsewhere: [4]}
