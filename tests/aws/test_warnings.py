"""Two urgencies, one message per event (issue 17), end to end: the handler's pipeline on moto in
server mode (DynamoDB, SNS with SQS subscribers whose filter policies moto evaluates) and the fake
control plane, with the pipeline's clock stepped a minute per run.

Each test is decided by one rule: a degradation that lasts warns once it has lasted, an advance
notice at once, reminders at most once a day, a warning that turns into down escalates (one
incident), a warning clears; a critical-only subscriber (filter policy severity=critical) gets the
pages and their end, never a warning; CloudWatch's own alarms, which carry no attributes, never
reach a filtered subscription at all (why the template has a pager alarm topic).
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from tests.aws.deployment import CONFIRMING_RUN_ENV, deploy
from tests.aws.moto_server import set_cluster_status

pytestmark = pytest.mark.network

T0 = datetime.now(timezone.utc).replace(microsecond=0)


class SteppedClock:
    """The pipeline's clock: a minute per run, as EventBridge Scheduler would space them."""

    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def step(self, **delta) -> None:
        self.now += timedelta(**delta) if delta else timedelta(minutes=1)


def subscribe(d, name: str, policy: dict | None) -> SimpleNamespace:
    """An SQS queue subscribed to the alert topic, with `policy` as its filter policy."""
    sns, sqs = d.aws.client("sns"), d.aws.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"FilterPolicy": json.dumps(policy), "FilterPolicyScope": "MessageAttributes"} if policy else {}
    sns.subscribe(TopicArn=d.topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)

    def received() -> list[dict]:
        found = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

    return SimpleNamespace(url=url, received=received)


def attributes(message: dict) -> dict[str, str]:
    return {name: a["Value"] for name, a in message["MessageAttributes"].items()}


@pytest.fixture
def deployed(aws_env, monkeypatch):
    # The deployment's defaults for recovery (3 good runs), not the suite's shorter one.
    with deploy(aws_env, monkeypatch, env={**CONFIRMING_RUN_ENV, "CPWATCH_RECOVERY_RUNS": "3"}) as d:
        d.clock = SteppedClock()
        d.pager = subscribe(d, "pager", {"severity": ["critical"]})
        d.mailbox = subscribe(d, "mailbox", None)
        d.fc.advance(15)
        yield d


def run(d, minutes: int = 1) -> list[list[str]]:
    """`minutes` runs a minute apart (on the pipeline's clock and the fake control plane's); the
    transitions of each."""
    found = []
    for _ in range(minutes):
        result = d.run(clock=d.clock)
        found.append(result["clusters"][0]["transitions"])
        d.clock.step()
        d.fc.advance(60)
    return found


def test_a_lasting_impairment_warns_once_it_lasted_and_clears_never_paging(deployed):
    d = deployed
    assert run(d) == [[]]
    d.fc.register_unavailable_apiservice("v1beta1.metrics.k8s.io", "ServiceNotFound")

    impaired = run(d, 12)

    # Reported from the look after the aggregator's 30 s grace; the look 10 minutes later warns.
    assert impaired == [[]] * 11 + [["extensions:warning"]]
    [warning] = d.mailbox.received()
    assert d.pager.received() == []  # SNS dropped it for the critical-only subscriber
    assert attributes(warning) == {
        "cluster": "prod-a", "cluster_arn": d.identity.arn, "account": d.account, "region": d.region,
        "component": "extensions", "severity": "warning", "state": "warning", "transition": "warning",
        "event_id": attributes(warning)["event_id"]}
    assert warning["Subject"] == f"[cpwatch] WARNING prod-a ({d.account}/{d.region}): extensions DEGRADED " \
                                 "(APISERVICE_UNAVAILABLE)"
    document = json.loads(warning["Message"])
    assert (document["first_seen"], document["at"]) == (
        (T0 + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), (T0 + timedelta(minutes=12)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    [between] = document["between_components"]
    assert between["code"] == "APISERVICE_UNAVAILABLE" and between["runbook"]["title"] == "aggregated API unavailable"
    assert document["evidence_pack"].startswith("EVIDENCE PACK: admission webhooks and aggregated APIs of cluster "
                                                "prod-a is DEGRADED")

    d.fc.restore_apiservice("v1beta1.metrics.k8s.io")
    assert run(d, 3) == [[], [], ["extensions:recovery"]]
    [cleared] = d.mailbox.received()
    assert cleared["Subject"] == f"[cpwatch] CLEARED prod-a ({d.account}/{d.region}): extensions"
    assert attributes(cleared)["severity"] == "warning" and attributes(cleared)["state"] == "ok"
    assert d.pager.received() == []


def test_a_short_impairment_reaches_only_the_history(deployed):
    d = deployed
    d.fc.register_unavailable_apiservice("v1beta1.metrics.k8s.io", "ServiceNotFound")
    assert run(d, 10) == [[]] * 10  # 9 looks impaired, over 8 minutes
    d.fc.restore_apiservice("v1beta1.metrics.k8s.io")
    assert run(d, 3) == [[]] * 3
    assert d.mailbox.received() == [] and d.pager.received() == []
    documents = [json.loads(zlib.decompress(item["document"]["B"])) for item in d.run_items()]
    assert sum(1 for doc in documents if doc["extensions"]["verdict"] == "degraded") == 9


def test_an_advance_notice_warns_at_once_and_is_recalled_once_a_day(deployed):
    d = deployed
    d.fc.set_serving_certificate("valid", expires_in_days=11)

    assert run(d) == [["apiserver:warning"]]
    [warning] = d.mailbox.received()
    assert attributes(warning)["severity"] == "warning"
    assert "(APISERVER_CERT_EXPIRING)" in warning["Subject"]
    text = json.loads(warning["Message"])
    assert text["key_finding"] == "APISERVER_CERT_EXPIRING"
    assert [f["code"] for f in text["between_components"]] == ["APISERVER_CERT_EXPIRING"]

    assert run(d, 2) == [[], []]
    d.clock.step(hours=23, minutes=57)  # 24 h after the warning: the reminder is due
    assert run(d, 2) == [["apiserver:reminder"], []]
    [reminder] = d.mailbox.received()
    assert attributes(reminder)["transition"] == "reminder" and attributes(reminder)["severity"] == "warning"
    assert reminder["Subject"].startswith(f"[cpwatch] REMINDER prod-a ({d.account}/{d.region}): apiserver DEGRADED for 1d")
    assert d.pager.received() == []


def test_a_warning_that_turns_into_down_is_one_escalation_and_its_end_reaches_the_pager(deployed):
    d = deployed
    d.fc.set_serving_certificate("valid", expires_in_days=11)
    assert run(d) == [["apiserver:warning"]]

    d.fc.set_serving_certificate("expired")
    down = run(d)
    assert down == [["apiserver:escalation"]]
    [escalation] = d.pager.received()
    assert attributes(escalation)["severity"] == "critical" and attributes(escalation)["transition"] == "escalation"
    assert escalation["Subject"] == f"[cpwatch] ALARM prod-a ({d.account}/{d.region}): apiserver DOWN (was a warning)"
    assert [attributes(m)["transition"] for m in d.mailbox.received()] == ["warning", "escalation"]

    d.fc.set_serving_certificate("valid")
    assert run(d, 3) == [[], [], ["apiserver:recovery"]]
    [recovery] = d.pager.received()
    assert (attributes(recovery)["severity"], attributes(recovery)["state"]) == ("critical", "ok")


def test_a_page_that_ends_while_still_impaired_is_de_escalated_to_a_warning(deployed):
    d = deployed
    d.fc.set_serving_certificate("expired")
    assert run(d) == [["apiserver:alarm"]]
    d.fc.set_serving_certificate("valid", expires_in_days=11)
    assert run(d, 3) == [[], [], ["apiserver:de-escalation"]]
    [alarm, ended] = d.pager.received()
    assert attributes(ended) == {**attributes(ended), "severity": "critical", "state": "warning",
                                 "transition": "de-escalation"}
    assert ended["Subject"] == f"[cpwatch] NO LONGER DOWN prod-a ({d.account}/{d.region}): apiserver, still DEGRADED"
    d.fc.set_serving_certificate("valid")
    assert run(d, 3) == [[], [], ["apiserver:recovery"]]
    assert [attributes(m)["severity"] for m in d.mailbox.received()] == ["critical", "critical", "warning"]
    assert d.pager.received() == []


def test_a_message_without_attributes_never_reaches_a_filtered_subscription(deployed):
    """What CloudWatch's own alarms are (no MessageAttributes): SNS does not deliver them to a
    subscription with a filter policy, which is why template.yaml also sends them to the pager
    alarm topic, where pagers subscribe without a filter."""
    d = deployed
    alarm = {"AlarmName": "cpwatch-prod-a-heartbeat-missing", "NewStateValue": "ALARM"}
    d.aws.client("sns").publish(TopicArn=d.topic, Subject="ALARM: cpwatch-prod-a-heartbeat-missing",
                                Message=json.dumps(alarm))
    assert [json.loads(m["Message"]) for m in d.mailbox.received()] == [alarm]
    assert d.pager.received() == []


def test_what_eks_reports_of_a_cluster_is_a_warning_told_even_with_cloudwatchs_blind_alarm(deployed):
    """An EKS health issue (DescribeCluster's health.issues) once crashed the run (its evidence key
    clashed with the finding's code); it is an advance notice of the checker, told by cpwatch even
    when the deployment's CloudWatch alarm announces blindness (only the page is CloudWatch's)."""
    d = deployed
    d.configure(CPWATCH_BLIND_ALARM_IN_CLOUDWATCH="true")
    set_cluster_status(d.cluster, d.region, health_issues=[
        {"code": "Ec2SubnetNotFound", "message": "subnet-0a1b2c3d does not exist", "resourceIds": ["subnet-0a1b2c3d"]}])

    assert run(d) == [["checker:warning"]]
    [warning] = d.mailbox.received()
    assert warning["Subject"] == f"[cpwatch] WARNING prod-a ({d.account}/{d.region}): checker NOTICE (EKS_HEALTH_ISSUE)"
    assert json.loads(warning["Message"])["diagnosis"]["overall"] == "healthy"
    assert d.pager.received() == []

    set_cluster_status(d.cluster, d.region, health_issues=[])
    assert run(d, 3) == [[], [], ["checker:recovery"]]
    assert [attributes(m)["transition"] for m in d.mailbox.received()] == ["recovery"]
