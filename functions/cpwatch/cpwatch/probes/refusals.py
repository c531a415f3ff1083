"""Why the apiserver refused a write: etcd, an admission webhook or policy, throttling, or RBAC.

Called by the probes that write (the etcd heartbeat and the canaries) when a write fails. A
failed write alone does not mean etcd: a fail-closed admission webhook, a policy, API Priority
and Fairness or RBAC refuse writes too, with etcd perfectly fine. Kubernetes names the cause only
in the Status `message` (there is no structured field for it), so this is the one place that
reads that text; everything else works with the Refusal it returns. The phrasings come from
k8s.io/apiserver: pkg/util/webhook/error.go ("failed calling webhook %q: ..."),
pkg/admission/plugin/webhook/errors/statuserror.go ("admission webhook %q denied the request"),
pkg/admission/plugin/policy/validating/dispatcher.go ("ValidatingAdmissionPolicy '%s' ...
denied request"), etcd's rpctypes ("etcdserver: ...", "etcdserver: mvcc: database space
exceeded") and pkg/admission/plugin/resourcequota ("resource quota evaluation timed out", which
waits on a quota write to etcd).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from ..errors import ApiStatusError, ForbiddenError, TooManyRequestsError


class Cause(str, Enum):
    ETCD_NOSPACE = "etcd-nospace"  # etcd's NOSPACE alarm: every write refused
    STORAGE = "storage"  # etcd failed or timed out on the write
    WEBHOOK_UNREACHABLE = "webhook-unreachable"  # a fail-closed webhook could not be called
    WEBHOOK_DENIED = "webhook-denied"  # a webhook answered and said no
    POLICY_DENIED = "policy-denied"  # a ValidatingAdmissionPolicy (CEL) said no
    THROTTLED = "throttled"  # API Priority and Fairness (429)
    FORBIDDEN = "forbidden"  # RBAC: the checker may not write this
    OTHER = "other"  # an error none of the above explains


@dataclass(frozen=True)
class Refusal:
    cause: Cause
    status: int
    detail: str  # the Status message on one line
    webhook: str = ""  # the webhook or policy named in the message
    webhook_cause: str = ""  # what calling the webhook failed with (refused, deadline, TLS ...)

    @property
    def is_etcd(self) -> bool:
        return self.cause in (Cause.ETCD_NOSPACE, Cause.STORAGE)

    @property
    def is_admission(self) -> bool:
        return self.cause in (Cause.WEBHOOK_UNREACHABLE, Cause.WEBHOOK_DENIED, Cause.POLICY_DENIED)


_WEBHOOK_CALL = re.compile(r'failed calling (?:admission )?webhook "(?P<name>[^"]+)"[:;]?\s*(?P<cause>.*)')
_WEBHOOK_DENIAL = re.compile(r'admission webhook "(?P<name>[^"]+)" (?:denied the request|does not support dry run)')
_POLICY_DENIAL = re.compile(
    r"""(?:Validating|Mutating)AdmissionPolicy ['"](?P<name>[^'"]+)['"].*denied request""")
_NOSPACE = re.compile(r"database space exceeded|mvcc: database space exceeded|NOSPACE", re.IGNORECASE)
_STORAGE = re.compile(
    r"etcdserver: |rpc error: code = (?:Unavailable|DeadlineExceeded|ResourceExhausted)|"
    r"etcd cluster is unavailable|resource quota evaluation timed out")
# 504: the apiserver's own request deadline passed while the write waited (on etcd, most often).
_TIMEOUT_REASONS = ("Timeout", "ServerTimeout")


def classify(error: ApiStatusError) -> Refusal:
    """The cause of a refused request, from the HTTP status and the Status message."""
    detail = " ".join(error.message.split())[:300] or f"HTTP {error.status} {error.reason}".strip()
    if isinstance(error, TooManyRequestsError):
        return Refusal(Cause.THROTTLED, error.status, detail)
    refusal = classify_message(detail, error.status, error.reason)
    if refusal.cause is Cause.OTHER and isinstance(error, ForbiddenError):
        return Refusal(Cause.FORBIDDEN, error.status, detail)
    return refusal


def classify_message(message: str, status: int = 500, reason: str = "") -> Refusal:
    """The cause of a refusal known only by its message: one a component met and Kubernetes wrote
    down (a pod condition, an event), or a refused request's Status message."""
    detail = " ".join(message.split())[:300]
    # Webhooks first: a webhook's own failure can read "context deadline exceeded" too.
    if match := _WEBHOOK_CALL.search(detail):
        cause = " ".join(match["cause"].split())
        return Refusal(Cause.WEBHOOK_UNREACHABLE, status, detail, match["name"], _short_cause(cause))
    if match := _WEBHOOK_DENIAL.search(detail):
        return Refusal(Cause.WEBHOOK_DENIED, status, detail, match["name"])
    if match := _POLICY_DENIAL.search(detail):
        return Refusal(Cause.POLICY_DENIED, status, detail, match["name"])
    if _NOSPACE.search(detail):
        return Refusal(Cause.ETCD_NOSPACE, status, detail)
    # etcd errors reach the client as 500, or as 403 when an admission plugin (NamespaceLifecycle)
    # failed its own read of the namespace on them.
    if _STORAGE.search(detail) or status == 504 or reason in _TIMEOUT_REASONS:
        return Refusal(Cause.STORAGE, status, detail)
    return Refusal(Cause.OTHER, status, detail)


def _short_cause(cause: str) -> str:
    """The end of a webhook call error: 'connect: connection refused', 'context deadline
    exceeded', 'x509: certificate signed by unknown authority' (the URL before it is noise)."""
    markers = ("connect: ", "x509: ", "tls: ", "context deadline exceeded", "no such host",
               "no endpoints available", "service \"")
    found = [at for at in (cause.find(marker) for marker in markers) if at >= 0]
    return cause[min(found):][:160] if found else cause[-160:]
