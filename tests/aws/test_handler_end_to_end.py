"""The real Lambda handler, end to end: events/ payloads -> moto (EKS, DynamoDB, SNS -> SQS) and
the fake control plane, which accepts only a valid EKS token for the cluster.

healthy -> fault -> confirmed alarm (one SNS message) -> reminder -> recovery; a redelivered
event sends nothing; two overlapping invocations send one notification.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from cpwatch.entry import handler
from tests.aws.deployment import CONFIRMING_RUN_ENV, EVENTS, deploy
from tests.lambda_context import LambdaContext


@pytest.fixture
def deployment(aws_env, monkeypatch):
    """moto resources, a fake control plane for prod-a, the function's environment, an SQS inbox;
    reminders every 1.8 s so that one is due within the test."""
    with deploy(aws_env, monkeypatch, env={"CPWATCH_REMINDER_HOURS": "0.0005", **CONFIRMING_RUN_ENV}) as d:
        yield d


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
    # SNS delivers the envelope; with MessageStructure=json its Message is the "sqs" entry alone.
    document = json.loads(message["Message"])
    assert (document["component"], document["transition"], document["state"]) == ("scheduler", "alarm", "alarm")
    assert document["diagnosis"]["components"]["scheduler"]["verdict"] == "down", document["diagnosis"]

    replay = deployment.invoke(execution_id=f"exec-{deployment.invocations}")
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

    items = deployment.items()
    runs = [i for i in items if i["sk"]["S"].startswith("RUN#")]
    assert len(runs) == 5  # every invocation but the duplicate stored one run
    state = next(i for i in items if i["sk"]["S"] == "STATE")
    assert json.loads(state["components"]["S"])["scheduler"].get("alarm", False) is False  # defaults are left out
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
    items = deployment.items()
    assert items == [] and deployment.messages() == []
    assert deployment.fc.requests == [] or all(r.method == "GET" for r in deployment.fc.requests) and not deployment.fc.requests
