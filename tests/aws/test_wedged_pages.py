"""Wedged is down (issue 17), end to end on moto in server mode and the fake control plane: a
leader that renews its Lease but does not work is a warning at the first run that shows it and a
page (one escalation) at the configured run, with the evidence of every run; a failover never
counts; a stall seen only in AWS/EKS's vended metrics is read every run while it is counted."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta, timezone

import pytest

from cpwatch.runbooks import WEDGED

from tests.aws.deployment import CONFIRMING_RUN_ENV, deploy
from tests.aws.moto_server import put_vended_metric
from tests.aws.test_warnings import SteppedClock, attributes, run, subscribe

pytestmark = pytest.mark.network


def documents(d) -> list[dict]:
    return [json.loads(zlib.decompress(item["document"]["B"]))
            for item in sorted(d.run_items(), key=lambda item: item["sk"]["S"])]


def deployment(aws_env, monkeypatch, start: datetime | None = None, **env: str):
    d_env = {**CONFIRMING_RUN_ENV, "CPWATCH_RECOVERY_RUNS": "3", **env}
    context = deploy(aws_env, monkeypatch, env=d_env)
    d = context.__enter__()
    d.clock = SteppedClock(start or datetime.now(timezone.utc).replace(microsecond=0))
    d.pager = subscribe(d, "pager", {"severity": ["critical"]})
    d.mailbox = subscribe(d, "mailbox", None)
    d.fc.advance(15)
    return context, d


@pytest.fixture
def deployed(aws_env, monkeypatch):
    context, d = deployment(aws_env, monkeypatch)
    try:
        yield d
    finally:
        context.__exit__(None, None, None)


def test_a_wedged_controller_manager_warns_then_pages_at_the_third_run_with_every_run(deployed):
    d = deployed
    assert run(d) == [[]]
    d.fc.wedge_component("controller-manager")

    assert run(d, 3) == [["controller-manager:warning"], [], ["controller-manager:escalation"]]

    [warning, page] = d.mailbox.received()
    assert attributes(warning)["severity"] == "warning" and "(LEADER_STALLED)" in warning["Subject"]
    assert [m["MessageId"] for m in d.pager.received()] == [page["MessageId"]]
    assert attributes(page)["severity"] == "critical" and attributes(page)["transition"] == "escalation"
    assert page["Subject"] == f"[cpwatch] ALARM prod-a ({d.account}/{d.region}): controller-manager DOWN (was a warning)"
    document = json.loads(page["Message"])
    wedged = document["diagnosis"]["findings"][0]
    assert (wedged["code"], wedged["component"], wedged["evidence"]["runs"]) == ("LEADER_WEDGED", "controller-manager", 3)
    assert "renews its Lease but does not work" in wedged["message"]
    assert document["diagnosis"]["components"]["controller-manager"] == {
        **document["diagnosis"]["components"]["controller-manager"], "verdict": "down", "confidence": "high"}
    pack = document["evidence_pack"]
    listed = pack.split("      sightings:\n")[1].splitlines()
    runs = [line for line in listed[:12] if line.startswith("        - 20")]
    assert len(runs) == 3 and all("DEPLOYMENT_CANARY_NOT_OBSERVED" in line for line in runs)
    assert "renews its Lease but does not work" in pack and WEDGED.confirm[0] in pack  # the wedged runbook's

    d.fc.wedge_component("controller-manager", wedged=False)
    assert run(d, 3) == [[], [], ["controller-manager:recovery"]]
    [recovery] = d.pager.received()
    assert attributes(recovery)["severity"] == "critical" and attributes(recovery)["state"] == "ok"


def test_the_number_of_runs_is_the_setting(aws_env, monkeypatch):
    context, d = deployment(aws_env, monkeypatch, CPWATCH_WEDGED_AFTER_RUNS="2")
    try:
        d.fc.wedge_component("controller-manager")
        assert run(d, 2) == [["controller-manager:warning"], ["controller-manager:escalation"]]
    finally:
        context.__exit__(None, None, None)


def test_a_failover_never_counts_towards_a_wedge(deployed):
    """The leader crashed: the Lease stops, the canary fails with the Lease not renewed (the
    failover row); the component is down once its Lease is stale, never wedged."""
    d = deployed
    assert run(d) == [[]]
    d.fc.stop_component("controller-manager")

    assert run(d, 2) == [[], ["controller-manager:alarm"]]

    found = [f for doc in documents(d) for f in doc["findings"]]
    assert not {"LEADER_STALLED", "LEADER_WEDGED"} & {f["code"] for f in found}
    failover = [f for f in found if f["code"] == "DEPLOYMENT_CANARY_NOT_OBSERVED" and f.get("explained_by")]
    assert failover and failover[0]["explained_by"]["rule"] == "failover"
    [page] = d.pager.received()
    assert json.loads(page["Message"])["key_finding"] == "LEADER_LEASE_STALE"


def test_a_stall_seen_only_in_aws_eks_metrics_is_read_every_run_and_paged(aws_env, monkeypatch):
    # The scheduler's AWS/EKS series are read in the first minute of each 15-minute slot (and then
    # every run while a stall is counted): the first run is in such a minute.
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=now.minute % 15)
    context, d = deployment(aws_env, monkeypatch, start + timedelta(seconds=5), CPWATCH_READ_ONLY="true")
    try:
        d.fc.add_pod("demo", "batch-7", node_selector={"pool": "gpu"})  # waits; attempted once, Unschedulable
        d.fc.advance(15)
        d.fc.wedge_component("scheduler")
        newest = start + timedelta(minutes=3)  # published through the third run's minute
        put_vended_metric(d.aws, d.cluster, "scheduler_pending_pods", [1] * 12, newest)
        put_vended_metric(d.aws, d.cluster, "scheduler_schedule_attempts_total", [0] * 12, newest)

        assert run(d, 3) == [["scheduler:warning"], [], ["scheduler:escalation"]]
    finally:
        context.__exit__(None, None, None)
    wedged = next(f for f in documents(d)[-1]["findings"] if f["code"] == "LEADER_WEDGED")
    assert [line.count("VENDED_SCHEDULER_NOT_ATTEMPTING") for line in wedged["evidence"]["sightings"]] == [1, 1, 1]
