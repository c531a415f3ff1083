"""EKS connection against moto (server mode) and loopback servers: DescribeCluster, the error
mapping of every AWS fault, the cross-account role, and a KubeApi that authenticates with the
token and verifies TLS against the cluster's CA."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cpwatch.aws.clients import AWS_CLIENT_CONFIG, aws_client
from cpwatch.aws.eks_cluster import ClusterInfo, HealthIssue, describe_cluster
from cpwatch.aws.eks_connect import api_from_eks
from cpwatch.aws.eks_token import TokenCache
from cpwatch.aws.role_chain import CredentialsCache, assume_role, assumed_credentials, assumed_session
from cpwatch.errors import (
    AwsAccessDeniedError,
    AwsError,
    AwsNotFoundError,
    AwsUnavailableError,
    AwsUnreachableError,
    CannotConnectError,
    ConfigError,
    EksClusterNotServingError,
)
from cpwatch.timeutil import Deadline
from tests.aws.moto_server import (
    ACCOUNT_ID,
    FAKE_SECRET_ACCESS_KEY,
    aws_error_endpoint,
    check_eks_token,
    create_cluster,
    point_cluster_at,
    set_cluster_status,
)
from tests.fakecluster.tls import make_credentials

# The production client's own bound on one call (cpwatch/aws/clients.py): each attempt may take
# its connect and read timeouts, and standard mode backs off at most 1 s between attempts.
CALL_BOUND_S = AWS_CLIENT_CONFIG.retries["total_max_attempts"] * (
    AWS_CLIENT_CONFIG.connect_timeout + AWS_CLIENT_CONFIG.read_timeout) + 1


pytestmark = pytest.mark.network

CLUSTER = "prod-eu-1"
REGION = "eu-west-1"
ROLE_ACCOUNT = "111122223333"
ROLE_ARN = f"arn:aws:iam::{ROLE_ACCOUNT}:role/cpwatch-reader"
TLS = make_credentials()


class Clock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeEksApiserver:
    """HTTPS /version that accepts only EKS tokens the EKS authenticator would accept."""

    def __init__(self, cluster_name: str, secret_for, credentials=TLS):
        self.cluster_name = cluster_name
        self.secret_for = secret_for
        self.tokens: list[str] = []
        self.checks = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                authorization = self.headers.get("Authorization", "")
                token = authorization.removeprefix("Bearer ")
                outer.tokens.append(token)
                check = check_eks_token(token, outer.cluster_name, outer.secret_for)
                outer.checks.append(check)
                if check.ok:
                    status, body = 200, {"major": "1", "minor": "31", "gitVersion": "v1.31.2-eks-1"}
                else:
                    status, body = 401, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                         "reason": "Unauthorized", "message": "Unauthorized", "code": 401}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = credentials.server_context().wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> FakeEksApiserver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def fake_secret(access_key_id: str) -> str | None:
    return FAKE_SECRET_ACCESS_KEY if access_key_id == "testing" else None


# --- DescribeCluster -------------------------------------------------------------------------


def test_describe_cluster_reads_endpoint_ca_status_and_versions(aws_env):
    create_cluster(aws_env, CLUSTER, version="1.31")
    point_cluster_at(CLUSTER, REGION, "https://127.0.0.1:6443", TLS.ca_pem)

    info = describe_cluster(aws_client("eks", REGION, aws_env.session()), CLUSTER)

    assert info.name == CLUSTER
    assert info.endpoint == "https://127.0.0.1:6443"
    assert info.ca_pem == TLS.ca_pem
    assert (info.status, info.serving, info.health_issues) == ("ACTIVE", True, ())
    assert info.version == "1.31"
    assert info.platform_version  # moto: eks.4
    assert info.arn == f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/{CLUSTER}"
    assert (info.endpoint_public_access, info.endpoint_private_access) == (True, False)


def test_describe_cluster_returns_status_and_health_issues_for_evidence(aws_env):
    create_cluster(aws_env, CLUSTER)
    issues = [{"code": "Ec2SecurityGroupNotFound", "message": "One or more security groups are gone",
               "resourceIds": ["sg-0123"]}]
    set_cluster_status(CLUSTER, REGION, status="FAILED", health_issues=issues)

    info = describe_cluster(aws_client("eks", REGION, aws_env.session()), CLUSTER)

    assert (info.status, info.serving) == ("FAILED", False)
    assert info.health_issues == (HealthIssue("Ec2SecurityGroupNotFound", "One or more security groups are gone", ("sg-0123",)),)


def test_moto_default_ca_is_not_a_certificate_so_the_cluster_cannot_be_served(aws_env):
    create_cluster(aws_env, CLUSTER)  # moto's CA data is random text
    with pytest.raises(EksClusterNotServingError) as caught:
        api_from_eks(CLUSTER, REGION, 2.0, Deadline.after(20), session=aws_env.session())
    assert caught.value.cluster.name == CLUSTER
    assert caught.value.cluster.ca_pem is None
    assert "certificate authority" in str(caught.value)


def test_cluster_not_found(aws_env):
    with pytest.raises(AwsNotFoundError) as caught:
        describe_cluster(aws_client("eks", REGION, aws_env.session()), "no-such-cluster")
    assert caught.value.code == "ResourceNotFoundException"
    assert "no-such-cluster" in str(caught.value)


def test_invalid_cluster_name_is_a_config_error(aws_env):
    with pytest.raises(ConfigError):
        describe_cluster(aws_client("eks", REGION, aws_env.session()), "bad/name")


# --- AWS faults ------------------------------------------------------------------------------


def eks_client_at(url: str, aws_env, **session_credentials):
    """The production client factory (production retry config), pointed at `url`."""
    return aws_client("eks", REGION, aws_env.session(**session_credentials), endpoint_url=url)


def test_access_denied_says_cpwatch_cannot_see_the_cluster_and_is_not_retried(aws_env):
    message = f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/cpwatch/x is not authorized to perform: eks:DescribeCluster"
    with aws_error_endpoint(403, "AccessDeniedException", message) as endpoint:
        with pytest.raises(AwsAccessDeniedError) as caught:
            describe_cluster(eks_client_at(endpoint.url, aws_env), CLUSTER)
    assert endpoint.hits == 1
    assert endpoint.paths == [f"/clusters/{CLUSTER}"]
    assert caught.value.code == "AccessDeniedException"
    assert "cpwatch cannot see this cluster" in str(caught.value)
    assert "eks:DescribeCluster" in str(caught.value)


def test_throttling_is_retried_a_bounded_number_of_times_then_retryable(aws_env):
    started = time.monotonic()
    with aws_error_endpoint(429, "ThrottlingException", "Rate exceeded") as endpoint:
        with pytest.raises(AwsUnavailableError) as caught:
            describe_cluster(eks_client_at(endpoint.url, aws_env), CLUSTER)
    assert endpoint.hits == AWS_CLIENT_CONFIG.retries["total_max_attempts"] == 2
    assert time.monotonic() - started < CALL_BOUND_S
    assert caught.value.code == "ThrottlingException"


def test_server_error_is_retryable(aws_env):
    with aws_error_endpoint(500, "ServerException", "internal") as endpoint:
        with pytest.raises(AwsUnavailableError) as caught:
            describe_cluster(eks_client_at(endpoint.url, aws_env), CLUSTER)
    assert endpoint.hits == 2
    assert caught.value.code == "ServerException"


def test_unreachable_eks_api_is_a_clear_error_within_the_timeouts(aws_env):
    started = time.monotonic()
    with pytest.raises(AwsUnreachableError) as caught:
        describe_cluster(eks_client_at(f"http://127.0.0.1:{closed_port()}", aws_env), CLUSTER)
    assert time.monotonic() - started < CALL_BOUND_S
    assert caught.value.code == "Unreachable"
    assert "EndpointConnectionError" in str(caught.value)


def test_assume_role_denied_is_access_denied(aws_env):
    with aws_error_endpoint(403, "AccessDenied", "not authorized to perform sts:AssumeRole", protocol="query") as endpoint:
        sts = aws_client("sts", REGION, aws_env.session(), endpoint_url=endpoint.url)
        with pytest.raises(AwsAccessDeniedError) as caught:
            assume_role(ROLE_ARN, "ext-123", sts_client=sts)
    assert endpoint.hits == 1
    assert caught.value.target == ROLE_ARN


# --- all together: api_from_eks --------------------------------------------------------------


def test_api_from_eks_authenticates_with_the_token_and_verifies_the_cluster_ca(aws_env):
    create_cluster(aws_env, CLUSTER)
    with FakeEksApiserver(CLUSTER, fake_secret) as apiserver:
        point_cluster_at(CLUSTER, REGION, apiserver.url, TLS.ca_pem)
        cache = TokenCache()
        # Default clients: AWS_ENDPOINT_URL (aws_env) sends DescribeCluster to moto.
        api, info = api_from_eks(CLUSTER, REGION, 2.0, Deadline.after(20), session=aws_env.session(),
                                 token_cache=cache)
        assert api.server == apiserver.url
        assert info.endpoint == apiserver.url
        first = api.get_json("/version")
        second = api.get_json("/version")
    assert first["gitVersion"] == second["gitVersion"] == "v1.31.2-eks-1"
    assert [check.ok for check in apiserver.checks] == [True, True]
    assert len(set(apiserver.tokens)) == 1  # cached


def test_api_from_eks_refuses_an_apiserver_whose_certificate_another_ca_signed(aws_env):
    create_cluster(aws_env, CLUSTER)
    impostor = make_credentials()
    with FakeEksApiserver(CLUSTER, fake_secret, credentials=impostor) as apiserver:
        point_cluster_at(CLUSTER, REGION, apiserver.url, TLS.ca_pem)
        api, _ = api_from_eks(CLUSTER, REGION, 2.0, Deadline.after(20), session=aws_env.session())
        with pytest.raises(CannotConnectError) as caught:
            api.get_json("/version")
    assert caught.value.reason == "tls"
    assert apiserver.tokens == []  # the token never left for an unverified server


def test_api_from_eks_with_a_cross_account_role(aws_env):
    role_sessions = CredentialsCache()
    sts = aws_env.client("sts")
    # moto keeps resources per account, and knows the account from the assumed role's key.
    role_session = assumed_session(ROLE_ARN, "ext-123", sts_client=sts, region=REGION)
    create_cluster(aws_env, CLUSTER, session=role_session)

    def role_secret(access_key_id: str) -> str | None:
        credentials = role_sessions.get(ROLE_ARN, "ext-123", "cpwatch", fetch=lambda: pytest.fail("not cached"))
        return credentials.secret_access_key if access_key_id == credentials.access_key_id else None

    with FakeEksApiserver(CLUSTER, role_secret) as apiserver:
        point_cluster_at(CLUSTER, REGION, apiserver.url, TLS.ca_pem, account_id=ROLE_ACCOUNT)
        cache = TokenCache()
        api, info = api_from_eks(CLUSTER, REGION, 2.0, Deadline.after(20), session=aws_env.session(),
                                 role_arn=ROLE_ARN, external_id="ext-123", token_cache=cache,
                                 credentials_cache=role_sessions, sts_client=sts)
        assert api.get_json("/version")["major"] == "1"
    assert info.arn == f"arn:aws:eks:{REGION}:{ROLE_ACCOUNT}:cluster/{CLUSTER}"
    check = apiserver.checks[0]
    assert check.ok and check.access_key_id.startswith("ASIA")
    credentials = role_sessions.get(ROLE_ARN, "ext-123", "cpwatch", fetch=lambda: pytest.fail("not cached"))
    token = cache.get(CLUSTER, REGION, ROLE_ARN, make=lambda now: pytest.fail("not cached"))
    assert token.expires_at <= credentials.expires_at - dt.timedelta(minutes=1)


def test_role_credentials_are_reused_until_a_minute_before_they_expire(aws_env):
    sts = aws_env.client("sts")
    start = dt.datetime.now(dt.timezone.utc)
    clock = Clock(start)
    cache = CredentialsCache(clock=clock)

    first = assumed_credentials(ROLE_ARN, sts_client=sts, cache=cache)
    assert first.expires_at - start <= dt.timedelta(seconds=901)
    clock.now = first.expires_at - dt.timedelta(seconds=61)
    assert assumed_credentials(ROLE_ARN, sts_client=sts, cache=cache) is first
    clock.now = first.expires_at - dt.timedelta(seconds=60)
    second = assumed_credentials(ROLE_ARN, sts_client=sts, cache=cache)
    assert second is not first and second.access_key_id != first.access_key_id
    other = assumed_credentials(ROLE_ARN, external_id="ext-999", sts_client=sts, cache=cache)
    assert other.access_key_id not in (first.access_key_id, second.access_key_id)


# --- never shown ---------------------------------------------------------------------------


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz-secret-never-shown"


def test_no_token_or_secret_key_in_reprs_and_errors(aws_env):
    create_cluster(aws_env, CLUSTER)
    with FakeEksApiserver(CLUSTER, lambda key: SECRET) as apiserver:
        point_cluster_at(CLUSTER, REGION, apiserver.url, TLS.ca_pem)
        session = aws_env.session(aws_secret_access_key=SECRET)
        cache = TokenCache()
        api, info = api_from_eks(CLUSTER, REGION, 2.0, Deadline.after(20), session=session, token_cache=cache)
        api.get_json("/version")
    token = apiserver.tokens[0]
    assert cache.get(CLUSTER, REGION, None, make=lambda now: pytest.fail("not cached")).value == token

    errors: list[AwsError] = []
    for status, code in ((403, "AccessDeniedException"), (404, "ResourceNotFoundException"), (429, "ThrottlingException")):
        with aws_error_endpoint(status, code, "denied") as endpoint:
            with pytest.raises(AwsError) as caught:
                describe_cluster(eks_client_at(endpoint.url, aws_env, aws_secret_access_key=SECRET), CLUSTER)
            errors.append(caught.value)
    with pytest.raises(AwsError) as caught:
        describe_cluster(eks_client_at(f"http://127.0.0.1:{closed_port()}", aws_env, aws_secret_access_key=SECRET), CLUSTER)
    errors.append(caught.value)
    role_credentials = assumed_credentials(ROLE_ARN, sts_client=aws_env.client("sts"))

    texts = [repr(info), str(info), repr(api.__dict__.get("_auth_header")), repr(cache), repr(role_credentials),
             str(role_credentials)]
    texts += [text for error in errors for text in (str(error), repr(error), repr(error.args))]
    for text in texts:
        assert token not in text and token[11:60] not in text
        assert SECRET not in text
        assert role_credentials.secret_access_key not in text
        assert role_credentials.session_token not in text
    assert isinstance(info, ClusterInfo) and TLS.ca_pem not in repr(info)
