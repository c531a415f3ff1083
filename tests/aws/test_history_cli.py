"""`cpwatch history` against moto: a timeline of verdict changes and alerts, read back from
DynamoDB; --cluster as a name or an ARN, and the question when a name means two clusters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from cpwatch.telling.alerting import ClusterState
from cpwatch.identity import ClusterIdentity
from cpwatch.telling.store import Store, StoredState
from tests.aws.moto_server import create_table

PROD_A = ClusterIdentity("prod-a", "eu-west-1", "123456789012")
PROD_A_US = ClusterIdentity("prod-a", "us-east-1", "123456789012")


def document(**verdicts: str) -> dict:
    components = {"apiserver": "healthy", "etcd": "healthy", "controller-manager": "healthy", "scheduler": "healthy",
                  **{k.replace("_", "-"): v for k, v in verdicts.items()}}
    overall = "down" if "down" in components.values() else "degraded" if "degraded" in components.values() else "healthy"
    return {"overall": overall, "summary": f"prod-a: {overall}", "components": {k: {"verdict": v} for k, v in components.items()}}


def history(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpwatch.entry.cli", "history", *args], capture_output=True, text=True,
                          env=os.environ, timeout=60)


def test_timeline_shows_only_changes_and_alerts(aws_env):
    store = Store(aws_env.client("dynamodb"), create_table(aws_env))
    store.save_state(PROD_A, StoredState(ClusterState()), datetime.now(timezone.utc))
    start = datetime.now(timezone.utc) - timedelta(minutes=40)
    sequence = ["healthy"] * 5 + ["down"] * 4 + ["healthy"] * 5 + ["degraded"] * 11
    alerts = {6: ("scheduler", "alarm", "critical"), 12: ("scheduler", "recovery", "critical"),
              24: ("scheduler", "warning", "warning")}
    for minute, verdict in enumerate(sequence):
        alert = alerts.get(minute)
        store.put_run(PROD_A, document(scheduler=verdict), f"r{minute}", f"e{minute}", start + timedelta(minutes=minute),
                      None, ({"component": alert[0], "kind": alert[1], "severity": alert[2]},) if alert else ())
    result = history("--cluster", "prod-a", "--since", "1h", "--table", store.table)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("  20")]
    assert len(lines) == 7  # first run, down, alarm, recovery, recovered, degraded, warning (and it is the latest)
    assert "scheduler healthy -> down" in lines[1] and "CRITICAL alarm: scheduler" in lines[2]
    assert "scheduler down -> healthy" in lines[3] and "CRITICAL recovery: scheduler" in lines[4]
    assert "scheduler healthy -> degraded" in lines[5] and "WARNING warning: scheduler" in lines[6]
    assert "(25 runs)" in result.stdout
    assert result.stdout.startswith("history of prod-a (account 123456789012, region eu-west-1) since ")
    assert f"  {PROD_A.arn}\n" in result.stdout

    as_json = [json.loads(line) for line in history("--cluster", PROD_A.arn, "--since", "1h", "--table", store.table,
                                                    "--json").stdout.splitlines()]
    assert len(as_json) == 25 and {j["cluster_arn"] for j in as_json} == {PROD_A.arn}
    assert as_json[24]["alerts"] == [{"component": "scheduler", "kind": "warning", "severity": "warning"}]


def test_a_name_two_clusters_share_asks_which_one(aws_env):
    store = Store(aws_env.client("dynamodb"), create_table(aws_env))
    now = datetime.now(timezone.utc)
    for cluster, verdict in ((PROD_A, "down"), (PROD_A_US, "healthy")):
        store.save_state(cluster, StoredState(ClusterState()), now)
        store.put_run(cluster, document(scheduler=verdict), "r", "e", now - timedelta(minutes=1))

    asked = history("--cluster", "prod-a", "--table", store.table)

    assert asked.returncode == 64 and asked.stdout == ""
    assert asked.stderr == (
        f"cpwatch: configuration error: 2 clusters are named prod-a in table {store.table}; which one? Give its ARN:\n"
        f"  --cluster {PROD_A.arn}   (account 123456789012, region eu-west-1)\n"
        f"  --cluster {PROD_A_US.arn}   (account 123456789012, region us-east-1)\n")
    eu = history("--cluster", PROD_A.arn, "--table", store.table)
    us = history("--cluster", PROD_A_US.arn, "--table", store.table)
    assert "DOWN" in eu.stdout and "DOWN" not in us.stdout and "(1 runs)" in us.stdout


def test_history_stored_under_the_name_before_arn_keys_is_still_read(aws_env):
    store = Store(aws_env.client("dynamodb"), create_table(aws_env))
    at = datetime.now(timezone.utc) - timedelta(minutes=5)
    aws_env.client("dynamodb").put_item(TableName=store.table, Item={
        "pk": {"S": "CLUSTER#prod-old"}, "sk": {"S": f"RUN#{at:%Y-%m-%dT%H:%M:%S.%fZ}#r1"}, "overall": {"S": "down"},
        "components": {"M": {"scheduler": {"S": "down"}}},
        "document": {"S": json.dumps({"overall": "down", "summary": "prod-old: scheduler down"})}})

    result = history("--cluster", "prod-old", "--table", store.table)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("history of prod-old (stored by name, before cpwatch keyed clusters by ARN)")
    assert "prod-old: scheduler down" in result.stdout


def test_empty_range_unknown_cluster_bad_arn_and_unknown_table(aws_env):
    table = create_table(aws_env)
    empty = history("--cluster", PROD_A.arn, "--table", table)
    assert empty.returncode == 0 and "no runs of prod-a (account 123456789012, region eu-west-1)" in empty.stdout
    unknown = history("--cluster", "nobody", "--table", table)
    assert unknown.returncode == 64 and f"no cluster 'nobody' in table {table}" in unknown.stderr
    bad = history("--cluster", "arn:aws:eks:eu-west-1:12:cluster/x", "--table", table)
    assert bad.returncode == 64 and "is neither a cluster name nor an EKS cluster ARN" in bad.stderr
    missing = history("--cluster", PROD_A.arn, "--table", "no-such-table")
    assert missing.returncode == 3 and "ResourceNotFoundException" in missing.stderr
    assert all("Traceback" not in r.stderr for r in (empty, unknown, bad, missing))
