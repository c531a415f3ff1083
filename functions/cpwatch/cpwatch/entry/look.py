"""One look at a target: connect (through AWS throttling), check, add the second opinions from
outside the apiserver; a connection that fails is a blind diagnosis, never an exception.

Called by pipeline.check_cluster for a run's look and its confirming second look.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Callable

from ..aws.eks_cluster import ClusterInfo
from ..judging.check import Diagnosis, blind_diagnosis, run_check
from ..errors import AWS_THROTTLING_CODES, AwsAccessDeniedError, AwsError, AwsUnavailableError, ConfigError
from ..errors import EksClusterNotServingError
from ..findings import Component, Observation, observe
from .invocation import Target
from ..cluster.kubeapi import KubeApi
from .second_opinion import SecondOpinion
from ..settings import Settings
from ..timeutil import Deadline

log = logging.getLogger(__name__)

Connector = Callable[[Target, Deadline], tuple[KubeApi, ClusterInfo | None]]

# AWS throttling of the connection (DescribeCluster, AssumeRole), past botocore's own two attempts:
# tried again after a jittered exponential backoff while the run keeps time for its look.
THROTTLE_FIRST_WAIT_S = 0.5
THROTTLE_MAX_WAIT_S = 4.0
LOOK_RESERVE_S = 5.0


class RememberedClusterInfo:
    """A connector that keeps what DescribeCluster said last (ARN, versions) for the evidence pack."""

    def __init__(self, connect: Connector):
        self._connect = connect
        self.info: ClusterInfo | None = None

    def __call__(self, target: Target, deadline: Deadline) -> tuple[KubeApi, ClusterInfo | None]:
        api, info = self._connect(target, deadline)
        self.info = info or self.info
        return api, info


def look(target: Target, connect: Connector, ec2_for: Callable[[Target], object], settings: Settings,
         read_only: bool, deadline: Deadline, run_interval_s: float, opinion: SecondOpinion | None = None) -> Diagnosis:
    """`ec2_for(target)`: the EC2 client of the cross-check, made once connected (for a target in
    another account it assumes the role, whose refusal the connection reports first)."""
    try:
        api, info = connect_through_throttling(connect, target, deadline)
    except EksClusterNotServingError as error:
        return blind_diagnosis(target.cluster, (observe("EKS_CLUSTER_NOT_SERVING", Component.APISERVER,
                                                        status=error.code, detail=error.detail),), read_only)
    except AwsAccessDeniedError as error:
        return blind_diagnosis(target.cluster, (observe("CHECKER_AWS_DENIED", Component.APISERVER,
                                                        operation=f"{error.service}:{error.operation}", detail=error.detail),), read_only)
    except (AwsError, ConfigError) as error:
        operation = f"{error.service}:{error.operation}" if isinstance(error, AwsError) else "connect"
        return blind_diagnosis(target.cluster, (observe("CHECKER_AWS_FAILED", Component.APISERVER,
                                                        operation=operation, detail=str(error)),), read_only)
    try:
        diagnosis = run_check(api, target.cluster, settings, read_only=read_only, ec2=ec2_for(target),
                              extra=cluster_info_observations(info), run_interval_s=run_interval_s)
    finally:
        api.close()
    return opinion.amend(diagnosis, info) if opinion is not None else diagnosis


def connect_through_throttling(connect: Connector, target: Target, deadline: Deadline,
                               sleep: Callable[[float], None] = time.sleep) -> tuple[KubeApi, ClusterInfo | None]:
    wait = THROTTLE_FIRST_WAIT_S
    while True:
        try:
            return connect(target, deadline)
        except AwsUnavailableError as error:
            if error.code not in AWS_THROTTLING_CODES or deadline.remaining() < wait + LOOK_RESERVE_S:
                raise
            log.warning("%s: %s %s throttled (%s); trying again in about %.1f s", target.cluster, error.service,
                        error.operation, error.code, wait)
            sleep(wait * random.uniform(0.5, 1.0))
            wait = min(wait * 2, THROTTLE_MAX_WAIT_S)


def cluster_info_observations(info: ClusterInfo | None) -> tuple[Observation, ...]:
    if info is None:
        return ()
    found: list[Observation] = []
    if info.status not in ("ACTIVE", "UPDATING"):
        found.append(observe("EKS_CLUSTER_STATUS", Component.CHECKER, status=info.status))
    for issue in info.health_issues:
        # `issue`, not `code`: observe()'s first parameter is the finding's code.
        found.append(observe("EKS_HEALTH_ISSUE", Component.CHECKER, issue=issue.code, message=issue.message,
                             resources=list(issue.resource_ids)[:10]))
    return tuple(found)
