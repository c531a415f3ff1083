"""SNS notifications against moto in server mode: a topic with SQS subscribers (one unfiltered,
one with a filter policy on the message attributes), messages read back from SQS, the email text,
SNS's size and subject rules, and every publish failure mapped to PublishError."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from botocore.config import Config

from cpwatch.judging.check import diagnosis_from
from cpwatch.cluster.kubeapi import TransferStats
from cpwatch.aws.clients import AWS_CLIENT_CONFIG
from cpwatch.errors import PublishError
from cpwatch.findings import COMPONENT_RUNBOOKS, Component, observe
from cpwatch.telling.message_text import SUBJECT_MAX
from cpwatch.telling.alerting import Severity, Transition, TransitionKind
from cpwatch.identity import ClusterIdentity
from cpwatch.telling.notification import event_id
from cpwatch.telling.notification import JSON_PROTOCOLS, MESSAGE_MAX_BYTES, Notification, build_notification, message_size, sns_message
from cpwatch.telling.publish import publish
from cpwatch.telling.report import to_dict
from cpwatch.probes.runner import ProbeResult
from tests.aws.moto_server import ACCOUNT_ID, aws_error_endpoint

# The production client's own bound on one call (cpwatch/aws/clients.py): each attempt may take
# its connect and read timeouts, and standard mode backs off at most 1 s between attempts.
CALL_BOUND_S = AWS_CLIENT_CONFIG.retries["total_max_attempts"] * (
    AWS_CLIENT_CONFIG.connect_timeout + AWS_CLIENT_CONFIG.read_timeout) + 1


pytestmark = pytest.mark.network

A, E, K, S, N = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                 Component.NODE)
CLUSTER = "prod-a"
ALARM, RECOVERY, REMINDER = TransitionKind.ALARM, TransitionKind.RECOVERY, TransitionKind.REMINDER
REGION = "eu-west-1"
DASHBOARD = f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards/dashboard/cpwatch"
EKS_CONSOLE = f"https://{REGION}.console.aws.amazon.com/eks/home?region={REGION}#/clusters/{CLUSTER}"
SINCE = datetime(2026, 6, 2, 9, 29, 0, tzinfo=timezone.utc)
AT = SINCE + timedelta(minutes=2)
LATER = SINCE + timedelta(hours=4, minutes=2)

HEALTHY = {
    A: [observe("APISERVER_LIVE", A, checks=23, latency_ms=12), observe("APISERVER_READS_OK", A, median_ms=8, samples=3)],
    E: [observe("ETCD_CHECK_PASSED", E, path="/livez/etcd"), observe("ETCD_WRITE_OK", E, latency_ms=14)],
    K: [observe("LEADER_LEASE_FRESH", K, lease="kube-system/kube-controller-manager", age_s=2, holder="cp-1"),
        observe("NODE_LIFECYCLE_OK", K, leases=3, marked="no silent node")],
    S: [observe("LEADER_LEASE_FRESH", S, lease="kube-system/kube-scheduler", age_s=1, holder="cp-1")],
}
KCM_DOWN = [observe("LEADER_LEASE_STALE", K, lease="kube-system/kube-controller-manager", age_s=152, threshold_s=55,
                    holder="ip-10-0-1-12_5f0c", renew_time="2026-06-02T09:28:33.000000Z"),
            observe("NODE_READY_BUT_SILENT", K, count=1, examples="node-c", nodes=["node-c"], threshold_s=120)]
ETCD_DOWN = [observe("ETCD_CHECK_FAILED", E, path="/readyz", detail="[-]etcd failed: reason withheld"),
             observe("ETCD_WRITE_FAILED", E, object="cpwatch/cpwatch-heartbeat", timeout_s=5,
                     detail="500 resource quota evaluation timed out")]


IDENTITY = ClusterIdentity(CLUSTER, REGION, ACCOUNT_ID)
ARN = IDENTITY.arn
WHERE = f"{ACCOUNT_ID}/{REGION}"


def notify(component, kind, at, since, diagnosis, dashboard_url=None, first_seen=None, cluster=IDENTITY,
           severity=Severity.CRITICAL):
    """The notification of one transition of prod-a (eu-west-1, moto's account)."""
    transition = Transition(component, TransitionKind(kind), at, since, first_seen, severity)
    return build_notification(cluster, transition, diagnosis, dashboard_url)


def document(replace: dict[Component, list] | None = None, cluster: str = CLUSTER, extra=()) -> dict:
    observations = {**HEALTHY, **(replace or {})}
    flat = tuple(o for found in observations.values() for o in found) + tuple(extra)
    api = SimpleNamespace(stats=TransferStats(requests=14, bytes_received=20480))
    return to_dict(diagnosis_from([ProbeResult("probes", flat, 1.2)], cluster, AT, 1.234, False, api))


@pytest.fixture
def sns(aws_env):
    """A topic with two SQS subscribers (raw delivery off): `everything`, and `etcd` with a
    filter policy that only lets component=etcd through."""
    sns, sqs = aws_env.client("sns"), aws_env.client("sqs")
    topic_arn = sns.create_topic(Name="cpwatch-alerts")["TopicArn"]
    queues = {}
    for name, policy in (("everything", None), ("etcd", {"component": ["etcd"]})):
        url = sqs.create_queue(QueueName=f"cpwatch-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(policy)} if policy else {}
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        queues[name] = url

    def received(queue: str) -> list[dict]:
        answer = sqs.receive_message(QueueUrl=queues[queue], MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(m["Body"]) for m in answer.get("Messages", [])]

    return SimpleNamespace(client=sns, topic_arn=topic_arn, received=received, clients=aws_env)


def attributes_of(envelope: dict) -> dict[str, str]:
    assert all(a["Type"] == "String" for a in envelope["MessageAttributes"].values())
    return {name: a["Value"] for name, a in envelope["MessageAttributes"].items()}


# --- delivery through SNS to SQS -------------------------------------------------------------


def test_alarm_reaches_subscribers_with_subject_attributes_and_document(sns):
    diagnosis = document({K: KCM_DOWN})
    notification = notify("controller-manager", "alarm", AT, SINCE, diagnosis, DASHBOARD)

    message_id = publish(sns.client, sns.topic_arn, notification)

    (envelope,) = sns.received("everything")
    assert envelope["MessageId"] == message_id and envelope["TopicArn"] == sns.topic_arn
    assert envelope["Subject"] == f"[cpwatch] ALARM prod-a ({WHERE}): controller-manager DOWN"
    assert attributes_of(envelope) == {"cluster": CLUSTER, "cluster_arn": ARN, "account": ACCOUNT_ID, "region": REGION,
                                       "component": "controller-manager", "severity": "critical",
                                       "state": "alarm", "transition": "alarm",
                                       "event_id": event_id(ARN, "controller-manager", ALARM, SINCE, AT)}
    body = json.loads(envelope["Message"])  # SQS gets the "sqs" member: the JSON document
    assert body == notification.document
    assert {k: body[k] for k in ("cpwatch_notification", "cluster", "cluster_arn", "account", "region", "component",
                                 "transition", "since", "at", "severity", "truncated")} == {
        "cpwatch_notification": 2, "cluster": CLUSTER, "cluster_arn": ARN, "account": ACCOUNT_ID, "region": REGION,
        "component": "controller-manager", "transition": "alarm", "since": "2026-06-02T09:29:00Z",
        "at": "2026-06-02T09:31:00Z", "severity": "critical", "truncated": False}
    assert body["diagnosis"] == diagnosis
    assert sns.received("etcd") == []  # filtered out by the subscription's policy
    assert "Bearer" not in json.dumps(envelope) and "k8s-aws-v1." not in json.dumps(envelope)


def test_filter_policy_passes_the_matching_component(sns):
    diagnosis = document({E: ETCD_DOWN})

    publish(sns.client, sns.topic_arn, notify("etcd", "alarm", AT, SINCE, diagnosis))

    (everything,), (etcd,) = sns.received("everything"), sns.received("etcd")
    assert everything["MessageId"] == etcd["MessageId"]
    assert etcd["Subject"] == f"[cpwatch] ALARM prod-a ({WHERE}): etcd DOWN"
    assert attributes_of(etcd)["component"] == "etcd"


def test_reminder_and_recovery(sns):
    still_down, healthy = document({K: KCM_DOWN}), document()

    publish(sns.client, sns.topic_arn,
            notify("controller-manager", "reminder", LATER, SINCE, still_down))
    publish(sns.client, sns.topic_arn,
            notify("controller-manager", "recovery", LATER, SINCE, healthy))

    reminder, recovery = sorted(sns.received("everything"), key=lambda e: json.loads(e["Message"])["transition"],
                                reverse=True)
    where = {"cluster": CLUSTER, "cluster_arn": ARN, "account": ACCOUNT_ID, "region": REGION}
    assert reminder["Subject"] == f"[cpwatch] REMINDER prod-a ({WHERE}): controller-manager DOWN for 4h 2m"
    assert attributes_of(reminder) == {**where, "component": "controller-manager",
                                       "severity": "critical", "state": "alarm", "transition": "reminder",
                                       "event_id": event_id(ARN, "controller-manager", REMINDER, SINCE, LATER)}
    # The end of a page is critical too: a pager taking only critical messages resolves it.
    assert recovery["Subject"] == f"[cpwatch] RECOVERED prod-a ({WHERE}): controller-manager"
    assert attributes_of(recovery) == {**where, "component": "controller-manager", "severity": "critical",
                                       "state": "ok", "transition": "recovery",
                                       "event_id": event_id(ARN, "controller-manager", RECOVERY, SINCE, LATER)}
    assert json.loads(recovery["Message"])["duration_s"] == 4 * 3600 + 2 * 60


def test_default_client_from_the_topic_arn(sns):
    # aws_env points AWS_ENDPOINT_URL at moto: the default factory's client lands there.
    notification = notify("etcd", "alarm", AT, SINCE, document({E: ETCD_DOWN}))

    assert publish(None, sns.topic_arn, notification)
    assert len(sns.received("etcd")) == 1


# --- the email --------------------------------------------------------------------------------


def test_alarm_email_reads_as_a_page():
    notification = notify("controller-manager", "alarm", AT, SINCE,
                                      document({K: KCM_DOWN}), DASHBOARD)
    text = notification.text

    assert text.splitlines()[0] == ("kube-controller-manager of cluster prod-a is DOWN (high confidence) "
                                    "since 09:29 UTC.")
    assert text.splitlines()[1] == "Urgency: critical (pages)."
    assert text.splitlines()[2] == f"Cluster: prod-a, account {ACCOUNT_ID}, region {REGION} ({ARN})"
    assert "LEADER_LEASE_STALE" in text and "age_s=152" in text and "NODE_READY_BUT_SILENT" in text
    runbook = COMPONENT_RUNBOOKS[K]
    assert all(command in text for command in runbook.confirm)
    assert runbook.meaning.split(":")[0] in text and "AWS support case" in text and "crictl" in text
    assert EKS_CONSOLE in text and DASHBOARD in text
    assert "kube-apiserver" in text and "kube-scheduler" in text  # the other components, one line each
    assert "Bearer" not in text and "k8s-aws-v1." not in text


def test_nospace_alarm_gives_the_space_quota_runbook_not_the_quorum_one():
    nospace = [observe("ETCD_CHECK_PASSED", E, path="/livez/etcd"),
               observe("ETCD_NOSPACE", E, object="ConfigMap cpwatch/cpwatch-heartbeat",
                       detail="etcdserver: mvcc: database space exceeded")]
    notification = notify("etcd", "alarm", AT, SINCE, document({E: nospace}), DASHBOARD)
    text = " ".join(notification.text.split())  # the e-mail wraps its lines

    assert "ETCD_NOSPACE" in text and "database space exceeded" in text
    assert "etcdctl alarm disarm" in text and "defrag" in text
    assert "restart failed members" not in text and "quorum needs a majority" not in text


def test_webhook_failing_closed_never_pages_etcd():
    from cpwatch.telling.alerting import Look
    from cpwatch.telling.urgency import looks_of

    blocked = [observe("ETCD_CHECK_PASSED", E, path="/livez/etcd"),
               observe("PROBE_BLOCKED", E, probe="etcd_write", because="admission webhook w refused the write",
                       cause="webhook-unreachable", webhook="w")]
    webhook = observe("WEBHOOK_FAILING_CLOSED", Component.EXTENSIONS, webhook="w", configuration="c",
                      cause="connect: connection refused", covers="CREATE/UPDATE configmaps in every namespace")
    flat = tuple(o for found in {**HEALTHY, E: blocked}.values() for o in found) + (webhook,)
    api = SimpleNamespace(stats=TransferStats(requests=14, bytes_received=20480))
    diagnosis = diagnosis_from([ProbeResult("probes", flat, 1.2)], CLUSTER, AT, 1.2, False, api)

    assert diagnosis.overall.value == "degraded"
    looks, _ = looks_of(diagnosis)
    # Nothing pages: etcd is good, the webhook is a warning once it lasts (urgency.py).
    assert looks == {"apiserver": Look.GOOD, "etcd": Look.GOOD, "controller-manager": Look.GOOD,
                     "scheduler": Look.GOOD, "extensions": Look.DEGRADED, "checker": Look.GOOD}


def test_every_email_and_document_lists_what_is_between_the_components_with_its_runbook():
    webhook = observe("WEBHOOK_FAILING_CLOSED", Component.EXTENSIONS, webhook="w", configuration="c",
                      cause="connect: connection refused", covers="CREATE/UPDATE configmaps in every namespace")
    throttled = observe("APISERVER_THROTTLED", A, count=4, gave_up=0, priority_level="workload-low")
    near = observe("ETCD_DB_NEAR_QUOTA", E, size="1.7 GiB", quota="2 GiB", percent=85.0, warn_percent=80.0,
                   metric="apiserver_storage_size_bytes")
    with_them = document({K: KCM_DOWN}, extra=(webhook, throttled, near))

    notification = notify("controller-manager", "alarm", AT, SINCE, with_them)
    without = notify("controller-manager", "alarm", AT, SINCE, document({K: KCM_DOWN}))

    section = notification.text.split("Between the components and ahead of time")[1].split("Other components:")[0]
    assert "[FAIL] WEBHOOK_FAILING_CLOSED" in section and "[WARN] APISERVER_THROTTLED" in section
    assert "[WARN] ETCD_DB_NEAR_QUOTA" in section
    for code in ("WEBHOOK_FAILING_CLOSED", "APISERVER_THROTTLED", "ETCD_DB_NEAR_QUOTA"):
        assert f"(for {code})" in section  # each one's runbook, once
    assert "etcdctl" in section and "kubectl" in section
    listed = notification.document["between_components"]
    assert sorted((f["code"], bool(f["runbook"]["confirm"])) for f in listed) == [
        ("APISERVER_THROTTLED", True), ("ETCD_DB_NEAR_QUOTA", True), ("WEBHOOK_FAILING_CLOSED", True)]
    assert "  nothing found" in without.text.split("Between the components")[1]
    assert without.document["between_components"] == []


def test_recovery_email_says_how_long_it_lasted():
    notification = notify("controller-manager", "recovery", LATER, SINCE, document())

    assert "the alarm lasted 4h 2m" in notification.text.splitlines()[0]
    assert notification.document["severity"] == "critical"


def test_apiserver_down_alarm_names_the_rest_not_judged():
    diagnosis = document({A: [observe("APISERVER_UNREACHABLE", A, path="/livez", reason="refused",
                                      detail="connection refused")], E: [], K: [], S: []})

    notification = notify("apiserver", "alarm", AT, SINCE, diagnosis)

    assert notification.subject == f"[cpwatch] ALARM prod-a ({WHERE}): apiserver DOWN"
    assert all(command in notification.text for command in COMPONENT_RUNBOOKS[A].confirm)
    assert notification.text.count("not judged because apiserver is down") == 3


def test_checker_alarm():
    diagnosis = document({A: [observe("CHECKER_UNAUTHORIZED", A, path="/livez")], E: [], K: [], S: []})

    notification = notify("checker", "alarm", AT, SINCE, diagnosis)

    assert notification.subject == f"[cpwatch] ALARM prod-a ({WHERE}): checker BLIND"
    assert notification.attributes["severity"] == "critical"  # cpwatch blind pages (DESIGN.md, "Alert state")
    assert notification.text.startswith("cpwatch cannot see cluster prod-a since 09:29 UTC")
    assert all(command in notification.text for command in COMPONENT_RUNBOOKS[Component.CHECKER].confirm)


def test_message_structure_gives_email_the_text_and_the_rest_the_document():
    notification = notify("etcd", "alarm", AT, SINCE, document({E: ETCD_DOWN}))

    message = json.loads(sns_message(notification))

    assert message["default"] == message["email"] == notification.text
    assert {p: json.loads(message[p]) for p in JSON_PROTOCOLS} == {p: notification.document for p in JSON_PROTOCOLS}
    assert Notification.from_dict(json.loads(json.dumps(notification.to_dict()))) == notification


# --- SNS rules: subject and size ----------------------------------------------------------------


@pytest.mark.parametrize("cluster", ["c" * 100, "prod-ü\nx\u202e"])
def test_subject_is_short_printable_ascii(sns, cluster):
    notification = notify("controller-manager", "reminder", LATER, SINCE, document({K: KCM_DOWN}, cluster=cluster),
                          cluster=ClusterIdentity(cluster, REGION, ACCOUNT_ID))

    assert len(notification.subject) <= SUBJECT_MAX
    assert all(" " <= c <= "~" for c in notification.subject)
    assert notification.subject.endswith(": controller-manager DOWN for 4h 2m")
    publish(sns.client, sns.topic_arn, notification)
    assert sns.received("everything")[0]["Subject"] == notification.subject


def test_big_document_drops_passing_evidence_first(sns):
    # Node findings (warn) whose evidence is much longer than their message.
    bulky = [observe("NODE_NOT_READY", N, node=f"node-{i}", ready="Ready=False", reason="KubeletDown", age_s=i,
                     conditions=[f"condition {j}: {'x' * 100}" for j in range(5)]) for i in range(150)]
    diagnosis = document({K: KCM_DOWN}, extra=bulky)

    notification = notify("controller-manager", "alarm", AT, SINCE, diagnosis)

    assert message_size(notification) <= MESSAGE_MAX_BYTES
    assert notification.document["truncated"] is True
    assert notification.document["truncation"] == "evidence of non-failing findings dropped"
    findings = notification.document["diagnosis"]["findings"]
    assert len(findings) == len(diagnosis["findings"])
    assert all(f["evidence"] for f in findings if f["status"] == "fail")
    assert not any(f["evidence"] for f in findings if f["status"] != "fail")
    publish(sns.client, sns.topic_arn, notification)
    assert json.loads(sns.received("everything")[0]["Message"])["truncated"] is True


def test_huge_failing_evidence_is_cut(sns):
    huge = [observe("ORPHAN_POD_NOT_COLLECTED", K, count=5000, examples="demo/p-0 ...",
                    pods=[f"demo/pod-{i}-{'y' * 40}" for i in range(5000)], threshold_s=120)]
    diagnosis = document({K: KCM_DOWN + huge})

    notification = notify("controller-manager", "alarm", AT, SINCE, diagnosis)

    assert message_size(notification) <= MESSAGE_MAX_BYTES
    assert notification.document["truncated"] is True
    orphan = next(f for f in notification.document["diagnosis"]["findings"] if f["code"] == "ORPHAN_POD_NOT_COLLECTED")
    assert orphan["evidence"]["count"] == 5000 and len(orphan["evidence"]["pods"]) == 11  # 10 and "... 4990 more"
    publish(sns.client, sns.topic_arn, notification)


# --- failures -----------------------------------------------------------------------------------


@pytest.fixture
def alarm() -> Notification:
    return notify("etcd", "alarm", AT, SINCE, document({E: ETCD_DOWN}))


def test_missing_topic_is_not_retryable(sns, alarm):
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:no-such-topic"
    started = time.monotonic()

    with pytest.raises(PublishError) as caught:
        publish(sns.client, missing, alarm)

    assert time.monotonic() - started < 5
    assert caught.value.code == "NotFound" and caught.value.retryable is False
    assert missing in str(caught.value)
    assert "testing" not in str(caught.value)  # no credentials in the message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_is_retryable_within_seconds(aws_env, alarm):
    # The production client config (bounded retries and timeouts) against a port nobody listens on.
    client = aws_env.session().client("sns", region_name=REGION, endpoint_url=f"http://127.0.0.1:{free_port()}",
                                      config=AWS_CLIENT_CONFIG)
    started = time.monotonic()

    with pytest.raises(PublishError) as caught:
        publish(client, f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:cpwatch-alerts", alarm)

    assert time.monotonic() - started < CALL_BOUND_S
    assert caught.value.code == "Unreachable" and caught.value.retryable is True


def test_silent_endpoint_times_out_as_retryable(aws_env, alarm):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    client = aws_env.session().client("sns", region_name=REGION,
                                      endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
                                      config=Config(connect_timeout=1, read_timeout=0.5,
                                                    retries={"total_max_attempts": 1}))
    try:
        with pytest.raises(PublishError) as caught:
            publish(client, f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:cpwatch-alerts", alarm)
    finally:
        listener.close()
        for connection, _ in accepted:
            connection.close()

    assert caught.value.code == "Timeout" and caught.value.retryable is True


@pytest.mark.parametrize(("status", "code", "retryable"), [
    (400, "Throttling", True),
    (500, "InternalError", True),
    (403, "AuthorizationError", False),
    (400, "KMSDisabled", False),
    (400, "InvalidParameter", False),
])
def test_sns_errors(aws_env, alarm, status, code, retryable):
    with aws_error_endpoint(status, code, "refused by the test endpoint", protocol="query") as endpoint:
        client = aws_env.session().client("sns", region_name=REGION, endpoint_url=endpoint.url,
                                          config=Config(retries={"total_max_attempts": 1}))
        with pytest.raises(PublishError) as caught:
            publish(client, f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:cpwatch-alerts", alarm)

    assert caught.value.code == code and caught.value.retryable is retryable
    assert str(status) in str(caught.value)
