"""A cpwatch deployment on moto for the benchmarks: DynamoDB table, SNS topic with an SQS inbox,
EKS clusters that describe fake control planes, and the function's environment.

Who calls it: bench/warm.py, bench/latency.py and bench/fleet.py. moto runs in server mode in
this process (ThreadedMotoServer), so boto3 in this process and in worker processes makes real
HTTP calls; the fake control planes accept only a valid EKS token for their own cluster.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import pytest

from tests.aws.moto_server import (FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, aws_clients, check_eks_token,
                                   create_cluster, create_table, fake_aws_environment, point_cluster_at)

REGION = "eu-west-1"
CHECKER_ARN = "arn:aws:sts::123456789012:assumed-role/cpwatch-checker/cpwatch"
# template.yaml's defaults: function timeout 50 s, RunTimeoutSeconds 40, 512 MB.
FUNCTION_TIMEOUT_S = 50.0
FUNCTION_ENV = {"CPWATCH_RUN_TIMEOUT_S": "40", "CPWATCH_RECOVERY_RUNS": "3", "CPWATCH_REMINDER_HOURS": "4",
                "CPWATCH_READ_ONLY": "false", "POWERTOOLS_SERVICE_NAME": "cpwatch",
                "POWERTOOLS_METRICS_NAMESPACE": "cpwatch", "LOG_LEVEL": "INFO"}


def eks_validator(cluster: str):
    """The EKS authenticator of one cluster: a token signed for it with the fake key -> cpwatch."""
    def validate(token: str):
        check = check_eks_token(token, cluster,
                                lambda key: FAKE_SECRET_ACCESS_KEY if key == FAKE_ACCESS_KEY_ID else None)
        return (CHECKER_ARN, ("cpwatch", "system:authenticated")) if check.ok else None
    return validate


@dataclass
class LambdaContext:
    """What Lambda passes as context (what Powertools and the handler read)."""

    deadline: float
    function_name: str = "cpwatch-checker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:cpwatch-checker"
    aws_request_id: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def context() -> LambdaContext:
    return LambdaContext(time.monotonic() + FUNCTION_TIMEOUT_S)


@dataclass
class Deployment:
    endpoint: str
    table: str
    topic: str
    queue: str
    env: dict = field(default_factory=dict)
    _server: object = None
    _patch: object = None

    @property
    def clients(self):
        return aws_clients(self.endpoint, REGION)

    def add_cluster(self, name: str, fc) -> None:
        create_cluster(self.clients, name, REGION)
        point_cluster_at(name, REGION, fc.url, fc.ca_pem)

    def messages(self) -> list[dict]:
        sqs = self.clients.client("sqs")
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                        MessageAttributeNames=["All"]).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def stop(self) -> None:
        if self._patch is not None:
            self._patch.undo()
        if self._server is not None:
            self._server.stop()


def start_deployment() -> Deployment:
    """moto server, fake AWS environment (only moto reachable), table, topic -> SQS, and the
    function's environment variables set in os.environ (so worker processes inherit them)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    patch = pytest.MonkeyPatch()
    fake_aws_environment(patch, endpoint, REGION)
    clients = aws_clients(endpoint, REGION)
    table = create_table(clients)
    sns, sqs = clients.client("sns"), clients.client("sqs")
    topic = sns.create_topic(Name="cpwatch-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    env = {**FUNCTION_ENV, "CPWATCH_TABLE_NAME": table, "CPWATCH_TOPIC_ARN": topic}
    for name, value in env.items():
        patch.setenv(name, value)
    return Deployment(endpoint, table, topic, queue, env, server, patch)


def event(cluster: str, execution_id: str, read_only: bool | None = None) -> dict:
    """The payload template.yaml's schedule sends (events/one-cluster.json's shape)."""
    target: dict = {"cluster": cluster, "region": REGION}
    if read_only is not None:
        target["read_only"] = read_only
    return {"targets": [target], "execution_id": execution_id, "scheduled_time": "2026-11-27T09:31:00Z"}


def reset_handler() -> None:
    """Forget the handler's cached configuration and clients (a new execution environment)."""
    from cpwatch import handler

    handler.configuration.cache_clear()
    handler.dependencies.cache_clear()

