"""What template.yaml deploys and how it is wired: function, schedules, storage, alerts,
dashboard. These are the contracts the handler and the on-call engineer rely on."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.template.cfn import (
    CLUSTERS,
    PSEUDO,
    ROOT,
    expand,
    load,
    logical_id,
    render_sub,
    resources_of_type,
    walk,
)

# Metrics the function writes (namespace cpwatch, EMF through Powertools), with their
# dimensions. Alarms and the dashboard may only use these.
METRICS = {
    "ComponentsDown": ("Cluster",),
    "Health": ("Cluster", "Component"),
    "LeaseAgeSeconds": ("Cluster", "Component"),
    "CheckDurationMs": ("Cluster",),
    "StaleReadyNodes": ("Cluster",),
    "UnattemptedPods": ("Cluster",),
    "StuckTerminatingPods": ("Cluster",),
    "Notifications": ("Cluster",),
    "Warnings": ("Cluster",),
    "Blind": ("Cluster",),
}
# Deployment-wide metrics (no dimension): alarmed on, not searched per cluster by the dashboard.
DEPLOYMENT_METRICS = {"NotificationsUndelivered": ()}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return expand({"CreateAccessEntries": "true"})


@pytest.fixture(scope="module")
def function(template) -> dict[str, Any]:
    return template["Resources"]["CheckerFunction"]["Properties"]


def test_transforms_expand_foreach_before_sam():
    assert load()["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]


def test_function(function):
    assert {k: function[k] for k in ("CodeUri", "Handler", "Runtime", "Architectures", "Timeout")} == {
        "CodeUri": "functions/cpwatch/",
        "Handler": "cpwatch.entry.handler.lambda_handler",
        "Runtime": "python3.13",
        "Architectures": ["arm64"],
        "Timeout": 50,
    }
    assert function["MemorySize"] == {"Ref": "MemorySize"}
    assert function["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
    }
    # A retried check is stale; the next scheduled one is a minute away.
    assert function["EventInvokeConfig"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": "CheckerLogGroup"}}
    assert function["VpcConfig"]["Fn::If"][0] == "HasVpc"


def test_run_deadline_stays_inside_the_function_timeout(template, function):
    run_timeout = template["Parameters"]["RunTimeoutSeconds"]
    assert run_timeout["MaxValue"] < function["Timeout"]
    assert function["Environment"]["Variables"]["CPWATCH_RUN_TIMEOUT_S"] == {"Ref": "RunTimeoutSeconds"}


def test_function_environment(function):
    assert function["Environment"]["Variables"] == {
        "POWERTOOLS_SERVICE_NAME": "cpwatch",
        "POWERTOOLS_METRICS_NAMESPACE": "cpwatch",
        "LOG_LEVEL": {"Ref": "LogLevel"},
        "CPWATCH_TABLE_NAME": {"Ref": "StateTable"},
        "CPWATCH_TOPIC_ARN": {"Ref": "AlertTopic"},
        "CPWATCH_READ_ONLY": {"Ref": "ReadOnly"},
        "CPWATCH_RECOVERY_RUNS": {"Ref": "RecoveryRuns"},
        "CPWATCH_REMINDER_HOURS": {"Ref": "ReminderHours"},
        "CPWATCH_WARNING_AFTER_MINUTES": {"Ref": "WarningAfterMinutes"},
        "CPWATCH_WARNING_REMINDER_HOURS": {"Ref": "WarningReminderHours"},
        "CPWATCH_WEDGED_AFTER_RUNS": {"Ref": "WedgedAfterRuns"},
        "CPWATCH_RUN_TIMEOUT_S": {"Ref": "RunTimeoutSeconds"},
        "CPWATCH_SCHEDULE_EXPRESSION": {"Ref": "ScheduleExpression"},
        "CPWATCH_BLIND_ALARM_IN_CLOUDWATCH": "true",
    }


def test_parameter_defaults(template):
    defaults = {name: p.get("Default") for name, p in load()["Parameters"].items()}
    assert defaults == {
        "ClusterNames": "",
        "ScheduleExpression": "rate(1 minute)",
        "CreateAccessEntries": "false",
        "CrossAccountRoleArns": "",
        "AlertEmail": "",
        "PagerEndpoint": "",
        "PagerProtocol": "https",
        "RecoveryRuns": 3,
        "ReminderHours": 4,
        "WarningAfterMinutes": 10,
        "WarningReminderHours": 24,
        "WedgedAfterRuns": 3,
        "ReadOnly": "false",
        "RunTimeoutSeconds": 40,
        "MemorySize": 512,
        "LogLevel": "INFO",
        "LogRetentionDays": 30,
        "SubnetIds": "",
        "SecurityGroupIds": "",
        "DiscoveryRegions": "",
        "DiscoveryTagKey": "cpwatch",
        "DiscoveryOptIn": "false",
        "MemberExternalId": "",
        "ReconcileExpression": "rate(5 minutes)",
    }


def test_log_group_retention(template):
    log_group = template["Resources"]["CheckerLogGroup"]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_one_schedule_per_cluster(template, cluster):
    schedule = template["Resources"][logical_id("Schedule", cluster)]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["CheckerFunction", "Arn"]}
    assert target["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    assert json.loads(render_sub(target["Input"], template)) == {
        "targets": [{"cluster": cluster, "region": PSEUDO["AWS::Region"]}],
        "execution_id": "<aws.scheduler.execution-id>",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }


def test_per_cluster_resources_are_exactly_these(template):
    per_cluster = {
        "AWS::Scheduler::Schedule": "Schedule",
        "AWS::EKS::AccessEntry": "AccessEntry",
    }
    for type_name, prefix in per_cluster.items():
        found = {name for name, r in resources_of_type(template, type_name).items() if r.get("Condition") != "DiscoveryMode"}
        assert found == {logical_id(prefix, c) for c in CLUSTERS}
    alarms = {name for name in resources_of_type(template, "AWS::CloudWatch::Alarm")
              if any(name == logical_id(prefix, c) for c in CLUSTERS
                     for prefix in ("ComponentsDownAlarm", "HeartbeatMissingAlarm", "BlindAlarm"))}
    assert len(alarms) == 3 * len(CLUSTERS)
    for name in [*alarms, *(logical_id("Schedule", c) for c in CLUSTERS)]:
        assert template["Resources"][name]["Condition"] == "HasClusterNames", name
    conditions = load()["Conditions"]
    joined = {"Fn::Join": ["", {"Ref": "ClusterNames"}]}
    assert conditions["HasClusterNames"] == {"Fn::Not": [{"Fn::Equals": [joined, ""]}]}
    assert conditions["DiscoveryMode"] == {"Fn::Equals": [joined, ""]}
    assert conditions["CreateAccessEntriesCondition"] == {"Fn::And": [
        {"Fn::Equals": [{"Ref": "CreateAccessEntries"}, "true"]}, {"Condition": "HasClusterNames"}]}


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_access_entry_maps_the_checker_role_to_the_rbac_group(template, cluster):
    entry = template["Resources"][logical_id("AccessEntry", cluster)]
    assert entry["Condition"] == "CreateAccessEntriesCondition"
    assert entry["Properties"] == {
        "ClusterName": cluster,
        "PrincipalArn": {"Fn::GetAtt": ["CheckerRole", "Arn"]},
        "Type": "STANDARD",
        "KubernetesGroups": ["cpwatch"],
    }


def test_access_entry_group_is_the_one_infra_rbac_binds():
    groups = set()
    for path in sorted((ROOT / "infra").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            for subject in (document or {}).get("subjects", []):
                if subject.get("kind") == "Group":
                    groups.add(subject["name"])
    assert groups == {"cpwatch"}


def test_state_table(template):
    table = template["Resources"]["StateTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_encryption_at_rest(template):
    resources = template["Resources"]
    key = resources["AlertTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert resources["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    assert resources["DeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True


def arn_of(cluster: str) -> dict:
    """The Cluster dimension of a listed cluster's alarms: its ARN (metrics.py keys by it)."""
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:eks:${{AWS::Region}}:${{AWS::AccountId}}:cluster/{cluster}"}


def test_a_pager_gets_what_pages_and_a_mailbox_everything(template):
    """Filter policies on the severity attribute route the two urgencies (README "Alarms")."""
    resources = template["Resources"]
    pager = resources["PagerSubscription"]
    assert pager["Condition"] == "HasPager"
    assert pager["Properties"] == {"TopicArn": {"Ref": "AlertTopic"}, "Protocol": {"Ref": "PagerProtocol"},
                                   "Endpoint": {"Ref": "PagerEndpoint"}, "FilterPolicyScope": "MessageAttributes",
                                   "FilterPolicy": {"severity": ["critical"]}}
    alarms = resources["PagerAlarmsSubscription"]
    assert alarms["Condition"] == "HasPager" and "FilterPolicy" not in alarms["Properties"]
    assert alarms["Properties"]["TopicArn"] == {"Ref": "PagerAlarmTopic"}
    assert "FilterPolicy" not in resources["AlertEmailSubscription"]["Properties"]
    assert resources["PagerAlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    assert load()["Parameters"]["PagerProtocol"]["AllowedValues"] == ["https", "email", "sms"]
    # Every alarm that notifies anyone notifies both topics (alarm() asserts it).
    for name, resource in resources.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm" and "AlarmActions" in resource["Properties"]:
            alarm(template, name)


def test_alert_email_is_optional(template):
    subscription = template["Resources"]["AlertEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    assert load()["Conditions"]["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}


def alarm(template, name, notifies: bool = True):
    """An alarm's properties; one that notifies publishes to the alert topic (mailboxes, chat) and
    to the pager alarm topic (its message has no attributes for a pager's filter policy)."""
    props = dict(template["Resources"][name]["Properties"])
    if notifies:
        assert props.pop("AlarmActions") == [{"Ref": "AlertTopic"}, {"Ref": "PagerAlarmTopic"}], name
        assert props.pop("OKActions") == [{"Ref": "AlertTopic"}, {"Ref": "PagerAlarmTopic"}], name
    props.pop("AlarmName")
    props.pop("AlarmDescription")
    return props


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_components_down_alarm_notifies_nobody(template, cluster):
    # One message per event: cpwatch's own notification announces a component down, with the
    # evidence; this alarm is status only (no AlarmActions, OKActions or InsufficientDataActions).
    assert alarm(template, logical_id("ComponentsDownAlarm", cluster), notifies=False) == {
        "Namespace": "cpwatch",
        "MetricName": "ComponentsDown",
        "Dimensions": [{"Name": "Cluster", "Value": arn_of(cluster)}],
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "missing",
    }


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_blind_alarm(template, cluster):
    # Blind is written only by runs that could not see: three of them in a row page.
    assert alarm(template, logical_id("BlindAlarm", cluster)) == {
        "Namespace": "cpwatch",
        "MetricName": "Blind",
        "Dimensions": [{"Name": "Cluster", "Value": arn_of(cluster)}],
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }


FLEET_QUERY = re.compile(r"SELECT (MAX|COUNT)\((\w+)\) FROM SCHEMA\(cpwatch, Cluster\) GROUP BY Cluster "
                         r"ORDER BY (MAX|COUNT)\(\) (ASC|DESC) LIMIT 100")


@pytest.mark.parametrize(("name", "per_cluster"), [
    ("FleetComponentsDownAlarm", "ComponentsDownAlarm"), ("FleetBlindAlarm", "BlindAlarm"),
    ("FleetHeartbeatMissingAlarm", "HeartbeatMissingAlarm")])
def test_fleet_alarms_are_the_per_cluster_alarms_grouped_by_cluster(template, name, per_cluster):
    notifies = per_cluster != "ComponentsDownAlarm"  # status only, like the per-cluster one
    fleet = alarm(template, name, notifies=notifies)
    listed = alarm(template, logical_id(per_cluster, CLUSTERS[0]), notifies=notifies)
    assert template["Resources"][name]["Condition"] == "DiscoveryMode"
    (query,) = fleet.pop("Metrics")
    assert (query["Id"], query["Period"], query["ReturnData"]) == (query["Id"], listed.pop("Period"), True)
    function, metric, order_function, order = FLEET_QUERY.fullmatch(query["Expression"]).groups()
    statistic = listed.pop("Statistic")
    assert {"Maximum": "MAX", "SampleCount": "COUNT"}[statistic] == function == order_function
    assert (listed.pop("Namespace"), listed.pop("MetricName"), listed.pop("Dimensions")) == (
        "cpwatch", metric, [{"Name": "Cluster", "Value": arn_of(CLUSTERS[0])}])
    # The clusters that breach come first, so the query's limits never leave one out.
    assert order == ("ASC" if listed["ComparisonOperator"] == "LessThanThreshold" else "DESC")
    assert fleet == listed


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_dead_mans_switch(template, cluster):
    # ComponentsDown is written on every run: fewer than one sample a minute for three
    # minutes, or no data at all, means cpwatch itself stopped.
    assert alarm(template, logical_id("HeartbeatMissingAlarm", cluster)) == {
        "Namespace": "cpwatch",
        "MetricName": "ComponentsDown",
        "Dimensions": [{"Name": "Cluster", "Value": arn_of(cluster)}],
        "Statistic": "SampleCount",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "Threshold": 1,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "breaching",
    }


def test_notifications_undelivered_alarm(template):
    # The one way a component alarm still pages when the function cannot publish: CloudWatch
    # reads the function's EMF metric and publishes with its own principal.
    assert alarm(template, "NotificationsUndeliveredAlarm") == {
        "Namespace": "cpwatch",
        "MetricName": "NotificationsUndelivered",
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }


def test_checker_alarms(template):
    assert alarm(template, "CheckerErrorsAlarm") == {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "CheckerFunction"}}],
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    assert alarm(template, "DeadLetterQueueAlarm") == {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}],
        "Statistic": "Maximum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }


def test_alarms_use_only_emitted_metrics(template):
    for name, resource in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        props = resource["Properties"]
        for query in props.get("Metrics", []):
            metric = FLEET_QUERY.fullmatch(query["Expression"]).group(2)
            assert METRICS[metric] == ("Cluster",), name
        if props.get("Namespace") == "cpwatch":
            dimensions = tuple(d["Name"] for d in props.get("Dimensions", []))
            assert {**METRICS, **DEPLOYMENT_METRICS}[props["MetricName"]] == dimensions, name


@pytest.fixture(scope="module")
def dashboard(template) -> dict[str, Any]:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    return json.loads(render_sub(body, template))


_SEARCH = re.compile(r"SEARCH\('\{cpwatch,([A-Za-z,]+)\} MetricName=\"([A-Za-z]+)\"'")


_VENDED_SEARCH = re.compile(r"SEARCH\('\{AWS/EKS,ClusterName\} MetricName=\"([A-Za-z0-9_]+)\"'")
# EKS's vended control-plane metrics the dashboard shows, as named in the EKS user guide
# ("Basic metrics in Amazon CloudWatch").
VENDED_ON_DASHBOARD = {
    "scheduler_pending_pods", "scheduler_pending_pods_GATED", "scheduler_schedule_attempts_total",
    "scheduler_schedule_attempts_ERROR", "apiserver_request_total", "apiserver_request_total_5XX",
    "apiserver_request_total_429", "apiserver_storage_size_bytes", "apiserver_request_duration_seconds_GET_P99",
    "apiserver_request_duration_seconds_LIST_P99", "apiserver_request_duration_seconds_PUT_P99",
}


def test_dashboard_searches_every_metric_with_its_dimensions(dashboard):
    searched, vended = {}, set()
    for _, node in walk(dashboard):
        if isinstance(node, dict) and "expression" in node:
            if node["expression"].startswith("SEARCH('{AWS/EKS,"):
                match = _VENDED_SEARCH.match(node["expression"])
                assert match, node["expression"]
                vended.add(match.group(1))
                continue
            match = _SEARCH.match(node["expression"])
            assert match, node["expression"]
            searched[match.group(2)] = tuple(match.group(1).split(","))
    assert searched == METRICS
    assert vended == VENDED_ON_DASHBOARD


def test_dashboard_shows_the_vended_series_cpwatch_reads():
    from cpwatch.entry.second_opinion import APISERVER_SERIES, EARLY_WARNING_SERIES, SCHEDULER_SERIES

    read = {series.name for series in (*EARLY_WARNING_SERIES, *SCHEDULER_SERIES, *APISERVER_SERIES)}
    assert read <= VENDED_ON_DASHBOARD


def test_dashboard_layout(dashboard):
    for widget in dashboard["widgets"]:
        assert widget["x"] + widget["width"] <= 24, widget
    cells: dict[tuple[int, int], str] = {}
    for widget in dashboard["widgets"]:
        title = widget["properties"].get("title") or widget["properties"].get("markdown", "")[:40]
        for x in range(widget["x"], widget["x"] + widget["width"]):
            for y in range(widget["y"], widget["y"] + widget["height"]):
                assert (x, y) not in cells, f"{title!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = title
    alarms = next(w for w in dashboard["widgets"] if w["type"] == "alarm")
    assert alarms["properties"]["alarms"] == ["<CheckerErrorsAlarm.Arn>", "<DeadLetterQueueAlarm.Arn>",
                                              "<NotificationsUndeliveredAlarm.Arn>"]


def test_outputs(template):
    assert set(load()["Outputs"]) >= {
        "CheckerFunctionName",
        "CheckerFunctionArn",
        "StateTableName",
        "AlertTopicArn",
        "DashboardUrl",
    }


def test_metric_names_appear_in_the_function_code():
    sources = "\n".join(p.read_text() for p in (ROOT / "functions" / "cpwatch" / "cpwatch").rglob("*.py"))
    missing = sorted(name for name in [*METRICS, "Cluster", "Component"] if f'"{name}"' not in sources)
    assert missing == [], "alarms and dashboard use metric or dimension names the function never writes"
