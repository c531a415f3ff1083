"""The AWS half of `make demo`: the real Lambda handler against moto and the fake control plane.

A scheduled run every "minute" (simulated time) checks cluster prod-a: healthy, then the
controller-manager dies. The second look confirms it, the alarm goes to SNS, and the demo prints
the e-mail exactly as SNS hands it to an e-mail subscriber (with the evidence pack for the support
case), then `cpwatch history` and `cpwatch evidence` from DynamoDB.
prod-a sends its controller-manager log to CloudWatch Logs, so the alarm quotes the log lines in
which it lost its leader election. Then cluster prod-b: its scheduler stops scheduling while it
keeps renewing its Lease, which only EKS's vended AWS/EKS metrics show (pods waiting, no attempt).
Nothing reaches AWS: moto runs on 127.0.0.1 and the environment holds only fake credentials.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from tests.aws.moto_server import (ACCOUNT_ID, DEFAULT_REGION, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY,
                                   aws_clients, create_cluster, create_table, eks_validator, point_cluster_at,
                                   put_control_plane_log, put_vended_metric, set_cluster_logging, start_moto_server)
from tests.fakecluster import FakeCluster
from tests.lambda_context import LambdaContext

CLUSTER = "prod-a"
STUCK_SCHEDULER_CLUSTER = "prod-b"


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
    set_cluster_logging(CLUSTER, DEFAULT_REGION, ["api", "controllerManager", "scheduler"])
    create_cluster(clients, STUCK_SCHEDULER_CLUSTER)
    # Second opinions on every run instead of every 15 minutes, so the demo's few runs show them.
    os.environ.update({"CPWATCH_TABLE_NAME": table, "CPWATCH_TOPIC_ARN": topic, "CPWATCH_CANARY_WAIT_S": "4",
                       "CPWATCH_VENDED_SECOND_OPINION_INTERVAL_S": "60"})
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
                _controller_manager_loses_its_lease(clients)
            fc.advance(60 if minute else 15)
            emitted = io.StringIO()  # the function's stdout: its EMF metric lines and JSON logs
            with contextlib.redirect_stdout(emitted):
                result = handler.lambda_handler({**event, "execution_id": f"demo-{minute}"}, LambdaContext.with_remaining(50))
            outcome = result["clusters"][0]
            heartbeat = next(json.loads(line) for line in emitted.getvalue().splitlines() if '"ComponentsDown"' in line)
            print(f"run {minute + 1}: overall {outcome['overall']}, transitions {outcome['transitions'] or 'none'}, "
                  f"notifications sent {outcome['published']}, EMF ComponentsDown={heartbeat['ComponentsDown'][0]:.0f}")
    _print_emails(topic)
    _print_history(CLUSTER)
    print(f"\n$ cpwatch evidence --cluster {CLUSTER}")
    pack = subprocess.run([sys.executable, "-m", "cpwatch.cli", "evidence", "--cluster", CLUSTER],
                          capture_output=True, text=True, env=os.environ)
    print(pack.stdout + pack.stderr, end="")
    _stuck_scheduler(clients, handler)
    _print_history(STUCK_SCHEDULER_CLUSTER)
    server.stop()
    return 0


def _print_history(cluster: str) -> None:
    print(f"$ cpwatch history --cluster {cluster} --since 1h")
    history = subprocess.run([sys.executable, "-m", "cpwatch.cli", "history", "--cluster", cluster, "--since", "1h"],
                             capture_output=True, text=True, env=os.environ)
    print(history.stdout + history.stderr, end="")


def _controller_manager_loses_its_lease(clients) -> None:
    """What EKS's log of kube-controller-manager (klog lines) holds when it loses its Lease."""
    now = datetime.now(timezone.utc)
    lines = [(now - timedelta(seconds=40), "I{:%m%d %H:%M:%S}.204113      11 leaderelection.go:260] successfully "
              "acquired lease kube-system/kube-controller-manager"),
             (now - timedelta(seconds=3), "E{:%m%d %H:%M:%S}.123456      11 leaderelection.go:369] Failed to update "
              "lock: Put \"https://127.0.0.1:443/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"
              "kube-controller-manager?timeout=5s\": context deadline exceeded"),
             (now - timedelta(seconds=2), "E{:%m%d %H:%M:%S}.123600      11 controllermanager.go:302] "
              "\"leaderelection lost\"")]
    put_control_plane_log(clients, CLUSTER, "kube-controller-manager-4f1c2a9e0b7d",
                          [(at, text.format(at)) for at, text in lines])


def _stuck_scheduler(clients, handler) -> None:
    print("==================== AWS pipeline: a scheduler that stops scheduling (prod-b) ====================")
    with FakeCluster(nodes=3, token_validator=eks_validator(STUCK_SCHEDULER_CLUSTER)) as fc:
        point_cluster_at(STUCK_SCHEDULER_CLUSTER, DEFAULT_REGION, fc.url, fc.ca_pem)
        fc.add_pod("demo", "batch-7", node_selector={"pool": "gpu"})  # waits for a node; attempted, Unschedulable
        fc.advance(15)
        event = {"targets": [{"cluster": STUCK_SCHEDULER_CLUSTER, "region": DEFAULT_REGION, "read_only": True}]}
        for minute in range(2):
            if minute == 1:
                print("-- the scheduler's loop hangs; its Lease stays fresh; AWS/EKS counts 1 pod waiting, "
                      "no attempt, for 8 minutes --")
                fc.wedge_component("scheduler")
                newest = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=1)
                put_vended_metric(clients, STUCK_SCHEDULER_CLUSTER, "scheduler_pending_pods", [1] * 8, newest)
                put_vended_metric(clients, STUCK_SCHEDULER_CLUSTER, "scheduler_schedule_attempts_total", [0] * 8, newest)
            fc.advance(60)
            with contextlib.redirect_stdout(io.StringIO()):
                result = handler.lambda_handler({**event, "execution_id": f"demo-b-{minute}"},
                                                LambdaContext.with_remaining(50))
            outcome = result["clusters"][0]
            quiet = " (degraded pages nobody; the history shows it)" if outcome["overall"] == "degraded" else ""
            print(f"run {minute + 1}: overall {outcome['overall']}, root cause {outcome['root_cause']}, "
                  f"notifications sent {outcome['published']}{quiet}")


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
