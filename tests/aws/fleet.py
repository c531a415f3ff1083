"""A fleet of EKS clusters on moto for the reconcile tests and `make bench` (section reconcile):
clusters over several regions of the stack's own account and of a member account, the member
role created in the member account's IAM as infra/aws/member-account.yaml declares it, the
discovered clusters' schedule group, and a counter of the AWS calls each client makes.

moto keeps resources per account and tells the account from the access key: the member
account's resources are made with credentials of a role assumed in it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from tests.aws.moto_server import ACCOUNT_ID, AwsClients, set_cluster_status

ROOT = Path(__file__).resolve().parents[2]
MEMBER_TEMPLATE = ROOT / "infra" / "aws" / "member-account.yaml"
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
MEMBER_ACCOUNT = "210987654321"
MEMBER_ROLE_NAME = "cpwatch-checker"
MEMBER_ROLE_ARN = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/{MEMBER_ROLE_NAME}"
EXTERNAL_ID = "cpwatch-fleet-7d1e"
GROUP = "cpwatch-discovered"
CHECKER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/cpwatch-CheckerRole"
RECONCILE_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/cpwatch-ReconcileRole"
CHECKER_ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:cpwatch-checker"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/cpwatch-SchedulerRole"
DEAD_LETTER_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:cpwatch-dlq"


def fleet_environment(regions: tuple[str, ...] = REGIONS, member: bool = True) -> dict[str, str]:
    """The reconcile function's environment as template.yaml sets it in discovery mode."""
    env = {
        "CPWATCH_ACCOUNT_ID": ACCOUNT_ID, "CPWATCH_DISCOVERY_REGIONS": ",".join(regions),
        "CPWATCH_SCHEDULE_GROUP": GROUP, "CPWATCH_CHECKER_ARN": CHECKER_ARN,
        "CPWATCH_SCHEDULER_ROLE_ARN": SCHEDULER_ROLE_ARN, "CPWATCH_DEAD_LETTER_ARN": DEAD_LETTER_ARN,
        "CPWATCH_SCHEDULE_EXPRESSION": "rate(1 minute)", "CPWATCH_DISCOVERY_TAG_KEY": "cpwatch",
        "CPWATCH_DISCOVERY_OPT_IN": "false",
    }
    if member:
        env |= {"CPWATCH_MEMBER_ROLE_ARNS": MEMBER_ROLE_ARN, "CPWATCH_MEMBER_EXTERNAL_ID": EXTERNAL_ID}
    return env


class CallCounter:
    """Counts the AWS operations clients make (botocore's before-call event: once per API call,
    not per retry)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def watch(self, client):
        client.meta.events.register("before-call", self._count)
        return client

    def _count(self, model, **kwargs) -> None:
        with self._lock:
            self.calls[model.name] += 1

    def reset(self) -> Counter[str]:
        with self._lock:
            taken, self.calls = self.calls, Counter()
        return taken


@dataclass
class Fleet:
    aws: AwsClients
    member_session: boto3.Session
    # (account, region) -> cluster names
    clusters: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def session(self, account: str, region: str) -> boto3.Session | None:
        if account == ACCOUNT_ID:
            return self.aws.session(region)
        return boto3.Session(**{**_credentials(self.member_session), "region_name": region})

    def eks(self, account: str, region: str):
        return self.aws.client("eks", region, session=self.session(account, region))

    def add(self, account: str, region: str, names: list[str], tags: dict[str, str] | None = None,
            status: str | None = None, through_api: bool = False) -> None:
        """New clusters. moto's CreateCluster makes a boto3 Session per call to validate the role
        ARN (about 0.3 s each here), so bulk additions write the same Cluster objects straight
        into moto's backend, as create_cluster does after that check; `through_api` makes them
        with CreateCluster over HTTP. Everything reconcile does goes over HTTP either way."""
        role_arn = f"arn:aws:iam::{account}:role/eks-cluster"
        if through_api:
            eks = self.eks(account, region)
            for name in names:
                eks.create_cluster(name=name, version="1.31", roleArn=role_arn,
                                   resourcesVpcConfig={"subnetIds": ["subnet-0a1b2c3d"]}, tags=tags or {})
        else:
            from moto.eks.models import Cluster, eks_backends  # moto runs in this process

            backend = eks_backends[account][region]
            for name in names:
                assert name not in backend.clusters, name
                backend.clusters[name] = Cluster(
                    name=name, role_arn=role_arn, resources_vpc_config={"subnetIds": ["subnet-0a1b2c3d"]},
                    version="1.31", tags=dict(tags or {}), account_id=account, region_name=region,
                    aws_partition="aws")
                backend.cluster_count += 1
        if status is not None:
            for name in names:
                set_cluster_status(name, region, status, account_id=account)
        self.clusters.setdefault((account, region), []).extend(names)

    def remove(self, account: str, region: str, names: list[str]) -> None:
        eks = self.eks(account, region)
        for name in names:
            eks.delete_cluster(name=name)
            self.clusters[(account, region)].remove(name)

    def tag(self, account: str, region: str, name: str, tags: dict[str, str]) -> None:
        eks = self.eks(account, region)
        arn = eks.describe_cluster(name=name)["cluster"]["arn"]
        eks.tag_resource(resourceArn=arn, tags=tags)

    def schedules(self) -> dict[str, dict]:
        """Every schedule of the discovered clusters' group: name -> GetSchedule's answer."""
        scheduler = self.aws.client("scheduler")
        names = [s["Name"] for page in scheduler.get_paginator("list_schedules").paginate(GroupName=GROUP)
                 for s in page["Schedules"]]
        return {name: scheduler.get_schedule(Name=name, GroupName=GROUP) for name in names}


def _credentials(session: boto3.Session) -> dict[str, str]:
    frozen = session.get_credentials().get_frozen_credentials()
    return {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key,
            "aws_session_token": frozen.token}


def member_role_from_template() -> dict:
    """The member role's trust policy and inline policy, as infra/aws/member-account.yaml declares
    them, with the parameters filled in."""
    import cfnlint.decode

    decoded, matches = cfnlint.decode.decode(str(MEMBER_TEMPLATE))
    assert not matches, [str(m) for m in matches]
    role = json.loads(json.dumps(decoded))["Resources"]["MemberRole"]["Properties"]
    values = {"CheckerRoleArn": CHECKER_ROLE_ARN, "ReconcileRoleArn": RECONCILE_ROLE_ARN, "ExternalId": EXTERNAL_ID,
              "RoleName": MEMBER_ROLE_NAME,
              "AWS::AccountId": MEMBER_ACCOUNT, "AWS::Partition": "aws"}

    def resolve(node):
        if isinstance(node, dict):
            if list(node) == ["Ref"]:
                return values[node["Ref"]]
            if list(node) == ["Fn::Sub"]:
                text = node["Fn::Sub"]
                for name, value in values.items():
                    text = text.replace("${" + name + "}", value)
                return text
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(role)


def make_fleet(aws: AwsClients, per_partition: int, regions: tuple[str, ...] = REGIONS) -> Fleet:
    """`per_partition` serving clusters in each region of both accounts, the member role in the
    member account's IAM (from the member template) and the discovered clusters' schedule group."""
    bootstrap = aws.client("sts").assume_role(RoleArn=MEMBER_ROLE_ARN, RoleSessionName="fleet-setup",
                                              ExternalId=EXTERNAL_ID)["Credentials"]
    member = boto3.Session(aws_access_key_id=bootstrap["AccessKeyId"], aws_secret_access_key=bootstrap["SecretAccessKey"],
                           aws_session_token=bootstrap["SessionToken"], region_name=aws.region)
    role = member_role_from_template()
    iam = aws.client("iam", session=member)
    iam.create_role(RoleName=MEMBER_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]),
                    Description=role["Description"])
    for policy in role["Policies"]:
        iam.put_role_policy(RoleName=MEMBER_ROLE_NAME, PolicyName=policy["PolicyName"],
                            PolicyDocument=json.dumps(policy["PolicyDocument"]))
    aws.client("scheduler").create_schedule_group(Name=GROUP)
    fleet = Fleet(aws, member)
    for account in (ACCOUNT_ID, MEMBER_ACCOUNT):
        for region in regions:
            prefix = f"{'own' if account == ACCOUNT_ID else 'mem'}-{region}"
            fleet.add(account, region, [f"{prefix}-{i:04d}" for i in range(per_partition)])
    return fleet
