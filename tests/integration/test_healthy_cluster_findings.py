"""A healthy cluster, looked at read-only and with the active probes: every probe's own "works"
finding, in registry order, with its evidence (issue 12, mutation testing).

Verdict tests cannot see a probe that crashed or answered nothing while the other signals of its
component kept it healthy: the runner turns the crash into PROBE_FAILED and the verdict stands.
Here each probe must produce exactly its finding, so a probe that fails, is skipped, reports the
wrong component or loses its evidence fails this test. Values come from the fake's own objects
and the settings, not from a recording of this output.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from cryptography import x509

from cpwatch.findings import Status
from tests.fakecluster import FakeCluster

from .conftest import FAST

READ_ONLY = [
    ("apiserver", "APISERVER_LIVE"), ("etcd", "ETCD_CHECK_PASSED"), ("apiserver", "APISERVER_READS_OK"),
    ("apiserver", "APISERVER_IDENTITIES"), ("apiserver", "APISERVER_CONNECTIONS_OK"),
    ("apiserver", "APISERVER_CERT_OK"), ("etcd", "ETCD_DB_SIZE_OK"),
    ("controller-manager", "LEADER_LEASE_FRESH"), ("scheduler", "LEADER_LEASE_FRESH"),
    ("controller-manager", "NODE_LIFECYCLE_OK"), ("controller-manager", "ORPHAN_PODS_COLLECTED"),
    ("scheduler", "PENDING_PODS_ATTEMPTED"),
    ("extensions", "WEBHOOKS_OK"), ("extensions", "APISERVICES_AVAILABLE"),
    ("controller-manager", "EKS_METRICS_NOT_SERVED"), ("scheduler", "EKS_METRICS_NOT_SERVED"),
    ("controller-manager", "COMPONENTSTATUS_HEALTHY"), ("scheduler", "COMPONENTSTATUS_HEALTHY"),
    ("etcd", "COMPONENTSTATUS_HEALTHY"),
]
ACTIVE = {  # inserted after the read-only finding that precedes them in the registry
    ("apiserver", "APISERVER_CERT_OK"): [("etcd", "ETCD_WRITE_OK")],
    ("controller-manager", "ORPHAN_PODS_COLLECTED"): [("controller-manager", "DEPLOYMENT_CANARY_OBSERVED"),
                                                      ("controller-manager", "SERVICEACCOUNT_CANARY_RECREATED")],
    ("scheduler", "PENDING_PODS_ATTEMPTED"): [("scheduler", "SCHEDULER_CANARY_ATTEMPTED")],
}
NODES = 3


def expected_order(read_only: bool) -> list[tuple[str, str]]:
    order = []
    for entry in READ_ONLY:
        order.append(entry)
        if not read_only:
            order.extend(ACTIVE.get(entry, []))
    return order


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "active"])
def test_every_probe_reports_its_own_working_finding(read_only, run_check_on):
    with FakeCluster(nodes=NODES) as fc:
        fc.advance(20)
        diagnosis = run_check_on(fc, read_only=read_only)
        apiservices = fc.store.count("apiservices")
        identities = sorted(lease["metadata"]["name"] for lease in fc.store.list("leases", "kube-system")
                            if (lease["metadata"].get("labels") or {}).get("apiserver.kubernetes.io/identity"))
        certificate = x509.load_pem_x509_certificate(fc.serving_certificate_pem.encode())
    found = [(o.component.value, o.code) for o in diagnosis.observations]
    assert found == expected_order(read_only)
    assert all(o.status is Status.OK for o in diagnosis.observations)
    evidence = {(o.component.value, o.code): dict(o.evidence) for o in diagnosis.observations}

    live = evidence["apiserver", "APISERVER_LIVE"]
    assert set(live) == {"checks", "latency_ms"} and live["checks"] > 0 and live["latency_ms"] >= 0
    assert evidence["etcd", "ETCD_CHECK_PASSED"] == {"path": "/livez/etcd"}
    reads = evidence["apiserver", "APISERVER_READS_OK"]
    assert reads["samples"] == FAST.latency_samples and 0 <= reads["median_ms"] < FAST.latency_warn_ms
    assert set(reads) == {"median_ms", "samples"}
    assert evidence["apiserver", "APISERVER_CONNECTIONS_OK"] == {
        "connections": max(FAST.apiserver_connections, 2 * len(identities)), "etcd_failed": 0}
    known = evidence["apiserver", "APISERVER_IDENTITIES"]
    assert (known["leases"], known["renewing"], known["stale_leases"]) == (len(identities), len(identities), [])

    cert = evidence["apiserver", "APISERVER_CERT_OK"]
    not_after = certificate.not_valid_after_utc
    assert cert["not_after"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cert["subject"] == "kube-apiserver"
    assert abs(cert["days_left"] - (not_after - datetime.now(timezone.utc)).days) <= 1

    assert evidence["controller-manager", "NODE_LIFECYCLE_OK"] == {"leases": NODES, "marked": "no silent node"}
    assert evidence["controller-manager", "ORPHAN_PODS_COLLECTED"] == {"checked": 0}
    # the active check's own scheduler canary pod (unschedulable by design) may be pending when listed
    assert evidence["scheduler", "PENDING_PODS_ATTEMPTED"] in ([{"pending": 0}] if read_only
                                                               else [{"pending": 0}, {"pending": 1}])
    assert evidence["extensions", "WEBHOOKS_OK"] == {"count": 0, "fail_closed": 0, "fail_closed_webhooks": []}
    assert evidence["extensions", "APISERVICES_AVAILABLE"] == {"count": apiservices, "aggregated": 0}
    eks = "/apis/metrics.eks.amazonaws.com/v1"
    assert evidence["controller-manager", "EKS_METRICS_NOT_SERVED"] == {"path": f"{eks}/kcm/container/metrics"}
    assert evidence["scheduler", "EKS_METRICS_NOT_SERVED"] == {"path": f"{eks}/ksh/container/metrics"}
    assert evidence["controller-manager", "COMPONENTSTATUS_HEALTHY"] == {"name": "controller-manager", "message": "ok"}
    assert evidence["scheduler", "COMPONENTSTATUS_HEALTHY"] == {"name": "scheduler", "message": "ok"}
    assert evidence["etcd", "COMPONENTSTATUS_HEALTHY"] == {"name": "3 etcd member(s)"}

    if not read_only:
        assert set(evidence["etcd", "ETCD_WRITE_OK"]) == {"latency_ms"}
        deployment = evidence["controller-manager", "DEPLOYMENT_CANARY_OBSERVED"]
        assert deployment["object"] == "cpwatch/cpwatch-canary" and deployment["generation"] >= 2
        assert evidence["controller-manager", "SERVICEACCOUNT_CANARY_RECREATED"]["object"] == "cpwatch/default"
        assert evidence["scheduler", "SCHEDULER_CANARY_ATTEMPTED"]["reason"] == "Unschedulable"
        for key in (("etcd", "ETCD_WRITE_OK"), ("controller-manager", "DEPLOYMENT_CANARY_OBSERVED"),
                    ("controller-manager", "SERVICEACCOUNT_CANARY_RECREATED"),
                    ("scheduler", "SCHEDULER_CANARY_ATTEMPTED")):
            assert 0 <= evidence[key]["latency_ms"] < FAST.canary_wait_s * 1000, key
