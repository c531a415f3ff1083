"""The AWS half of `make demo`: the real Lambda handler against moto and the fake control plane.

A scheduled run every "minute" (simulated time) checks cluster prod-a: healthy, then the
controller-manager dies. The second look confirms it, the alarm goes to SNS, and the demo prints
the e-mail exactly as SNS hands it to an e-mail subscriber (with the evidence pack for the support
case), then `cpwatch history` and `cpwatch evidence` from DynamoDB.
Nothing reaches AWS: moto runs on 127.0.0.1 and the environment holds only fake credentials.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

from tests.aws.moto_server import (ACCOUNT_ID, DEFAULT_REGION, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY,
                                   aws_clients, create_cluster, create_table, eks_validator, point_cluster_at,
                                   start_moto_server)
from tests.fakecluster import FakeCluster
from tests.lambda_context import LambdaContext

CLUSTER = "prod-a"


def _fake_aws_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_REGION": DEFAULT_REGION, "AWS_DEFAULT_REGION": DEFAULT_REGION, "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "POWERTOOLS_SERVICE_NAME": "cpwatch", "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def main() -> int:
    server, endpoint = start_moto_server()
    os.environ.update(_fake_aws_environment(endpoint))
    clients = aws_clients(endpoint)
    table = create_table(clients)
    topic = clients.client("sns").create_topic(Name="cpwatch-alerts")["TopicArn"]
    create_cluster(clients, CLUSTER)
    os.environ.update({"CPWATCH_TABLE_NAME": table, "CPWATCH_TOPIC_ARN": topic, "CPWATCH_CANARY_WAIT_S": "4"})
    from cpwatch import handler  # after the environment: the handler reads it once

    print("==================== AWS pipeline: scheduled Lambda runs against moto ====================")
    with FakeCluster(nodes=3, token_validator=eks_validator(CLUSTER)) as fc:
        point_cluster_at(CLUSTER, DEFAULT_REGION, fc.url, fc.ca_pem)
        event = {"targets": [{"cluster": CLUSTER, "region": DEFAULT_REGION}]}
        for minute in range(4):
            if minute == 2:
                print("-- 09:02 the controller-manager stops; a node dies meanwhile --")
                fc.stop_component("controller-manager")
                fc.lose_node("node-c")
            fc.advance(60 if minute else 15)
            emitted = io.StringIO()  # the function's stdout: its EMF metric lines and JSON logs
            with contextlib.redirect_stdout(emitted):
                result = handler.lambda_handler({**event, "execution_id": f"demo-{minute}"}, LambdaContext.with_remaining(50))
            outcome = result["clusters"][0]
            heartbeat = next(json.loads(line) for line in emitted.getvalue().splitlines() if '"ComponentsDown"' in line)
            print(f"run {minute + 1}: overall {outcome['overall']}, transitions {outcome['transitions'] or 'none'}, "
                  f"notifications sent {outcome['published']}, EMF ComponentsDown={heartbeat['ComponentsDown'][0]:.0f}")
    _print_emails(topic)
    print(f"$ cpwatch history --cluster {CLUSTER} --since 1h")
    history = subprocess.run([sys.executable, "-m", "cpwatch.cli", "history", "--cluster", CLUSTER, "--since", "1h"],
                             capture_output=True, text=True, env=os.environ)
    print(history.stdout + history.stderr, end="")
    print(f"\n$ cpwatch evidence --cluster {CLUSTER}")
    pack = subprocess.run([sys.executable, "-m", "cpwatch.cli", "evidence", "--cluster", CLUSTER],
                          capture_output=True, text=True, env=os.environ)
    print(pack.stdout + pack.stderr, end="")
    server.stop()
    return 0


def _print_emails(topic_arn: str) -> None:
    from moto.sns.models import sns_backends  # the in-process moto server's own record of what SNS sent

    sent = sns_backends[ACCOUNT_ID][DEFAULT_REGION].topics[topic_arn].sent_notifications
    for _, message, subject, attributes, _ in sent:
        email = json.loads(message)["email"]
        names = ", ".join(f"{k}={v.get('Value', v.get('StringValue'))}" for k, v in (attributes or {}).items())
        print(f"\n---------------- e-mail from SNS (attributes: {names}) ----------------")
        print(f"Subject: {subject}\n")
        print(email)
        print("-------------------------------------------------------------------------\n")


if __name__ == "__main__":
    sys.exit(main())
