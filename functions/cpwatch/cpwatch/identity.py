"""One cluster, one identity: the key under which everything about a cluster is stored and sent.

Called by pipeline.py (each target, before it connects), telling/store (keys), notification.py,
evidencepack.py and metrics.py (what is sent), and cli.py (`cpwatch history` and `cpwatch
evidence` take a name or an ARN).

An EKS cluster is its ARN, arn:<partition>:eks:<region>:<account>:cluster/<name>: names alone are
not unique (a fleet has a `prod` in every region and account). The ARN is known before
connecting, so a run claims its execution and reads its alert state under it before any AWS call:
- the partition follows from the region (cn-* is aws-cn, us-gov-* aws-us-gov, us-iso-* aws-iso,
  us-isob-* aws-iso-b, every other region aws);
- the account is the target's role's account when it names a role (eks:DescribeCluster answers
  only for the caller's own account, so the role that describes a cluster is in the cluster's
  account), else the function's own account, read from the invoked function's ARN in the Lambda
  context (no call; handler.py), or, outside Lambda, from sts:GetCallerIdentity.
DescribeCluster's own `arn` is compared with it (pipeline.py): a mismatch is logged, never keyed.
The CLI's `cpwatch check` stores and sends nothing, so a kubeconfig context needs no key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError

# Longest prefix first: us-isob-east-1 is aws-iso-b, not aws-iso.
_PARTITIONS = (("us-isob-", "aws-iso-b"), ("us-iso-", "aws-iso"), ("us-gov-", "aws-us-gov"), ("cn-", "aws-cn"))
_ACCOUNT = re.compile(r"^\d{12}$")
_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
_REGION = re.compile(r"^[a-z]{2,4}(-[a-z0-9]+)+-\d+$")
_CLUSTER_ARN = re.compile(r"^arn:(aws[a-z-]*):eks:([a-z0-9-]+):(\d{12}):cluster/([^/]+)$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")
_FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:(\d{12}):function:")


@dataclass(frozen=True)
class ClusterIdentity:
    """An EKS cluster as cpwatch keys it: `arn` is the key; name, region and account are what
    people read (notifications and the dashboard name all three)."""

    name: str
    region: str
    account: str
    partition: str = "aws"

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:eks:{self.region}:{self.account}:cluster/{self.name}"

    @property
    def where(self) -> str:
        """`123456789012/eu-west-1`: account and region, as subjects and lists show them."""
        return f"{self.account}/{self.region}"

    def __str__(self) -> str:
        return self.arn


def partition_of(region: str) -> str:
    return next((partition for prefix, partition in _PARTITIONS if region.startswith(prefix)), "aws")


def cluster_identity(name: str, region: str, role_arn: str | None, home_account: str) -> ClusterIdentity:
    """The identity of a scheduled target: the role's account when it names one, else the
    function's own (`home_account`)."""
    match = _ROLE_ARN.match(role_arn or "")
    account = match[1] if match else home_account
    if not _ACCOUNT.match(account or ""):
        raise ConfigError(f"the account of cluster {name} must be 12 digits, got {account!r}")
    return ClusterIdentity(name, region, account, partition_of(region))


def parse_cluster_arn(text: str) -> ClusterIdentity:
    """`arn:aws:eks:eu-west-1:123456789012:cluster/prod` as an identity; ConfigError naming what
    is wrong otherwise."""
    match = _CLUSTER_ARN.match(text.strip())
    if not match:
        raise ConfigError(f"--cluster {text!r} is neither a cluster name nor an EKS cluster ARN "
                          "(arn:aws:eks:<region>:<account>:cluster/<name>)")
    partition, region, account, name = match.groups()
    if not _REGION.match(region):
        raise ConfigError(f"--cluster {text!r}: {region!r} is not a region like eu-west-1")
    if not _NAME.match(name):
        raise ConfigError(f"--cluster {text!r}: {name!r} is not an EKS cluster name")
    if partition != partition_of(region):
        raise ConfigError(f"--cluster {text!r}: region {region} is in partition {partition_of(region)}, "
                          f"not {partition}")
    return ClusterIdentity(name, region, account, partition)


def is_cluster_name(text: str) -> bool:
    return bool(_NAME.match(text))


def account_of_function(function_arn: str | None) -> str | None:
    """The account of a Lambda function ARN (the context's invoked_function_arn), or None."""
    match = _FUNCTION_ARN.match(function_arn or "")
    return match[1] if match else None
