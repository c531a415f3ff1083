"""Exceptions of cpwatch, split by what the caller must do.

Raised by kubeapi (transport outcomes), connect and settings (configuration). The probe runner
maps the transport errors to findings once; nothing branches on exception text.
"""


class CpwatchError(Exception):
    """Base of every error cpwatch raises on purpose."""


class ConfigError(CpwatchError):
    """Settings, kubeconfig or command line are wrong; the user must fix them (exit 64)."""


class CredentialsError(ConfigError):
    """The credentials a kubeconfig context asks for could not be obtained, so nothing was sent.

    Raised by exec_credentials (and connect, for token files) before any request: an exec
    plugin that is missing, fails, outlives the run's deadline, prints something that is not an
    ExecCredential, or returns one already expired; a token file that cannot be read; a token
    that cannot be sent in an HTTP header. `plugin` names the command (never a token);
    `reason` is one of: not_found, failed, timeout, bad_output, expired, interactive, unreadable;
    `detail` is one line (the first line of the plugin's stderr, or what is wrong).
    """

    def __init__(self, context: str, plugin: str, reason: str, detail: str):
        super().__init__(f"context {context}: {plugin}: {reason}: {detail}")
        self.context = context
        self.plugin = plugin
        self.reason = reason
        self.detail = detail


class ApiError(CpwatchError):
    """A call to the Kubernetes API did not give a usable answer."""

    def __init__(self, method: str, path: str, detail: str):
        super().__init__(f"{method} {path}: {detail}")
        self.method = method
        self.path = path
        self.detail = detail


class NoAnswerError(ApiError):
    """No HTTP answer came: refused, timed out, or closed without a response.

    From outside the cluster this is what an apiserver that is down or hung looks like.
    `reason` is one of: refused, timeout, closed.
    """

    def __init__(self, method: str, path: str, reason: str, detail: str):
        super().__init__(method, path, detail)
        self.reason = reason


class CannotConnectError(ApiError):
    """The checker cannot reach the apiserver for a reason of its own set-up.

    `reason` is one of: dns (name does not resolve), tls (certificate not trusted or wrong
    name), proxy. This says nothing about the control plane: cpwatch is blind.
    """

    def __init__(self, method: str, path: str, reason: str, detail: str):
        super().__init__(method, path, detail)
        self.reason = reason


class CertificateValidityError(NoAnswerError):
    """TLS verification failed only on time: the serving certificate (or its chain) is expired
    or not yet valid (OpenSSL verify_code 10 or 9). No client that verifies it can connect, so
    to everyone the apiserver gives no answer; whether the certificate otherwise chains to the
    trusted CA is checked by the health probe before it blames the apiserver."""

    def __init__(self, method: str, path: str, verify_code: int, detail: str):
        super().__init__(method, path, "expired-certificate" if verify_code == 10 else "not-yet-valid-certificate",
                         detail)
        self.verify_code = verify_code


class DeadlineExceededError(ApiError):
    """The run's deadline passed before this call could be made."""


class BadResponseError(ApiError):
    """An answer came but could not be parsed (truncated JSON, a proxy's HTML page, ...)."""


class ApiStatusError(ApiError):
    """The apiserver answered with an HTTP error status and (usually) a Status body."""

    def __init__(self, method: str, path: str, status: int, reason: str, message: str):
        super().__init__(method, path, f"HTTP {status} {reason}: {message}".strip())
        self.status = status
        self.reason = reason
        self.message = message


class UnauthorizedError(ApiStatusError):
    """401: the apiserver rejected the checker's credentials."""


class ForbiddenError(ApiStatusError):
    """403: RBAC (or admission) denied the request; the message names what is missing."""


class NotFoundError(ApiStatusError):
    """404: the object, namespace or API does not exist."""


class TooManyRequestsError(ApiStatusError):
    """429: API priority and fairness rejected the request."""


class ServerError(ApiStatusError):
    """5xx: the apiserver (or something behind it, like etcd) failed the request."""


def status_error_class(status: int) -> type[ApiStatusError]:
    """The ApiStatusError subclass for an HTTP status code."""
    if status == 401:
        return UnauthorizedError
    if status == 403:
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 429:
        return TooManyRequestsError
    if status >= 500:
        return ServerError
    return ApiStatusError


class AwsError(CpwatchError):
    """A call to an AWS API (EKS, STS, ...) did not give a usable answer.

    Raised by the aws/ modules. `code` is the AWS error code (AccessDeniedException,
    ThrottlingException, ...) or a cpwatch word for failures without one (NoCredentials, Unreachable). The message
    never contains credentials, tokens or presigned URLs.
    """

    advice = ""

    def __init__(self, service: str, operation: str, target: str, code: str, detail: str):
        text = f"{service} {operation} {target}: {code}: {detail}".strip()
        super().__init__(f"{text}; {self.advice}" if self.advice else text)
        self.service = service
        self.operation = operation
        self.target = target
        self.code = code
        self.detail = detail


class AwsAccessDeniedError(AwsError):
    """AWS refused cpwatch's credentials or permissions (AccessDenied, invalid or expired
    credentials, none found, role trust or external id wrong). Not retryable: cpwatch cannot see
    this cluster until IAM is fixed. Says nothing about the control plane."""

    advice = "cpwatch cannot see this cluster: check the IAM permissions and role trust of cpwatch's role"


class AwsNotFoundError(AwsError):
    """The named resource (an EKS cluster) does not exist in this account and region: the
    target is wrong or the cluster was deleted. Not retryable."""

    advice = "check the cluster name, region and account (role) in cpwatch's targets"


class AwsUnavailableError(AwsError):
    """AWS answered with throttling, a server error, or another error after the client's
    bounded retries. Retry on the next run; the run could not look."""


class AwsUnreachableError(AwsError):
    """No answer from the AWS API endpoint (refused, DNS, timeout). Retry on the next run; this
    is cpwatch's network or AWS's API, not the cluster's control plane."""


class EksClusterNotServingError(AwsError):
    """DescribeCluster answered, but the cluster has no endpoint or CA to connect to (CREATING,
    FAILED, DELETING). `cluster` is the ClusterInfo, for the caller to report as evidence."""

    def __init__(self, cluster, detail: str):
        super().__init__("eks", "DescribeCluster", cluster.name, cluster.status, detail)
        self.cluster = cluster


# AWS error codes that mean "slow down" (the throttling codes of botocore's standard retry mode).
AWS_THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
    "EC2ThrottledException",
})


class PublishError(CpwatchError):
    """SNS did not accept a notification. Raised by publish.py; the message names the topic and
    the AWS error code, never credentials. `retryable`: throttling, server errors and no answer
    (keep the notification in the outbox and publish it on the next run); False when retrying
    cannot help until someone fixes the deployment (topic missing, access denied, KMS key
    disabled, message rejected)."""

    def __init__(self, topic_arn: str, code: str, detail: str, retryable: bool):
        super().__init__(f"SNS Publish to {topic_arn}: {code}: {detail}"
                         + ("" if retryable else " (not retryable: fix the topic, its policy or key)"))
        self.topic_arn = topic_arn
        self.code = code
        self.detail = detail
        self.retryable = retryable
