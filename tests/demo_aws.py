"""The AWS half of `make demo`: the Lambda pipeline against moto and the fake control plane.

Scheduled runs a minute apart (the pipeline's clock steps a minute per run, starting a quarter of an
hour ago; the fake control plane's clock moves with it; "Checked at" in the e-mails is the machine's
own time) check four clusters. Two subscribers take the alert topic: a mailbox with no
filter policy, and a pager whose filter policy takes only `severity=critical` (moto evaluates it).
1. prod-a (eu-west-1): healthy, then the controller-manager dies: the second look confirms it and the
   page goes out with the lines of the controller-manager's control-plane log in which it lost its
   leader election; then `cpwatch history` and `cpwatch evidence` from DynamoDB.
2. prod-b: its scheduler stops scheduling while it keeps renewing its Lease, which only EKS's
   vended AWS/EKS metrics show (pods waiting, no attempt): a warning at the first run that shows it
   (attributes cluster=prod-b, severity=warning), printed as the mailbox gets it; the pager gets
   nothing until the third run, when it is wedged: down, one escalation.
3. prod-c: a wedged controller-manager (its canaries fail while the same holder renews the Lease):
   paged as critical at the configured run (CPWATCH_WEDGED_AFTER_RUNS, 3), with every run's evidence.
4. prod-a in us-east-1, a namesake of the first: its own history; a bare name is a question.
Nothing reaches AWS: moto runs on 127.0.0.1 and the environment holds only fake credentials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from tests.aws.moto_server import (ACCOUNT_ID, DEFAULT_REGION, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY,
                                   aws_clients, create_cluster, create_table, eks_validator, point_cluster_at,
                                   put_control_plane_log, put_vended_metric, set_cluster_logging, start_moto_server)
from tests.fakecluster import FakeCluster
from tests.lambda_context import LambdaContext

CLUSTER = "prod-a"
STUCK_SCHEDULER_CLUSTER = "prod-b"
WEDGED_CLUSTER = "prod-c"
OTHER_REGION = "us-east-1"


def _fake_aws_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_REGION": DEFAULT_REGION, "AWS_DEFAULT_REGION": DEFAULT_REGION, "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "POWERTOOLS_SERVICE_NAME": "cpwatch", "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


class Scheduler:
    """What EventBridge Scheduler does, a minute per run: the pipeline with the handler's own
    settings and clients, its clock one minute later each time."""

    # The demo's runs start this long ago, so that all of them are over by the time it reads
    # DynamoDB back (`cpwatch evidence` looks at the real now).
    START_MINUTES_AGO = 16

    def __init__(self):
        from cpwatch.entry import handler

        self.start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=self.START_MINUTES_AGO)
        self.runs = 0
        self.settings, self.deployment = handler.configuration()
        deps = handler.dependencies()
        deps.home_account.learn(LambdaContext.with_remaining(50).invoked_function_arn)
        self.deps = dataclasses.replace(deps, clock=self.clock)
        self._begun = time.monotonic()

    @property
    def now(self) -> datetime:
        return self.clock()

    def clock(self) -> datetime:
        """The run's minute, plus the seconds it has taken so far (its second look is later)."""
        return self.start + timedelta(minutes=self.runs, seconds=time.monotonic() - self._begun)

    def run(self, target: dict, *fake_clusters: FakeCluster) -> dict:
        from cpwatch.entry import pipeline

        self._begun = time.monotonic()
        emitted = io.StringIO()  # the function's stdout: its EMF metric lines and JSON logs
        with contextlib.redirect_stdout(emitted):
            result = pipeline.handle({"targets": [target], "execution_id": f"demo-{self.runs}"}, 50_000, self.deps,
                                     self.settings, self.deployment)
        self.runs += 1
        self._begun = time.monotonic()
        for fc in fake_clusters:
            fc.advance(60)
        outcome = result["clusters"][0]
        outcome["ComponentsDown"] = next(json.loads(line) for line in emitted.getvalue().splitlines()
                                         if '"ComponentsDown"' in line)["ComponentsDown"][0]
        return outcome


def main() -> int:
    server, endpoint = start_moto_server()
    os.environ.update(_fake_aws_environment(endpoint))
    clients = aws_clients(endpoint)
    table = create_table(clients)
    topic = clients.client("sns").create_topic(Name="cpwatch-alerts")["TopicArn"]
    inboxes = {"pager": _subscribe(clients, topic, "pager", {"severity": ["critical"]}),
               "mailbox": _subscribe(clients, topic, "mailbox", None)}
    for name in (CLUSTER, STUCK_SCHEDULER_CLUSTER, WEDGED_CLUSTER):
        create_cluster(clients, name)
    create_cluster(clients, CLUSTER, OTHER_REGION)
    set_cluster_logging(CLUSTER, DEFAULT_REGION, ["api", "controllerManager", "scheduler"])
    # Second opinions on every run instead of every 15 minutes, so the demo's few runs show them.
    os.environ.update({"CPWATCH_TABLE_NAME": table, "CPWATCH_TOPIC_ARN": topic, "CPWATCH_CANARY_WAIT_S": "4",
                       "CPWATCH_VENDED_SECOND_OPINION_INTERVAL_S": "60"})
    scheduler = Scheduler()
    sent = 0

    print("==================== AWS pipeline: scheduled Lambda runs against moto ====================")
    print("subscribers: a pager with the filter policy {\"severity\": [\"critical\"]}, a mailbox with none")
    with FakeCluster(nodes=3, token_validator=eks_validator(CLUSTER)) as fc:
        point_cluster_at(CLUSTER, DEFAULT_REGION, fc.url, fc.ca_pem)
        target = {"cluster": CLUSTER, "region": DEFAULT_REGION}
        fc.advance(15)
        for minute in range(4):
            if minute == 2:
                print("-- 09:02 the controller-manager stops; a node dies meanwhile --")
                fc.stop_component("controller-manager")
                fc.lose_node("node-c")
                _controller_manager_loses_its_lease(clients, scheduler.now)
            outcome = scheduler.run(target, fc)
            print(f"run {minute + 1}: overall {outcome['overall']}, transitions {outcome['transitions'] or 'none'}, "
                  f"notifications sent {outcome['published']}, EMF ComponentsDown={outcome['ComponentsDown']:.0f}")
    sent = _print_emails(topic, sent)
    prod_a = f"arn:aws:eks:{DEFAULT_REGION}:{ACCOUNT_ID}:cluster/{CLUSTER}"
    _cli("history", "--cluster", CLUSTER, "--since", "1h")
    _cli("evidence", "--cluster", CLUSTER)

    print("==================== a scheduler that stops scheduling (prod-b): warning, then wedged ====================")
    with FakeCluster(nodes=3, token_validator=eks_validator(STUCK_SCHEDULER_CLUSTER)) as fc:
        point_cluster_at(STUCK_SCHEDULER_CLUSTER, DEFAULT_REGION, fc.url, fc.ca_pem)
        fc.add_pod("demo", "batch-7", node_selector={"pool": "gpu"})  # waits for a node; attempted, Unschedulable
        fc.advance(15)
        target = {"cluster": STUCK_SCHEDULER_CLUSTER, "region": DEFAULT_REGION, "read_only": True}
        for minute in range(4):
            if minute == 1:
                print("-- the scheduler's loop hangs; its Lease stays fresh; AWS/EKS counts 1 pod waiting, "
                      "no attempt, for 8 minutes and on --")
                fc.wedge_component("scheduler")
                newest = scheduler.now.replace(second=0) + timedelta(minutes=3)
                put_vended_metric(clients, STUCK_SCHEDULER_CLUSTER, "scheduler_pending_pods", [1] * 12, newest)
                put_vended_metric(clients, STUCK_SCHEDULER_CLUSTER, "scheduler_schedule_attempts_total", [0] * 12,
                                  newest)
            outcome = scheduler.run(target, fc)
            print(f"run {minute + 1}: overall {outcome['overall']}, root cause {outcome['root_cause']}, "
                  f"transitions {outcome['transitions'] or 'none'}, notifications sent {outcome['published']}")
    sent = _print_emails(topic, sent, full={"warning"})
    _print_inboxes(inboxes)

    print("==================== a wedged controller-manager (prod-c): paged at the third run ====================")
    with FakeCluster(nodes=3, token_validator=eks_validator(WEDGED_CLUSTER)) as fc:
        point_cluster_at(WEDGED_CLUSTER, DEFAULT_REGION, fc.url, fc.ca_pem)
        fc.advance(15)
        target = {"cluster": WEDGED_CLUSTER, "region": DEFAULT_REGION}
        for minute in range(4):
            if minute == 1:
                print("-- the controller-manager's workers deadlock; its leader election goroutine keeps renewing "
                      "the Lease --")
                fc.wedge_component("controller-manager")
            outcome = scheduler.run(target, fc)
            print(f"run {minute + 1}: overall {outcome['overall']}, transitions {outcome['transitions'] or 'none'}, "
                  f"notifications sent {outcome['published']}")
    sent = _print_emails(topic, sent, full={"escalation"})
    _print_inboxes(inboxes)

    print(f"==================== a namesake: {CLUSTER} in {OTHER_REGION} ====================")
    with FakeCluster(nodes=2, token_validator=eks_validator(CLUSTER)) as fc:
        point_cluster_at(CLUSTER, OTHER_REGION, fc.url, fc.ca_pem)
        fc.advance(15)
        for minute in range(2):
            outcome = scheduler.run({"cluster": CLUSTER, "region": OTHER_REGION}, fc)
            print(f"run {minute + 1}: {outcome['arn']}: overall {outcome['overall']}, "
                  f"transitions {outcome['transitions'] or 'none'}")
    _cli("history", "--cluster", CLUSTER, "--since", "1h")
    _cli("history", "--cluster", prod_a, "--since", "1h")
    _cli("history", "--cluster", f"arn:aws:eks:{OTHER_REGION}:{ACCOUNT_ID}:cluster/{CLUSTER}", "--since", "1h")
    server.stop()
    return 0


def _cli(*args: str) -> None:
    print(f"$ cpwatch {' '.join(args)}")
    answer = subprocess.run([sys.executable, "-m", "cpwatch.entry.cli", *args], capture_output=True, text=True,
                            env=os.environ)
    print(answer.stdout + answer.stderr, end="")
    if answer.returncode:
        print(f"(exit {answer.returncode})")
    print()


def _controller_manager_loses_its_lease(clients, now: datetime) -> None:
    """What EKS's log of kube-controller-manager (klog lines) holds when it loses its Lease."""
    lines = [(now - timedelta(seconds=40), "I{:%m%d %H:%M:%S}.204113      11 leaderelection.go:260] successfully "
              "acquired lease kube-system/kube-controller-manager"),
             (now - timedelta(seconds=3), "E{:%m%d %H:%M:%S}.123456      11 leaderelection.go:369] Failed to update "
              "lock: Put \"https://127.0.0.1:443/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"
              "kube-controller-manager?timeout=5s\": context deadline exceeded"),
             (now - timedelta(seconds=2), "E{:%m%d %H:%M:%S}.123600      11 controllermanager.go:302] "
              "\"leaderelection lost\"")]
    put_control_plane_log(clients, CLUSTER, "kube-controller-manager-4f1c2a9e0b7d",
                          [(at, text.format(at)) for at, text in lines])


def _subscribe(clients, topic: str, name: str, policy: dict | None) -> str:
    sns, sqs = clients.client("sns"), clients.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                  Attributes={"FilterPolicy": json.dumps(policy)} if policy else {})
    return url


def _print_inboxes(inboxes: dict[str, str]) -> None:
    from tests.aws.moto_server import aws_clients as _clients

    sqs = _clients(os.environ["AWS_ENDPOINT_URL"]).client("sqs")
    for name, url in inboxes.items():
        got = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                attributes = json.loads(message["Body"])["MessageAttributes"]
                got.append(f"{attributes['transition']['Value']} ({attributes['severity']['Value']}) "
                           f"{attributes['cluster']['Value']}/{attributes['component']['Value']}")
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        print(f"{name} received since the last look: {', '.join(got) or 'nothing'}")
    print()


def _print_emails(topic_arn: str, already: int, full: set[str] | None = None) -> int:
    """The e-mails SNS sent since `already` as an e-mail subscriber gets them: whole for the
    transitions in `full` (every one when None), else their subject and attributes."""
    from moto.sns.models import sns_backends  # the in-process moto server's own record of what SNS sent

    sent = sns_backends[ACCOUNT_ID][DEFAULT_REGION].topics[topic_arn].sent_notifications
    for _, message, subject, attributes, _ in sent[already:]:
        email = json.loads(message)["email"]
        values = {k: v.get("Value", v.get("StringValue")) for k, v in (attributes or {}).items()}
        names = ", ".join(f"{k}={values[k]}" for k in ("cluster", "account", "region", "component", "severity",
                                                        "state", "transition") if k in values)
        if full is not None and values.get("transition") not in full:
            print(f"\n(e-mail: {subject}; attributes: {names})")
            continue
        print(f"\n---------------- e-mail from SNS (attributes: {names}) ----------------")
        print(f"Subject: {subject}\n")
        print(email)
        print("-------------------------------------------------------------------------\n")
    return len(sent)


if __name__ == "__main__":
    sys.exit(main())
