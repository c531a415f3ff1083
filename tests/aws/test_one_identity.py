"""One cluster, one identity (issue 17), end to end on moto in server mode: two clusters named
prod-a in two regions, checked by one invocation, share no state, history, claim, event id or
metric series; and an upgrade finds the alert state and history stored under the name before
and carries them over (no lost recovery, no second alarm)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.entry import handler
from cpwatch.identity import ClusterIdentity
from tests.aws.deployment import CONFIRMING_RUN_ENV, deploy
from tests.aws.moto_server import create_cluster, point_cluster_at
from tests.fakecluster import FakeCluster
from tests.lambda_context import LambdaContext

pytestmark = pytest.mark.network

OTHER_REGION = "us-east-1"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpwatch.entry.cli", *args], capture_output=True, text=True,
                          env=os.environ, timeout=60)


def invoke(d, execution_id: str) -> dict:
    event = {"targets": [{"cluster": "prod-a", "region": d.region}, {"cluster": "prod-a", "region": OTHER_REGION}],
             "execution_id": execution_id}
    return handler.lambda_handler(event, LambdaContext.with_remaining(50))


def test_namesakes_in_two_regions_share_nothing(aws_env, monkeypatch, capsys):
    with deploy(aws_env, monkeypatch, env=CONFIRMING_RUN_ENV) as d:
        create_cluster(aws_env, "prod-a", OTHER_REGION)
        with FakeCluster(nodes=2, token_validator=d.auth) as other:
            point_cluster_at("prod-a", OTHER_REGION, other.url, other.ca_pem)
            eu, us = d.identity, ClusterIdentity("prod-a", OTHER_REGION, d.account)
            for fc in (d.fc, other):
                fc.advance(15)
            healthy = invoke(d, "same-execution-1")
            for fc in (d.fc, other):
                fc.stop_component("scheduler", release_lease=True)
                fc.advance(90)
            down = invoke(d, "same-execution-2")
            alarms = d.messages()
            d.fc.start_component("scheduler")
            d.fc.advance(5)
            later = [invoke(d, f"same-execution-{i}") for i in (3, 4)]
            recovered = d.messages()
            emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
            state = {item["pk"]["S"]: json.loads(item["components"]["S"]) for item in d.items()
                     if item["sk"]["S"] == "STATE"}
            claims = sorted(item["pk"]["S"] for item in d.items() if item["sk"]["S"] == "EXEC#same-execution-1")
            eu_history = cli("history", "--cluster", eu.arn, "--table", d.table, "--since", "1h")
            us_history = cli("history", "--cluster", us.arn, "--table", d.table, "--since", "1h")
            asked = cli("history", "--cluster", "prod-a", "--table", d.table)
            evidence = cli("evidence", "--cluster", "prod-a", "--table", d.table)

    # One execution id, two clusters: each claimed and checked.
    assert [c["arn"] for c in healthy["clusters"]] == [eu.arn, us.arn]
    assert [c["overall"] for c in healthy["clusters"]] == ["healthy", "healthy"]
    assert claims == [f"CLUSTER#{eu.arn}", f"CLUSTER#{us.arn}"]
    assert [c["transitions"] for c in down["clusters"]] == [["scheduler:alarm"], ["scheduler:alarm"]]
    by_region = {m["MessageAttributes"]["region"]["Value"]: m for m in alarms}
    assert set(by_region) == {d.region, OTHER_REGION}
    assert {m["MessageAttributes"]["cluster_arn"]["Value"] for m in alarms} == {eu.arn, us.arn}
    assert {m["MessageAttributes"]["cluster"]["Value"] for m in alarms} == {"prod-a"}
    assert len({m["MessageAttributes"]["event_id"]["Value"] for m in alarms}) == 2
    assert by_region[OTHER_REGION]["Subject"] == f"[cpwatch] ALARM prod-a ({d.account}/{OTHER_REGION}): scheduler DOWN"
    # The eu-west-1 one recovers; the us-east-1 one stays in alarm: two alert states.
    assert [c["transitions"] for c in later[-1]["clusters"]] == [["scheduler:recovery"], []]
    assert [m["MessageAttributes"]["cluster_arn"]["Value"] for m in recovered] == [eu.arn]
    assert (state[f"CLUSTER#{eu.arn}"]["scheduler"].get("alarm", False), state[f"CLUSTER#{us.arn}"]["scheduler"].get("alarm", False)) == (
        False, True)
    assert {doc["Cluster"] for doc in emf if "ComponentsDown" in doc} == {eu.arn, us.arn}
    # Separate histories; a bare name is a question.
    assert eu_history.returncode == us_history.returncode == 0
    assert "(4 runs)" in eu_history.stdout and "(4 runs)" in us_history.stdout
    assert "scheduler healthy -> down" in us_history.stdout and "scheduler down -> healthy" not in us_history.stdout
    assert "scheduler down -> healthy" in eu_history.stdout
    for answer in (asked, evidence):
        assert answer.returncode == 64
        assert "2 clusters are named prod-a" in answer.stderr and eu.arn in answer.stderr and us.arn in answer.stderr


OLD_ALARM = {"alarm": True, "since": "{since}", "bad_looks": 12, "good_looks": 0, "last_notified": "{since}",
             "first_bad": "{first}"}


def put_before_the_upgrade(d, minutes_ago: int = 10) -> datetime:
    """What cpwatch stored before issue 17 for prod-a: keyed by name, a scheduler alarm, two runs."""
    now = datetime.now(timezone.utc)
    since = now - timedelta(minutes=minutes_ago)
    stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
    component = {k: v.format(since=since.strftime(stamp), first=(since - timedelta(minutes=1)).strftime(stamp))
                 if isinstance(v, str) else v for k, v in OLD_ALARM.items()}
    dynamodb = d.aws.client("dynamodb")
    dynamodb.put_item(TableName=d.table, Item={
        "pk": {"S": "CLUSTER#prod-a"}, "sk": {"S": "STATE"}, "version": {"N": "57"},
        "updated_at": {"S": since.strftime(stamp)}, "components": {"S": json.dumps({"scheduler": component})},
        "outbox": {"S": "[]"}})
    for minute in (2, 1):
        at = since - timedelta(minutes=minute)
        dynamodb.put_item(TableName=d.table, Item={
            "pk": {"S": "CLUSTER#prod-a"}, "sk": {"S": f"RUN#{at.strftime(stamp)}#old{minute}"},
            "overall": {"S": "down"}, "components": {"M": {"scheduler": {"S": "down"}}},
            "document": {"S": json.dumps({"overall": "down", "summary": "prod-a: scheduler down (before the upgrade)"})},
            "expires_at": {"N": str(int((at + timedelta(days=90)).timestamp()))}})
    return since


def test_an_upgrade_carries_the_alarm_over_and_its_recovery_is_sent(aws_env, monkeypatch):
    with deploy(aws_env, monkeypatch) as d:
        put_before_the_upgrade(d)
        d.fc.advance(15)
        transitions = [d.invoke()["clusters"][0]["transitions"] for _ in range(2)]  # FAST_ENV: 2 good runs recover
        [recovery] = d.messages()
        history = cli("history", "--cluster", "prod-a", "--table", d.table, "--since", "1h")
        old = next(i for i in d.items() if i["pk"]["S"] == "CLUSTER#prod-a" and i["sk"]["S"] == "STATE")
        new = next(i for i in d.items() if i["pk"]["S"] == f"CLUSTER#{d.identity.arn}" and i["sk"]["S"] == "STATE")

    assert transitions == [[], ["scheduler:recovery"]]
    assert recovery["MessageAttributes"]["transition"]["Value"] == "recovery"
    assert recovery["MessageAttributes"]["cluster_arn"]["Value"] == d.identity.arn
    assert json.loads(recovery["Message"])["duration_s"] >= 600  # since the alarm stored before the upgrade
    assert old["migrated_to"]["S"] == d.identity.arn and "expires_at" in old
    assert int(new["version"]["N"]) > 57
    assert history.returncode == 0, history.stderr
    assert history.stdout.count("prod-a: scheduler down (before the upgrade)") >= 1
    assert "(4 runs)" in history.stdout  # the two stored under the name, then the two after


def test_an_upgrade_does_not_alarm_again_for_what_was_already_paged(aws_env, monkeypatch):
    with deploy(aws_env, monkeypatch, env=CONFIRMING_RUN_ENV) as d:
        put_before_the_upgrade(d, minutes_ago=5)
        d.fc.stop_component("scheduler", release_lease=True)
        d.fc.advance(90)
        transitions = [d.invoke()["clusters"][0]["transitions"] for _ in range(2)]
        messages = d.messages()
        state = d.state()

    assert transitions == [[], []] and messages == []
    assert state["components"]["scheduler"]["alarm"] is True
