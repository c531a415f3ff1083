"""The DynamoDB adapter against moto in server mode: conditional writes, claims, history, keys by
ARN (two clusters of one name share nothing), the name index, and what an upgrade finds stored
under the cluster's name (issue 17)."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from cpwatch.aws.clients import AFTER_CHECK_CLIENT_CONFIG, aws_client
from cpwatch.telling.alerting import ClusterState, ComponentState
from cpwatch.identity import ClusterIdentity
from cpwatch.telling.store import (LEGACY_STATE_TTL, AlreadyClaimedError, LegacyCluster, OutboxEntry, StateConflictError,
                           Store, StoredState, StoreError)
from cpwatch.judging.wedged import Sighting, Streak
from tests.aws.moto_server import create_table, forward

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
PROD_A = ClusterIdentity("prod-a", "eu-west-1", "123456789012")
PROD_B = ClusterIdentity("prod-b", "eu-west-1", "123456789012")
PROD_A_US = ClusterIdentity("prod-a", "us-east-1", "123456789012")
PROD_A_MEMBER = ClusterIdentity("prod-a", "eu-west-1", "210987654321")


@pytest.fixture
def store(aws_env):
    return Store(aws_env.client("dynamodb"), create_table(aws_env))


def document(overall: str, **components: str) -> dict:
    verdicts = {"apiserver": "healthy", "etcd": "healthy", "controller-manager": "healthy", "scheduler": "healthy",
                **{k.replace("_", "-"): v for k, v in components.items()}}
    return {"overall": overall, "summary": f"x: {overall}", "components": {k: {"verdict": v} for k, v in verdicts.items()}}


def test_an_execution_is_claimed_once(store):
    store.claim_execution(PROD_A, "exec-1", T0, "run-1")
    with pytest.raises(AlreadyClaimedError):
        store.claim_execution(PROD_A, "exec-1", T0, "run-2")
    store.claim_execution(PROD_B, "exec-1", T0, "run-2")  # per cluster
    store.claim_execution(PROD_A_US, "exec-1", T0, "run-2")  # per cluster, not per name


@contextmanager
def answer_losing_relay(upstream: str, lose: bytes) -> Iterator[tuple[list[bytes], str]]:
    """HTTP between botocore and moto that forwards every request and, for the first one whose
    body contains `lose`, closes the connection instead of answering: the write is applied, the
    client never hears so, and botocore retries (a lost answer, as on a loaded network). Yields
    (every request body, its URL)."""
    posts: list[bytes] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                first_lost = lose in body and not any(lose in earlier for earlier in posts)
                posts.append(body)
            forward(self, upstream, body, answer=not first_lost)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield posts, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_claim_whose_answer_was_lost_is_still_the_runs_own(aws_env, moto_server):
    table = create_table(aws_env)
    with answer_losing_relay(moto_server, lose=b"EXEC#exec-1") as (posts, url):
        client = aws_client("dynamodb", "eu-west-1", aws_env.session(), endpoint_url=url,
                            config=AFTER_CHECK_CLIENT_CONFIG)
        Store(client, table).claim_execution(PROD_A, "exec-1", T0, "run-1")
    claims = [body for body in posts if b"EXEC#exec-1" in body]
    assert len(claims) == 2  # applied, answer lost, retried by botocore: the retry finds its own claim
    with pytest.raises(AlreadyClaimedError):  # a redelivered event is still one execution
        Store(aws_env.client("dynamodb"), table).claim_execution(PROD_A, "exec-1", T0, "run-2")


def test_state_round_trip_and_version_bump(store):
    loaded = store.load_state(PROD_A)
    assert loaded.state == ClusterState() and loaded.outbox == () and loaded.inherited_from is None
    state = ClusterState({"scheduler": ComponentState(alarm=True, since=T0, bad_looks=2, last_notified=T0,
                                                      first_bad=T0 - timedelta(minutes=1)),
                          "etcd": ComponentState(warning=True, since=T0, clear_looks=1, first_impaired=T0,
                                                 notices=frozenset({"ETCD_DB_NEAR_QUOTA"}))})
    entry = OutboxEntry("prod-a/scheduler/alarm/x", {"subject": "s", "text": "t", "document": {}, "attributes": {}}, T0)
    stalls = {"controller-manager": Streak("cp-1", (Sighting(T0, ("DEPLOYMENT_CANARY_NOT_OBSERVED: x",)),), 1)}
    saved = store.save_state(PROD_A, StoredState(state, (entry,), stalls), T0)
    assert saved.state.version == 1
    again = store.load_state(PROD_A)
    assert again.state.components == state.components
    assert again.outbox == (entry,) and again.state.version == 1 and again.stalls == stalls
    second = store.save_state(PROD_A, again, T0)
    assert store.load_state(PROD_A).state.version == second.state.version == 2


def test_namesakes_in_two_regions_and_accounts_share_no_state_history_or_claims(store):
    alarm = ClusterState({"scheduler": ComponentState(alarm=True, since=T0, bad_looks=2)})
    store.save_state(PROD_A, StoredState(alarm), T0)
    store.put_run(PROD_A, document("down", scheduler="down"), "r1", "e1", T0)
    store.put_run(PROD_A_US, document("healthy"), "r2", "e1", T0)

    assert store.load_state(PROD_A_US).state == ClusterState()
    assert store.load_state(PROD_A_MEMBER).state == ClusterState()
    assert [r.overall for r in store.runs(PROD_A, T0 - timedelta(hours=1))] == ["down"]
    assert [r.overall for r in store.runs(PROD_A_US, T0 - timedelta(hours=1))] == ["healthy"]
    assert list(store.runs(PROD_A_MEMBER, T0 - timedelta(hours=1))) == []


def test_the_name_index_lists_every_cluster_of_a_name_by_arn(store):
    for cluster in (PROD_A, PROD_A_US, PROD_B):
        store.save_state(cluster, StoredState(ClusterState()), T0)
    store.save_state(PROD_A, store.load_state(PROD_A), T0)  # later saves add nothing

    assert store.clusters_named("prod-a") == [PROD_A, PROD_A_US]
    assert store.clusters_named("prod-b") == [PROD_B]
    assert store.clusters_named("prod-c") == []


def test_runs_with_evidence_packs_and_the_newest_at_a_time(store):
    store.put_run(PROD_A, document("down", scheduler="down"), "r1", "e1", T0, {"scheduler": "pack one"})
    store.put_run(PROD_A, document("down", scheduler="down"), "r2", "e2", T0 + timedelta(minutes=1))
    store.put_run(PROD_A, document("healthy"), "r3", "e3", T0 + timedelta(minutes=2))

    assert store.latest_run(PROD_A, T0 + timedelta(minutes=5)).overall == "healthy"
    assert store.latest_run(PROD_A, T0 + timedelta(minutes=1)).execution_id == "e2"  # at the very time: included
    assert store.latest_run(PROD_A, T0 - timedelta(seconds=1)) is None
    found = store.latest_run(PROD_A, T0 + timedelta(minutes=5), with_evidence=True)
    assert (found.execution_id, dict(found.evidence)) == ("e1", {"scheduler": "pack one"})
    assert store.latest_run(PROD_B, T0 + timedelta(minutes=5), with_evidence=True) is None
    assert store.knows(PROD_A) and not store.knows(PROD_B)


def test_a_run_keeps_its_alerts_and_a_run_that_alerted_lives_as_long_as_a_failing_one(store, aws_env):
    warned = ({"component": "scheduler", "kind": "warning", "severity": "warning"},)
    store.put_run(PROD_A, document("healthy"), "quiet", "e1", T0)
    store.put_run(PROD_A, document("healthy"), "told", "e2", T0 + timedelta(minutes=1), None, warned)

    runs = list(store.runs(PROD_A, T0 - timedelta(hours=1)))
    assert [r.alerts for r in runs] == [(), warned]
    items = aws_env.client("dynamodb").scan(TableName=store.table)["Items"]
    ttl = {item["sk"]["S"].split("#")[-1]: int(item["expires_at"]["N"]) for item in items}
    assert ttl["told"] - ttl["quiet"] > 80 * 24 * 3600


def test_concurrent_writers_one_wins(store):
    store.save_state(PROD_A, store.load_state(PROD_A), T0)
    first = store.load_state(PROD_A)
    second = store.load_state(PROD_A)
    store.save_state(PROD_A, first, T0)
    with pytest.raises(StateConflictError):
        store.save_state(PROD_A, second, T0)


def test_two_first_saves_one_wins(store):
    """Two overlapping invocations of a cluster's very first run: one creates the state."""
    first, second = store.load_state(PROD_A), store.load_state(PROD_A)
    store.save_state(PROD_A, first, T0)
    with pytest.raises(StateConflictError):
        store.save_state(PROD_A, second, T0)


def test_history_is_ordered_and_failing_runs_live_longer(store, aws_env):
    store.put_run(PROD_A, document("healthy"), "r1", "e1", T0)
    store.put_run(PROD_A, document("down", scheduler="down"), "r2", "e2", T0 + timedelta(minutes=1))
    store.put_run(PROD_B, document("healthy"), "r3", "e3", T0)
    runs = list(store.runs(PROD_A, T0 - timedelta(hours=1)))
    assert [r.overall for r in runs] == ["healthy", "down"]
    assert runs[1].components["scheduler"] == "down" and runs[1].execution_id == "e2"
    items = aws_env.client("dynamodb").scan(TableName=store.table)["Items"]
    ttl = {item["sk"]["S"].split("#")[-1]: int(item["expires_at"]["N"]) for item in items if item["sk"]["S"].startswith("RUN#")}
    assert ttl["r2"] - ttl["r1"] > 60 * 24 * 3600


def test_history_since_excludes_older_runs(store):
    store.put_run(PROD_A, document("healthy"), "old", None, T0 - timedelta(days=2))
    store.put_run(PROD_A, document("healthy"), "new", None, T0)
    assert [r.at for r in store.runs(PROD_A, T0 - timedelta(days=1))] == [T0]


def test_missing_table_is_a_store_error_with_no_secret(aws_env):
    broken = Store(aws_env.client("dynamodb"), "no-such-table")
    with pytest.raises(StoreError) as raised:
        broken.load_state(PROD_A)
    assert "ResourceNotFoundException" in str(raised.value)
    assert "testing" not in str(raised.value)


# --- an upgrade: items written under CLUSTER#<name> ------------------------------------------


def put_legacy(aws_env, table: str, name: str, components: dict, version: int, outbox=(), runs=()) -> None:
    """Items exactly as the store wrote them before issue 17 (keyed by name, no warning fields)."""
    dynamodb = aws_env.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={
        "pk": {"S": f"CLUSTER#{name}"}, "sk": {"S": "STATE"}, "version": {"N": str(version)},
        "updated_at": {"S": "2026-11-27T08:59:00.000000Z"}, "components": {"S": json.dumps(components)},
        "outbox": {"S": json.dumps(list(outbox))}})
    for at, overall in runs:
        dynamodb.put_item(TableName=table, Item={
            "pk": {"S": f"CLUSTER#{name}"}, "sk": {"S": f"RUN#{at:%Y-%m-%dT%H:%M:%S.%fZ}#old"},
            "overall": {"S": overall}, "components": {"M": {"scheduler": {"S": overall}}},
            "document": {"S": json.dumps({"overall": overall, "summary": f"{name}: {overall}"})},
            "expires_at": {"N": str(int((at + timedelta(days=7)).timestamp()))}})


OLD_ALARM = {"scheduler": {"alarm": True, "since": "2026-11-27T08:50:00.000000Z", "bad_looks": 9, "good_looks": 0,
                           "last_notified": "2026-11-27T08:50:00.000000Z", "first_bad": "2026-11-27T08:49:00.000000Z"}}
OLD_OUTBOX = ({"key": "prod-a/scheduler/alarm/x", "attempted_at": None,
               "notification": {"subject": "s", "text": "t", "document": {}, "attributes": {}}},)


def test_an_upgrade_carries_the_alert_state_over_once_and_marks_the_old_item(store, aws_env):
    put_legacy(aws_env, store.table, "prod-a", OLD_ALARM, 41, OLD_OUTBOX)

    carried = store.load_state(PROD_A)
    assert carried.inherited_from == 41 and carried.state.version == 41
    assert carried.state.of("scheduler") == ComponentState(
        alarm=True, since=T0 - timedelta(minutes=10), bad_looks=9, last_notified=T0 - timedelta(minutes=10),
        first_bad=T0 - timedelta(minutes=11))
    assert [e.key for e in carried.outbox] == ["prod-a/scheduler/alarm/x"]
    saved = store.save_state(PROD_A, carried, T0)

    assert saved.state.version == 42 and saved.inherited_from is None
    assert store.load_state(PROD_A).state.of("scheduler").alarm
    old = aws_env.client("dynamodb").get_item(TableName=store.table, Key={"pk": {"S": "CLUSTER#prod-a"},
                                                                          "sk": {"S": "STATE"}})["Item"]
    assert old["migrated_to"]["S"] == PROD_A.arn
    assert int(old["expires_at"]["N"]) == int((T0 + LEGACY_STATE_TTL).timestamp())
    # Its namesake in another region finds nothing to carry over: the old item was this cluster's.
    assert store.load_state(PROD_A_US) == StoredState(ClusterState())
    assert store.clusters_named("prod-a") == [PROD_A]


def test_a_run_of_the_old_version_cannot_overwrite_the_taken_over_item(store, aws_env):
    """During a deploy a run of the old version may still write the old item by its version; the
    takeover moved the version, so that write fails instead of dropping `migrated_to`."""
    put_legacy(aws_env, store.table, "prod-a", OLD_ALARM, 41, OLD_OUTBOX)
    store.save_state(PROD_A, store.load_state(PROD_A), T0)
    dynamodb = aws_env.client("dynamodb")
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(TableName=store.table, ConditionExpression="attribute_not_exists(pk) OR version = :expected",
                          ExpressionAttributeValues={":expected": {"N": "41"}},
                          Item={"pk": {"S": "CLUSTER#prod-a"}, "sk": {"S": "STATE"}, "version": {"N": "42"},
                                "components": {"S": "{}"}, "outbox": {"S": "[]"}})
    assert store.load_state(PROD_A_US) == StoredState(ClusterState())


def test_two_namesakes_upgrading_at_once_carry_it_over_once(store, aws_env):
    put_legacy(aws_env, store.table, "prod-a", OLD_ALARM, 41)
    eu, us = store.load_state(PROD_A), store.load_state(PROD_A_US)
    assert eu.inherited_from == us.inherited_from == 41

    store.save_state(PROD_A, eu, T0)
    with pytest.raises(StateConflictError):
        store.save_state(PROD_A_US, us, T0)
    assert store.load_state(PROD_A_US) == StoredState(ClusterState())


def test_history_under_the_name_stays_with_the_cluster_that_took_it_over(store, aws_env):
    put_legacy(aws_env, store.table, "prod-a", OLD_ALARM, 41,
               runs=[(T0 - timedelta(minutes=3), "down"), (T0 - timedelta(minutes=2), "down")])
    store.put_run(PROD_A, document("healthy"), "new", "e9", T0)

    assert store.legacy_owner("prod-a") is False and store.knows(LegacyCluster("prod-a"))
    assert [r.overall for r in store.runs(LegacyCluster("prod-a"), T0 - timedelta(hours=1))] == ["down", "down"]
    assert [r.legacy for r in store.runs(PROD_A, T0 - timedelta(hours=1))] == [False]  # not taken over yet

    store.save_state(PROD_A, store.load_state(PROD_A), T0)

    runs = list(store.runs(PROD_A, T0 - timedelta(hours=1)))
    assert [(r.overall, r.legacy) for r in runs] == [("down", True), ("down", True), ("healthy", False)]
    assert store.latest_run(PROD_A, T0 - timedelta(minutes=1)).legacy
    assert list(store.runs(PROD_A_US, T0 - timedelta(hours=1))) == []
    assert store.legacy_owner("prod-a") == PROD_A.arn and store.legacy_owner("prod-z") is None
