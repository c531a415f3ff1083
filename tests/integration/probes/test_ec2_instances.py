"""The EC2 cross-check (probes/ec2_instances.py) against the fake control plane and moto EC2 (issue 12).

Instances EC2 shows gone (terminated, stopped, or on the way there) whose nodes the cluster still
shows Ready, counted once each; the nodes handled are consistent; EC2's refusal names the call
(mutation testing).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from botocore.config import Config

from cpwatch.errors import AwsAccessDeniedError
from cpwatch.probes import ec2_instances
from cpwatch.timeutil import parse_k8s_time
from tests.aws.moto_server import ACCOUNT_ID, DEFAULT_REGION, aws_error_endpoint
from tests.fakecluster import FakeCluster

from .helpers import CANARY, one, probe_context

pytestmark = pytest.mark.network

CLUSTER = "prod-a"
EKS_TAG = {"eks:cluster-name": CLUSTER}
SELF_MANAGED_TAG = {f"kubernetes.io/cluster/{CLUSTER}": "owned"}
# One of the AMIs moto serves (its EXAMPLE_AMI_ID): no image listing needed to launch.
IMAGE = "ami-12c6146b"


def setup_ec2(aws_env):
    """The set-up's client: moto reads its catalogue of images at the first launch, which can take
    longer than the tests' usual 5 s read timeout on a loaded machine."""
    return aws_env.session().client("ec2", region_name=aws_env.region, endpoint_url=aws_env.endpoint,
                                    config=aws_env.config.merge(Config(read_timeout=60)))


def launch(ec2, tags: dict[str, str]) -> dict:
    return ec2.run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType="m5.large", TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])["Instances"][0]


def node_for(fc: FakeCluster, instance: dict, provider_instance: str | None = None) -> str:
    name = instance["PrivateDnsName"]
    fc.add_node(name)
    fc.store.mutate("nodes", None, name, lambda node: node["spec"].update(
        providerID=f"aws:///eu-west-1a/{provider_instance or instance['InstanceId']}"))
    return name


def set_moto_state(instance: dict, name: str, code: int) -> None:
    """A transitional state EC2 shows for a while (moto moves an instance through it at once).
    ThreadedMotoServer runs in this process, so its backend is this object."""
    from moto.ec2.models import ec2_backends

    state = ec2_backends[ACCOUNT_ID][DEFAULT_REGION].get_instance(instance["InstanceId"])._state
    state.name, state.code = name, code


def set_ready(fc: FakeCluster, name: str, status: str) -> None:
    def change(node):
        for entry in node["status"]["conditions"]:
            if entry["type"] == "Ready":
                entry["status"] = status
    fc.store.mutate("nodes", None, name, change)


def test_ec2_gone_instances_whose_nodes_stay_ready_are_counted_once_each(aws_env, tmp_path):
    ec2 = setup_ec2(aws_env)
    counted = {"managed": launch(ec2, EKS_TAG), "self-managed": launch(ec2, SELF_MANAGED_TAG),
               "both tags": launch(ec2, {**EKS_TAG, **SELF_MANAGED_TAG})}
    stopped = launch(ec2, EKS_TAG)  # counted too: stopped, not terminated
    # and in the states on the way there (EC2 API InstanceState codes)
    transitional = {"stopping": (launch(ec2, EKS_TAG), 64), "shutting-down": (launch(ec2, EKS_TAG), 32)}
    skipped = {"no node": launch(ec2, EKS_TAG), "another instance's node": launch(ec2, EKS_TAG),
               "node marked Unknown": launch(ec2, EKS_TAG), "fresh Lease": launch(ec2, EKS_TAG),
               "no Lease": launch(ec2, EKS_TAG), "no Ready condition": launch(ec2, EKS_TAG),
               "another cluster": launch(ec2, {"eks:cluster-name": "prod-b"}),
               "still running": launch(ec2, EKS_TAG)}
    with FakeCluster(nodes=1) as fc:
        fc.stop_component("controller-manager")  # nothing marks the silent nodes
        moving = [instance for instance, _ in transitional.values()]
        lost = [node_for(fc, i) for i in [*counted.values(), stopped, *moving, skipped["node marked Unknown"],
                                          skipped["no Lease"], skipped["no Ready condition"],
                                          skipped["another cluster"], skipped["still running"]]]
        node_for(fc, skipped["another instance's node"], provider_instance="i-0000000000000000")
        fresh = node_for(fc, skipped["fresh Lease"])
        for name in [*lost, skipped["another instance's node"]["PrivateDnsName"]]:
            fc.lose_node(name)
        set_ready(fc, skipped["node marked Unknown"]["PrivateDnsName"], "Unknown")
        fc.store.mutate("nodes", None, skipped["no Ready condition"]["PrivateDnsName"],
                        lambda node: node["status"].update(conditions=[]))
        fc.store.delete("leases", "kube-node-lease", skipped["no Lease"]["PrivateDnsName"])
        gone = [i["InstanceId"] for i in [*counted.values(), *skipped.values()] if i is not skipped["still running"]]
        ec2.terminate_instances(InstanceIds=gone)
        ec2.stop_instances(InstanceIds=[stopped["InstanceId"]])
        for state, (instance, code) in transitional.items():
            set_moto_state(instance, state, code)
        fc.advance(150)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = ec2_instances.probe(replace(ctx, ec2=ec2, cluster=CLUSTER))
        lease_ages = {name: (fc.clock.now() - parse_k8s_time(fc.store.peek("leases", "kube-node-lease", name)
                                                              ["spec"]["renewTime"])).total_seconds()
                      for name in [i["PrivateDnsName"] for i in [*counted.values(), stopped, *moving]]}
    assert fresh not in lease_ages
    finding = one(found, "INSTANCE_GONE_NODE_READY")
    assert finding.component.value == "controller-manager"
    states = {stopped["InstanceId"]: "stopped", **{i["InstanceId"]: state for state, (i, _) in transitional.items()}}
    expected = {f"{i['PrivateDnsName']} ({i['InstanceId']} {states.get(i['InstanceId'], 'terminated')}, Lease "
                for i in [*counted.values(), stopped, *moving]}
    assert finding.evidence["count"] == 6 and len(finding.evidence["nodes"]) == 6
    assert {entry.split("Lease ")[0] + "Lease " for entry in finding.evidence["nodes"]} == expected
    for entry in finding.evidence["nodes"]:
        name = entry.split(" ")[0]
        assert abs(int(entry.rsplit("Lease ", 1)[1].removesuffix(" s)")) - lease_ages[name]) <= 2
    assert finding.evidence["examples"] == ", ".join(finding.evidence["nodes"][:5]) + " and 1 more"


def test_ec2_gone_instances_whose_nodes_were_handled_are_consistent(aws_env, tmp_path):
    ec2 = setup_ec2(aws_env)
    deleted, marked, running = launch(ec2, EKS_TAG), launch(ec2, SELF_MANAGED_TAG), launch(ec2, EKS_TAG)
    with FakeCluster(nodes=1) as fc:
        fc.stop_component("controller-manager")
        name = node_for(fc, marked)
        fc.lose_node(name)
        set_ready(fc, name, "Unknown")
        node_for(fc, running)
        ec2.terminate_instances(InstanceIds=[deleted["InstanceId"], marked["InstanceId"]])
        fc.advance(150)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = ec2_instances.probe(replace(ctx, ec2=ec2, cluster=CLUSTER))
    assert one(found, "EC2_NODES_CONSISTENT").evidence == {"checked": 2}


def test_ec2_without_gone_instances_or_without_a_client_says_nothing(aws_env, tmp_path):
    ec2 = setup_ec2(aws_env)
    launch(ec2, EKS_TAG)
    with FakeCluster(nodes=1) as fc:
        with probe_context(fc, tmp_path, CANARY) as ctx:
            assert ec2_instances.probe(replace(ctx, ec2=ec2, cluster=CLUSTER)) == []
            assert ec2_instances.probe(replace(ctx, cluster=CLUSTER)) == []
        asked = [r for r in fc.requests if r.path.startswith("/api/v1/nodes")]
    assert asked == []  # nothing was gone, so no node was looked up


def test_ec2_refusal_is_an_aws_access_error_naming_the_call(aws_env, tmp_path):
    with aws_error_endpoint(403, "UnauthorizedOperation", "not allowed", protocol="ec2") as endpoint:
        ec2 = aws_env.session().client("ec2", region_name="eu-west-1", endpoint_url=endpoint.url)
        with FakeCluster(nodes=1) as fc:
            with probe_context(fc, tmp_path, CANARY) as ctx, pytest.raises(AwsAccessDeniedError) as raised:
                ec2_instances.probe(replace(ctx, ec2=ec2, cluster=CLUSTER))
    assert str(raised.value).startswith(f"ec2 DescribeInstances {CLUSTER}: UnauthorizedOperation: HTTP 403: not allowed")
