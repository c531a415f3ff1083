"""The default factory of every AWS client cpwatch uses, its bounded configurations, and the
checks of a region name and of the regional STS endpoint.

Every AWS client in cpwatch is a parameter with this factory as its default.
"""

from __future__ import annotations

import re
from functools import lru_cache

import boto3
import botocore.loaders
from botocore.config import Config

from ..errors import ConfigError

# Bounded: at most 3 s to connect and 5 s per read, 2 attempts in total, standard mode backing
# off up to 1 s: about 2 x 8 s + 1 s for one call in the worst case, inside a 1-minute schedule.
AWS_CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 2, "mode": "standard"}
)
# DynamoDB and SNS, called after the check out of the 6 s the run keeps for them, answer in
# milliseconds: at most 1 s to connect and 2 s to read, 2 attempts, so an endpoint that accepts
# and never answers costs one call about 5 s, and the run stops calling it (pipeline.py).
AFTER_CHECK_CLIENT_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"}
)

# Second opinions (vended metrics, control-plane logs) are read inside the run's deadline, after
# the probes: at most 1 s to connect and 3 s to read, one attempt (the next run tries again).
SECOND_OPINION_CLIENT_CONFIG = Config(
    connect_timeout=1, read_timeout=3, retries={"total_max_attempts": 1, "mode": "standard"}
)

_REGION = re.compile(r"^[a-z]{2,4}(-[a-z0-9]+)+-\d+$")


def aws_client(service: str, region: str, session: boto3.Session | None = None,
               endpoint_url: str | None = None, config: Config = AWS_CLIENT_CONFIG):
    """The default factory of every AWS client cpwatch uses (bounded timeouts and retries)."""
    session = session or boto3.Session()
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def regional_sts_url(region: str) -> str:
    """https://sts.<region>.<partition's DNS suffix>: the host the EKS authenticator accepts."""
    return f"https://sts.{check_region(region)}.{_dns_suffix(region)}"


@lru_cache(maxsize=None)
def _dns_suffix(region: str) -> str:
    partitions = botocore.loaders.create_loader().load_data("partitions")["partitions"]
    for partition in partitions:
        if region in partition.get("regions", {}):
            return partition["outputs"]["dnsSuffix"]
    for partition in partitions:
        if re.match(partition["regionRegex"], region):
            return partition["outputs"]["dnsSuffix"]
    return "amazonaws.com"


def check_region(region: str) -> str:
    if not isinstance(region, str) or not _REGION.match(region):
        raise ConfigError(f"region must look like eu-west-1, got {region!r}")
    return region
