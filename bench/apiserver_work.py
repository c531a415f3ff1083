"""What one check costs the apiserver, against one `kubectl get pods -A` (paginated, 500 a page),
as the fake control plane's model of a real kube-apiserver counts it (tests/fakecluster/work.py:
objects read from etcd, objects the watch cache looked at, conversions, bytes sent, requests).

A check is read-only here (as with only infra/ applied) and averaged over one period of the
Terminating-pod scan, which runs once per orphan_scan_period_s on clusters this large: the
minute it runs and the minutes it does not both count. Below orphan_scan_every_run_below_pods
(default 5,000) the scan runs every minute: a small share of little there, so no target; above
it the target is issue 9's, at most 5 % of the full pod list. tests/integration/test_apiserver_work.py holds the same rule at one size.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.judging.check import run_check
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline

from .common import Figures

SIZES = (2_000, 20_000)  # pods; 50 nodes
NODES = 50
BUDGET_PERCENT = 5.0
SETTINGS = Settings()


def _full_pod_list(fc):
    import urllib3

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


def _one_size(figures: Figures, pods: int) -> None:
    from tests.fakecluster import FakeCluster

    period = round(SETTINGS.orphan_scan_period_s / 60)
    with FakeCluster(nodes=NODES) as fc, tempfile.TemporaryDirectory() as scratch:
        fc.add_pods("apps", pods)
        fc.advance(15)
        pod_list = _full_pod_list(fc)
        kubeconfig = fc.write_kubeconfig(Path(scratch) / "kubeconfig")
        fc.advance_to_minute(period)
        per_minute = []
        for _ in range(period):
            fc.clear_requests()
            api, target = api_from_kubeconfig(str(kubeconfig), None, SETTINGS.request_timeout_s,
                                              Deadline.after(SETTINGS.run_timeout_s))
            try:
                run_check(api, target.name, SETTINGS, read_only=True)
            finally:
                api.close()
            per_minute.append(fc.work())
            fc.advance(60)
    average_ms = sum(work.cpu_ms() for work in per_minute) / period
    label = f"apiserver work {pods:,} pods"
    figures.add(f"{label}: full pod list (kubectl get pods -A), estimated apiserver CPU", pod_list.cpu_ms(), "ms")
    figures.add(f"{label}: one check, estimated apiserver CPU (average over {period} min)", average_ms, "ms")
    figures.add(f"{label}: one check, requests (average)", sum(w.requests for w in per_minute) / period, "requests")
    figures.add(f"{label}: one check, objects read from etcd (average)",
                sum(w.storage_reads for w in per_minute) / period, "objects")
    figures.add(f"{label}: one check, bytes sent (average)", sum(w.bytes_sent for w in per_minute) / period, "B")
    budgeted = pods >= SETTINGS.orphan_scan_every_run_below_pods
    figures.ratio(f"{label}: check / full pod list", average_ms, pod_list.cpu_ms(), "check_ms", "pod_list_ms", "ms",
                  as_percent=True, target=f"<= {BUDGET_PERCENT:g} %" if budgeted else "",
                  limit=BUDGET_PERCENT if budgeted else None)


def run(figures: Figures, sizes: tuple[int, ...] = SIZES) -> None:
    for pods in sizes:
        _one_size(figures, pods)
