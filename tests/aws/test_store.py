"""The DynamoDB adapter against moto in server mode: conditional writes, claims, history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.alerting import ClusterState, ComponentState
from cpwatch.store import (AlreadyClaimedError, OutboxEntry, StateConflictError, Store, StoredState,
                           StoreError)
from tests.aws.moto_server import create_table

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(aws_env):
    return Store(aws_env.client("dynamodb"), create_table(aws_env))


def document(overall: str, **components: str) -> dict:
    verdicts = {"apiserver": "healthy", "etcd": "healthy", "controller-manager": "healthy", "scheduler": "healthy",
                **{k.replace("_", "-"): v for k, v in components.items()}}
    return {"overall": overall, "summary": f"x: {overall}", "components": {k: {"verdict": v} for k, v in verdicts.items()}}


def test_an_execution_is_claimed_once(store):
    store.claim_execution("prod-a", "exec-1", T0)
    with pytest.raises(AlreadyClaimedError):
        store.claim_execution("prod-a", "exec-1", T0)
    store.claim_execution("prod-b", "exec-1", T0)  # per cluster


def test_state_round_trip_and_version_bump(store):
    loaded = store.load_state("prod-a")
    assert loaded.state == ClusterState() and loaded.outbox == ()
    state = ClusterState({"scheduler": ComponentState(alarm=True, since=T0, bad_looks=2, last_notified=T0,
                                                      first_bad=T0 - timedelta(minutes=1))})
    entry = OutboxEntry("prod-a/scheduler/alarm/x", {"subject": "s", "text": "t", "document": {}, "attributes": {}}, T0)
    saved = store.save_state("prod-a", StoredState(state, (entry,)), T0)
    assert saved.state.version == 1
    again = store.load_state("prod-a")
    assert again.state.of("scheduler") == state.of("scheduler")
    assert again.outbox == (entry,) and again.state.version == 1


def test_runs_with_evidence_packs_and_the_newest_at_a_time(store):
    store.put_run("prod-a", document("down", scheduler="down"), "r1", "e1", T0, {"scheduler": "pack one"})
    store.put_run("prod-a", document("down", scheduler="down"), "r2", "e2", T0 + timedelta(minutes=1))
    store.put_run("prod-a", document("healthy"), "r3", "e3", T0 + timedelta(minutes=2))

    assert store.latest_run("prod-a", T0 + timedelta(minutes=5)).overall == "healthy"
    assert store.latest_run("prod-a", T0 + timedelta(minutes=1)).execution_id == "e2"  # at the very time: included
    assert store.latest_run("prod-a", T0 - timedelta(seconds=1)) is None
    found = store.latest_run("prod-a", T0 + timedelta(minutes=5), with_evidence=True)
    assert (found.execution_id, dict(found.evidence)) == ("e1", {"scheduler": "pack one"})
    assert store.latest_run("prod-b", T0 + timedelta(minutes=5), with_evidence=True) is None
    assert store.knows("prod-a") and not store.knows("prod-b")


def test_concurrent_writers_one_wins(store):
    first = store.load_state("prod-a")
    second = store.load_state("prod-a")
    store.save_state("prod-a", first, T0)
    with pytest.raises(StateConflictError):
        store.save_state("prod-a", second, T0)


def test_history_is_ordered_and_failing_runs_live_longer(store, aws_env):
    store.put_run("prod-a", document("healthy"), "r1", "e1", T0)
    store.put_run("prod-a", document("down", scheduler="down"), "r2", "e2", T0 + timedelta(minutes=1))
    store.put_run("prod-b", document("healthy"), "r3", "e3", T0)
    runs = list(store.runs("prod-a", T0 - timedelta(hours=1)))
    assert [r.overall for r in runs] == ["healthy", "down"]
    assert runs[1].components["scheduler"] == "down" and runs[1].execution_id == "e2"
    items = aws_env.client("dynamodb").scan(TableName=store.table)["Items"]
    ttl = {item["sk"]["S"].split("#")[-1]: int(item["expires_at"]["N"]) for item in items if item["sk"]["S"].startswith("RUN#")}
    assert ttl["r2"] - ttl["r1"] > 60 * 24 * 3600


def test_history_since_excludes_older_runs(store):
    store.put_run("prod-a", document("healthy"), "old", None, T0 - timedelta(days=2))
    store.put_run("prod-a", document("healthy"), "new", None, T0)
    assert [r.at for r in store.runs("prod-a", T0 - timedelta(days=1))] == [T0]


def test_missing_table_is_a_store_error_with_no_secret(aws_env):
    broken = Store(aws_env.client("dynamodb"), "no-such-table")
    with pytest.raises(StoreError) as raised:
        broken.load_state("prod-a")
    assert "ResourceNotFoundException" in str(raised.value)
    assert "testing" not in str(raised.value)
