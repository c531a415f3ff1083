"""Getting notifications to SNS: the outbox (a transition's notification is stored with the
alert state before it is published and dropped once SNS accepted it), the SNS publish call, and
the one mapping of SNS errors to PublishError.

Called by pipeline.check_cluster (`deliver`, once per cluster run, with that run's transitions)
and by tests (`publish`). Notifications that SNS did not accept stay in the outbox and are
published by the next run; one whose publisher died is taken over after OUTBOX_TAKEOVER.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Mapping

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import (
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from .alerting import ClusterState, Transition
from ..aws.clients import aws_client
from ..errors import PublishError
from ..identity import ClusterIdentity
from .store import OutboxEntry, StateConflictError, Store, StoredState, StoreError
from ..judging.wedged import Streak

if TYPE_CHECKING:
    from .notification import Notification

log = logging.getLogger(__name__)

# An outbox entry another invocation started publishing is taken over after this long (longer
# than the function's timeout, so its publisher is certainly gone).
OUTBOX_TAKEOVER = timedelta(minutes=2)

# SNS error codes after which publishing again cannot succeed until someone changes the
# deployment (topic, its access policy, its KMS key) or cpwatch (a rejected parameter).
_PERMANENT_CODES = frozenset({
    "NotFound", "NotFoundException", "AuthorizationError", "AccessDenied", "AccessDeniedException",
    "InvalidParameter", "InvalidParameterValue", "ValidationError", "InvalidSecurity",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
    "KMSDisabled", "KMSAccessDenied", "KMSNotFound", "KMSInvalidState", "KMSOptInRequired",
    "EndpointDisabled",
})
# Worth another try on the next run: throttling, SNS or KMS trouble, and expired temporary
# credentials (the next Lambda invocation gets fresh ones).
_RETRYABLE_CODES = frozenset({
    "Throttled", "Throttling", "ThrottlingException", "KMSThrottling", "InternalError",
    "InternalFailure", "ServiceUnavailable", "RequestTimeout", "ExpiredToken", "ExpiredTokenException",
})


@dataclass(frozen=True)
class Delivery:
    published: int = 0  # notifications SNS accepted in this run
    undelivered: int = 0  # notifications SNS did not accept: in the outbox, tried again next run


def deliver(store: Store, sns, topic_arn: str | None, cluster: ClusterIdentity, loaded: StoredState,
            state: ClusterState, stalls: Mapping[str, Streak], transitions: list[Transition], document: dict,
            dashboard_url: str | None, clock: Callable[[], datetime], notes: list[str],
            packs: Mapping[str, str] | None = None, evidence_command: str | None = None) -> Delivery:
    """Save the new alert state (and wedged.py's streaks) with the notifications of `transitions`
    (and the outbox's due entries) in its outbox, publish them, settle the outbox; how many SNS
    accepted, and not. `packs`: the evidence pack of each component that has one in this run."""
    now = clock()
    packs = packs or {}
    new_entries = [outbox_entry(cluster, t, document, dashboard_url, packs.get(t.component), evidence_command)
                   for t in transitions]
    due = [e for e in loaded.outbox if e.attempted_at is None or now - e.attempted_at > OUTBOX_TAKEOVER]
    waiting = [e for e in loaded.outbox if e not in due]
    sending = [replace(e, attempted_at=now) for e in (*due, *new_entries)]
    try:
        saved = store.save_state(cluster, StoredState(state, tuple(waiting + sending), stalls, loaded.inherited_from),
                                 now)
    except StateConflictError:
        notes.append("another invocation updated the alert state first; it notifies")
        log.warning("%s: alert state changed under this run; leaving notifications to the other invocation",
                    cluster.arn)
        return Delivery()
    except StoreError as error:
        notes.append(f"alert state not saved: {error}")
        log.error("%s: alert state not saved (%s); transitions are decided again next run", cluster.arn, error)
        return Delivery(undelivered=len(new_entries))
    if not sending:
        return Delivery()
    if not topic_arn or sns is None:
        notes.append("no topic configured: notifications not sent")
        return Delivery()
    delivered, failed = [], []
    silent = False  # SNS gave no answer: the rest waits for the next run instead of the same timeouts
    for entry in sending:
        if silent:
            failed.append(entry)
            continue
        try:
            from .notification import Notification  # only when there is something to send (cold start)
            publish(sns, topic_arn, Notification.from_dict(entry.notification))
            delivered.append(entry)
        except PublishError as error:
            failed.append(entry)
            notes.append(f"notification {entry.key} not sent yet: {error}")
            log.error("%s: %s (kept in the outbox, retried next run)", cluster.arn, error)
            silent = error.code in ("Timeout", "Unreachable")
    _settle_outbox(store, cluster, saved, delivered, failed, clock, notes)
    return Delivery(len(delivered), len(failed))


def outbox_entry(cluster: ClusterIdentity, transition: Transition, document: dict, dashboard_url: str | None,
                 evidence_pack: str | None = None, evidence_command: str | None = None) -> OutboxEntry:
    from .notification import build_notification  # the message texts: only runs that notify need them
    notification = build_notification(cluster, transition, document, dashboard_url, evidence_pack=evidence_pack,
                                      evidence_command=evidence_command if evidence_pack else None)
    key = f"{cluster.arn}/{transition.component}/{transition.kind.value}/{transition.at.isoformat()}"
    return OutboxEntry(key=key, notification=notification.to_dict())


def publish(sns_client, topic_arn: str, notification: Notification) -> str:
    """Publish one notification; returns SNS's MessageId. Raises PublishError.

    `sns_client`: None makes one with aws_client (bounded timeouts and retries) in the
    topic's region.
    """
    from .notification_size import sns_message
    if sns_client is None:
        sns_client = _default_client(topic_arn)
    try:
        answer = sns_client.publish(
            TopicArn=topic_arn,
            Subject=notification.subject,
            Message=sns_message(notification),
            MessageStructure="json",
            MessageAttributes={name: {"DataType": "String", "StringValue": value}
                               for name, value in notification.attributes.items()},
        )
    except (ClientError, BotoConnectionError, HTTPClientError, NoCredentialsError, PartialCredentialsError,
            CredentialRetrievalError, ParamValidationError) as error:
        raise publish_error(error, topic_arn) from error
    return answer["MessageId"]


def publish_error(error: Exception, topic_arn: str) -> PublishError:
    """The PublishError for an exception of a botocore SNS call (the one mapping)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        detail = f"HTTP {status}: {str(details.get('Message') or '')[:300]}"
        retryable = code in _RETRYABLE_CODES or (code not in _PERMANENT_CODES and (status >= 500 or status == 429))
        return PublishError(topic_arn, code, detail, retryable)
    if isinstance(error, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return PublishError(topic_arn, "NoCredentials", f"no usable AWS credentials ({type(error).__name__})", False)
    if isinstance(error, ParamValidationError):
        return PublishError(topic_arn, "InvalidRequest", str(error)[:300], False)
    # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError, SSLError,
    # ReadTimeoutError, ConnectionClosedError: botocore has already retried.
    code = "Timeout" if isinstance(error, ReadTimeoutError) else "Unreachable"
    return PublishError(topic_arn, code, f"{type(error).__name__}: {str(error)[:300]}", True)


def _settle_outbox(store: Store, cluster: ClusterIdentity, saved: StoredState, delivered: list[OutboxEntry],
                   failed: list[OutboxEntry], clock: Callable[[], datetime], notes: list[str]) -> None:
    """Drop the delivered notifications from the outbox and hand the failed ones back (due on the
    next run, not only after OUTBOX_TAKEOVER). The state may have been written meanwhile by an
    overlapping invocation: then it is read again and the same change applied, so a delivered
    notification is never left behind for a later run to publish a second time."""
    if not delivered and not failed:
        return
    sent = {entry.key for entry in delivered}
    ours = {(entry.key, entry.attempted_at) for entry in failed}  # not if another run took it over since
    current = saved
    for _ in range(3):
        outbox = tuple(replace(e, attempted_at=None) if (e.key, e.attempted_at) in ours else e
                       for e in current.outbox if e.key not in sent)
        try:
            store.save_state(cluster, replace(current, outbox=outbox, inherited_from=None), clock())
            return
        except StateConflictError:
            try:
                current = store.load_state(cluster)
            except StoreError as error:
                problem = error
                break
        except StoreError as error:
            problem = error
            break
    else:
        problem = StoreError("the alert state kept changing")
    notes.append(f"outbox not settled: {problem}")
    log.error("%s: outbox not settled (%s); sent notifications may be sent again after %s", cluster.arn, problem,
              OUTBOX_TAKEOVER)


def _default_client(topic_arn: str):
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3]:
        raise PublishError(topic_arn, "InvalidTopicArn", "not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)",
                           False)
    return aws_client("sns", parts[3])
