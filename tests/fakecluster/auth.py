"""Authentication: verified client certificates, then a token table plus an optional validator hook.

Who calls it: the API layer, first thing for every request. As kube-apiserver's union
authenticator, a client certificate that chains to the cluster's CA (the TLS layer verified it)
is tried before bearer tokens: its CommonName is the user, its Organizations the groups, and
`system:authenticated` is added. The hook lets a test accept token
shapes the table cannot hold, such as EKS tokens (`k8s-aws-v1.` + base64url of a presigned STS
URL), by returning the identity the token maps to, or None to refuse it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...]


TokenValidator = Callable[[str], "tuple[str, tuple[str, ...] | list[str]] | Identity | None"]


class Authenticator:
    def __init__(self, validator: TokenValidator | None = None) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, Identity] = {}
        self.validator = validator

    def add_token(self, token: str, user: str, groups: tuple[str, ...] | list[str]) -> None:
        with self._lock:
            self._tokens[token] = Identity(user, tuple(groups))

    def remove_token(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def authenticate(self, authorization: str | None,
                     client_certificate: tuple[str, tuple[str, ...]] | None = None) -> Identity | None:
        if client_certificate is not None:
            user, groups = client_certificate
            return Identity(user, tuple(dict.fromkeys((*groups, "system:authenticated"))))
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        with self._lock:
            identity = self._tokens.get(token)
        if identity is not None:
            return identity
        if self.validator is None:
            return None
        result = self.validator(token)
        if result is None or isinstance(result, Identity):
            return result
        user, groups = result
        return Identity(user, tuple(groups))
