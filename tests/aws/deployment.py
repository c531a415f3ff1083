"""A whole cpwatch deployment for tests: moto (EKS, DynamoDB, SNS -> SQS inbox), a fake control
plane that accepts only valid EKS tokens, the function's environment, and the REAL Lambda
handler (cpwatch.entry.handler.lambda_handler) to invoke.

Used by tests/aws/test_handler_end_to_end.py, tests/faults/ and bench/soak.py.

    with deploy(aws_env, monkeypatch) as d:          # or the `deployment` fixture of tests/faults
        d.fc.advance(15)
        result = d.invoke()                          # one scheduled invocation, a fresh execution id
        d.messages(); d.items(); d.state()           # what was published and stored

- `cross_account=True` checks events/cross-account.json's cluster through its role: the handler's
  AssumeRole goes to https://sts.<region>.amazonaws.com, which an HttpsRelay (HTTPS_PROXY, its
  CA in AWS_CA_BUNDLE) hands to moto; nothing can leave for the internet.
- `secret_key`: the secret access key of the function's own credentials (a long distinctive one
  lets a test search every output for it).
- `configure(**env)`: change the function's environment; the next invocation is a cold start.
  AWS_ENDPOINT_URL_<SERVICE> points one service elsewhere (aws_error_endpoint, a closed port).
- `run(deps_changes)`: pipeline.handle with the handler's own Dependencies, some replaced
  (emit, connect): for faults that live inside the process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from cpwatch.entry import handler, pipeline
from cpwatch.settings import DeploymentSettings, Settings
from tests.aws.https_relay import HttpsRelay
from tests.aws.moto_server import (
    ACCOUNT_ID,
    CHECKER_IDENTITY,
    FAKE_ACCESS_KEY_ID,
    AwsClients,
    check_eks_token,
    create_topic_with_inbox,
    create_cluster,
    create_table,
    point_cluster_at,
)
from tests.fakecluster import FakeCluster
from tests.lambda_context import LambdaContext

EVENTS = Path(__file__).parents[2] / "events"
ROLE_ACCOUNT = "210987654321"  # the account of events/cross-account.json's role

# Short waits keep a run under a second on the fake; the rules under test do not depend on them.
FAST_ENV = {
    "CPWATCH_CANARY_WAIT_S": "3", "CPWATCH_CANARY_POLL_S": "0.2", "CPWATCH_REQUEST_TIMEOUT_S": "3",
    "CPWATCH_WRITE_TIMEOUT_S": "3", "CPWATCH_RUN_TIMEOUT_S": "12", "CPWATCH_RECOVERY_RUNS": "2",
}
# For tests that need one invocation to confirm a scheduler or controller-manager failure: each
# look waits out a canary (CPWATCH_CANARY_WAIT_S), and the confirming look is taken only while
# the run has time for it. Under load a look took 5-8 s, so FAST_ENV's 12 s run left no room and
# the alarm came one run later (correct behaviour, but not what these tests are about).
CONFIRMING_RUN_ENV = {"CPWATCH_RUN_TIMEOUT_S": "30"}


class EksAuthenticator:
    """The fake control plane's token_validator: accepts exactly the tokens the EKS authenticator
    and STS would accept for `cluster` (SigV4 recomputed with the known secret keys, including
    those of roles moto handed out), records every token it was shown, and refuses all while
    `refuse` is set (the apiserver answers 401)."""

    def __init__(self, cluster: str, secrets: dict[str, str]):
        self.cluster = cluster
        self.secrets = dict(secrets)
        self.tokens: list[str] = []
        self.refuse = False
        self._lock = threading.Lock()

    def secret_for(self, access_key_id: str) -> str | None:
        if access_key_id in self.secrets:
            return self.secrets[access_key_id]
        from moto.sts.models import sts_backends  # moto runs in this process

        for account in (ACCOUNT_ID, ROLE_ACCOUNT):
            role = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                return role.secret_access_key
        return None

    def __call__(self, token: str):
        with self._lock:
            if token not in self.tokens:
                self.tokens.append(token)
        if self.refuse:
            return None
        return CHECKER_IDENTITY if check_eks_token(token, self.cluster, self.secret_for).ok else None


@dataclass
class Deployment:
    fc: FakeCluster
    aws: AwsClients
    table: str
    topic: str
    queue: str
    auth: EksAuthenticator
    event_file: str
    monkeypatch: pytest.MonkeyPatch
    cluster: str
    region: str
    account: str
    relay: HttpsRelay | None = None
    invocations: int = 0
    durations: list[float] = field(default_factory=list)

    @property
    def identity(self):
        """The cluster as cpwatch keys it: its ARN (name, region, account)."""
        from cpwatch.identity import ClusterIdentity

        return ClusterIdentity(self.cluster, self.region, self.account)

    # --- invoking ------------------------------------------------------------------------

    def event(self, execution_id: str | None = None) -> dict:
        self.invocations += 1
        event = json.loads((EVENTS / self.event_file).read_text())
        event["execution_id"] = execution_id or f"exec-{self.invocations}"
        return event

    def invoke(self, execution_id: str | None = None, remaining_s: float = 50.0) -> dict:
        """One invocation of the real handler; its wall time is appended to `durations`."""
        event = self.event(execution_id)
        started = time.monotonic()
        try:
            return handler.lambda_handler(event, LambdaContext(started + remaining_s))
        finally:
            self.durations.append(time.monotonic() - started)

    def run(self, execution_id: str | None = None, remaining_s: float = 50.0, **changes) -> dict:
        """pipeline.handle with the handler's own settings and Dependencies, `changes` replaced."""
        settings, deployment = handler.configuration()
        deps = dataclasses.replace(handler.dependencies(), **changes)
        event = self.event(execution_id)
        started = time.monotonic()
        try:
            return pipeline.handle(event, int(remaining_s * 1000), deps, settings, deployment)
        finally:
            self.durations.append(time.monotonic() - started)

    def bound_s(self, remaining_s: float = 50.0) -> float:
        """The handler's own bound on one invocation's wall time, for the environment as it is
        now (pipeline.handle): the check gets min(Lambda time left - reserve, run timeout), and
        storing and publishing the reserve after it (the handler stops waiting for a cluster one
        second before the reserve ends). Tests assert this, not a guess of how fast a run is."""
        reserve = float(os.environ.get("CPWATCH_RESERVE_S", DeploymentSettings.reserve_s))
        run_timeout = float(os.environ.get("CPWATCH_RUN_TIMEOUT_S", Settings.run_timeout_s))
        return min(remaining_s - reserve, run_timeout) + reserve

    def configure(self, **env: str | None) -> None:
        """Change the function's environment (None removes a variable); the next run is a cold start."""
        for name, value in env.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)
        cold_start()

    # --- what came out -------------------------------------------------------------------

    def messages(self) -> list[dict]:
        """SNS notifications delivered since the last call (SQS envelopes, drained)."""
        sqs = self.aws.client("sqs")
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def items(self) -> list[dict]:
        dynamodb = self.aws.client("dynamodb")
        items, kwargs = [], {"TableName": self.table}
        while True:
            page = dynamodb.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def run_items(self) -> list[dict]:
        return [item for item in self.items() if item["sk"]["S"].startswith("RUN#")]

    def state(self) -> dict:
        """The state item: {"version": n, "components": {...}, "outbox": [...]} ({} if none)."""
        item = next((i for i in self.items() if i["sk"]["S"] == "STATE"), None)
        if item is None:
            return {}
        return {"version": int(item["version"]["N"]), "components": json.loads(item["components"]["S"]),
                "outbox": json.loads(item["outbox"]["S"])}

    def point_at(self, endpoint: str, ca_pem: str | None = None) -> None:
        """Make DescribeCluster give another endpoint (and CA) for the cluster."""
        point_cluster_at(self.cluster, self.region, endpoint, ca_pem or self.fc.ca_pem, account_id=self.account)

    def alarms(self) -> set[str]:
        return {name for name, c in self.state().get("components", {}).items() if c.get("alarm")}


def cold_start() -> None:
    """Forget the handler's cached settings and clients (a new execution environment)."""
    handler.configuration.cache_clear()
    handler.dependencies.cache_clear()


def transitions(result: dict) -> list[str]:
    return [t for cluster in result.get("clusters", []) for t in cluster["transitions"]]


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """http://127.0.0.1:<port> of a socket that is listening but never accepts: the kernel
    completes every TCP handshake, and no answer ever comes (a hung endpoint)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def closed_port_url() -> str:
    """http://127.0.0.1:<a port nobody listens on> (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def deploy(aws: AwsClients, monkeypatch: pytest.MonkeyPatch, *, cross_account: bool = False,
           secret_key: str | None = None, nodes: int = 3, env: dict[str, str] | None = None,
           fake_cluster_options: dict | None = None) -> Iterator[Deployment]:
    """moto resources, a fake control plane, the function's environment and an SQS inbox.
    `aws` is the aws_env fixture (moto reset, fake credentials only)."""
    if secret_key is not None:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    secret = secret_key or "testing"
    session = aws.session(aws_secret_access_key=secret)
    table = create_table(aws)
    topic, queue = create_topic_with_inbox(aws, session)

    event_file = "cross-account.json" if cross_account else "one-cluster.json"
    target = json.loads((EVENTS / event_file).read_text())["targets"][0]
    cluster, region = target["cluster"], target["region"]
    relay = None
    account = ACCOUNT_ID
    if cross_account:
        # moto keeps resources per account and knows the account from the assumed role's key.
        relay = HttpsRelay({f"sts.{region}.amazonaws.com": aws.endpoint}).__enter__()
        monkeypatch.setenv("HTTPS_PROXY", relay.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("AWS_CA_BUNDLE", str(relay.ca_file))
        from cpwatch.aws.role_chain import assumed_session

        role_session = assumed_session(target["role_arn"], target.get("external_id"),
                                       sts_client=aws.client("sts", region, session=session), region=region)
        create_cluster(aws, cluster, region, session=role_session)
        account = ROLE_ACCOUNT
    else:
        create_cluster(aws, cluster, region, session=session)
    auth = EksAuthenticator(cluster, {FAKE_ACCESS_KEY_ID: secret})
    fc = FakeCluster(nodes=nodes, token_validator=auth, **(fake_cluster_options or {}))
    fc.start()
    point_cluster_at(cluster, region, fc.url, fc.ca_pem, account_id=account)
    for name, value in {"CPWATCH_TABLE_NAME": table, "CPWATCH_TOPIC_ARN": topic, **FAST_ENV, **(env or {})}.items():
        monkeypatch.setenv(name, value)
    cold_start()
    try:
        yield Deployment(fc, aws, table, topic, queue, auth, event_file, monkeypatch, cluster, region, account, relay)
    finally:
        fc.stop()
        cold_start()
        if relay is not None:
            relay.__exit__(None, None, None)
