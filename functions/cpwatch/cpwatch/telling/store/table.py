"""The DynamoDB calls: execution claims, runs, alert state (conditional on its version), the name
index, and reading what was stored under a cluster's name before clusters were keyed by ARN.

Called by pipeline.py and publish.py (through pipeline's per-run wrapper) and cli.py. Item shapes
are store/items.py's; every DynamoDB failure becomes a StoreError here, once.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Iterator

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import CredentialRetrievalError, HTTPClientError, NoCredentialsError, PartialCredentialsError

from ..alerting import ClusterState
from ...errors import CpwatchError
from ...identity import ClusterIdentity
from . import items
from .items import STATE_SK, StoredRun, StoredState

PASSING_RUN_TTL = timedelta(days=7)
FAILING_RUN_TTL = timedelta(days=90)
CLAIM_TTL = timedelta(days=1)
# A state item under a cluster's name that a cluster's ARN took over lives as long as the longest
# kept run beside it, then expires with them.
LEGACY_STATE_TTL = FAILING_RUN_TTL
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
class LegacyCluster:
    """A cluster known only by the name its items were stored under before issue 17 (no run of
    this version has taken them over yet)."""

    name: str

    @property
    def arn(self) -> None:
        return None


class Store:
    def __init__(self, dynamodb_client, table_name: str):
        self._db = dynamodb_client
        self.table = table_name

    # --- execution claims --------------------------------------------------------------

    def claim_execution(self, cluster: ClusterIdentity, execution_id: str, now: datetime, claimant: str) -> None:
        """Record that `claimant` (one run) handles this execution; AlreadyClaimedError if another
        run did. The claimant's own claim passes: when DynamoDB applied the write and its answer
        was lost, the client's retry finds it."""
        item = {"pk": items.s(items.pk(cluster)), "sk": items.s(f"EXEC#{execution_id}"),
                "claimed_at": items.s(items.iso(now)), "claimed_by": items.s(claimant),
                "expires_at": items.n(int((now + CLAIM_TTL).timestamp()))}
        try:
            self._db.put_item(TableName=self.table, Item=item,
                              ConditionExpression="attribute_not_exists(pk) OR claimed_by = :claimant",
                              ExpressionAttributeValues={":claimant": items.s(claimant)})
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise AlreadyClaimedError(f"execution {execution_id} of {cluster.arn} was already handled") from None
            raise _store_error("claim execution", error) from None
        except _DYNAMODB_ERRORS as error:
            raise _store_error("claim execution", error) from None

    # --- runs --------------------------------------------------------------------------

    def put_run(self, cluster: ClusterIdentity, document: dict, run_id: str, execution_id: str | None, at: datetime,
                evidence=None, alerts: tuple[dict, ...] = ()) -> None:
        ttl = FAILING_RUN_TTL if document.get("overall") != "healthy" or alerts else PASSING_RUN_TTL
        item = items.run_item(items.pk(cluster), document, run_id, execution_id, at, at + ttl, evidence, alerts)
        self._call("store run", self._db.put_item, TableName=self.table, Item=item)

    def runs(self, cluster: ClusterIdentity | LegacyCluster, since: datetime,
             limit: int | None = None) -> Iterator[StoredRun]:
        """Runs of a cluster from `since` on, oldest first (with those stored under its name
        before, once it took them over)."""
        streams = [self._runs_under(key, legacy, since) for key, legacy in self._run_keys(cluster)]
        for returned, run in enumerate(heapq.merge(*streams, key=lambda r: r.at), start=1):
            yield run
            if limit is not None and returned >= limit:
                return

    def latest_run(self, cluster: ClusterIdentity | LegacyCluster, at: datetime, with_evidence: bool = False,
                   look_back: timedelta = FAILING_RUN_TTL) -> StoredRun | None:
        """The newest run at or before `at` (and after `at - look_back`), or with `with_evidence`
        the newest that holds an evidence pack; None when there is none."""
        found = [run for key, legacy in self._run_keys(cluster)
                 if (run := self._latest_under(key, legacy, at, with_evidence, look_back)) is not None]
        return max(found, key=lambda r: r.at, default=None)

    def knows(self, cluster: ClusterIdentity | LegacyCluster) -> bool:
        """Whether the table holds anything of this cluster (its alert state, a run or a claim)."""
        for key, _ in self._run_keys(cluster):
            page = self._call("read history", self._db.query, TableName=self.table, KeyConditionExpression="pk = :pk",
                              ExpressionAttributeValues={":pk": items.s(key)}, Limit=1, ProjectionExpression="pk")
            if page.get("Items"):
                return True
        return False

    # --- which cluster a name means ----------------------------------------------------

    def clusters_named(self, name: str) -> list[ClusterIdentity]:
        """Every cluster of this name the table holds state of (the name index), by ARN."""
        page = self._call("read history", self._db.query, TableName=self.table, KeyConditionExpression="pk = :pk",
                          ExpressionAttributeValues={":pk": items.s(items.name_pk(name))})
        return sorted((items.identity_from(item, name) for item in page.get("Items", [])), key=lambda c: c.arn)

    def legacy_owner(self, name: str) -> str | None | bool:
        """Of the items stored under `name` before ARN keys: the ARN that took them over, False
        when none did yet, None when there are none."""
        answer = self._call("read history", self._db.get_item, TableName=self.table,
                            Key={"pk": items.s(items.legacy_pk(name)), "sk": items.s(STATE_SK)},
                            ProjectionExpression="migrated_to")
        item = answer.get("Item")
        if item is None:
            return None
        return item.get("migrated_to", {}).get("S") or False

    # --- alert state -------------------------------------------------------------------

    def load_state(self, cluster: ClusterIdentity) -> StoredState:
        """The cluster's alert state; before its first save under the ARN, the one stored under
        its name (carried over, once: the save marks that item taken)."""
        item = self._get_state(items.pk(cluster))
        if item is not None:
            return items.state_from(item)
        legacy = self._get_state(items.legacy_pk(cluster.name))
        if legacy is not None and "migrated_to" not in legacy:
            stored = items.state_from(legacy)
            return replace(stored, inherited_from=stored.state.version)
        return StoredState(ClusterState())

    def save_state(self, cluster: ClusterIdentity, stored: StoredState, now: datetime) -> StoredState:
        """Write state and outbox if nobody wrote since `stored` was read; the new version back.
        The first save of a cluster also adds it to the name index (and takes over the item
        stored under its name, when that is where the state came from), in one transaction."""
        expected = stored.state.version
        new_version = expected + 1
        item = items.state_item(items.pk(cluster), stored, new_version, now)
        if stored.inherited_from is None and expected > 0:
            try:
                self._db.put_item(TableName=self.table, Item=item,
                                  ConditionExpression="attribute_not_exists(pk) OR version = :expected",
                                  ExpressionAttributeValues={":expected": items.n(expected)})
            except ClientError as error:
                if _code(error) == "ConditionalCheckFailedException":
                    raise StateConflictError(f"alert state of {cluster.arn} changed since version {expected}") from None
                raise _store_error("write alert state", error) from None
            except _DYNAMODB_ERRORS as error:
                raise _store_error("write alert state", error) from None
        else:
            self._first_save(cluster, stored, item, now)
        return StoredState(ClusterState(stored.state.components, new_version), stored.outbox, stored.stalls)

    def _first_save(self, cluster: ClusterIdentity, stored: StoredState, item: dict, now: datetime) -> None:
        writes = [{"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
                  {"Put": {"TableName": self.table, "Item": items.name_item(cluster, now)}}]
        if stored.inherited_from is not None:
            writes.append({"Update": {
                "TableName": self.table,
                "Key": {"pk": items.s(items.legacy_pk(cluster.name)), "sk": items.s(STATE_SK)},
                # The version moves too, so that a run of the old version still writing by it fails
                # its condition instead of replacing the item (and the marker) whole.
                "UpdateExpression": "SET migrated_to = :arn, expires_at = :expires, version = :next",
                "ConditionExpression": "version = :version AND attribute_not_exists(migrated_to)",
                "ExpressionAttributeValues": {":arn": items.s(cluster.arn), ":version": items.n(stored.inherited_from),
                                              ":next": items.n(stored.inherited_from + 1),
                                              ":expires": items.n(int((now + LEGACY_STATE_TTL).timestamp()))}}})
        try:
            self._db.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if _code(error) == "TransactionCanceledException" and "ConditionalCheckFailed" in _reasons(error):
                raise StateConflictError(f"alert state of {cluster.arn} was written first by another invocation") from None
            raise _store_error("write alert state", error) from None
        except _DYNAMODB_ERRORS as error:
            raise _store_error("write alert state", error) from None

    # --- reading -----------------------------------------------------------------------

    def _get_state(self, key: str) -> dict | None:
        answer = self._call("read alert state", self._db.get_item, TableName=self.table,
                            Key={"pk": items.s(key), "sk": items.s(STATE_SK)}, ConsistentRead=True)
        return answer.get("Item")

    def _run_keys(self, cluster: ClusterIdentity | LegacyCluster) -> list[tuple[str, bool]]:
        """(partition key, stored before ARN keys) of everything that is this cluster's."""
        if isinstance(cluster, LegacyCluster):
            return [(items.legacy_pk(cluster.name), True)]
        keys = [(items.pk(cluster), False)]
        if self.legacy_owner(cluster.name) == cluster.arn:
            keys.append((items.legacy_pk(cluster.name), True))
        return keys

    def _runs_under(self, key: str, legacy: bool, since: datetime) -> Iterator[StoredRun]:
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {":pk": items.s(key), ":from": items.s(f"RUN#{items.iso(since)}"),
                                          ":to": items.s("RUN#~")},
        }
        while True:
            page = self._call("read history", self._db.query, **kwargs)
            for item in page.get("Items", []):
                yield items.run_from(item, legacy)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _latest_under(self, key: str, legacy: bool, at: datetime, with_evidence: bool,
                      look_back: timedelta) -> StoredRun | None:
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {":pk": items.s(key), ":from": items.s(f"RUN#{items.iso(at - look_back)}"),
                                          ":to": items.s(f"RUN#{items.iso(at)}#~")},
            "ScanIndexForward": False,
        }
        if with_evidence:
            kwargs["FilterExpression"] = "attribute_exists(evidence)"
        else:
            kwargs["Limit"] = 1
        while True:
            page = self._call("read history", self._db.query, **kwargs)
            for item in page.get("Items", []):
                return items.run_from(item, legacy)
            if "LastEvaluatedKey" not in page:
                return None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _call(self, what: str, method, **kwargs):
        try:
            return method(**kwargs)
        except _DYNAMODB_ERRORS as error:
            raise _store_error(what, error) from None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _reasons(error: ClientError) -> str:
    return " ".join(str(r.get("Code")) for r in error.response.get("CancellationReasons") or ())


def _store_error(what: str, error: Exception) -> StoreError:
    if isinstance(error, ClientError):
        return StoreError(f"DynamoDB could not {what}: {_code(error)}")
    if isinstance(error, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return StoreError(f"DynamoDB could not {what}: no usable AWS credentials ({type(error).__name__})")
    return StoreUnreachableError(f"DynamoDB could not {what}: {type(error).__name__} (endpoint unreachable)")
