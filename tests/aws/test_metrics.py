"""EMF metrics of a run: the lines are parsed back as CloudWatch Logs would, and checked for
namespace, metric names, dimension sets and values (names and dimensions are what the template's
alarms and dashboard use)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from cpwatch.judging.check import diagnosis_from
from cpwatch.cluster.kubeapi import TransferStats
from cpwatch.findings import Component, observe
from cpwatch.identity import ClusterIdentity
from cpwatch.telling.metrics import emit_run_metrics
from cpwatch.telling.report import to_dict
from cpwatch.probes.runner import ProbeResult

A, E, K, S, N = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                 Component.NODE)
CLUSTER = "prod-a"
IDENTITY = ClusterIdentity(CLUSTER, "eu-west-1", "123456789012")
ARN = IDENTITY.arn  # the Cluster dimension: one name in two regions or accounts is two series
SPARSE = {"StaleReadyNodes", "UnattemptedPods", "StuckTerminatingPods", "Notifications", "Warnings"}

HEALTHY_API = [observe("APISERVER_LIVE", A, checks=23, latency_ms=12), observe("APISERVER_READS_OK", A, median_ms=8, samples=3)]
HEALTHY_ETCD = [observe("ETCD_CHECK_PASSED", E, path="/livez/etcd"), observe("ETCD_WRITE_OK", E, latency_ms=14)]
HEALTHY_KCM = [observe("LEADER_LEASE_FRESH", K, lease="kube-system/kube-controller-manager", age_s=2, holder="cp-1"),
               observe("NODE_LIFECYCLE_OK", K, leases=3, marked="no silent node")]
HEALTHY_SCHED = [observe("LEADER_LEASE_FRESH", S, lease="kube-system/kube-scheduler", age_s=1, holder="cp-1"),
                 observe("PENDING_PODS_ATTEMPTED", S, pending=0)]
KCM_DOWN = [observe("LEADER_LEASE_STALE", K, lease="kube-system/kube-controller-manager", age_s=152, threshold_s=55,
                    holder="cp-1"),
            observe("NODE_READY_BUT_SILENT", K, count=2, examples="node-b, node-c", nodes=["node-b", "node-c"],
                    threshold_s=120),
            observe("ORPHAN_POD_NOT_COLLECTED", K, count=1, examples="demo/ghost", pods=["demo/ghost"], threshold_s=120),
            observe("POD_STUCK_TERMINATING", N, pod="demo/web-1", node="node-a", age_s=400)]
SCHED_DOWN = [observe("LEADER_LEASE_STALE", S, lease="kube-system/kube-scheduler", age_s=90, threshold_s=55, holder="cp-1"),
              observe("PODS_UNATTEMPTED", S, count=3, examples="demo/a, demo/b, demo/c", pods=["demo/a"], threshold_s=60)]
API_DOWN = [observe("APISERVER_UNREACHABLE", A, path="/livez", reason="refused", detail="connection refused"),
            observe("PROBE_NO_ANSWER", K, probe="leader_leases", path="/apis/coordination.k8s.io/v1", reason="refused"),
            observe("PROBE_NO_ANSWER", S, probe="leader_leases", path="/apis/coordination.k8s.io/v1", reason="refused")]


def document(observations, duration_ms: int = 1234) -> dict:
    """A diagnosis document as the pipeline has it: report.to_dict over a diagnosis of `observations`."""
    api = SimpleNamespace(stats=TransferStats(requests=14, bytes_received=20480))
    diagnosis = diagnosis_from([ProbeResult("probes", tuple(observations), duration_ms / 1000)], CLUSTER,
                               datetime.now(timezone.utc), duration_ms / 1000, False, api)
    return to_dict(diagnosis)


def emitted(diagnosis: dict, notifications: int = 0, **kwargs) -> tuple[list[str], list[dict]]:
    lines: list[str] = []
    documents = emit_run_metrics(IDENTITY, diagnosis, notifications, write=lines.append, **kwargs)
    return lines, documents


def values(lines: list[str]) -> dict[tuple[str, tuple], float]:
    """(metric name, dimension values) -> value, from EMF lines parsed like CloudWatch does."""
    found = {}
    for line in lines:
        blob = json.loads(line)
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "cpwatch"
        (dimension_names,) = directive["Dimensions"]
        dimensions = tuple((name, blob[name]) for name in dimension_names)
        for metric in directive["Metrics"]:
            (value,) = blob[metric["Name"]]
            key = (metric["Name"], dimensions)
            assert key not in found, f"{key} written twice"
            found[key] = value
    return found


def cluster(name: str) -> tuple[str, tuple]:
    return name, (("Cluster", ARN),)


def per_component(name: str, component: Component) -> tuple[str, tuple]:
    return name, (("Cluster", ARN), ("Component", component.value))


def test_healthy_run_writes_exactly_the_four_continuous_values():
    """CloudWatch bills a series for every hour it gets a value: a healthy cluster pays for 4
    (the heartbeat, the check's duration, the two Lease ages), no Health value of 0."""
    diagnosis = document(HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + HEALTHY_SCHED)

    lines, documents = emitted(diagnosis, execution_id="exec-1")

    assert values(lines) == {
        cluster("ComponentsDown"): 0, cluster("CheckDurationMs"): 1234,
        per_component("LeaseAgeSeconds", K): 2, per_component("LeaseAgeSeconds", S): 1,
    }
    assert [json.loads(line) for line in lines] == documents
    assert all("\n" not in line for line in lines)
    run = json.loads(lines[0])
    assert {k: run[k] for k in ("Cluster", "cluster", "account", "region", "overall", "root_cause",
                                "execution_id")} == {
        "Cluster": ARN, "cluster": CLUSTER, "account": "123456789012", "region": "eu-west-1", "overall": "healthy",
        "root_cause": None, "execution_id": "exec-1"}
    # Properties are not dimensions: Logs Insights can query them, CloudWatch does not bill them.
    assert run["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Cluster"]]
    checked_at = datetime.fromisoformat(diagnosis["checked_at"])
    assert {json.loads(line)["_aws"]["Timestamp"] for line in lines} == {int(checked_at.timestamp() * 1000)}


def test_units():
    lines, _ = emitted(document(HEALTHY_API + HEALTHY_ETCD + KCM_DOWN + HEALTHY_SCHED), notifications=1)

    units = {m["Name"]: m["Unit"] for line in lines for m in json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"]}

    assert units == {"ComponentsDown": "Count", "CheckDurationMs": "Milliseconds", "Health": "None",
                     "LeaseAgeSeconds": "Seconds", "StaleReadyNodes": "Count", "StuckTerminatingPods": "Count",
                     "Notifications": "Count"}


CASES = [
    ("controller-manager down", HEALTHY_API + HEALTHY_ETCD + KCM_DOWN + HEALTHY_SCHED, 1,
     {cluster("ComponentsDown"): 1, per_component("Health", K): 3,
      per_component("LeaseAgeSeconds", K): 152, per_component("LeaseAgeSeconds", S): 1,
      # 2 stale-but-Ready nodes; 1 orphan pod GC left + 1 pod stuck on a node
      cluster("StaleReadyNodes"): 2, cluster("StuckTerminatingPods"): 2, cluster("Notifications"): 1}),
    ("scheduler down", HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + SCHED_DOWN, 0,
     {cluster("ComponentsDown"): 1, per_component("Health", S): 3,
      per_component("LeaseAgeSeconds", K): 2, per_component("LeaseAgeSeconds", S): 90,
      cluster("UnattemptedPods"): 3}),
    ("apiserver down: the rest unknown, no Lease read", API_DOWN, 2,
     {cluster("ComponentsDown"): 1, per_component("Health", A): 3, per_component("Health", E): 2,
      per_component("Health", K): 2, per_component("Health", S): 2, cluster("Notifications"): 2}),
]


@pytest.mark.parametrize(("name", "observations", "notifications", "expected"), CASES, ids=[c[0] for c in CASES])
def test_failing_runs(name, observations, notifications, expected):
    lines, _ = emitted(document(observations), notifications)

    found = values(lines)

    assert {k: v for k, v in found.items() if k[0] != "CheckDurationMs"} == expected
    assert found[cluster("CheckDurationMs")] == 1234


def test_open_warnings_are_counted_only_while_there_are_some():
    healthy = document(HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + HEALTHY_SCHED)
    lines, _ = emitted(healthy, warnings=2)
    assert values(lines)[cluster("Warnings")] == 2
    assert cluster("Warnings") not in values(emitted(healthy, warnings=0)[0])


def test_namesakes_in_two_regions_are_two_series():
    healthy = document(HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + HEALTHY_SCHED)
    elsewhere = ClusterIdentity(CLUSTER, "us-east-1", "123456789012")
    here = {json.loads(line)["Cluster"] for line in emitted(healthy)[0]}
    there = {document["Cluster"] for document in emit_run_metrics(elsewhere, healthy, 0, write=lambda _: None)}
    assert here == {ARN} and there == {elsewhere.arn} and here != there


def test_sparse_counters_absent_when_zero():
    lines, _ = emitted(document(HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + HEALTHY_SCHED), notifications=0)

    assert not SPARSE & {name for name, _ in values(lines)}


def test_powertools_service_name_adds_no_dimension(monkeypatch):
    # template.yaml sets POWERTOOLS_SERVICE_NAME for the logger; the alarms' dimensions are fixed.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "cpwatch")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "something-else")

    lines, _ = emitted(document(API_DOWN))

    for line in lines:
        blob = json.loads(line)
        assert "service" not in blob
        assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "cpwatch"
        assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] in ([["Cluster"]], [["Cluster", "Component"]])


def test_runs_share_no_state():
    emitted(document(HEALTHY_API + HEALTHY_ETCD + KCM_DOWN + HEALTHY_SCHED), notifications=3)

    lines, _ = emitted(document(HEALTHY_API + HEALTHY_ETCD + HEALTHY_KCM + HEALTHY_SCHED))

    assert len(values(lines)) == 4


def test_default_writer_prints_one_line_per_document(capsys):
    documents = emit_run_metrics(IDENTITY, document(API_DOWN), 0)

    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == documents
    assert len(lines) == 5  # [Cluster] + one per control-plane component


def test_write_failure_is_logged_not_raised(caplog):
    calls = []

    def broken(line: str) -> None:
        calls.append(line)
        if len(calls) == 1:
            raise BrokenPipeError(32, "Broken pipe")

    with caplog.at_level(logging.ERROR, logger="cpwatch.telling.metrics"):
        written = emit_run_metrics(IDENTITY, document(API_DOWN), 0, write=broken)

    assert len(calls) == 5 and len(written) == 4  # the rest still written
    assert "ComponentsDown" not in {name for d in written for name in d if not name.startswith("_")}
    (record,) = [r for r in caplog.records if r.name == "cpwatch.telling.metrics"]
    assert "1 of 5" in record.getMessage() and ARN in record.getMessage()


def test_closed_stream_is_logged_not_raised(caplog):
    def closed(line: str) -> None:
        raise ValueError("I/O operation on closed file.")

    with caplog.at_level(logging.ERROR, logger="cpwatch.telling.metrics"):
        assert emit_run_metrics(IDENTITY, document(API_DOWN), 0, write=closed) == []

    assert any(r.name == "cpwatch.telling.metrics" for r in caplog.records)
