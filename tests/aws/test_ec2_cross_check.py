"""EC2 cross-check: a node still Ready whose instance is terminated (moto EC2 + the fake cluster)."""

from __future__ import annotations

from botocore.config import Config

from cpwatch.judging.check import run_check
from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.timeutil import Deadline
from tests.fakecluster import FakeCluster
from tests.integration.conftest import FAST

CLUSTER = "prod-a"


def launch(aws_env, tags: dict[str, str]) -> dict:
    # Setup, not the code under test: moto's first image listing reads its whole AMI catalogue,
    # which can take longer than the tests' usual 5 s read timeout on a loaded machine.
    ec2 = aws_env.session().client(
        "ec2", region_name=aws_env.region, endpoint_url=aws_env.endpoint,
        config=aws_env.config.merge(Config(read_timeout=60)))
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m5.large", TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])["Instances"][0]


def node_for(fc: FakeCluster, instance: dict) -> str:
    name = instance["PrivateDnsName"]
    fc.add_node(name)
    fc.store.mutate("nodes", None, name, lambda node: node["spec"].update(
        providerID=f"aws:///eu-west-1a/{instance['InstanceId']}"))
    return name


def check(fc: FakeCluster, tmp_path, ec2):
    api, _ = api_from_kubeconfig(str(fc.write_kubeconfig(tmp_path / "kc")), None, FAST.request_timeout_s,
                                 Deadline.after(FAST.run_timeout_s))
    return run_check(api, CLUSTER, FAST, read_only=True, ec2=ec2)


def codes(diagnosis) -> set[str]:
    return {o.code for o in diagnosis.observations}


def test_terminated_instance_still_ready_blames_the_controller_manager(aws_env, tmp_path):
    instance = launch(aws_env, {"eks:cluster-name": CLUSTER})
    other = launch(aws_env, {"eks:cluster-name": "another-cluster"})
    with FakeCluster(nodes=2) as fc:
        name = node_for(fc, instance)
        node_for(fc, other)
        fc.stop_component("controller-manager")
        aws_env.client("ec2").terminate_instances(InstanceIds=[instance["InstanceId"], other["InstanceId"]])
        fc.lose_node(name)
        fc.lose_node(other["PrivateDnsName"])
        fc.advance(150)
        diagnosis = check(fc, tmp_path, aws_env.client("ec2"))
    finding = next(o for o in diagnosis.observations if o.code == "INSTANCE_GONE_NODE_READY")
    assert finding.evidence["count"] == 1 and instance["InstanceId"] in finding.evidence["examples"]
    assert diagnosis.components[finding.component].verdict.value == "down"


def test_terminated_instance_whose_node_was_marked_is_consistent(aws_env, tmp_path):
    instance = launch(aws_env, {f"kubernetes.io/cluster/{CLUSTER}": "owned"})
    with FakeCluster(nodes=2) as fc:
        name = node_for(fc, instance)
        aws_env.client("ec2").terminate_instances(InstanceIds=[instance["InstanceId"]])
        fc.lose_node(name)
        fc.advance(150)  # the live controller-manager marks the node Unknown after its grace period
        diagnosis = check(fc, tmp_path, aws_env.client("ec2"))
    assert "INSTANCE_GONE_NODE_READY" not in codes(diagnosis)
    assert "EC2_NODES_CONSISTENT" in codes(diagnosis)


def test_ec2_access_denied_is_a_checker_finding_not_a_failure(aws_env, tmp_path):
    from tests.aws.moto_server import aws_error_endpoint

    with aws_error_endpoint(403, "UnauthorizedOperation", "not allowed", protocol="ec2") as endpoint:
        ec2 = aws_env.session().client("ec2", region_name="eu-west-1", endpoint_url=endpoint.url)
        with FakeCluster(nodes=2) as fc:
            fc.advance(15)
            diagnosis = check(fc, tmp_path, ec2)
    denied = next(o for o in diagnosis.observations if o.code == "CHECKER_AWS_DENIED")
    assert denied.component.value == "controller-manager" and "ec2:DescribeInstances" in denied.message()
    # the other controller-manager signals still judge it: could-not-look is never a failure
    assert {c.value: v.verdict.value for c, v in diagnosis.components.items()}["controller-manager"] == "healthy"
