"""One cluster, one identity (issue 17): the ARN known before connecting, and --cluster as an ARN."""

from __future__ import annotations

import pytest

from cpwatch.errors import ConfigError
from cpwatch.identity import (
    ClusterIdentity,
    account_of_function,
    cluster_identity,
    parse_cluster_arn,
    partition_of,
)

HOME = "123456789012"
ROLE = "arn:aws:iam::210987654321:role/cpwatch-checker"


@pytest.mark.parametrize(("region", "partition"), [
    ("eu-west-1", "aws"), ("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"),
    ("us-iso-east-1", "aws-iso"), ("us-isob-east-1", "aws-iso-b"),
])
def test_the_partition_follows_from_the_region(region, partition):
    assert partition_of(region) == partition


def test_a_target_without_a_role_is_in_the_functions_account():
    assert cluster_identity("prod", "eu-west-1", None, HOME).arn == "arn:aws:eks:eu-west-1:123456789012:cluster/prod"


def test_a_target_with_a_role_is_in_the_roles_account():
    found = cluster_identity("prod", "cn-north-1", ROLE.replace("arn:aws:", "arn:aws-cn:"), HOME)
    assert found == ClusterIdentity("prod", "cn-north-1", "210987654321", "aws-cn")
    assert found.arn == "arn:aws-cn:eks:cn-north-1:210987654321:cluster/prod"
    assert found.where == "210987654321/cn-north-1"


def test_namesakes_in_two_regions_and_two_accounts_are_three_clusters():
    ids = {cluster_identity("prod", "eu-west-1", None, HOME), cluster_identity("prod", "us-east-1", None, HOME),
           cluster_identity("prod", "eu-west-1", ROLE, HOME)}
    assert len({c.arn for c in ids}) == 3


def test_an_unknown_account_is_an_error_naming_the_cluster():
    with pytest.raises(ConfigError) as error:
        cluster_identity("prod", "eu-west-1", None, "not-an-account")
    assert str(error.value) == "the account of cluster prod must be 12 digits, got 'not-an-account'"


def test_the_account_of_the_invoked_function():
    assert account_of_function("arn:aws:lambda:eu-west-1:123456789012:function:cpwatch-checker") == HOME
    assert account_of_function("arn:aws:lambda:eu-west-1:123456789012:function:cpwatch-checker:live") == HOME
    assert account_of_function("cpwatch-checker") is None and account_of_function(None) is None


def test_an_arn_given_to_the_cli_is_read_back():
    assert parse_cluster_arn(" arn:aws:eks:eu-west-1:123456789012:cluster/prod-a ") == \
        ClusterIdentity("prod-a", "eu-west-1", "123456789012")


@pytest.mark.parametrize(("text", "message"), [
    ("arn:aws:eks:eu-west-1:1234:cluster/prod", "--cluster 'arn:aws:eks:eu-west-1:1234:cluster/prod' is neither a "
     "cluster name nor an EKS cluster ARN (arn:aws:eks:<region>:<account>:cluster/<name>)"),
    ("arn:aws:eks:west:123456789012:cluster/prod", "--cluster 'arn:aws:eks:west:123456789012:cluster/prod': 'west' is "
     "not a region like eu-west-1"),
    ("arn:aws:eks:eu-west-1:123456789012:cluster/-prod", "--cluster 'arn:aws:eks:eu-west-1:123456789012:cluster/-prod':"
     " '-prod' is not an EKS cluster name"),
    ("arn:aws:eks:cn-north-1:123456789012:cluster/prod", "--cluster 'arn:aws:eks:cn-north-1:123456789012:cluster/prod':"
     " region cn-north-1 is in partition aws-cn, not aws"),
])
def test_a_bad_arn_names_what_is_wrong(text, message):
    with pytest.raises(ConfigError) as error:
        parse_cluster_arn(text)
    assert str(error.value) == message
