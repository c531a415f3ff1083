"""A cpwatch deployment on moto for the benchmarks: DynamoDB table, SNS topic with an SQS inbox,
EKS clusters that describe fake control planes, and the function's environment.

Who calls it: bench/warm.py, bench/latency.py and bench/fleet.py. moto runs in server mode in
this process (ThreadedMotoServer), so boto3 in this process and in worker processes makes real
HTTP calls; the fake control planes accept only a valid EKS token for their own cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from tests.aws.moto_server import (aws_clients, create_cluster, create_table, create_topic_with_inbox,
                                   fake_aws_environment, point_cluster_at, start_moto_server)
from tests.lambda_context import LambdaContext

REGION = "eu-west-1"
# template.yaml's defaults: function timeout 50 s, RunTimeoutSeconds 40, 512 MB.
FUNCTION_TIMEOUT_S = 50.0
FUNCTION_ENV = {"CPWATCH_RUN_TIMEOUT_S": "40", "CPWATCH_RECOVERY_RUNS": "3", "CPWATCH_REMINDER_HOURS": "4",
                "CPWATCH_READ_ONLY": "false", "POWERTOOLS_SERVICE_NAME": "cpwatch",
                "POWERTOOLS_METRICS_NAMESPACE": "cpwatch", "LOG_LEVEL": "INFO"}


def context() -> LambdaContext:
    return LambdaContext.with_remaining(FUNCTION_TIMEOUT_S)


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
    server, endpoint = start_moto_server()
    patch = pytest.MonkeyPatch()
    fake_aws_environment(patch, endpoint, REGION)
    clients = aws_clients(endpoint, REGION)
    table = create_table(clients)
    topic, queue = create_topic_with_inbox(clients)
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
    from cpwatch.entry import handler

    handler.configuration.cache_clear()
    handler.dependencies.cache_clear()

