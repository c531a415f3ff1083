"""The real Lambda handler, end to end: events/ payloads -> moto (EKS, DynamoDB, SNS -> SQS) and
the fake control plane, which accepts only a valid EKS token for the cluster.

healthy -> fault -> confirmed alarm (one SNS message) -> reminder -> recovery; a redelivered
event sends nothing; two overlapping invocations send one notification.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpwatch import handler
from tests.aws.moto_server import (
    FAKE_ACCESS_KEY_ID,
    FAKE_SECRET_ACCESS_KEY,
    check_eks_token,
    create_cluster,
    create_table,
    point_cluster_at,
)
from tests.fakecluster import FakeCluster
from tests.lambda_context import LambdaContext

EVENTS = Path(__file__).parents[2] / "events"
CLUSTER, REGION = "prod-a", "eu-west-1"


def eks_validator(cluster: str):
    def validate(token: str):
        check = check_eks_token(token, cluster, lambda key: FAKE_SECRET_ACCESS_KEY if key == FAKE_ACCESS_KEY_ID else None)
        return ("arn:aws:sts::123456789012:assumed-role/cpwatch-checker/cpwatch", ("cpwatch", "system:authenticated")) if check.ok else None
    return validate


@pytest.fixture
def deployment(aws_env, monkeypatch):
    """moto resources, a fake control plane for prod-a, the function's environment, an SQS inbox."""
    table = create_table(aws_env)
    sns, sqs = aws_env.client("sns"), aws_env.client("sqs")
    topic = sns.create_topic(Name="cpwatch-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    create_cluster(aws_env, CLUSTER)
    fc = FakeCluster(nodes=3, token_validator=eks_validator(CLUSTER))
    fc.start()
    point_cluster_at(CLUSTER, REGION, fc.url, fc.ca_pem)
    for name, value in {"CPWATCH_TABLE_NAME": table, "CPWATCH_TOPIC_ARN": topic, "CPWATCH_CANARY_WAIT_S": "3",
                        "CPWATCH_CANARY_POLL_S": "0.2", "CPWATCH_REQUEST_TIMEOUT_S": "3",
                        "CPWATCH_RECOVERY_RUNS": "2", "CPWATCH_REMINDER_HOURS": "0.0005"}.items():
        monkeypatch.setenv(name, value)
    handler.configuration.cache_clear()
    handler.dependencies.cache_clear()
    yield Deployment(fc, aws_env, table, queue)
    fc.stop()
    handler.configuration.cache_clear()
    handler.dependencies.cache_clear()


@dataclass
class Deployment:
    fc: FakeCluster
    aws: object
    table: str
    queue: str
    runs: int = 0

    def invoke(self, execution_id: str | None = None) -> dict:
        self.runs += 1
        event = json.loads((EVENTS / "one-cluster.json").read_text())
        event["execution_id"] = execution_id or f"exec-{self.runs}"
        return handler.lambda_handler(event, LambdaContext.with_remaining(50))

    def messages(self) -> list[dict]:
        sqs = self.aws.client("sqs")
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])


def test_alarm_reminder_recovery_and_duplicates(deployment, capsys):
    fc = deployment.fc
    fc.advance(15)
    healthy = deployment.invoke()
    assert healthy["clusters"][0]["overall"] == "healthy", healthy
    assert deployment.messages() == []

    fc.stop_component("scheduler", release_lease=True)
    fc.advance(90)
    alarm = deployment.invoke()
    assert alarm["clusters"][0]["transitions"] == ["scheduler:alarm"], alarm
    [message] = deployment.messages()
    assert "scheduler" in message["Subject"] and "ALARM" in message["Subject"].upper()
    assert message["MessageAttributes"]["component"]["Value"] == "scheduler"
    document = json.loads(json.loads(message["Message"])["sqs"]) if message["Message"].startswith("{\"default\"") else None
    assert document is None or document["component"] == "scheduler"

    replay = deployment.invoke(execution_id=f"exec-{deployment.runs}")
    assert replay["clusters"][0]["overall"] == "duplicate"

    time.sleep(2)  # reminder_hours is 1.8 s here
    reminder = deployment.invoke()
    assert reminder["clusters"][0]["transitions"] == ["scheduler:reminder"]
    assert len(deployment.messages()) == 1

    fc.start_component("scheduler")
    fc.advance(5)
    first_good = deployment.invoke()
    assert first_good["clusters"][0]["transitions"] == []
    recovery = deployment.invoke()
    assert recovery["clusters"][0]["transitions"] == ["scheduler:recovery"]
    [message] = deployment.messages()
    assert "RECOVER" in message["Subject"].upper()

    items = deployment.aws.client("dynamodb").scan(TableName=deployment.table)["Items"]
    runs = [i for i in items if i["sk"]["S"].startswith("RUN#")]
    assert len(runs) == 5  # every invocation but the duplicate stored one run
    state = next(i for i in items if i["sk"]["S"] == "STATE")
    assert json.loads(state["components"]["S"])["scheduler"]["alarm"] is False
    assert json.loads(state["outbox"]["S"]) == []

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{\"_aws\"")]
    heartbeat = [d for d in emf if "ComponentsDown" in d]
    assert len(heartbeat) == 5
    values = [d["ComponentsDown"][0] if isinstance(d["ComponentsDown"], list) else d["ComponentsDown"] for d in heartbeat]
    assert values == [0, 1, 1, 0, 0]


def test_overlapping_invocations_notify_once(deployment):
    fc = deployment.fc
    fc.advance(15)
    deployment.invoke()
    fc.stop_component("controller-manager")
    fc.advance(120)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(deployment.invoke(execution_id=f"overlap-{i}")))
               for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["clusters"][0]["overall"] for r in results) == ["down", "down"]
    messages = deployment.messages()
    assert [m["MessageAttributes"]["component"]["Value"] for m in messages] == ["controller-manager"]


def test_bad_input_is_rejected_without_side_effects(deployment):
    result = handler.lambda_handler(json.loads((EVENTS / "bad-input.json").read_text()), LambdaContext.with_remaining(50))
    assert result["status"] == "rejected" and "targets[0].cluster" in result["error"]
    items = deployment.aws.client("dynamodb").scan(TableName=deployment.table)["Items"]
    assert items == [] and deployment.messages() == []
    assert deployment.fc.requests == [] or all(r.method == "GET" for r in deployment.fc.requests) and not deployment.fc.requests
