"""A cross-account role: sts:AssumeRole, and its credentials cached until shortly before expiry.

Called by eks_connect (the Lambda's connection to a cluster in another account) and the handler
(the role's session for EC2). No repr or message carries a secret key or session token.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import boto3

from ..errors import ConfigError
from .call_errors import AWS_CALL_ERRORS, aws_error
from .clients import aws_client, regional_sts_url

# A URL signed with temporary credentials stops working when they expire, whatever its age:
# tokens signed with role credentials are dropped, and the credentials renewed, this long
# before the credentials' expiry.
CREDENTIALS_MARGIN = timedelta(minutes=1)
# The shortest session AssumeRole grants; cpwatch needs it for one token (14 min) at a time.
ROLE_DURATION_S = 900


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


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
