"""The EKS bearer token: built like `aws eks get-token` (eks-token is the oracle), cached for at
most 14 minutes, accepted by STS, and never shown."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import urllib.request
from urllib.parse import parse_qs, parse_qsl, urlsplit

import botocore.auth
import botocore.session
import pytest
from awscli.customizations.eks.get_token import STSClientFactory
from eks_token import logics as eks_token_oracle

from cpwatch.aws.clients import regional_sts_url
from cpwatch.aws.eks_token import TOKEN_LIFETIME, Token, TokenCache, eks_token
from cpwatch.errors import AwsAccessDeniedError, ConfigError
from tests.aws.moto_server import (
    FAKE_SECRET_ACCESS_KEY,
    check_eks_token,
    decode_eks_token,
)

pytestmark = pytest.mark.network

CLUSTER = "prod-eu-1"
REGION = "eu-west-1"
T0 = dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=dt.timezone.utc)


def query_of(token: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(decode_eks_token(token)).query, strict_parsing=True))


def known_secret(access_key_id: str) -> str | None:
    return FAKE_SECRET_ACCESS_KEY if access_key_id == "testing" else None


@pytest.fixture
def oracle(aws_env, monkeypatch):
    """eks-token's get_token on a fresh botocore session (it caches credentials per session),
    resolving endpoints like a real deployment (no AWS_ENDPOINT_URL)."""
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setattr(eks_token_oracle, "client_factory", STSClientFactory(botocore.session.get_session()))
    return lambda cluster, region: eks_token_oracle.get_token(cluster, region_name=region)["status"]["token"]


@pytest.fixture
def frozen_signing_clock(monkeypatch):
    """X-Amz-Date of every signature (ours and the oracle's) is T0."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: T0.replace(tzinfo=None))
    return T0


def test_token_is_a_presigned_regional_get_caller_identity(aws_env):
    token = eks_token(CLUSTER, REGION, session=aws_env.session())

    assert token.value.startswith("k8s-aws-v1.")
    assert "=" not in token.value
    url = urlsplit(decode_eks_token(token.value))
    assert (url.scheme, url.hostname, url.path) == ("https", f"sts.{REGION}.amazonaws.com", "/")
    query = parse_qs(url.query, strict_parsing=True)
    assert all(len(values) == 1 for values in query.values())
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["Version"] == ["2011-06-15"]
    assert query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-SignedHeaders"][0].split(";") == ["host", "x-k8s-aws-id"]
    key_id, _date, region, service, terminal = query["X-Amz-Credential"][0].split("/")
    assert (key_id, region, service, terminal) == ("testing", REGION, "sts", "aws4_request")
    assert check_eks_token(token.value, CLUSTER, known_secret).ok


@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")  # inside eks-token
@pytest.mark.parametrize("session_token", [None, "FwoGZXIvYXdzEXAMPLE//session+token="])
def test_token_equals_eks_token_oracle(aws_env, oracle, frozen_signing_clock, monkeypatch, session_token):
    if session_token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    ours = eks_token(CLUSTER, REGION).value
    theirs = oracle(CLUSTER, REGION)

    assert ours[:11] == theirs[:11] == "k8s-aws-v1."
    assert not ours.endswith("=") and not theirs.endswith("=")
    ours_url, theirs_url = urlsplit(decode_eks_token(ours)), urlsplit(decode_eks_token(theirs))
    assert (ours_url.scheme, ours_url.netloc, ours_url.path) == (theirs_url.scheme, theirs_url.netloc, theirs_url.path)
    assert sorted(query_of(ours)) == sorted(query_of(theirs))
    for key in ("Action", "Version", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Credential", "X-Amz-Date"):
        assert query_of(ours)[key] == query_of(theirs)[key], key
    assert ("X-Amz-Security-Token" in query_of(ours)) == bool(session_token)
    # Same credentials and signing time: the very same token, signature included.
    assert ours == theirs


@pytest.mark.parametrize("region, host", [
    ("us-east-1", "sts.us-east-1.amazonaws.com"),
    ("eu-central-1", "sts.eu-central-1.amazonaws.com"),
    ("cn-north-1", "sts.cn-north-1.amazonaws.com.cn"),
    ("us-gov-west-1", "sts.us-gov-west-1.amazonaws.com"),
])
def test_token_is_signed_for_the_regional_endpoint_even_when_legacy_is_configured(aws_env, monkeypatch, region, host):
    # With sts_regional_endpoints=legacy botocore would sign us-east-1 for sts.amazonaws.com.
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")
    token = eks_token(CLUSTER, region, session=aws_env.session(region))
    assert urlsplit(decode_eks_token(token.value)).hostname == host
    assert regional_sts_url(region) == f"https://{host}"
    assert query_of(token.value)["X-Amz-Credential"].split("/")[2] == region


def test_presigned_url_answers_get_caller_identity_on_moto(aws_env, moto_sts_server):
    sts = aws_env.session().client("sts", region_name=REGION, endpoint_url=moto_sts_server)
    token = eks_token(CLUSTER, REGION, sts_client=sts)

    url = decode_eks_token(token.value)
    assert url.startswith(moto_sts_server + "/?")
    # What the EKS authenticator does with the token: GET it with the cluster id header.
    request = urllib.request.Request(url, headers={"x-k8s-aws-id": CLUSTER})
    with urllib.request.urlopen(request, timeout=5) as answer:
        body = answer.read().decode()
    assert answer.status == 200
    assert "<GetCallerIdentityResponse" in body and "<Arn>" in body


def test_signature_binds_the_cluster_name_and_the_secret(aws_env):
    token = eks_token(CLUSTER, REGION, session=aws_env.session()).value

    assert check_eks_token(token, CLUSTER, known_secret).ok
    assert not check_eks_token(token, "another-cluster", known_secret).ok
    assert not check_eks_token(token, CLUSTER, lambda key: "another-secret").ok
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=16)
    assert check_eks_token(token, CLUSTER, known_secret, now=later).reason.startswith("expired")


def test_expires_at_is_14_minutes_after_now_or_a_minute_before_the_credentials(aws_env):
    session = aws_env.session()
    assert eks_token(CLUSTER, REGION, session=session, now=T0).expires_at == T0 + dt.timedelta(minutes=14)
    credentials_end = T0 + dt.timedelta(minutes=5)
    token = eks_token(CLUSTER, REGION, session=session, now=T0, credentials_expire_at=credentials_end)
    assert token.expires_at == T0 + dt.timedelta(minutes=4)


def test_registering_the_header_handlers_twice_signs_the_header_once(aws_env):
    sts = aws_env.session().client("sts", region_name=REGION, endpoint_url=regional_sts_url(REGION))
    first = eks_token(CLUSTER, REGION, sts_client=sts)
    second = eks_token("other", REGION, sts_client=sts)
    assert check_eks_token(first.value, CLUSTER, known_secret).ok
    assert check_eks_token(second.value, "other", known_secret).ok


@pytest.mark.parametrize("cluster, region", [
    ("", REGION), ("bad name", REGION), ("-leading-dash", REGION), ("x" * 101, REGION),
    (CLUSTER, "EU-WEST-1"), (CLUSTER, "eu-west-1.evil.example"), (CLUSTER, ""),
])
def test_invalid_cluster_name_or_region_is_a_config_error(aws_env, cluster, region):
    with pytest.raises(ConfigError):
        eks_token(cluster, region, session=aws_env.session())


def test_sts_client_of_another_region_is_refused(aws_env):
    sts = aws_env.session().client("sts", region_name="us-west-2")
    with pytest.raises(ValueError, match="us-west-2"):
        eks_token(CLUSTER, REGION, sts_client=sts)


def test_no_credentials_is_access_denied(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    import boto3

    with pytest.raises(AwsAccessDeniedError) as caught:
        eks_token(CLUSTER, REGION, session=boto3.Session())
    assert caught.value.code == "NoCredentials"
    assert "cpwatch cannot see this cluster" in str(caught.value)


# --- cache ---------------------------------------------------------------------------------


class Clock:
    def __init__(self, start: dt.datetime = T0):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def counting_maker(aws_env, cluster=CLUSTER):
    made = []
    session = aws_env.session()

    def make(now: dt.datetime) -> Token:
        made.append(now)
        return eks_token(cluster, REGION, session=session, now=now)

    return make, made


def test_cache_reuses_a_token_for_14_minutes_then_makes_a_new_one(aws_env):
    clock = Clock()
    cache = TokenCache(clock=clock)
    make, made = counting_maker(aws_env)

    first = cache.get(CLUSTER, REGION, None, make)
    clock.advance(minutes=13, seconds=59)
    assert cache.get(CLUSTER, REGION, None, make) is first
    clock.advance(seconds=1)
    second = cache.get(CLUSTER, REGION, None, make)
    assert second is not first
    assert made == [T0, T0 + TOKEN_LIFETIME]
    assert second.expires_at == T0 + 2 * TOKEN_LIFETIME


def test_cache_keeps_roles_clusters_and_regions_apart(aws_env):
    cache = TokenCache(clock=Clock())
    make, made = counting_maker(aws_env)
    keys = [(CLUSTER, REGION, None), (CLUSTER, REGION, "arn:aws:iam::111122223333:role/a"),
            (CLUSTER, REGION, "arn:aws:iam::111122223333:role/b"), ("other", REGION, None),
            (CLUSTER, "eu-west-2", None)]
    tokens = [cache.get(*key, make) for key in keys]
    assert len(made) == len(keys)
    assert [cache.get(*key, make) for key in keys] == tokens
    assert len(made) == len(keys)


def test_cache_forget_drops_one_token(aws_env):
    cache = TokenCache(clock=Clock())
    make, made = counting_maker(aws_env)
    first = cache.get(CLUSTER, REGION, None, make)
    cache.forget(CLUSTER, REGION, None)
    assert cache.get(CLUSTER, REGION, None, make) is not first
    assert len(made) == 2


def test_cache_makes_one_token_for_many_threads(aws_env):
    cache = TokenCache(clock=Clock())
    make, made = counting_maker(aws_env)
    barrier = threading.Barrier(16)
    seen: list[Token] = []

    def worker() -> None:
        barrier.wait()
        for _ in range(20):
            seen.append(cache.get(CLUSTER, REGION, None, make))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1
    assert len(seen) == 320 and len({id(token) for token in seen}) == 1


# --- never shown ---------------------------------------------------------------------------


def test_token_is_redacted_in_repr_and_str(aws_env):
    token = eks_token(CLUSTER, REGION, session=aws_env.session())
    cache = TokenCache()
    cache.get(CLUSTER, REGION, None, lambda now: token)
    for text in (repr(token), str(token), f"{token}", repr(cache), repr([token])):
        assert token.value not in text
        assert token.value[11:40] not in text
        assert "X-Amz-Signature" not in text


def test_runtime_module_does_not_import_eks_token_or_awscli():
    code = ("import sys, cpwatch.aws.eks_connect; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('awscli', 'eks_token', 'moto')); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
