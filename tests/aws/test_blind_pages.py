"""Blind is loud without the function's help: each way of not seeing a cluster ends in exactly one
page within 5 minutes, from a CloudWatch alarm that needs none of the function's credentials.

The real handler runs once per scheduled minute against moto and the fake control plane, with
the function environment template.yaml gives it; what it prints (its EMF documents) is fed to
every alarm of template.yaml on the cpwatch namespace, evaluated as CloudWatch does
(tests/aws/alarm_rule.py): the per-cluster alarms of a listed cluster and the fleet alarms of
discovery mode. The function's own SNS messages (read back from the topic's SQS inbox) count as
pages too. Two healthy minutes, five blind ones, three healthy ones again.
"""

from __future__ import annotations

import contextlib
import json
import zlib

import pytest

from tests.aws.alarm_rule import AlarmRule
from tests.aws.deployment import deploy
from tests.aws.moto_server import ACCOUNT_ID, DEFAULT_REGION, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, aws_error_endpoint
from tests.template.cfn import expand, resources_of_type

CLUSTER = "prod-a"  # events/one-cluster.json
CLUSTER_ARN = f"arn:aws:eks:{DEFAULT_REGION}:{ACCOUNT_ID}:cluster/{CLUSTER}"  # what the metrics are keyed by
HEALTHY_BEFORE, BLIND, HEALTHY_AFTER = 2, 5, 3
# CloudWatch Logs makes metrics of EMF lines and alarms evaluate them about a minute after the
# period closes (not measured here: CloudWatch's documented behaviour, assumed at its worst).
EVALUATION_DELAY_MIN = 1
PAGE_WITHIN_MIN = 5


@pytest.fixture(scope="module")
def template() -> dict:
    return expand({"ClusterNames": CLUSTER})


MODE: dict[str, str | None] = {}  # alarm -> its template Condition (which deployment mode has it)


@pytest.fixture(scope="module")
def alarms(template) -> dict[str, AlarmRule]:
    """Every alarm on cpwatch's own metrics: the listed cluster's and the fleet's."""
    found = {}
    for name, resource in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        props = resource["Properties"]
        if props.get("Namespace") == "cpwatch" or "Metrics" in props:
            found[name] = AlarmRule.from_template(name, props, DEFAULT_REGION)
            MODE[name] = resource.get("Condition")
    assert {"BlindAlarmproda", "FleetBlindAlarm", "HeartbeatMissingAlarmproda", "FleetHeartbeatMissingAlarm",
            "ComponentsDownAlarmproda", "FleetComponentsDownAlarm"} <= set(found)
    return found


@pytest.fixture
def function_env(template) -> dict[str, str]:
    """The checker's environment from template.yaml that decides who announces blindness."""
    variables = template["Resources"]["CheckerFunction"]["Properties"]["Environment"]["Variables"]
    return {"CPWATCH_BLIND_ALARM_IN_CLOUDWATCH": variables["CPWATCH_BLIND_ALARM_IN_CLOUDWATCH"]}


def no_credentials(d, stack):
    d.configure(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    return lambda: d.configure(AWS_ACCESS_KEY_ID=FAKE_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=FAKE_SECRET_ACCESS_KEY)


def describe_cluster_denied(d, stack):
    denied = stack.enter_context(aws_error_endpoint(
        403, "AccessDeniedException", "User is not authorized to perform: eks:DescribeCluster"))
    d.configure(AWS_ENDPOINT_URL_EKS=denied.url)
    return lambda: d.configure(AWS_ENDPOINT_URL_EKS=None)


def access_entry_expired(d, stack):
    # EKS answers 401 to a token whose role has no (more) access entry.
    d.auth.refuse = True

    def fix():
        d.auth.refuse = False
        d.configure()  # a new token
    return fix


def endpoint_unreachable(d, stack):
    # A private-only endpoint's name does not resolve outside the cluster's VPC.
    d.point_at("https://cpwatch-private-endpoint.invalid")
    return lambda: d.point_at(d.fc.url)


FAULTS = {
    "missing credentials": (no_credentials, "CHECKER_AWS_DENIED"),
    "DescribeCluster denied": (describe_cluster_denied, "CHECKER_AWS_DENIED"),
    "access entry expired": (access_entry_expired, "CHECKER_UNAUTHORIZED"),
    "endpoint unreachable": (endpoint_unreachable, "CHECKER_CANNOT_CONNECT"),
}


def run_minutes(d, capsys, fault) -> tuple[list[list[dict]], list[dict], list[dict]]:
    """Invoke once per minute: healthy, blind (fault applied), healthy (fault fixed). Returns the
    EMF documents of each minute, the run results and the SNS messages the function sent."""
    documents, results, messages = [], [], []
    d.fc.advance(15)
    capsys.readouterr()
    with contextlib.ExitStack() as stack:
        fix = None
        for minute in range(HEALTHY_BEFORE + BLIND + HEALTHY_AFTER):
            if minute == HEALTHY_BEFORE:
                fix = fault(d, stack)
            if minute == HEALTHY_BEFORE + BLIND:
                fix()
            results.append(d.invoke())
            documents.append([json.loads(line) for line in capsys.readouterr().out.splitlines()
                              if line.startswith('{"_aws"')])
            messages += d.messages()
    return documents, results, messages


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_each_way_of_being_blind_pages_once_within_five_minutes(aws_env, monkeypatch, capsys, alarms, function_env,
                                                                 fault):
    apply, code = FAULTS[fault]
    with deploy(aws_env, monkeypatch, env=function_env) as d:
        documents, results, messages = run_minutes(d, capsys, apply)
        stored = [json.loads(zlib.decompress(item["document"]["B"])) for item in d.run_items()]

    overall = [r["clusters"][0]["overall"] for r in results]
    assert overall == ["healthy"] * HEALTHY_BEFORE + ["unknown"] * BLIND + ["healthy"] * HEALTHY_AFTER, results
    # What the page points at: the run's CHECKER_* finding (DynamoDB too needs credentials, so
    # without any only the log and the metric carry it).
    blind_runs = [doc for doc in stored if doc["overall"] == "unknown"]
    assert len(blind_runs) == (0 if fault == "missing credentials" else BLIND)
    assert all(code in {f["code"] for f in doc["findings"]} for doc in blind_runs)
    # Every run wrote its heartbeat; only the blind ones wrote Blind.
    assert [sum("ComponentsDown" in doc for doc in minute) for minute in documents] == [1] * len(documents)
    assert [sum("Blind" in doc for doc in minute) for minute in documents] == (
        [0] * HEALTHY_BEFORE + [1] * BLIND + [0] * HEALTHY_AFTER)

    pages = {name: rule.pages(documents) for name, rule in alarms.items()}
    pages = {name: found for name, found in pages.items() if found}
    # A stack either lists its clusters or discovers them: in each mode, exactly one page (the
    # listed cluster's Blind alarm, or the fleet's with this cluster as its contributor), and
    # nothing from the function itself.
    for mode in ("HasClusterNames", "DiscoveryMode"):
        in_mode = {name: found for name, found in pages.items() if MODE[name] in (mode, None)}
        assert sum(len(periods) for found in in_mode.values() for periods in found.values()) == 1, (mode, in_mode)
    assert pages == {"BlindAlarmproda": {"": [pages["BlindAlarmproda"][""][0]]},
                     "FleetBlindAlarm": {CLUSTER_ARN: [pages["BlindAlarmproda"][""][0]]}}
    assert messages == []
    (page_period,) = pages["BlindAlarmproda"][""]
    minutes = page_period + 1 - HEALTHY_BEFORE + EVALUATION_DELAY_MIN
    assert minutes <= PAGE_WITHIN_MIN
    # And it clears once the checker sees again.
    assert alarms["BlindAlarmproda"].transitions(alarms["BlindAlarmproda"].series(documents)[""],
                                                 len(documents))[-1][1] == "OK"


def test_without_the_setting_the_function_pages_too(aws_env, monkeypatch, capsys, alarms):
    """CPWATCH_BLIND_ALARM_IN_CLOUDWATCH alone decides: unset, the function publishes its own
    "cannot see" alarm besides CloudWatch's, and blindness pages twice."""
    with deploy(aws_env, monkeypatch) as d:
        documents, _, messages = run_minutes(d, capsys, describe_cluster_denied)

    assert [m["MessageAttributes"]["component"]["Value"] for m in messages] == ["checker", "checker"]
    assert alarms["BlindAlarmproda"].pages(documents) != {}
