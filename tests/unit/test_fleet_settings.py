"""The reconcile function's settings (settings.fleet_settings_from_env): an exact message per
mistake; and the pure parts of discovery: the tag rule and schedule names."""

from __future__ import annotations

import json

import pytest

from cpwatch.entry.discovery import Partition, TagRule
from cpwatch.errors import ConfigError
from cpwatch.entry.invocation import Target, parse_event
from cpwatch.entry.schedules import ScheduleTemplate, schedule_input, schedule_name
from cpwatch.settings import fleet_settings_from_env

GOOD = {
    "CPWATCH_ACCOUNT_ID": "123456789012", "AWS_REGION": "eu-west-1", "CPWATCH_SCHEDULE_GROUP": "g",
    "CPWATCH_CHECKER_ARN": "arn:aws:lambda:eu-west-1:123456789012:function:c",
    "CPWATCH_SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/s", "CPWATCH_DEAD_LETTER_ARN": "arn:aws:sqs:eu-west-1:123456789012:d",
}


def test_defaults():
    fleet = fleet_settings_from_env(GOOD)
    assert (fleet.regions, fleet.tag_key, fleet.opt_in, fleet.member_role_arns, fleet.external_id,
            fleet.schedule_expression) == (("eu-west-1",), "cpwatch", False, (), None, "rate(1 minute)")


def test_lists_and_switches():
    fleet = fleet_settings_from_env({**GOOD, "CPWATCH_DISCOVERY_REGIONS": "eu-west-1, us-east-1",
                                     "CPWATCH_MEMBER_ROLE_ARNS": "arn:aws:iam::210987654321:role/cpwatch-checker",
                                     "CPWATCH_MEMBER_EXTERNAL_ID": "s3cret-id", "CPWATCH_DISCOVERY_OPT_IN": "TRUE"})
    assert fleet.regions == ("eu-west-1", "us-east-1") and fleet.opt_in is True
    assert "s3cret-id" not in repr(fleet)


@pytest.mark.parametrize(("change", "message"), [
    ({"CPWATCH_ACCOUNT_ID": ""}, "CPWATCH_ACCOUNT_ID must be set (template.yaml sets it in discovery mode)"),
    ({"CPWATCH_ACCOUNT_ID": "12345"}, "CPWATCH_ACCOUNT_ID must be 12 digits, got '12345'"),
    ({"CPWATCH_DISCOVERY_REGIONS": "eu-west-1,Europe"},
     "CPWATCH_DISCOVERY_REGIONS must list regions like eu-west-1, got 'Europe'"),
    ({"CPWATCH_DISCOVERY_REGIONS": "eu-west-1,eu-west-1"}, "CPWATCH_DISCOVERY_REGIONS lists a region twice"),
    ({"CPWATCH_MEMBER_ROLE_ARNS": "cpwatch-checker"},
     "CPWATCH_MEMBER_ROLE_ARNS must list IAM role ARNs, got 'cpwatch-checker'"),
    ({"CPWATCH_MEMBER_ROLE_ARNS": "arn:aws:iam::123456789012:role/r"},
     "CPWATCH_MEMBER_ROLE_ARNS: arn:aws:iam::123456789012:role/r is in the stack's own account, whose clusters "
     "are discovered without a role"),
    ({"CPWATCH_MEMBER_ROLE_ARNS": "arn:aws:iam::210987654321:role/a,arn:aws:iam::210987654321:role/b"},
     "CPWATCH_MEMBER_ROLE_ARNS lists two roles of one account"),
    ({"CPWATCH_DISCOVERY_TAG_KEY": "aws:cloudformation"},
     "CPWATCH_DISCOVERY_TAG_KEY must be a tag key (1-128 characters, not aws:), got 'aws:cloudformation'"),
    ({"CPWATCH_DISCOVERY_OPT_IN": "yes"}, "CPWATCH_DISCOVERY_OPT_IN must be true or false, got 'yes'"),
    ({"CPWATCH_MEMBER_EXTERNAL_ID": "x"}, "CPWATCH_MEMBER_EXTERNAL_ID must be 2 to 1224 characters"),
    ({"CPWATCH_SCHEDULE_GROUP": " "}, "CPWATCH_SCHEDULE_GROUP must be set (template.yaml sets it in discovery mode)"),
    ({"CPWATCH_SCHEDULE_EXPRESSION": "every minute"},
     "CPWATCH_SCHEDULE_EXPRESSION must be rate(N minutes|hours|days) or cron(...), got 'every minute'"),
])
def test_each_mistake_has_its_message(change, message):
    with pytest.raises(ConfigError) as error:
        fleet_settings_from_env({**GOOD, **change})
    assert str(error.value) == message


@pytest.mark.parametrize(("opt_in", "tags", "selected"), [
    (False, {}, True), (False, {"cpwatch": "false"}, False), (False, {"cpwatch": " FALSE "}, False),
    (False, {"cpwatch": "true"}, True), (False, {"other": "false"}, True),
    (True, {}, False), (True, {"cpwatch": "True"}, True), (True, {"cpwatch": "yes"}, False),
])
def test_tag_rule(opt_in, tags, selected):
    assert TagRule("cpwatch", opt_in).selects(tags) is selected


TEMPLATE = ScheduleTemplate("g", "arn:aws:lambda:eu-west-1:123456789012:function:c",
                            "arn:aws:iam::123456789012:role/s", "arn:aws:sqs:eu-west-1:123456789012:d")


def test_schedule_names_fit_scheduler_and_differ_for_clusters_cut_alike():
    partition = Partition("123456789012", "ap-southeast-2")
    long_a, long_b = "a" * 99 + "1", "a" * 99 + "2"
    names = {schedule_name(partition, Target(n, "ap-southeast-2"), TEMPLATE) for n in (long_a, long_b)}
    assert len(names) == 2 and all(len(n) <= 64 and n.startswith("123456789012-ap-southeast-2-") for n in names)


def test_schedule_name_changes_with_what_the_schedule_says():
    partition = Partition("123456789012", "eu-west-1")
    target = Target("prod", "eu-west-1")
    other_rate = ScheduleTemplate(**{**TEMPLATE.__dict__, "expression": "rate(2 minutes)"})
    assert schedule_name(partition, target, TEMPLATE) == schedule_name(partition, target, TEMPLATE)
    assert schedule_name(partition, target, TEMPLATE) != schedule_name(partition, target, other_rate)


def test_schedule_input_is_what_the_checker_parses():
    target = Target("prod", "eu-west-1", "arn:aws:iam::210987654321:role/cpwatch-checker", "ext-id-1")
    invocation = parse_event(json.loads(schedule_input(target)))
    assert invocation.targets == (target,) and invocation.execution_id == "<aws.scheduler.execution-id>"
