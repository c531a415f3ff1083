"""The evidence pack end to end: a confirmed alarm of the real handler (moto EKS, DynamoDB, SNS ->
SQS, the fake control plane) stores the pack with its run, the e-mail and the JSON document of
the SNS message carry it, and `cpwatch evidence` (a real subprocess) prints it from the table,
with an exact error for an unknown cluster, a bad --at and a time when nothing was failing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.telling.store import Store
from tests.aws.deployment import CONFIRMING_RUN_ENV, deploy

pytestmark = pytest.mark.network


def evidence(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpwatch.entry.cli", "evidence", *args], capture_output=True, text=True,
                          env=os.environ, timeout=60)


@pytest.fixture
def alarmed(aws_env, monkeypatch):
    """A healthy run, then the scheduler stopped: the next invocation confirms and alarms."""
    with deploy(aws_env, monkeypatch, env=CONFIRMING_RUN_ENV) as d:
        d.fc.advance(15)
        healthy = d.invoke()
        assert healthy["clusters"][0]["overall"] == "healthy"
        d.fc.stop_component("scheduler", release_lease=True)
        d.fc.advance(90)
        before = datetime.now(timezone.utc)
        alarm = d.invoke()
        assert alarm["clusters"][0]["transitions"] == ["scheduler:alarm"], alarm
        yield d, healthy, before


def test_alarm_stores_the_pack_with_its_run_and_sns_carries_it(alarmed):
    d, _, before = alarmed
    [message] = d.messages()
    runs = sorted(d.run_items(), key=lambda item: item["sk"]["S"])
    assert "evidence" not in runs[0]  # the healthy run has none
    packs = json.loads(zlib.decompress(runs[-1]["evidence"]["B"]))
    assert list(packs) == ["scheduler"]
    pack = packs["scheduler"]

    assert pack.startswith("EVIDENCE PACK: kube-scheduler of cluster prod-a is DOWN")
    described = d.aws.client("eks", d.region).describe_cluster(name=d.cluster)["cluster"]
    assert f"ARN:                 {described['arn']}" in pack
    # The ARN cpwatch keys the cluster by, known before connecting, is the one EKS gives it.
    assert f"cpwatch evidence --cluster {described['arn']} --at " in pack
    assert f"Kubernetes version:  {described['version']}" in pack
    assert f"platform version:    {described['platformVersion']}" in pack
    assert "region:              eu-west-1" in pack
    assert "Support severity to choose: Production system impaired" in pack
    # First seen is the first failing look (the first of the two looks of this invocation),
    # before the confirming one.
    first = datetime.strptime(pack.split("first seen:")[1].split(" UTC")[0].strip(), "%Y-%m-%d %H:%M:%S")
    confirmed = datetime.strptime(pack.split("confirmed:")[1].split(" UTC")[0].strip(), "%Y-%m-%d %H:%M:%S")
    assert before.replace(microsecond=0, tzinfo=None) <= first <= confirmed
    assert "LEADER_LEASE_STALE" in pack or "LEADER_LEASE_MISSING" in pack or "CANARY_POD_NOT_SCHEDULED" in pack
    assert "kube-apiserver: HEALTHY, checked by APISERVER_LIVE" in pack

    document = json.loads(message["Message"])
    assert document["evidence_pack"] == pack
    assert document["evidence_command"].startswith(f"cpwatch evidence --cluster {d.identity.arn} --at ")
    assert document["first_seen"] is not None
    assert message["MessageAttributes"]["event_id"]["Value"] == document["event_id"]


def test_cpwatch_evidence_prints_the_stored_pack(alarmed):
    d, _, _ = alarmed
    [message] = d.messages()
    document = json.loads(message["Message"])
    command = document["evidence_command"].split()

    at_alarm = evidence(*command[2:], "--table", d.table, "--region", d.region)
    newest = evidence("--cluster", d.cluster, "--table", d.table, "--region", d.region)

    assert at_alarm.returncode == 0, at_alarm.stderr
    assert at_alarm.stdout == document["evidence_pack"]
    assert newest.returncode == 0 and newest.stdout == at_alarm.stdout
    only = evidence("--cluster", d.cluster, "--component", "etcd", "--table", d.table, "--region", d.region)
    assert only.returncode == 1
    assert "no alarm or warning of component etcd of prod-a (account 123456789012, region eu-west-1)" in only.stderr


def test_the_command_of_an_alarm_prints_its_pack_when_a_healthy_run_follows_in_the_same_second(alarmed):
    # Runs of one cluster are a minute apart, but a retried or repeated invocation is not: the
    # command must name the alarm's run, not the newest run of the second it was stored in.
    d, _, _ = alarmed
    [message] = d.messages()
    document = json.loads(message["Message"])
    alarm_sk = max(item["sk"]["S"] for item in d.run_items())
    alarm_at = datetime.strptime(alarm_sk.split("#")[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    named_at = alarm_at + timedelta(microseconds=(1000 - alarm_at.microsecond % 1000) % 1000)
    Store(d.aws.client("dynamodb", d.region), d.table).put_run(
        d.identity, {"overall": "healthy", "components": {}}, "later-run", None, named_at + timedelta(microseconds=1))

    printed = evidence(*document["evidence_command"].split()[2:], "--table", d.table, "--region", d.region)

    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == document["evidence_pack"]


def test_cpwatch_evidence_errors(alarmed):
    d, healthy, before = alarmed
    where = ("--table", d.table, "--region", d.region)

    unknown = evidence("--cluster", "nobody", *where)
    assert unknown.returncode == 64
    assert f"no cluster 'nobody' in table {d.table}" in unknown.stderr

    bad = evidence("--cluster", d.cluster, "--at", "yesterday", *where)
    assert bad.returncode == 64
    assert "--at must be a time like 2026-06-02T09:31:03Z or '2026-06-02 09:31' (UTC unless it carries an offset), " \
           "got 'yesterday'" in bad.stderr

    future = evidence("--cluster", d.cluster, "--at", (before + timedelta(days=1)).isoformat(), *where)
    assert future.returncode == 64 and "is in the future" in future.stderr

    # Between the healthy run and the alarm, nothing was failing.
    healthy_at = before - timedelta(milliseconds=1)
    quiet = evidence("--cluster", d.cluster, "--at", healthy_at.isoformat(), *where)
    assert quiet.returncode == 1
    assert (f"nothing failing in prod-a (account 123456789012, region eu-west-1) at {healthy_at:%Y-%m-%d %H:%M:%S} UTC"
            in quiet.stderr)
    assert "was healthy" in quiet.stderr

    long_ago = evidence("--cluster", d.cluster, "--at", "2020-01-01T00:00:00Z", *where)
    assert long_ago.returncode == 1 and "no run stored before then" in long_ago.stderr
    assert all("Traceback" not in r.stderr for r in (unknown, bad, future, quiet, long_ago))
