"""eks:DescribeCluster as a ClusterInfo: endpoint, CA, status, health issues, versions,
endpoint access and the control-plane log types sent to CloudWatch Logs.

Called by eks_connect (every run) and, through the ClusterInfo it returns, by the pipeline.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from ..errors import ConfigError
from .call_errors import AWS_CALL_ERRORS, aws_error

# Statuses in which the control plane serves the Kubernetes API.
SERVING_STATUSES = ("ACTIVE", "UPDATING")

# EKS cluster names: 1-100 characters, a letter or digit first, then letters, digits, - and _.
_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")


def check_cluster_name(name: str) -> str:
    if not isinstance(name, str) or not _CLUSTER_NAME.match(name):
        raise ConfigError(
            f"EKS cluster name must be 1-100 letters, digits, '-' or '_' starting with a letter or digit, got {name!r}"
        )
    return name


@dataclass(frozen=True)
class HealthIssue:
    """One entry of DescribeCluster's health.issues (EKS's own view of control-plane trouble)."""

    code: str
    message: str
    resource_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterInfo:
    """What DescribeCluster says about a cluster (no credentials)."""

    name: str
    endpoint: str | None
    ca_pem: str | None = field(repr=False)
    status: str
    health_issues: tuple[HealthIssue, ...] = ()
    version: str | None = None
    platform_version: str | None = None
    arn: str | None = None
    # Where the endpoint answers: a private-only endpoint is unreachable from a Lambda outside
    # the cluster's VPC, and a public one only from publicAccessCidrs.
    endpoint_public_access: bool | None = None
    endpoint_private_access: bool | None = None
    public_access_cidrs: tuple[str, ...] = ()
    # Control-plane log types enabled (logging.clusterLogging): api, audit, authenticator,
    # controllerManager, scheduler.
    log_types: tuple[str, ...] = ()

    @property
    def serving(self) -> bool:
        """EKS reports a status in which the Kubernetes API is served."""
        return self.status in SERVING_STATUSES


def describe_cluster(eks_client, name: str) -> ClusterInfo:
    """eks:DescribeCluster. Errors: AwsAccessDeniedError, AwsNotFoundError, AwsUnavailableError,
    AwsUnreachableError, ConfigError (invalid name)."""
    check_cluster_name(name)
    try:
        cluster = eks_client.describe_cluster(name=name)["cluster"]
    except AWS_CALL_ERRORS as error:
        raise aws_error(error, "eks", "DescribeCluster", name) from None
    return cluster_info(cluster, name)


def cluster_info(cluster: dict, name: str) -> ClusterInfo:
    """ClusterInfo from the `cluster` object of a DescribeCluster answer."""
    health = cluster.get("health") or {}
    issues = tuple(
        HealthIssue(
            code=str(issue.get("code") or ""),
            message=str(issue.get("message") or ""),
            resource_ids=tuple(str(r) for r in issue.get("resourceIds") or ()),
        )
        for issue in health.get("issues") or ()
        if isinstance(issue, dict)
    )
    vpc = cluster.get("resourcesVpcConfig") or {}
    return ClusterInfo(
        name=str(cluster.get("name") or name),
        endpoint=cluster.get("endpoint") or None,
        ca_pem=_decode_ca((cluster.get("certificateAuthority") or {}).get("data")),
        status=str(cluster.get("status") or "UNKNOWN"),
        health_issues=issues,
        version=cluster.get("version"),
        platform_version=cluster.get("platformVersion"),
        arn=cluster.get("arn"),
        endpoint_public_access=vpc.get("endpointPublicAccess"),
        endpoint_private_access=vpc.get("endpointPrivateAccess"),
        public_access_cidrs=tuple(vpc.get("publicAccessCidrs") or ()),
        log_types=_enabled_log_types(cluster.get("logging")),
    )


def _enabled_log_types(logging: object) -> tuple[str, ...]:
    """logging.clusterLogging is a list of {"types": [...], "enabled": bool} entries."""
    entries = logging.get("clusterLogging") if isinstance(logging, dict) else None
    enabled: list[str] = []
    for entry in entries or ():
        if isinstance(entry, dict) and entry.get("enabled") is True:
            enabled += [str(t) for t in entry.get("types") or () if str(t) not in enabled]
    return tuple(enabled)


def _decode_ca(data: object) -> str | None:
    """certificateAuthority.data is the base64 of a PEM bundle; None when absent or not one."""
    if not isinstance(data, str) or not data:
        return None
    try:
        pem = base64.b64decode(data, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    return pem if "-----BEGIN CERTIFICATE-----" in pem else None
