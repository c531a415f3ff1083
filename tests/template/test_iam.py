"""IAM rules for template.yaml: no wildcard actions, "*" resources only where AWS offers nothing
narrower, and permissions scoped to this stack's table, topic, key, queue and clusters."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.template.cfn import (
    ALL_OPTIONS,
    as_list,
    expand,
    load,
    resources_of_type,
    statements,
    walk,
)

# Actions that support no resource-level permissions (Service Authorization Reference), so an
# identity policy can only grant them on "*". Each such statement must carry a Sid saying why.
ACTIONS_WITHOUT_RESOURCE_SCOPE = {
    # EC2 cross-check of nodes' instances.
    "ec2:DescribeInstances",
    # Second opinions: EKS's vended AWS/EKS metrics.
    "cloudwatch:GetMetricData",
    # VPC attachment (only with SubnetIds): Lambda manages the function's ENIs with its role.
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    # Discovery (reconcile function): listing has no resource types.
    "eks:ListClusters",
    "scheduler:ListSchedules",
}

# ARN patterns allowed in identity policies, each because a fleet's members are not known to the
# template: every EKS cluster of this account (discovered, or listed: one statement whose size
# does not grow with the fleet), and the schedules of the discovered clusters' own group.
ALLOWED_ARN_PATTERNS = {
    "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/*",
    "arn:${AWS::Partition}:logs:*:${AWS::AccountId}:log-group:/aws/eks/*/cluster",
    "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${DiscoveredScheduleGroup}/*",
}

# Identity policy documents, by the property that holds them.
IDENTITY_POLICY_TYPES = {
    "AWS::IAM::ManagedPolicy": "PolicyDocument",
    "AWS::IAM::RolePolicy": "PolicyDocument",
    "AWS::IAM::Policy": "PolicyDocument",
}
# Resource policies: "Resource": "*" there means the resource the policy is attached to.
RESOURCE_POLICY_TYPES = {
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return expand(ALL_OPTIONS)


def identity_documents(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                yield f"{name}/{policy['PolicyName']}", policy["PolicyDocument"]
        prop = IDENTITY_POLICY_TYPES.get(resource["Type"])
        if prop:
            yield name, resource["Properties"][prop]


def resource_documents(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, resource in template["Resources"].items():
        prop = RESOURCE_POLICY_TYPES.get(resource["Type"])
        if prop:
            yield name, resource["Type"], resource["Properties"][prop]


def trust_documents(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in resources_of_type(template, "AWS::IAM::Role").items():
        yield name, resource["Properties"]["AssumeRolePolicyDocument"]


def all_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, document in identity_documents(template):
        for statement in statements(document):
            yield name, statement
    for name, _, document in resource_documents(template):
        for statement in statements(document):
            yield name, statement
    for name, document in trust_documents(template):
        for statement in statements(document):
            yield name, statement


def test_every_policy_document_is_checked(template):
    known = {id(d) for _, d in identity_documents(template)}
    known |= {id(d) for _, _, d in resource_documents(template)}
    known |= {id(d) for _, d in trust_documents(template)}
    unchecked = [
        path
        for path, node in walk(template["Resources"])
        if isinstance(node, dict) and "Statement" in node and id(node) not in known
    ]
    assert unchecked == [], "policy documents of a resource type this test does not classify"


def test_no_wildcard_actions(template):
    offending = []
    for name, statement in all_statements(template):
        assert "NotAction" not in statement, name
        for action in as_list(statement["Action"]):
            if "*" not in action:
                continue
            # The default key policy statement: the account administers its key through IAM.
            # Without it the key can become unmanageable; it grants nothing by itself.
            if action == "kms:*" and is_account_root_statement(template, name, statement):
                continue
            offending.append((name, action))
    assert offending == []


ACCOUNT_ROOT = "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"


def is_account_root_statement(template: dict[str, Any], name: str, statement: dict[str, Any]) -> bool:
    return (
        template["Resources"].get(name, {}).get("Type") == "AWS::KMS::Key"
        and statement["Effect"] == "Allow"
        and statement["Principal"] == {"AWS": {"Fn::Sub": ACCOUNT_ROOT}}
    )


def test_resource_star_only_for_actions_without_resource_scope(template):
    for name, document in identity_documents(template):
        for statement in statements(document):
            assert "NotResource" not in statement, name
            if "*" not in as_list(statement["Resource"]):
                continue
            actions = set(as_list(statement["Action"]))
            assert actions <= ACTIONS_WITHOUT_RESOURCE_SCOPE, (name, actions - ACTIONS_WITHOUT_RESOURCE_SCOPE)
            assert statement.get("Sid"), f"{name}: a Resource '*' statement needs a Sid saying why"


def test_identity_resources_are_this_stacks_resources(template):
    # Every scoped resource is a reference into the template or a parameter, never a
    # hand-written ARN pattern with wildcards.
    for name, document in identity_documents(template):
        for statement in statements(document):
            for resource in as_list(statement["Resource"]):
                if resource == "*":
                    continue
                assert isinstance(resource, dict), f"{name}: literal resource {resource!r}"
                (function,) = resource
                assert function in ("Ref", "Fn::GetAtt", "Fn::Sub"), (name, resource)
                if function == "Fn::Sub" and "*" in resource["Fn::Sub"]:
                    assert resource["Fn::Sub"] in ALLOWED_ARN_PATTERNS, (name, resource)


def test_allow_statements_name_no_anonymous_principal(template):
    for name, statement in all_statements(template):
        if statement["Effect"] == "Allow":
            assert statement.get("Principal", {}) != "*", name
            assert "*" not in as_list(statement.get("Principal", {}).get("AWS", [])), name


def test_describe_cluster_is_one_statement_for_the_whole_fleet(template):
    grants = []
    for name, document in identity_documents(template):
        for statement in statements(document):
            if "eks:DescribeCluster" in as_list(statement["Action"]):
                grants.append((name, statement["Sid"], statement["Action"], statement["Resource"]))
    every_cluster = {"Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/*"}
    assert grants == [
        ("CheckerRole/cpwatch-checker", "DescribeClustersOfThisAccount", "eks:DescribeCluster", every_cluster),
        ("ReconcileRole/cpwatch-reconcile", "DescribeClustersOfThisAccount", "eks:DescribeCluster", every_cluster),
    ]
    assert resources_of_type(template, "AWS::IAM::Policy") == {}


def test_policy_size_does_not_grow_with_the_fleet():
    sizes = {count: policy_size(expand({**ALL_OPTIONS, "ClusterNames": ",".join(f"c{i}" for i in range(count))}))
             for count in (1, 200)}
    assert sizes[1] == sizes[200]


def policy_size(template: dict[str, Any]) -> int:
    """Characters of every identity policy attached to the checker role (inline and managed),
    JSON without whitespace, as IAM counts them against its limits."""
    import json

    total = 0
    for name, document in identity_documents(template):
        if name.startswith("CheckerRole/") or name in ("CrossAccountPolicy", "VpcNetworkInterfacesPolicy"):
            total += len(json.dumps(document, separators=(",", ":")))
    return total


def test_checker_role_policy(template):
    document = template["Resources"]["CheckerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    granted = {
        action: statement["Resource"]
        for statement in statements(document)
        for action in as_list(statement["Action"])
    }
    assert granted == {
        "logs:CreateLogStream": {"Fn::GetAtt": ["CheckerLogGroup", "Arn"]},
        "logs:PutLogEvents": {"Fn::GetAtt": ["CheckerLogGroup", "Arn"]},
        "dynamodb:GetItem": {"Fn::GetAtt": ["StateTable", "Arn"]},
        "dynamodb:PutItem": {"Fn::GetAtt": ["StateTable", "Arn"]},
        "dynamodb:UpdateItem": {"Fn::GetAtt": ["StateTable", "Arn"]},
        "dynamodb:Query": {"Fn::GetAtt": ["StateTable", "Arn"]},
        "dynamodb:ConditionCheckItem": {"Fn::GetAtt": ["StateTable", "Arn"]},
        "sns:Publish": {"Ref": "AlertTopic"},
        "kms:GenerateDataKey": {"Fn::GetAtt": ["AlertTopicKey", "Arn"]},
        "kms:Decrypt": {"Fn::GetAtt": ["AlertTopicKey", "Arn"]},
        "sqs:SendMessage": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "ec2:DescribeInstances": "*",
        "cloudwatch:GetMetricData": "*",
        "eks:DescribeCluster": {"Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/*"},
        "logs:FilterLogEvents": {"Fn::Sub": "arn:${AWS::Partition}:logs:*:${AWS::AccountId}:log-group:/aws/eks/*/cluster"},
    }


def test_reconcile_role_policy(template):
    role = template["Resources"]["ReconcileRole"]
    assert role["Condition"] == "DiscoveryMode"
    (policy,) = role["Properties"]["Policies"]
    granted = {(action, str(statement["Resource"]), str(statement.get("Condition")))
               for statement in statements(policy["PolicyDocument"]) for action in as_list(statement["Action"])}
    own_group = str({"Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/"
                                "${DiscoveredScheduleGroup}/*"})
    assert granted == {
        ("logs:CreateLogStream", str({"Fn::GetAtt": ["ReconcileLogGroup", "Arn"]}), "None"),
        ("logs:PutLogEvents", str({"Fn::GetAtt": ["ReconcileLogGroup", "Arn"]}), "None"),
        ("eks:ListClusters", "*", "None"),
        ("scheduler:ListSchedules", "*", "None"),
        ("eks:DescribeCluster", str({"Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/*"}), "None"),
        ("scheduler:CreateSchedule", own_group, "None"),
        ("scheduler:DeleteSchedule", own_group, "None"),
        ("scheduler:GetSchedule", own_group, "None"),
        ("iam:PassRole", str({"Fn::GetAtt": ["SchedulerRole", "Arn"]}),
         str({"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}})),
    }
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::If": ["HasCrossAccountRoles", {"Ref": "CrossAccountPolicy"}, {"Ref": "AWS::NoValue"}]}]


def test_optional_policies_are_attached_only_with_their_parameters(template):
    role = template["Resources"]["CheckerRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {"Fn::If": ["HasVpc", {"Ref": "VpcNetworkInterfacesPolicy"}, {"Ref": "AWS::NoValue"}]},
        {"Fn::If": ["HasCrossAccountRoles", {"Ref": "CrossAccountPolicy"}, {"Ref": "AWS::NoValue"}]},
    ]
    cross = template["Resources"]["CrossAccountPolicy"]
    assert cross["Condition"] == "HasCrossAccountRoles"
    assert statements(cross["Properties"]["PolicyDocument"]) == [
        {
            "Sid": "AssumeCrossAccountCheckerRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": {"Ref": "CrossAccountRoleArns"},
        }
    ]
    assert template["Resources"]["VpcNetworkInterfacesPolicy"]["Condition"] == "HasVpc"
    conditions = load()["Conditions"]
    # CommaDelimitedList "" is [""]: joined, empty means "not given".
    assert conditions["HasCrossAccountRoles"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "CrossAccountRoleArns"}]}, ""]}]
    }


def test_scheduler_may_only_invoke_the_checker(template):
    role = template["Resources"]["SchedulerRole"]["Properties"]
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    granted = [(s["Action"], s["Resource"]) for s in statements(policy["PolicyDocument"])]
    assert granted == [
        ("lambda:InvokeFunction", {"Fn::GetAtt": ["CheckerFunction", "Arn"]}),
        ("sqs:SendMessage", {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}),
    ]


def test_checker_role_is_assumed_by_lambda_only(template):
    (trust,) = statements(template["Resources"]["CheckerRole"]["Properties"]["AssumeRolePolicyDocument"])
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }


def test_cloudwatch_may_use_the_topic_key_and_publish(template):
    key_statements = statements(template["Resources"]["AlertTopicKey"]["Properties"]["KeyPolicy"])
    by_principal = {str(s["Principal"]): s for s in key_statements}
    cloudwatch = by_principal[str({"Service": "cloudwatch.amazonaws.com"})]
    assert sorted(as_list(cloudwatch["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert len(key_statements) == 2

    topic_policy = template["Resources"]["AlertTopicPolicy"]["Properties"]
    assert topic_policy["Topics"] == [{"Ref": "AlertTopic"}, {"Ref": "PagerAlarmTopic"}]
    allow = [s for s in statements(topic_policy["PolicyDocument"]) if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "CloudWatchAlarmsOfThisAccountPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": [{"Ref": "AlertTopic"}, {"Ref": "PagerAlarmTopic"}],
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]
