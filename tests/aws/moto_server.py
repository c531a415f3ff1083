"""moto in server mode, for tests of cpwatch's AWS code (EKS, STS, DynamoDB, SNS, EC2, CloudWatch).

boto3 makes real HTTP calls to 127.0.0.1, so retries, timeouts and error parsing are botocore's
own. Use it from a test module with

    from tests.aws.moto_server import aws_env, moto_server  # noqa: F401  (pytest fixtures)

or list "tests.aws.moto_server" in pytest_plugins of tests/conftest.py.

- moto_server (session): one all-services ThreadedMotoServer; yields its endpoint URL.
- moto_sts_server (session): an STS-only moto server. The all-services server picks the service
  from the Authorization header, and a presigned URL (an EKS token) has none: it would land in
  S3. This one answers GET /?Action=GetCallerIdentity... like the real regional endpoint.
- aws_env (function): fake credentials in the environment (never real ones, no config files,
  no instance metadata, AWS_ENDPOINT_URL pointing at moto so a default client cannot reach AWS),
  moto state reset, and an AwsClients for making sessions and clients.
- point_cluster_at / set_cluster_status: make a moto EKS cluster describe a local apiserver.
- aws_error_endpoint: a loopback server that answers every call with one AWS error (403
  AccessDenied, 429 throttling, 5xx), counting the attempts, for what moto cannot simulate.
"""

from __future__ import annotations

import base64
import http.client
import datetime
import hashlib
import hmac
import json
import logging
import re
import threading
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest
from botocore.config import Config
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer, create_backend_app
from werkzeug.serving import make_server

FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"
DEFAULT_REGION = "eu-west-1"
ACCOUNT_ID = DEFAULT_ACCOUNT_ID
# How long the harness waits for moto (not cpwatch's clients: they bring their own bounds); a moto
# that does not answer at all is ended by pytest-timeout.
HARNESS_READ_TIMEOUT_S = 60

# Variables that could point botocore at real credentials or a real endpoint.
_REMOVED_ENV = (
    "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_STS_REGIONAL_ENDPOINTS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


def start_moto_server() -> tuple[ThreadedMotoServer, str]:
    """An all-services moto server on loopback, started, and its endpoint URL (http://127.0.0.1:<port>)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its request log
    _atomic_dynamodb_requests()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


# --- the libraries' own costs, paid once per test process --------------------------------------


class _NoDuplicates(list):
    """A loader's search paths: boto3 appends its data directory to them in every Session."""

    def append(self, item) -> None:
        if item not in self:
            super().append(item)


def share_aws_library_data() -> None:
    """Two per-call costs of botocore and moto that say nothing about cpwatch, paid once:

    - every boto3.Session gets a new botocore Loader and reads and parses the service models
      (JSON, 60-190 ms of CPU per Session and client) again; the harness, the fixtures and the
      handler's cold starts make thousands of Sessions. One Loader per data path is shared
      instead: the models are read-only, and clients of one Session share their Loader anyway.
    - moto's server lists its own package directory (a listdir and ~180 isdir calls) on every
      request to find the service a request is for; the list is read once.

    Installed by pytest_configure below, so `make bench` (which starts moto with the same
    helpers) measures the libraries as they are."""
    import botocore.loaders
    import botocore.session
    from moto import backends

    if getattr(botocore.session.create_loader, "cpwatch_shared", False):
        return
    create_loader = botocore.loaders.create_loader
    loaders: dict[str | None, botocore.loaders.Loader] = {}
    lock = threading.Lock()

    def shared_loader(search_path_string=None):
        with lock:
            loader = loaders.get(search_path_string)
            if loader is None:
                loader = loaders[search_path_string] = create_loader(search_path_string)
                loader._search_paths = _NoDuplicates(loader._search_paths)
            return loader

    shared_loader.cpwatch_shared = True
    botocore.session.create_loader = shared_loader
    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def _atomic_dynamodb_requests() -> None:
    """DynamoDB applies a conditional write atomically; moto's server checks the condition and
    then writes, with no lock, in one thread per request. Two overlapping invocations' alert-state
    writes (`attribute_not_exists(pk) OR version = :expected`) could then both succeed, and both
    notify: seen in a loaded run of tests/faults/test_overlap.py. One lock around moto's writes
    makes them atomic, as DynamoDB's are.

    Its reads take the lock too: a GetItem or Query of a partition that does not exist adds an
    empty one to the table's dict (a defaultdict), and a TransactWriteItems copying the table at
    that moment fails with "dictionary changed size during iteration" (a 500; seen 222 times in a
    `make bench` fleet run, where fifty environments first save their state at once).

    Installed by start_moto_server, in tests and in `make bench`: it makes moto behave as
    DynamoDB does, which both measure against."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.put_item, "cpwatch_atomic", False):
        return
    lock = threading.RLock()

    def atomic(method):
        def locked(*args, **kwargs):
            with lock:
                return method(*args, **kwargs)
        locked.cpwatch_atomic = True
        return locked

    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query", "scan"):
        setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))


def pytest_configure(config) -> None:
    share_aws_library_data()


# A first call to each service the suite uses: moto builds a service's backend and routes on its
# first request (EC2's took 6.9 s on a loaded machine here), which would otherwise fall inside
# the first test to call it, against cpwatch's own 2 s and 5 s read timeouts.
_WARM_UP = (("sts", "get_caller_identity"), ("dynamodb", "list_tables"), ("sns", "list_topics"),
            ("sqs", "list_queues"), ("eks", "list_clusters"), ("cloudwatch", "list_metrics"),
            ("logs", "describe_log_groups"), ("ec2", "describe_instances"),
            ("scheduler", "list_schedule_groups"), ("iam", "list_roles"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Endpoint URL (http://127.0.0.1:<port>) of an all-services moto server, each service the
    suite uses called once."""
    server, endpoint = start_moto_server()
    clients = aws_clients(endpoint)
    for service, operation in _WARM_UP:
        getattr(clients.client(service), operation)()
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def moto_sts_server() -> Iterator[str]:
    """Endpoint URL of a moto server that answers STS only (shares state with moto_server)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, create_backend_app("sts"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def reset_moto(endpoint: str) -> None:
    """Forget every resource of every service and account (moto's own reset API)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=HARNESS_READ_TIMEOUT_S) as answer:
        answer.read()


@dataclass(frozen=True)
class AwsClients:
    """Sessions and clients pointed at one moto endpoint with the fake credentials."""

    endpoint: str
    region: str = DEFAULT_REGION
    # Tests see AWS errors at once; the code under test brings its own retry config. moto answers
    # the harness's own calls (setting up, reading back) in milliseconds, but a service's first
    # call in a process imports its moto backend, which a loaded machine stretches past 5 s.
    config: Config = field(default_factory=lambda: Config(retries={"max_attempts": 0}, connect_timeout=2,
                                                          read_timeout=HARNESS_READ_TIMEOUT_S))

    def session(self, region: str | None = None, **credentials: str) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=credentials.get("aws_access_key_id", FAKE_ACCESS_KEY_ID),
            aws_secret_access_key=credentials.get("aws_secret_access_key", FAKE_SECRET_ACCESS_KEY),
            aws_session_token=credentials.get("aws_session_token"),
            region_name=region or self.region,
        )

    def client(self, service: str, region: str | None = None, session: boto3.Session | None = None):
        session = session or self.session(region)
        return session.client(service, region_name=region or self.region, endpoint_url=self.endpoint,
                              config=self.config)

    def reset(self) -> None:
        reset_moto(self.endpoint)


def aws_clients(endpoint: str, region: str = DEFAULT_REGION) -> AwsClients:
    return AwsClients(endpoint=endpoint, region=region)


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str, region: str = DEFAULT_REGION) -> None:
    """Only fake credentials and moto are reachable through the environment for this test."""
    for name in _REMOVED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/cpwatch-tests/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/cpwatch-tests/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_REGION", region)
    # Clients made without endpoint_url go to moto. An explicit endpoint_url still wins (the
    # regional STS URL a token is signed for is one; presigning makes no call).
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> AwsClients:
    """A clean moto (reset before the test) and an environment holding only fake credentials."""
    fake_aws_environment(monkeypatch, moto_server)
    reset_moto(moto_server)
    return aws_clients(moto_server)


# --- EKS -------------------------------------------------------------------------------------


def create_cluster(clients: AwsClients, name: str, region: str | None = None,
                   session: boto3.Session | None = None, version: str = "1.31") -> dict:
    """An ACTIVE moto EKS cluster (moto gives it a fake endpoint and a random CA)."""
    eks = clients.client("eks", region, session=session)
    return eks.create_cluster(
        name=name,
        version=version,
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": ["subnet-0a1b2c3d"], "endpointPublicAccess": True,
                            "endpointPrivateAccess": False},
    )["cluster"]


def _moto_cluster(name: str, region: str, account_id: str):
    # ThreadedMotoServer runs in this process, so its backends are these objects.
    from moto.eks.models import eks_backends

    return eks_backends[account_id][region].clusters[name]


def point_cluster_at(name: str, region: str, endpoint: str, ca_pem: str, account_id: str = ACCOUNT_ID) -> None:
    """Make DescribeCluster of a moto cluster give `endpoint` (https://127.0.0.1:<port>) and the
    CA that signed that server's certificate (e.g. a fake control plane's)."""
    cluster = _moto_cluster(name, region, account_id)
    cluster.endpoint = endpoint
    cluster.certificate_authority = {"data": base64.b64encode(ca_pem.encode("ascii")).decode("ascii")}


def set_cluster_status(name: str, region: str, status: str | None = None,
                       health_issues: list[dict] | None = None, account_id: str = ACCOUNT_ID) -> None:
    """Set a moto cluster's status (CREATING, FAILED, ...) and health.issues
    ([{"code": ..., "message": ..., "resourceIds": [...]}]) as DescribeCluster reports them."""
    cluster = _moto_cluster(name, region, account_id)
    if status is not None:
        cluster.status = status
    if health_issues is not None:
        cluster.health = {"issues": health_issues}


# --- what EKS publishes outside the apiserver: vended AWS/EKS metrics, control-plane logs ----


def set_cluster_logging(name: str, region: str, types: list[str], account_id: str = ACCOUNT_ID) -> None:
    """DescribeCluster's logging.clusterLogging: `types` enabled (controllerManager, scheduler, ...)."""
    _moto_cluster(name, region, account_id).logging = {"clusterLogging": [{"types": list(types), "enabled": True}]}


def put_vended_metric(clients: AwsClients, cluster: str, metric: str, values: list[float | None],
                      newest_minute: datetime.datetime, region: str | None = None) -> None:
    """One value per minute into AWS/EKS (dimension ClusterName) as EKS publishes them, the last
    at `newest_minute`; None leaves a minute without datapoint."""
    cloudwatch = clients.client("cloudwatch", region)
    first = newest_minute - datetime.timedelta(minutes=len(values) - 1)
    data = [{"MetricName": metric, "Dimensions": [{"Name": "ClusterName", "Value": cluster}],
             "Timestamp": first + datetime.timedelta(minutes=i), "Value": float(value)}
            for i, value in enumerate(values) if value is not None]
    for start in range(0, len(data), 100):
        cloudwatch.put_metric_data(Namespace="AWS/EKS", MetricData=data[start:start + 100])


def put_control_plane_log(clients: AwsClients, cluster: str, stream: str,
                          lines: list[tuple[datetime.datetime, str]], region: str | None = None) -> None:
    """Lines into /aws/eks/<cluster>/cluster, stream `stream` (e.g. kube-scheduler-<id>)."""
    logs = clients.client("logs", region)
    group = f"/aws/eks/{cluster}/cluster"
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    if not logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    events = [{"timestamp": int(at.timestamp() * 1000), "message": message} for at, message in sorted(lines)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


# --- AWS answering with errors ---------------------------------------------------------------


@dataclass
class ErrorEndpoint:
    url: str
    hits: int = 0
    paths: list[str] = field(default_factory=list)


@contextmanager
def aws_error_endpoint(status: int, code: str, message: str = "", protocol: str = "json") -> Iterator[ErrorEndpoint]:
    """A loopback HTTP endpoint answering every request with one AWS error.

    protocol: "json" (EKS, DynamoDB, CloudWatch JSON: x-amzn-ErrorType + {"__type", "message"}),
    "query" (STS, SNS, CloudWatch query: <ErrorResponse>), "ec2" (<Response><Errors>).
    """
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    elif protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                "</Error><RequestId>cpwatch-test</RequestId></ErrorResponse>").encode()
        headers = {"Content-Type": "text/xml"}
    elif protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                "<RequestID>cpwatch-test</RequestID></Response>").encode()
        headers = {"Content-Type": "text/xml"}
    else:
        raise ValueError(f"unknown protocol {protocol!r}")
    lock = threading.Lock()
    state = ErrorEndpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with lock:
                state.hits += 1
                state.paths.append(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("x-amzn-RequestId", "cpwatch-test")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- EKS token check (what the EKS authenticator and STS do with a token) -------------------

EKS_TOKEN_PREFIX = "k8s-aws-v1."
# aws-iam-authenticator (pkg/token/token.go): tokens longer than 4 KiB are refused, only these
# query parameters are allowed, and X-Amz-Date may be at most 15 minutes old.
EKS_TOKEN_MAX_BYTES = 4096
EKS_ALLOWED_QUERY_KEYS = frozenset({
    "action", "version", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
    "x-amz-security-token", "x-amz-signature", "x-amz-signedheaders",
})
EKS_TOKEN_MAX_AGE_S = 15 * 60


def decode_eks_token(token: str) -> str:
    """The presigned URL inside an EKS token (prefix off, base64url re-padded)."""
    if not token.startswith(EKS_TOKEN_PREFIX):
        raise ValueError("not an EKS token")
    encoded = token[len(EKS_TOKEN_PREFIX):]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")


@dataclass(frozen=True)
class EksTokenCheck:
    ok: bool
    reason: str
    access_key_id: str = ""


def check_eks_token(token: str, cluster_name: str, secret_for: Callable[[str], str | None],
                    now: datetime.datetime | None = None,
                    sts_hosts: tuple[str, ...] | None = None) -> EksTokenCheck:
    """Accept or refuse `token` for `cluster_name` like the EKS authenticator and STS would.

    `secret_for(access_key_id)` gives the secret key the fake STS knows (None: unknown key).
    The SigV4 query signature is recomputed here with hashlib/hmac, independently of botocore.
    `sts_hosts`: accepted hosts (default: any sts.<region>.amazonaws.com[.cn]).
    """
    if len(token.encode()) > EKS_TOKEN_MAX_BYTES:
        return EksTokenCheck(False, "token longer than 4 KiB")
    try:
        url = decode_eks_token(token)
    except ValueError as error:
        return EksTokenCheck(False, f"undecodable: {type(error).__name__}")
    parts = urlsplit(url)
    host_ok = (parts.hostname in sts_hosts) if sts_hosts is not None else bool(
        re.fullmatch(r"sts\.[a-z0-9-]+\.amazonaws\.com(\.cn)?", parts.hostname or ""))
    if parts.scheme != "https" and sts_hosts is None:
        return EksTokenCheck(False, "not https")
    if not host_ok:
        return EksTokenCheck(False, f"host {parts.hostname} is not an STS endpoint")
    if parts.path != "/":
        return EksTokenCheck(False, "path is not /")
    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    query = dict(pairs)
    if len(query) != len(pairs):
        return EksTokenCheck(False, "repeated query parameter")
    unknown = {k for k in query if k.lower() not in EKS_ALLOWED_QUERY_KEYS}
    if unknown:
        return EksTokenCheck(False, f"unexpected query parameters {sorted(unknown)}")
    if query.get("Action") != "GetCallerIdentity" or query.get("Version") != "2011-06-15":
        return EksTokenCheck(False, "not GetCallerIdentity 2011-06-15")
    signed = query.get("X-Amz-SignedHeaders", "").split(";")
    if "x-k8s-aws-id" not in signed:
        return EksTokenCheck(False, "x-k8s-aws-id is not signed")
    signed_at = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if (now - signed_at).total_seconds() > EKS_TOKEN_MAX_AGE_S:
        return EksTokenCheck(False, "expired: X-Amz-Date older than 15 minutes")
    access_key_id, date, region, service, terminal = query["X-Amz-Credential"].split("/")
    secret = secret_for(access_key_id)
    if secret is None:
        return EksTokenCheck(False, "unknown access key", access_key_id)
    headers = {"host": parts.netloc, "x-k8s-aws-id": cluster_name}
    if any(name not in headers for name in signed):
        return EksTokenCheck(False, f"signed headers {signed} not all known", access_key_id)

    def enc(text: str) -> str:
        return quote(text, safe="-_.~")

    canonical_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(pairs) if k != "X-Amz-Signature")
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed)
    empty_sha256 = hashlib.sha256(b"").hexdigest()
    canonical_request = "\n".join(["GET", "/", canonical_query, canonical_headers, ";".join(signed), empty_sha256])
    scope = f"{date}/{region}/{service}/{terminal}"
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", query["X-Amz-Date"], scope, hashlib.sha256(canonical_request.encode()).hexdigest(),
    ])
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, terminal):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
        return EksTokenCheck(False, "signature does not match (other cluster, key or secret)", access_key_id)
    return EksTokenCheck(True, "ok", access_key_id)


# --- DynamoDB --------------------------------------------------------------------------------


def create_table(clients: AwsClients, name: str = "cpwatch") -> str:
    """The table as template.yaml declares it: pk/sk strings, on demand, TTL on expires_at."""
    dynamodb = clients.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    return name


# --- SNS -------------------------------------------------------------------------------------


def create_topic_with_inbox(clients: AwsClients, session: boto3.Session | None = None) -> tuple[str, str]:
    """Topic `cpwatch-alerts` with SQS queue `inbox` subscribed (SNS envelopes kept, so subject and
    message attributes can be read back): (topic ARN, queue URL)."""
    sns, sqs = clients.client("sns", session=session), clients.client("sqs", session=session)
    topic = sns.create_topic(Name="cpwatch-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    return topic, queue


# --- the fake control plane's EKS authenticator ---------------------------------------------

CHECKER_IDENTITY = ("arn:aws:sts::123456789012:assumed-role/cpwatch-checker/cpwatch", ("cpwatch", "system:authenticated"))


def eks_validator(cluster: str) -> Callable[[str], tuple | None]:
    """A FakeCluster token_validator: a token signed for `cluster` with the fake key maps to the
    checker's identity in group cpwatch; anything else is refused (401)."""
    def validate(token: str):
        check = check_eks_token(token, cluster,
                                lambda key: FAKE_SECRET_ACCESS_KEY if key == FAKE_ACCESS_KEY_ID else None)
        return CHECKER_IDENTITY if check.ok else None
    return validate


def forward(handler: BaseHTTPRequestHandler, upstream: str, body: bytes | None, answer: bool = True) -> None:
    """Answer `handler`'s request with what `upstream` (moto) answers to the same request: the
    fault endpoints' way of letting a request through. With answer=False the request is applied
    upstream and the connection closes without an answer (an answer lost on the way back)."""
    target = urlsplit(upstream)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    connection.request(handler.command, handler.path, body=body, headers=dict(handler.headers.items()))
    reply = connection.getresponse()
    data = reply.read()
    connection.close()
    if not answer:
        handler.close_connection = True
        return
    handler.send_response(reply.status)
    for name, value in reply.getheaders():
        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
