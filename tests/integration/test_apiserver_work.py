"""What a check costs the apiserver, as the fake counts it (tests/fakecluster/work.py): wide scans
come from the watch cache, the work stays within 5 % of one full pod list, and a lagging watch
cache alone never makes a failure finding."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import urllib3

from tests.fakecluster import FakeCluster
from tests.fakecluster.work import Work

from .conftest import FAST, codes

PODS = 2000
BUDGET_PERCENT = 5.0
# Above this many pods the Terminating-pod scan runs once per period; lowered here so that a
# 2,000-pod cluster behaves as a 150,000-pod one does with the defaults.
SETTINGS = FAST.with_overrides(orphan_scan_every_run_below_pods=1000)
WIDE_LISTS = ("/api/v1/pods", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
              "/api/v1/namespaces/kube-system/pods")


def _cluster(pods: int = PODS) -> FakeCluster:
    fc = FakeCluster(nodes=50)
    fc.start()
    fc.add_pods("apps", pods)
    fc.add_pod("backlog", "never-fits", node_selector={"cpwatch.io/nowhere": "true"}, created_seconds_ago=600)
    fc.add_pod("jobs", "finishing", node_name=next(iter(fc.kubelets.nodes)), deleted_seconds_ago=20,
               finalizers=["batch.kubernetes.io/job-tracking"], phase="Running")
    fc.advance(15)
    return fc


def _full_pod_list(fc: FakeCluster) -> Work:
    """`kubectl get pods -A -o json`: a consistent list in pages of 500."""
    pool = urllib3.HTTPSConnectionPool("127.0.0.1", fc.port, ssl_context=fc.ssl_context(), assert_hostname=False)
    fc.clear_requests()
    token = None
    while True:
        query = {"limit": "500", **({"continue": token} if token else {})}
        answer = pool.request("GET", "/api/v1/pods", fields=query, headers={"Authorization": f"Bearer {fc.admin_token}"})
        token = json.loads(answer.data)["metadata"].get("continue")
        if not token:
            break
    work = fc.work()
    fc.clear_requests()
    return work


def _to_scanning_minute(fc: FakeCluster) -> int:
    period = round(SETTINGS.orphan_scan_period_s / 60)
    fc.advance_to_minute(period)
    return period


def test_a_check_costs_at_most_five_percent_of_a_full_pod_list(run_check_on):
    fc = _cluster()
    try:
        pod_list = _full_pod_list(fc)
        assert pod_list.storage_reads >= PODS  # the yardstick reads every pod from etcd
        period = _to_scanning_minute(fc)
        per_minute = []
        for _ in range(period):
            fc.clear_requests()
            run_check_on(fc, settings=SETTINGS, read_only=True)
            per_minute.append(fc.work())
            fc.advance(60)
    finally:
        fc.stop()
    scanning, others = per_minute[0], per_minute[1:]
    assert scanning.converted > PODS  # the Terminating-pod scan ran in its minute (a Table row per pod) ...
    assert all(work.converted < PODS / 10 for work in others)  # ... and not in the other ones
    average_ms = sum(work.cpu_ms() for work in per_minute) / period
    assert average_ms <= pod_list.cpu_ms() * BUDGET_PERCENT / 100, (average_ms, pod_list.cpu_ms(), per_minute)


def test_wide_scans_come_from_the_watch_cache(run_check_on):
    fc = _cluster()
    try:
        _to_scanning_minute(fc)
        fc.clear_requests()
        run_check_on(fc, settings=SETTINGS, read_only=True)
        requests = fc.requests
    finally:
        fc.stop()
    wide = [r for r in requests if urlsplit(r.path).path in WIDE_LISTS and "limit=1&" not in r.path + "&"]
    assert {urlsplit(r.path).path for r in wide} == set(WIDE_LISTS)
    for record in wide:
        query = parse_qs(urlsplit(record.path).query)
        single = any(s.startswith("metadata.name=") for s in ",".join(query.get("fieldSelector", [])).split(","))
        assert query.get("resourceVersion") == ["0"] or single, record.path
    # No request reads more than one object from etcd: consistent reads are single objects only.
    assert max(r.work.storage_reads for r in requests) <= 1, [(r.path, r.work) for r in requests if r.work.storage_reads > 1]
    assert sum(r.work.cache_reads for r in requests) > PODS


def test_a_lagging_watch_cache_alone_makes_no_failure(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.freeze_watch_cache()
        # The cache keeps the Leases of 200 s ago: every node looks silent there, while the kubelets
        # go on renewing in etcd.
        fc.advance(200)
        fc.clear_requests()
        diagnosis = run_check_on(fc, read_only=True)
        requests = fc.requests
    lease_gets = [r for r in requests if r.path.startswith("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/")]
    assert len(lease_gets) == 3  # the cache showed all three Leases expired; each was read again
    assert "NODE_READY_BUT_SILENT" not in codes(diagnosis)
    assert "NODE_NOT_READY" not in codes(diagnosis)


def test_a_pending_pod_gone_from_etcd_but_still_in_the_cache_is_not_reported(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.stop_component("scheduler")
        fc.add_pod("demo", "never-attempted", created_seconds_ago=300)
        fc.add_pod("demo", "deleted-since", created_seconds_ago=300)
        fc.advance(5)
        fc.freeze_watch_cache()
        fc.store.delete("pods", "demo", "deleted-since")
        diagnosis = run_check_on(fc, read_only=True)
    unattempted = [o for o in diagnosis.observations if o.code == "PODS_UNATTEMPTED"]
    assert len(unattempted) == 1
    assert [pod.split(" ")[0] for pod in unattempted[0].evidence["pods"]] == ["demo/never-attempted"]
    assert unattempted[0].evidence["count"] == 1
