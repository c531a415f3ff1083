"""DynamoDB adapter: the only module that knows item shapes.

Called by pipeline.py (runs, alert state, execution claims) and cli.py (`cpwatch history`).
One table, partition key `pk`, sort key `sk`, TTL attribute `expires_at`:

- run item    pk=CLUSTER#<name>  sk=RUN#<iso time>#<run id>   one per check: the diagnosis
  document (zlib-compressed JSON), overall verdict, component verdicts, execution id; failing runs are kept
  longer than passing ones. A run with an alarm or reminder also holds `evidence`: the evidence
  pack of each such component (zlib-compressed JSON, component -> text).
- state item  pk=CLUSTER#<name>  sk=STATE   per-component alert state, an outbox of
  notifications not yet published, and `version`, which every write checks and bumps, so two
  overlapping invocations never both act on the same state.
- claim item  pk=CLUSTER#<name>  sk=EXEC#<execution id>   written once per scheduler execution:
  a redelivered event finds it and does nothing.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterator, Mapping

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import CredentialRetrievalError, HTTPClientError, NoCredentialsError, PartialCredentialsError

from .alerting import ClusterState, ComponentState
from .errors import CpwatchError

PASSING_RUN_TTL = timedelta(days=7)
FAILING_RUN_TTL = timedelta(days=90)
CLAIM_TTL = timedelta(days=1)
# What a DynamoDB call raises when DynamoDB cannot be used: an AWS error answer, no answer, or no
# usable credentials (the same credentials usually fail every AWS call of the run).
_DYNAMODB_ERRORS = (ClientError, BotoConnectionError, HTTPClientError, NoCredentialsError, PartialCredentialsError,
                    CredentialRetrievalError)


class StoreError(CpwatchError):
    """DynamoDB could not be read or written (unavailable, throttled, denied)."""


class StoreUnreachableError(StoreError):
    """DynamoDB gave no answer (refused, timed out, connection closed) after the client's retries."""


class StateConflictError(StoreError):
    """The state item changed since it was read: another invocation wrote first."""


class AlreadyClaimedError(StoreError):
    """This scheduler execution was already handled (a redelivered event)."""


@dataclass(frozen=True)
class StoredRun:
    at: datetime
    overall: str
    components: dict[str, str]  # component -> verdict
    execution_id: str | None
    document: dict
    evidence: Mapping[str, str] = field(default_factory=dict)  # component -> evidence pack


@dataclass(frozen=True)
class OutboxEntry:
    """A notification decided but not yet published (kept until SNS accepted it)."""

    key: str  # cluster/component/kind/at: unique per transition
    notification: dict  # notification.Notification fields
    attempted_at: datetime | None = None


@dataclass(frozen=True)
class StoredState:
    state: ClusterState
    outbox: tuple[OutboxEntry, ...] = ()


class Store:
    def __init__(self, dynamodb_client, table_name: str):
        self._db = dynamodb_client
        self.table = table_name

    # --- execution claims --------------------------------------------------------------

    def claim_execution(self, cluster: str, execution_id: str, now: datetime) -> None:
        """Record that this execution is being handled; AlreadyClaimedError if it was."""
        item = {"pk": _s(_pk(cluster)), "sk": _s(f"EXEC#{execution_id}"), "claimed_at": _s(_iso(now)),
                "expires_at": _n(int((now + CLAIM_TTL).timestamp()))}
        try:
            self._db.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise AlreadyClaimedError(f"execution {execution_id} of {cluster} was already handled") from None
            raise _store_error("claim execution", error) from None
        except _DYNAMODB_ERRORS as error:
            raise _store_error("claim execution", error) from None

    # --- runs --------------------------------------------------------------------------

    def put_run(self, cluster: str, document: dict, run_id: str, execution_id: str | None, at: datetime,
                evidence: Mapping[str, str] | None = None) -> None:
        failing = document.get("overall") != "healthy"
        ttl = FAILING_RUN_TTL if failing else PASSING_RUN_TTL
        item = {
            "pk": _s(_pk(cluster)),
            "sk": _s(f"RUN#{_iso(at)}#{run_id}"),
            "overall": _s(str(document.get("overall"))),
            "components": {"M": {name: _s(str(c.get("verdict"))) for name, c in (document.get("components") or {}).items()}},
            # zlib: a 4 KB diagnosis document costs 5 write units as text, 2 compressed.
            "document": {"B": zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)},
            "expires_at": _n(int((at + ttl).timestamp())),
        }
        if execution_id:
            item["execution_id"] = _s(execution_id)
        if evidence:
            item["evidence"] = {"B": zlib.compress(json.dumps(dict(evidence)).encode(), 6)}
        self._call("store run", self._db.put_item, TableName=self.table, Item=item)

    def runs(self, cluster: str, since: datetime, limit: int | None = None) -> Iterator[StoredRun]:
        """Runs of a cluster from `since` on, oldest first."""
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {":pk": _s(_pk(cluster)), ":from": _s(f"RUN#{_iso(since)}"), ":to": _s("RUN#~")},
        }
        returned = 0
        while True:
            page = self._call("read history", self._db.query, **kwargs)
            for item in page.get("Items", []):
                yield _run_from_item(item)
                returned += 1
                if limit is not None and returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def latest_run(self, cluster: str, at: datetime, with_evidence: bool = False,
                   look_back: timedelta = FAILING_RUN_TTL) -> StoredRun | None:
        """The newest run at or before `at` (and after `at - look_back`), or with `with_evidence`
        the newest that holds an evidence pack; None when there is none."""
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {":pk": _s(_pk(cluster)), ":from": _s(f"RUN#{_iso(at - look_back)}"),
                                          ":to": _s(f"RUN#{_iso(at)}#~")},
            "ScanIndexForward": False,
        }
        if with_evidence:
            kwargs["FilterExpression"] = "attribute_exists(evidence)"
        else:
            kwargs["Limit"] = 1
        while True:
            page = self._call("read history", self._db.query, **kwargs)
            for item in page.get("Items", []):
                return _run_from_item(item)
            if "LastEvaluatedKey" not in page:
                return None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def knows(self, cluster: str) -> bool:
        """Whether the table holds anything of this cluster (its alert state, a run or a claim)."""
        page = self._call("read history", self._db.query, TableName=self.table, KeyConditionExpression="pk = :pk",
                          ExpressionAttributeValues={":pk": _s(_pk(cluster))}, Limit=1, ProjectionExpression="pk")
        return bool(page.get("Items"))

    # --- alert state -------------------------------------------------------------------

    def load_state(self, cluster: str) -> StoredState:
        answer = self._call("read alert state", self._db.get_item, TableName=self.table,
                            Key={"pk": _s(_pk(cluster)), "sk": _s("STATE")}, ConsistentRead=True)
        item = answer.get("Item")
        if not item:
            return StoredState(ClusterState())
        components = json.loads(item.get("components", {}).get("S", "{}"))
        outbox = json.loads(item.get("outbox", {}).get("S", "[]"))
        return StoredState(
            state=ClusterState(components={name: _component_from(data) for name, data in components.items()},
                               version=int(item["version"]["N"])),
            outbox=tuple(_outbox_from(entry) for entry in outbox),
        )

    def save_state(self, cluster: str, stored: StoredState, now: datetime) -> StoredState:
        """Write state and outbox if nobody wrote since `stored` was read; the new version back."""
        expected = stored.state.version
        new_version = expected + 1
        item = {
            "pk": _s(_pk(cluster)),
            "sk": _s("STATE"),
            "version": _n(new_version),
            "updated_at": _s(_iso(now)),
            "components": _s(json.dumps({name: _component_to(c) for name, c in stored.state.components.items()})),
            "outbox": _s(json.dumps([_outbox_to(entry) for entry in stored.outbox])),
        }
        try:
            self._db.put_item(TableName=self.table, Item=item,
                              ConditionExpression="attribute_not_exists(pk) OR version = :expected",
                              ExpressionAttributeValues={":expected": _n(expected)})
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise StateConflictError(f"alert state of {cluster} changed since version {expected}") from None
            raise _store_error("write alert state", error) from None
        except _DYNAMODB_ERRORS as error:
            raise _store_error("write alert state", error) from None
        return StoredState(ClusterState(stored.state.components, new_version), stored.outbox)

    def _call(self, what: str, method, **kwargs):
        try:
            return method(**kwargs)
        except _DYNAMODB_ERRORS as error:
            raise _store_error(what, error) from None


def _pk(cluster: str) -> str:
    return f"CLUSTER#{cluster}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _s(value: str) -> dict:
    return {"S": value}


def _n(value: int) -> dict:
    return {"N": str(value)}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _store_error(what: str, error: Exception) -> StoreError:
    if isinstance(error, ClientError):
        return StoreError(f"DynamoDB could not {what}: {_code(error)}")
    if isinstance(error, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return StoreError(f"DynamoDB could not {what}: no usable AWS credentials ({type(error).__name__})")
    return StoreUnreachableError(f"DynamoDB could not {what}: {type(error).__name__} (endpoint unreachable)")


def _component_to(state: ComponentState) -> dict:
    return {"alarm": state.alarm, "since": state.since and _iso(state.since), "bad_looks": state.bad_looks,
            "good_looks": state.good_looks, "last_notified": state.last_notified and _iso(state.last_notified),
            "first_bad": state.first_bad and _iso(state.first_bad)}


def _component_from(data: dict) -> ComponentState:
    return ComponentState(alarm=bool(data.get("alarm")), since=_parse_iso(data.get("since")),
                          bad_looks=int(data.get("bad_looks") or 0), good_looks=int(data.get("good_looks") or 0),
                          last_notified=_parse_iso(data.get("last_notified")), first_bad=_parse_iso(data.get("first_bad")))


def _outbox_to(entry: OutboxEntry) -> dict:
    return {"key": entry.key, "notification": entry.notification,
            "attempted_at": entry.attempted_at and _iso(entry.attempted_at)}


def _outbox_from(data: dict) -> OutboxEntry:
    return OutboxEntry(key=data["key"], notification=data["notification"], attempted_at=_parse_iso(data.get("attempted_at")))


def _run_from_item(item: dict) -> StoredRun:
    sort_key = item["sk"]["S"]  # RUN#<iso>#<run id>
    return StoredRun(
        at=_parse_iso(sort_key.split("#")[1]),
        overall=item.get("overall", {}).get("S", "unknown"),
        components={name: value["S"] for name, value in item.get("components", {}).get("M", {}).items()},
        execution_id=item.get("execution_id", {}).get("S"),
        document=document_of(item),
        evidence=json.loads(zlib.decompress(item["evidence"]["B"])) if "evidence" in item else {},
    )


def document_of(run_item: dict) -> dict:
    """The diagnosis document of a run item as DynamoDB returns it (low-level attribute values)."""
    stored = run_item.get("document", {})
    if "B" in stored:
        return json.loads(zlib.decompress(stored["B"]))
    return json.loads(stored.get("S", "{}"))
