"""The EKS bearer token, and a cache that reuses one for at most 14 minutes.

Called by eks_connect (each request's Authorization header). The token is what
`aws eks get-token`, eks-token and aws-iam-authenticator build: `k8s-aws-v1.` + unpadded
URL-safe base64 of an STS GetCallerIdentity URL presigned for 60 s on the regional STS
endpoint, with the header `x-k8s-aws-id: <cluster name>` among the signed headers. The EKS
authenticator replays that URL to STS; presigning is local (no network call). No repr or
message carries the token.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import boto3
from botocore.exceptions import CredentialRetrievalError, NoCredentialsError, PartialCredentialsError

from .call_errors import aws_error
from .clients import aws_client, check_region, regional_sts_url
from .eks_cluster import check_cluster_name
from .redaction import TOKEN_PREFIX
from .role_chain import CREDENTIALS_MARGIN

K8S_AWS_ID_HEADER = "x-k8s-aws-id"
# The CLI and aws-iam-authenticator presign for 60 s, but the EKS authenticator judges age by
# X-Amz-Date and accepts the URL for 15 minutes; like `aws eks get-token` (which reports
# expirationTimestamp = now + 14 min), cpwatch reuses a token for at most 14 minutes.
PRESIGN_EXPIRES_S = 60
TOKEN_LIFETIME = timedelta(minutes=14)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


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
