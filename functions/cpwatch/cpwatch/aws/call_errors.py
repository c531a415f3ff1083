"""The one mapping of what a botocore call raises to the AwsError family of errors.py.

Used by every module that calls AWS; no message, repr or log line it builds carries a token, a
presigned URL or a secret key (redaction.redact).
"""

from __future__ import annotations

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from ..errors import (
    AwsAccessDeniedError,
    AwsNotFoundError,
    AwsUnavailableError,
    AwsUnreachableError,
    ConfigError,
)
from .redaction import redact

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


def aws_error(error: Exception, service: str, operation: str, target: str) -> Exception:
    """The cpwatch error for an exception raised by a botocore call (the one mapping)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = redact(str(details.get("Message") or ""))
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
                                   f"{type(error).__name__}: {redact(str(error))}"[:300])
    if isinstance(error, ParamValidationError):
        return ConfigError(f"{service} {operation} {target}: {redact(str(error))}")
    return error
