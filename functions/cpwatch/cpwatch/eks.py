"""EKS: DescribeCluster, the EKS bearer token, and an optional cross-account role -> KubeApi.

Called by the Lambda wiring (handler / connect) through api_from_eks; the pieces are public for
tests and for the CLI. Every AWS client is a parameter with a default factory that uses
AWS_CLIENT_CONFIG (bounded timeouts and retries). Errors are the AwsError family of errors.py,
mapped in one place (aws_error); no message, repr or log line carries a token, a presigned URL
or a secret key.

The token is what `aws eks get-token`, eks-token and aws-iam-authenticator build:
`k8s-aws-v1.` + unpadded URL-safe base64 of an STS GetCallerIdentity URL presigned for 60 s on
the regional STS endpoint, with the header `x-k8s-aws-id: <cluster name>` among the signed
headers. The EKS authenticator replays that URL to STS; presigning is local (no network call),
so only AssumeRole and DescribeCluster talk to AWS.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Callable

import boto3
import botocore.loaders
from botocore.config import Config
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from .connect import ssl_context_for_ca
from .errors import (
    AwsAccessDeniedError,
    AwsNotFoundError,
    AwsUnavailableError,
    AwsUnreachableError,
    ConfigError,
    EksClusterNotServingError,
)
from .kubeapi import KubeApi
from .timeutil import Deadline

TOKEN_PREFIX = "k8s-aws-v1."
K8S_AWS_ID_HEADER = "x-k8s-aws-id"
# The CLI and aws-iam-authenticator presign for 60 s, but the EKS authenticator judges age by
# X-Amz-Date and accepts the URL for 15 minutes; like `aws eks get-token` (which reports
# expirationTimestamp = now + 14 min), cpwatch reuses a token for at most 14 minutes.
PRESIGN_EXPIRES_S = 60
TOKEN_LIFETIME = timedelta(minutes=14)
# A URL signed with temporary credentials stops working when they expire, whatever its age:
# tokens signed with role credentials are dropped, and the credentials renewed, this long
# before the credentials' expiry.
CREDENTIALS_MARGIN = timedelta(minutes=1)
# The shortest session AssumeRole grants; cpwatch needs it for one token (14 min) at a time.
ROLE_DURATION_S = 900
# Bounded: at most 3 s to connect and 5 s per read, 2 attempts in total, standard mode backing
# off up to 1 s: about 2 x 8 s + 1 s for one call in the worst case, inside a 1-minute schedule.
AWS_CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 2, "mode": "standard"}
)
# DynamoDB and SNS, called after the check out of the 6 s the run keeps for them, answer in
# milliseconds: at most 1 s to connect and 2 s to read, 2 attempts, so an endpoint that accepts
# and never answers costs one call about 5 s, and the run stops calling it (pipeline.py).
AFTER_CHECK_CLIENT_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"}
)
# Statuses in which the control plane serves the Kubernetes API.
SERVING_STATUSES = ("ACTIVE", "UPDATING")

_REGION = re.compile(r"^[a-z]{2,4}(-[a-z0-9]+)+-\d+$")
# EKS cluster names: 1-100 characters, a letter or digit first, then letters, digits, - and _.
_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")

_ACCESS_DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException",
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
    "SignatureDoesNotMatch", "IncompleteSignature", "InvalidSignatureException",
    "MissingAuthenticationToken",
})
_NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NotFoundException", "NoSuchEntity"})
# What a botocore call raises: an AWS answer, no answer, or no credentials / bad parameters.
AWS_CALL_ERRORS = (
    ClientError, BotoConnectionError, HTTPClientError, NoCredentialsError, PartialCredentialsError,
    CredentialRetrievalError, ParamValidationError,
)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- clients and errors ------------------------------------------------------------------


def aws_client(service: str, region: str, session: boto3.Session | None = None,
               endpoint_url: str | None = None, config: Config = AWS_CLIENT_CONFIG):
    """The default factory of every AWS client cpwatch uses (bounded timeouts and retries)."""
    session = session or boto3.Session()
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def regional_sts_url(region: str) -> str:
    """https://sts.<region>.<partition's DNS suffix>: the host the EKS authenticator accepts."""
    return f"https://sts.{check_region(region)}.{_dns_suffix(region)}"


@lru_cache(maxsize=None)
def _dns_suffix(region: str) -> str:
    partitions = botocore.loaders.create_loader().load_data("partitions")["partitions"]
    for partition in partitions:
        if region in partition.get("regions", {}):
            return partition["outputs"]["dnsSuffix"]
    for partition in partitions:
        if re.match(partition["regionRegex"], region):
            return partition["outputs"]["dnsSuffix"]
    return "amazonaws.com"


def check_region(region: str) -> str:
    if not isinstance(region, str) or not _REGION.match(region):
        raise ConfigError(f"region must look like eu-west-1, got {region!r}")
    return region


def check_cluster_name(name: str) -> str:
    if not isinstance(name, str) or not _CLUSTER_NAME.match(name):
        raise ConfigError(
            f"EKS cluster name must be 1-100 letters, digits, '-' or '_' starting with a letter or digit, got {name!r}"
        )
    return name


def aws_error(error: Exception, service: str, operation: str, target: str) -> Exception:
    """The cpwatch error for an exception raised by a botocore call (the one mapping)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = _redact(str(details.get("Message") or ""))
        detail = f"HTTP {status}: {message}" if status else message
        if code in _ACCESS_DENIED_CODES:
            return AwsAccessDeniedError(service, operation, target, code, detail)
        if code in _NOT_FOUND_CODES:
            return AwsNotFoundError(service, operation, target, code, detail)
        return AwsUnavailableError(service, operation, target, code, detail)
    if isinstance(error, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return AwsAccessDeniedError(service, operation, target, "NoCredentials",
                                    f"no usable AWS credentials ({type(error).__name__})")
    if isinstance(error, (BotoConnectionError, HTTPClientError)):
        # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError, SSLError (the
        # first), ReadTimeoutError, ConnectionClosedError (the second): after the retries.
        return AwsUnreachableError(service, operation, target, "Unreachable",
                                   f"{type(error).__name__}: {_redact(str(error))}"[:300])
    if isinstance(error, ParamValidationError):
        return ConfigError(f"{service} {operation} {target}: {_redact(str(error))}")
    return error


_SECRET_PATTERNS = (
    re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]+"),
    re.compile(r"(X-Amz-(?:Signature|Security-Token|Credential)=)[^&\s]+", re.IGNORECASE),
)


def _redact(text: str) -> str:
    """Defensive: AWS messages carry no secrets, but a token or presigned URL never passes."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else TOKEN_PREFIX) + "<redacted>", text)
    return text[:500]


# --- the token ---------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Token:
    """An EKS bearer token and the moment after which cpwatch no longer sends it."""

    value: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"Token(value=<redacted>, expires_at={self.expires_at.isoformat()})"

    __str__ = __repr__


def _move_cluster_id_to_context(params, context, **kwargs):
    # GetCallerIdentity has no parameters; the cluster id rides in Params only to reach
    # before-sign, and must leave them before validation.
    if K8S_AWS_ID_HEADER in params:
        context[K8S_AWS_ID_HEADER] = params.pop(K8S_AWS_ID_HEADER)


def _add_cluster_id_header(request, **kwargs):
    if K8S_AWS_ID_HEADER in request.context:
        request.headers[K8S_AWS_ID_HEADER] = request.context[K8S_AWS_ID_HEADER]


def _register_cluster_id_handlers(sts_client) -> None:
    # unique_id makes registering again on the same client a no-op.
    events = sts_client.meta.events
    events.register("provide-client-params.sts.GetCallerIdentity", _move_cluster_id_to_context,
                    unique_id="cpwatch-k8s-aws-id-params")
    events.register("before-sign.sts.GetCallerIdentity", _add_cluster_id_header,
                    unique_id="cpwatch-k8s-aws-id-header")


def eks_token(
    cluster_name: str,
    region: str,
    sts_client=None,
    now: datetime | None = None,
    *,
    session: boto3.Session | None = None,
    sts_endpoint_url: str | None = None,
    credentials_expire_at: datetime | None = None,
) -> Token:
    """A fresh EKS bearer token for `cluster_name` in `region`, signed with the STS client's
    credentials (default: `session`'s, on regional_sts_url(region) or `sts_endpoint_url`).

    `now` is when the token counts as made (for expires_at; the signature's X-Amz-Date is
    botocore's clock). `credentials_expire_at`, for temporary credentials of known expiry,
    shortens expires_at to a minute before they lapse.
    """
    check_cluster_name(cluster_name)
    check_region(region)
    if sts_client is None:
        sts_client = aws_client("sts", region, session, endpoint_url=sts_endpoint_url or regional_sts_url(region))
    elif sts_client.meta.region_name != region:
        raise ValueError(f"the STS client is for {sts_client.meta.region_name}, the cluster is in {region}")
    _register_cluster_id_handlers(sts_client)
    made_at = now or _utcnow()
    try:
        url = sts_client.generate_presigned_url(
            "get_caller_identity",
            Params={K8S_AWS_ID_HEADER: cluster_name},
            ExpiresIn=PRESIGN_EXPIRES_S,
            HttpMethod="GET",
        )
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as error:
        raise aws_error(error, "sts", "GetCallerIdentity (presign)", cluster_name) from None
    value = TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    expires_at = made_at + TOKEN_LIFETIME
    if credentials_expire_at is not None:
        expires_at = min(expires_at, credentials_expire_at - CREDENTIALS_MARGIN)
    return Token(value=value, expires_at=expires_at)


class TokenCache:
    """Tokens by (cluster, region, role_arn), each reused until its expires_at (at most 14 min).

    Thread-safe; clusters do not wait for each other. Kept by the handler across warm
    invocations. `clock` returns an aware UTC datetime (injected by tests).
    """

    def __init__(self, clock: Callable[[], datetime] | None = None):
        self._clock = clock or _utcnow
        self._tokens: dict[tuple[str, str, str | None], Token] = {}
        self._locks: dict[tuple[str, str, str | None], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, cluster_name: str, region: str, role_arn: str | None,
            make: Callable[[datetime], Token]) -> Token:
        """The cached token, or `make(now)`'s when there is none or it has expired."""
        key = (cluster_name, region, role_arn)
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            now = self._clock()
            token = self._tokens.get(key)
            if token is None or now >= token.expires_at:
                token = make(now)
                self._tokens[key] = token
            return token

    def forget(self, cluster_name: str, region: str, role_arn: str | None) -> None:
        """Drop a token (after the apiserver answered 401 to it)."""
        with self._lock:
            self._tokens.pop((cluster_name, region, role_arn), None)

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"


# --- cross-account role ------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class RoleCredentials:
    """Temporary credentials of an assumed role."""

    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"RoleCredentials(role_arn={self.role_arn!r}, expires_at={self.expires_at.isoformat()})"

    __str__ = __repr__

    def session(self, region: str | None = None) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            region_name=region,
        )


class CredentialsCache:
    """Role credentials by (role_arn, external_id, session_name), reused until a minute before
    they expire. Thread-safe; kept by the handler across warm invocations."""

    def __init__(self, clock: Callable[[], datetime] | None = None):
        self._clock = clock or _utcnow
        self._credentials: dict[tuple[str, str | None, str], RoleCredentials] = {}
        self._locks: dict[tuple[str, str | None, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._clock()

    def get(self, role_arn: str, external_id: str | None, session_name: str,
            fetch: Callable[[], RoleCredentials]) -> RoleCredentials:
        key = (role_arn, external_id, session_name)
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            cached = self._credentials.get(key)
            if cached is None or self._clock() >= cached.expires_at - CREDENTIALS_MARGIN:
                cached = fetch()
                self._credentials[key] = cached
            return cached

    def __repr__(self) -> str:
        return f"CredentialsCache({len(self._credentials)} roles)"


def assume_role(
    role_arn: str,
    external_id: str | None = None,
    session_name: str = "cpwatch",
    sts_client=None,
    *,
    region: str | None = None,
    session: boto3.Session | None = None,
) -> RoleCredentials:
    """sts:AssumeRole for ROLE_DURATION_S (no cache). The default STS client is regional."""
    if sts_client is None:
        region = region or (session or boto3.Session()).region_name
        if not region:
            raise ConfigError("assuming a role needs a region (set AWS_REGION or name the cluster's region)")
        sts_client = aws_client("sts", region, session, endpoint_url=regional_sts_url(region))
    params = {"RoleArn": role_arn, "RoleSessionName": session_name, "DurationSeconds": ROLE_DURATION_S}
    if external_id is not None:
        params["ExternalId"] = external_id
    try:
        answer = sts_client.assume_role(**params)
    except AWS_CALL_ERRORS as error:
        raise aws_error(error, "sts", "AssumeRole", role_arn) from None
    credentials = answer["Credentials"]
    expiration = credentials["Expiration"]
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=timezone.utc)
    return RoleCredentials(
        role_arn=role_arn,
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
        expires_at=expiration,
    )


def assumed_credentials(
    role_arn: str,
    external_id: str | None = None,
    session_name: str = "cpwatch",
    sts_client=None,
    *,
    region: str | None = None,
    session: boto3.Session | None = None,
    cache: CredentialsCache | None = None,
) -> RoleCredentials:
    """assume_role's credentials, from `cache` while they have more than a minute left."""
    def fetch() -> RoleCredentials:
        return assume_role(role_arn, external_id, session_name, sts_client, region=region, session=session)

    if cache is None:
        return fetch()
    return cache.get(role_arn, external_id, session_name, fetch)


def assumed_session(
    role_arn: str,
    external_id: str | None = None,
    session_name: str = "cpwatch",
    sts_client=None,
    *,
    region: str | None = None,
    session: boto3.Session | None = None,
    cache: CredentialsCache | None = None,
) -> boto3.Session:
    """A boto3 Session with the role's credentials (static: valid until they expire, at least
    a minute when they come from `cache`)."""
    credentials = assumed_credentials(role_arn, external_id, session_name, sts_client,
                                      region=region, session=session, cache=cache)
    return credentials.session(region)


# --- DescribeCluster ---------------------------------------------------------------------


@dataclass(frozen=True)
class HealthIssue:
    """One entry of DescribeCluster's health.issues (EKS's own view of control-plane trouble)."""

    code: str
    message: str
    resource_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterInfo:
    """What DescribeCluster says about a cluster (no credentials)."""

    name: str
    endpoint: str | None
    ca_pem: str | None = field(repr=False)
    status: str
    health_issues: tuple[HealthIssue, ...] = ()
    version: str | None = None
    platform_version: str | None = None
    arn: str | None = None
    # Where the endpoint answers: a private-only endpoint is unreachable from a Lambda outside
    # the cluster's VPC, and a public one only from publicAccessCidrs.
    endpoint_public_access: bool | None = None
    endpoint_private_access: bool | None = None
    public_access_cidrs: tuple[str, ...] = ()

    @property
    def serving(self) -> bool:
        """EKS reports a status in which the Kubernetes API is served."""
        return self.status in SERVING_STATUSES


def describe_cluster(eks_client, name: str) -> ClusterInfo:
    """eks:DescribeCluster. Errors: AwsAccessDeniedError, AwsNotFoundError, AwsUnavailableError,
    AwsUnreachableError, ConfigError (invalid name)."""
    check_cluster_name(name)
    try:
        cluster = eks_client.describe_cluster(name=name)["cluster"]
    except AWS_CALL_ERRORS as error:
        raise aws_error(error, "eks", "DescribeCluster", name) from None
    return cluster_info(cluster, name)


def cluster_info(cluster: dict, name: str) -> ClusterInfo:
    """ClusterInfo from the `cluster` object of a DescribeCluster answer."""
    health = cluster.get("health") or {}
    issues = tuple(
        HealthIssue(
            code=str(issue.get("code") or ""),
            message=str(issue.get("message") or ""),
            resource_ids=tuple(str(r) for r in issue.get("resourceIds") or ()),
        )
        for issue in health.get("issues") or ()
        if isinstance(issue, dict)
    )
    vpc = cluster.get("resourcesVpcConfig") or {}
    return ClusterInfo(
        name=str(cluster.get("name") or name),
        endpoint=cluster.get("endpoint") or None,
        ca_pem=_decode_ca((cluster.get("certificateAuthority") or {}).get("data")),
        status=str(cluster.get("status") or "UNKNOWN"),
        health_issues=issues,
        version=cluster.get("version"),
        platform_version=cluster.get("platformVersion"),
        arn=cluster.get("arn"),
        endpoint_public_access=vpc.get("endpointPublicAccess"),
        endpoint_private_access=vpc.get("endpointPrivateAccess"),
        public_access_cidrs=tuple(vpc.get("publicAccessCidrs") or ()),
    )


def _decode_ca(data: object) -> str | None:
    """certificateAuthority.data is the base64 of a PEM bundle; None when absent or not one."""
    if not isinstance(data, str) or not data:
        return None
    try:
        pem = base64.b64decode(data, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    return pem if "-----BEGIN CERTIFICATE-----" in pem else None


# --- all together ------------------------------------------------------------------------


def api_from_eks(
    cluster_name: str,
    region: str,
    request_timeout_s: float,
    deadline: Deadline | None,
    session: boto3.Session | None = None,
    role_arn: str | None = None,
    external_id: str | None = None,
    token_cache: TokenCache | None = None,
    *,
    credentials_cache: CredentialsCache | None = None,
    eks_client=None,
    sts_client=None,
    sts_endpoint_url: str | None = None,
) -> tuple[KubeApi, ClusterInfo]:
    """DescribeCluster, then a KubeApi on the cluster's endpoint, TLS verified against its CA,
    sending a cached EKS token.

    With `role_arn`, the role is assumed (through `sts_client`, with `session`'s credentials)
    and both DescribeCluster and the token use the role's credentials. `sts_endpoint_url` only
    changes where tokens are signed for (tests). Status and health issues are in ClusterInfo
    for the caller; a cluster without endpoint or CA raises EksClusterNotServingError.
    Errors: the AwsError family and ConfigError.
    """
    check_cluster_name(cluster_name)
    check_region(region)
    base_session = session or boto3.Session()
    token_cache = token_cache or TokenCache()
    credentials_cache = credentials_cache or CredentialsCache()

    def role_credentials() -> RoleCredentials:
        return assumed_credentials(role_arn, external_id, sts_client=sts_client, region=region,
                                   session=base_session, cache=credentials_cache)

    if eks_client is None:
        eks_session = role_credentials().session(region) if role_arn else base_session
        eks_client = aws_client("eks", region, eks_session)
    info = describe_cluster(eks_client, cluster_name)
    if not info.endpoint or not info.endpoint.startswith("https://"):
        raise EksClusterNotServingError(info, "DescribeCluster gives no https endpoint yet")
    if not info.ca_pem:
        raise EksClusterNotServingError(info, "DescribeCluster gives no certificate authority yet")
    try:
        ssl_context = ssl_context_for_ca(ca_pem=info.ca_pem)
    except (ssl.SSLError, ValueError) as error:
        raise AwsUnavailableError("eks", "DescribeCluster", cluster_name, "BadCertificateAuthority",
                                  f"certificateAuthority.data is not a usable CA ({type(error).__name__})") from None

    def make_token(now: datetime) -> Token:
        if role_arn:
            credentials = role_credentials()
            return eks_token(cluster_name, region, now=now, session=credentials.session(region),
                             sts_endpoint_url=sts_endpoint_url, credentials_expire_at=credentials.expires_at)
        return eks_token(cluster_name, region, now=now, session=base_session, sts_endpoint_url=sts_endpoint_url)

    def auth_header() -> str:
        return "Bearer " + token_cache.get(cluster_name, region, role_arn, make_token).value

    # Made now, so that missing credentials show at connect time rather than inside a probe.
    auth_header()
    api = KubeApi(
        server=info.endpoint,
        ssl_context=ssl_context,
        auth_header=auth_header,
        request_timeout_s=request_timeout_s,
        deadline=deadline,
    )
    return api, info

