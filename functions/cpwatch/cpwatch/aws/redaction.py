"""What a secret cpwatch handles looks like, and its removal from text that leaves the process.

Used by call_errors (AWS error messages) and eks_token (the token's prefix).
"""

from __future__ import annotations

import re

# The EKS bearer token: this prefix + unpadded URL-safe base64 of a presigned STS URL.
TOKEN_PREFIX = "k8s-aws-v1."

_SECRET_PATTERNS = (
    re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]+"),
    re.compile(r"(X-Amz-(?:Signature|Security-Token|Credential)=)[^&\s]+", re.IGNORECASE),
)


def redact(text: str) -> str:
    """Defensive: AWS messages carry no secrets, but a token or presigned URL never passes."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else TOKEN_PREFIX) + "<redacted>", text)
    return text[:500]
