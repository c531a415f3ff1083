"""DescribeCluster, an optional cross-account role and the EKS token together -> KubeApi.

Called by the Lambda wiring (handler). Errors are the AwsError family of errors.py and
EksClusterNotServingError; no message carries a token or a credential.
"""

from __future__ import annotations

import ssl
from datetime import datetime

import boto3

from ..cluster.connect import ssl_context_for_ca
from ..errors import AwsUnavailableError, EksClusterNotServingError
from ..cluster.kubeapi import KubeApi
from ..timeutil import Deadline
from .clients import aws_client, check_region
from .eks_cluster import ClusterInfo, check_cluster_name, describe_cluster
from .eks_token import Token, TokenCache, eks_token
from .role_chain import CredentialsCache, RoleCredentials, assumed_credentials


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
