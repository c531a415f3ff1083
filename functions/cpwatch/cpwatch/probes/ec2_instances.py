"""EC2 cross-check (EKS): a node still `Ready` whose instance is stopped or terminated.

The seed's first symptom of a dead controller-manager. Only the cluster's stopped, stopping,
shutting-down or terminated instances are asked for (EC2 keeps terminated ones visible for about
an hour), so a healthy cluster costs one or two small DescribeInstances calls. Each such instance
is looked up as a node by its private DNS name (the default EKS node name) and counted when the
node is still Ready although its kubelet Lease is older than the heartbeat threshold (so the
controller has had its grace period). Runs only when an EC2 client is given (the Lambda path).
"""

from __future__ import annotations

from ..aws.call_errors import AWS_CALL_ERRORS, aws_error
from ..errors import NotFoundError
from ..findings import Component, Observation, observe
from .context import ProbeContext, condition, examples, field, lease_path, whole

_GONE_STATES = ["stopping", "stopped", "shutting-down", "terminated"]


def probe(ctx: ProbeContext) -> list[Observation]:
    if ctx.ec2 is None:
        return []
    instances = _gone_instances(ctx)
    if not instances:
        # Nothing was asked of the apiserver, so nothing was seen of the controller-manager: an
        # ok finding here would make it "healthy" even when cpwatch cannot reach the cluster.
        return []
    still_ready: list[str] = []
    for instance_id, node_name, state in instances[: ctx.settings.max_node_lookups]:
        try:
            node = ctx.api.get_json(f"/api/v1/nodes/{node_name}")
        except NotFoundError:
            continue  # the node object is gone: the controller did its job
        if instance_id not in str(field(node, "spec").get("providerID") or ""):
            continue
        if (condition(node, "Ready") or {}).get("status") != "True":
            continue
        lease_age = _lease_age(ctx, node_name)
        if lease_age is not None and lease_age > ctx.settings.node_heartbeat_stale_s:
            still_ready.append(f"{node_name} ({instance_id} {state}, Lease {whole(lease_age)} s)")
    if still_ready:
        return [observe("INSTANCE_GONE_NODE_READY", Component.CONTROLLER_MANAGER, count=len(still_ready),
                        examples=examples(still_ready), nodes=still_ready[:20])]
    return [observe("EC2_NODES_CONSISTENT", Component.CONTROLLER_MANAGER, checked=len(instances))]


def _gone_instances(ctx: ProbeContext) -> list[tuple[str, str, str]]:
    """(instance id, private DNS name, state) of the cluster's instances that are not running."""
    found: dict[str, tuple[str, str, str]] = {}
    cluster_filters = (
        [{"Name": "tag:eks:cluster-name", "Values": [ctx.cluster]}],  # managed node groups
        [{"Name": "tag-key", "Values": [f"kubernetes.io/cluster/{ctx.cluster}"]}],  # self-managed nodes
    )
    for cluster_filter in cluster_filters:
        filters = cluster_filter + [{"Name": "instance-state-name", "Values": _GONE_STATES}]
        try:
            pages = list(ctx.ec2.get_paginator("describe_instances").paginate(
                Filters=filters, PaginationConfig={"PageSize": 100}))
        except AWS_CALL_ERRORS as error:
            raise aws_error(error, "ec2", "DescribeInstances", ctx.cluster) from None
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    name = instance.get("PrivateDnsName")
                    if name:
                        found[instance["InstanceId"]] = (instance["InstanceId"], name, instance.get("State", {}).get("Name", "?"))
    return list(found.values())


def _lease_age(ctx: ProbeContext, node_name: str) -> float | None:
    try:
        lease = ctx.api.get_json(lease_path("kube-node-lease", node_name))
    except NotFoundError:
        return None
    return ctx.age_s(field(lease, "spec").get("renewTime"))
