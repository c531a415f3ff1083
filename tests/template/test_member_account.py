"""infra/aws/member-account.yaml: the role a member account gives cpwatch (for StackSets), and its
optional access entries. cfn-lint and checkov find nothing; the role trusts exactly the two
cpwatch roles and only with the external id; its permissions are what discovery and the checker
call in the member account, in statements whose size does not depend on the fleet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cfnlint.decode
import pytest

from tests.template.cfn import ROOT, as_list, statements

MEMBER = ROOT / "infra" / "aws" / "member-account.yaml"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def template() -> dict:
    decoded, matches = cfnlint.decode.decode(str(MEMBER))
    assert not matches, [str(m) for m in matches]
    return json.loads(json.dumps(decoded))


def test_cfn_lint_finds_nothing():
    result = subprocess.run([str(CFN_LINT), "--format", "parseable", str(MEMBER)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_checkov_passes():
    if not CHECKOV.exists():
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed in .venv-checkov (make test installs it)")
        pytest.skip("checkov not installed: run `make checkov` once")
    result = subprocess.run([str(CHECKOV), "--file", str(MEMBER), "--framework", "cloudformation",
                             "--skip-download", "--output", "json"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert (failed, report["summary"]["parsing_errors"], result.returncode) == ([], 0, 0)
    assert report["summary"]["passed"] > 0


def test_role_trusts_the_two_cpwatch_roles_with_the_external_id_only(template):
    role = template["Resources"]["MemberRole"]
    assert role["Condition"] == "CreateRole"
    (trust,) = statements(role["Properties"]["AssumeRolePolicyDocument"])
    assert trust == {
        "Sid": "CpwatchFunctionsWithExternalId",
        "Effect": "Allow",
        "Principal": {"AWS": [{"Ref": "CheckerRoleArn"}, {"Ref": "ReconcileRoleArn"}]},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
    }
    assert template["Parameters"]["ExternalId"]["NoEcho"] is True
    assert template["Parameters"]["ExternalId"]["MinLength"] == 2
    # IAM is global: only the stack instance in RoleRegion creates the role.
    assert template["Conditions"]["CreateRole"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "RoleRegion"}]}


def test_role_may_only_discover_describe_cross_check_and_read_second_opinions(template):
    (policy,) = template["Resources"]["MemberRole"]["Properties"]["Policies"]
    granted = {(action, json.dumps(s["Resource"], sort_keys=True))
               for s in statements(policy["PolicyDocument"]) for action in as_list(s["Action"])}
    assert granted == {
        ("eks:DescribeCluster", json.dumps({"Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/*"})),
        ("eks:ListClusters", '"*"'),
        ("ec2:DescribeInstances", '"*"'),
        ("cloudwatch:GetMetricData", '"*"'),
        ("logs:FilterLogEvents",
         json.dumps({"Fn::Sub": "arn:${AWS::Partition}:logs:*:${AWS::AccountId}:log-group:/aws/eks/*/cluster"})),
    }


def test_access_entries_map_the_role_to_the_rbac_group_when_listed(template):
    (loop_name,) = [k for k in template["Resources"] if k.startswith("Fn::ForEach::")]
    variable, collection, body = template["Resources"][loop_name]
    assert (variable, collection) == ("ClusterName", {"Ref": "ClusterNames"})
    (entry,) = body.values()
    assert entry["Type"] == "AWS::EKS::AccessEntry"
    assert entry["Condition"] == "HasClusterNames"
    assert entry["Properties"] == {
        "ClusterName": {"Ref": "ClusterName"},
        "PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RoleName}"},
        "Type": "STANDARD",
        "KubernetesGroups": ["cpwatch"],
    }


def test_the_checker_sends_the_external_id_the_role_requires():
    """template.yaml hands MemberExternalId to the reconcile function, which writes it into every
    member cluster's schedule; the checker sends it with AssumeRole (eks.assume_role)."""
    from tests.template.cfn import expand

    env = expand({"ClusterNames": ""})["Resources"]["ReconcileFunction"]["Properties"]["Environment"]["Variables"]
    assert env["CPWATCH_MEMBER_EXTERNAL_ID"] == {"Ref": "MemberExternalId"}
    assert env["CPWATCH_MEMBER_ROLE_ARNS"] == {"Fn::Join": [",", {"Ref": "CrossAccountRoleArns"}]}
