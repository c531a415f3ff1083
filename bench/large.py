"""Large clusters: a healthy diagnosis of 100, 1,000 and 5,000 nodes at 30 pods per node.

The fake control plane runs in this process; each check runs in a child process
(bench/checker_child.py), so the child's peak RSS is the checker's alone. Per size and mode
(read-only, and with the active canaries): wall time of run_check (median of the child's runs),
peak RSS of the child, requests and bytes received. Baseline against the same server in the same
run: `kubectl get pods -A -o json` plus `kubectl get nodes -o json` (bytes the server sent for the
list requests, discovery excluded; time; kubectl's peak RSS), or, with no kubectl on the machine,
the same paginated lists (limit 500, kubectl's --chunk-size) made from Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cpwatch.settings import Settings

from .common import REPO, RECORDED_HEALTHY, Figures, add_realistic_pods, compact_size, median, realistic_running_pod

SIZES = (100, 1000, 5000)
PODS_PER_NODE = 30
PENDING_AT_TOP = 2000
TERMINATING_AT_TOP = 500
RUNS_PER_MODE = 3
TARGET_SECONDS, TARGET_RSS_MB, TARGET_BYTES_PERCENT = 10.0, 300.0, 5.0


def run(figures: Figures, sizes: tuple[int, ...] = SIZES, runs: int = RUNS_PER_MODE) -> None:
    from tests.fakecluster import FakeCluster
    from tests.fakecluster.components import scheduler as fake_scheduler

    # The fake scheduler retries unschedulable pods every 60 s, each against every node
    # (2,000 x 5,000 filter calls in this process); on 2 cores that would steal CPU from the
    # measured checker. A real scheduler does this in its own process on the control plane.
    fake_scheduler.RETRY_SECONDS = 3600.0
    pod_size = compact_size(realistic_running_pod())
    figures.add("large: bytes per Running pod as served (compact JSON)", pod_size, "B")
    for nodes in sizes:
        print(f"large cluster: {nodes} nodes, {nodes * PODS_PER_NODE} pods", flush=True)
        with FakeCluster(nodes=nodes) as fc:
            started = time.monotonic()
            node_names = list(fc.kubelets.nodes)
            add_realistic_pods(fc, "apps", nodes * PODS_PER_NODE, node_names=node_names)
            if nodes == max(sizes):
                _add_pending(fc, PENDING_AT_TOP)
                _add_terminating(fc, TERMINATING_AT_TOP, node_names)
            fc.advance(2)
            print(f"  set-up {time.monotonic() - started:.1f} s, {fc.store.count('pods')} pods", flush=True)
            label = f"{nodes} nodes"
            # Timed runs fall in a minute without the Terminating-pod scan (apiserver_work covers it).
            fc.advance_to_minute(SCAN_PERIOD_MINUTES)
            fc.advance(120)
            for read_only in (True, False):
                mode = "read-only" if read_only else "with canaries"
                result = _check_in_child(fc, read_only, runs)
                last = result["runs"][-1]
                assert all(r["overall"] == "healthy" for r in result["runs"]), result["runs"]
                seconds = median([r["seconds"] for r in result["runs"]])
                rss_mb = result["peak_rss_kb"] / 1024
                top = nodes == max(sizes)
                figures.add(f"large {label}: run_check wall time, {mode} (median of {runs})", seconds, "s",
                            target=f"<= {TARGET_SECONDS:g} s" if top else "", met=seconds <= TARGET_SECONDS if top else None)
                figures.add(f"large {label}: checker peak RSS, {mode}", rss_mb, "MB",
                            target=f"<= {TARGET_RSS_MB:g} MB" if top else "", met=rss_mb <= TARGET_RSS_MB if top else None)
                figures.add(f"large {label}: requests, {mode}", last["requests"], "requests")
                figures.add(f"large {label}: bytes received, {mode}", last["bytes"], "B")
                if read_only:
                    checker_bytes = last["bytes"]
                    figures.add(f"large {label}: checker peak RSS after imports (before any request)",
                                result["peak_rss_after_import_kb"] / 1024, "MB")
            baseline = _baseline(fc)
            figures.add(f"large {label}: baseline kubectl pods+nodes bytes ({baseline['tool']})", baseline["bytes"], "B")
            figures.add(f"large {label}: baseline kubectl pods+nodes wall time", baseline["seconds"], "s")
            if baseline.get("peak_rss_mb"):
                figures.add(f"large {label}: baseline kubectl peak RSS (largest of the two)", baseline["peak_rss_mb"], "MB")
            top = nodes == max(sizes)
            if top:
                apiserver_work(fc, figures, label)
            figures.ratio(f"large {label}: checker bytes / baseline bytes (read-only)", checker_bytes, baseline["bytes"],
                          "checker_bytes", "baseline_bytes", "B", as_percent=True,
                          target=f"<= {TARGET_BYTES_PERCENT:g} %" if top else "", limit=TARGET_BYTES_PERCENT if top else None)


TARGET_WORK_PERCENT = 5.0
SCAN_PERIOD_MINUTES = max(1, round(Settings().orphan_scan_period_s / 60))  # the Terminating-pod scan's


def apiserver_work(fc, figures: Figures, label: str) -> dict:
    """What the apiserver does for one read-only check, next to one `kubectl get pods -A -o json`
    (a consistent list in pages of 500), as counted by the fake (tests/fakecluster/work.py).
    The Terminating-pod scan runs in one minute of five at this size, so three figures: a check
    in another minute, a check in the scanning minute, and the average over the five minutes."""
    period = SCAN_PERIOD_MINUTES
    fc.advance_to_minute(period)  # the scanning minute
    child: dict = {}
    # The fake builds a 150,000-row Table in Python in 5-10 s on this machine (kube-apiserver's
    # printers take well under a second), longer than the default 5 s request timeout.
    scanning = _work_of(fc, lambda: child.update(_check_in_child(fc, True, 1, request_timeout_s=30.0)))
    figures.add(f"apiserver {label}: checker peak RSS, scanning minute (one unpaged Table from the cache)",
                child["peak_rss_kb"] / 1024, "MB", target=f"<= {TARGET_RSS_MB:g} MB",
                met=child["peak_rss_kb"] / 1024 <= TARGET_RSS_MB)
    fc.advance(60)
    other = _work_of(fc, lambda: _check_in_child(fc, True, 1))
    if scanning.converted < fc.store.count("pods") or other.converted >= fc.store.count("pods"):
        raise RuntimeError(f"the Terminating-pod scan did not run in its minute only: {scanning}, {other}")
    kubectl = _work_of(fc, lambda: _pods_like_kubectl(fc))
    average_ms = (scanning.cpu_ms() + (period - 1) * other.cpu_ms()) / period
    for name, work in (("check, other minutes", other), ("check, scanning minute", scanning),
                       ("kubectl get pods -A -o json", kubectl)):
        figures.add(f"apiserver {label}: {name}: requests", work.requests, "requests")
        figures.add(f"apiserver {label}: {name}: objects read from etcd", work.storage_reads, "objects")
        figures.add(f"apiserver {label}: {name}: objects looked at in the watch cache", work.cache_reads, "objects")
        figures.add(f"apiserver {label}: {name}: objects converted (Table, metadata)", work.converted, "objects")
        figures.add(f"apiserver {label}: {name}: bytes sent", work.bytes_sent, "B")
        figures.add(f"apiserver {label}: {name}: estimated CPU", work.cpu_ms(), "ms")
    figures.ratio(f"apiserver {label}: check (other minutes) / one full pod list", other.cpu_ms(), kubectl.cpu_ms(),
                  "check_ms", "pod_list_ms", "estimated CPU ms", as_percent=True)
    figures.ratio(f"apiserver {label}: check (scanning minute) / one full pod list", scanning.cpu_ms(),
                  kubectl.cpu_ms(), "check_ms", "pod_list_ms", "estimated CPU ms", as_percent=True)
    figures.ratio(f"apiserver {label}: check (average over {period} min) / one full pod list", average_ms,
                  kubectl.cpu_ms(), "check_ms", "pod_list_ms", "estimated CPU ms", as_percent=True,
                  target=f"<= {TARGET_WORK_PERCENT:g} %", limit=TARGET_WORK_PERCENT)
    return {"scanning": scanning, "other": other, "kubectl": kubectl}


def _work_of(fc, action):
    fc.clear_requests()
    action()
    work = fc.work()
    fc.clear_requests()
    return work


def _pods_like_kubectl(fc) -> None:
    """The requests of `kubectl get pods -A -o json`: a consistent list in pages of 500
    (--chunk-size), each page continued from the last."""
    import urllib3

    pool = urllib3.HTTPSConnectionPool("127.0.0.1", fc.port, ssl_context=fc.ssl_context(), assert_hostname=False)
    token = None
    while True:
        query = {"limit": "500", **({"continue": token} if token else {})}
        answer = pool.request("GET", "/api/v1/pods", fields=query, headers={"Authorization": f"Bearer {fc.admin_token}"})
        token = json.loads(answer.data).get("metadata", {}).get("continue")
        if not token:
            return


def _add_pending(fc, count: int) -> None:
    """Pending pods the scheduler attempted and could not place: the recorded `nowhere` pod
    (unsatisfiable nodeSelector, PodScheduled=False Unschedulable), 2,493 bytes."""
    from tests.fakecluster.clock import rfc3339

    recorded = json.loads(RECORDED_HEALTHY.read_text())["responses"]["pods_all"]["body"]["items"]
    template = next(i for i in recorded if i["metadata"]["name"] == "nowhere")
    now = fc.clock.now()
    stamp = rfc3339(now - timedelta(seconds=600))
    conditions = [{**template["status"]["conditions"][0], "lastTransitionTime": stamp,
                   "message": f"0/{fc.store.count('nodes')} nodes are available: "
                              f"{fc.store.count('nodes')} node(s) didn't match Pod's node affinity/selector."}]
    fc.ensure_namespace("backlog")
    with fc.simulation.lock, fc.store.lock:
        for index in range(count):
            metadata = {**template["metadata"], "name": f"backlog-{index:05d}", "namespace": "backlog",
                        "creationTimestamp": stamp}
            metadata.pop("uid", None)
            fc.store.create("pods", {"metadata": metadata, "spec": template["spec"],
                                     "status": {**template["status"], "conditions": conditions}})
        fc.scheduler.remember_attempts(now)


def _add_terminating(fc, count: int, node_names: list[str]) -> None:
    """Job pods being deleted (a rollout's worth): Running pods with a deletionTimestamp 20 s ago
    and the Job controller's tracking finalizer, spread over the nodes."""
    from tests.fakecluster.clock import rfc3339

    template = realistic_running_pod()
    now = fc.clock.now()
    fc.ensure_namespace("jobs")
    with fc.simulation.lock, fc.store.lock:
        for index in range(count):
            metadata = {**template["metadata"], "name": f"job-{index:04d}", "namespace": "jobs",
                        "deletionTimestamp": rfc3339(now - timedelta(seconds=20)), "deletionGracePeriodSeconds": 30,
                        "finalizers": ["batch.kubernetes.io/job-tracking"]}
            metadata.pop("uid", None)
            spec = {**template["spec"], "nodeName": node_names[(index * 7) % len(node_names)]}
            fc.store.create("pods", {"metadata": metadata, "spec": spec, "status": template["status"]})


def _check_in_child(fc, read_only: bool, runs: int, request_timeout_s: float | None = None) -> dict:
    job = {"server": fc.url, "ca_pem": fc.ca_pem, "token": fc.checker_token, "read_only": read_only, "runs": runs,
           "request_timeout_s": request_timeout_s}
    completed = subprocess.run([sys.executable, "-m", "bench.checker_child"], input=json.dumps(job),
                               capture_output=True, text=True, cwd=REPO, env=_child_env(), timeout=600)
    if completed.returncode != 0:
        raise RuntimeError(f"checker child failed: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def kubectl_path() -> str | None:
    return shutil.which("kubectl")


# kubectl holds the whole list in memory, about 20 times its JSON size: 15.6 GB for the 783 MB
# of 5,000 nodes' pods on the reference machine.
KUBECTL_BYTES_OF_MEMORY = 20


def _baseline(fc) -> dict:
    kubectl = kubectl_path()
    pods = fc.store.count("pods")
    needed = pods * 5200 * KUBECTL_BYTES_OF_MEMORY
    if kubectl and needed < _available_memory() * 0.9:
        return _baseline_kubectl(fc, kubectl)
    baseline = _baseline_python(fc)
    if kubectl:
        baseline["tool"] = "python lists: too little memory for kubectl here"
    return baseline


def _available_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def _list_bytes(records) -> int:
    return sum(r.bytes_sent for r in records if r.path.split("?")[0] in ("/api/v1/pods", "/api/v1/nodes"))


def _baseline_kubectl(fc, kubectl: str) -> dict:
    seconds, peak_kb, stdout_bytes = 0.0, 0, 0
    with tempfile.TemporaryDirectory() as scratch:
        kubeconfig = fc.write_kubeconfig(Path(scratch) / "kubeconfig", token=fc.admin_token)
        fc.clear_requests()
        for args in (["get", "pods", "-A", "-o", "json"], ["get", "nodes", "-o", "json"]):
            command = [kubectl, "--kubeconfig", str(kubeconfig), "--cache-dir", str(Path(scratch) / "cache"), *args]
            time_v = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
            if time_v:
                command = [time_v, "-v", *command]
            started = time.perf_counter()
            with open(Path(scratch) / "out.json", "wb") as out:
                completed = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, timeout=900)
            seconds += time.perf_counter() - started
            if completed.returncode != 0:
                raise RuntimeError(f"kubectl {' '.join(args)} failed: {completed.stderr.decode()[-1000:]}")
            stdout_bytes += (Path(scratch) / "out.json").stat().st_size
            for line in completed.stderr.decode().splitlines():
                if "Maximum resident set size" in line:
                    peak_kb = max(peak_kb, int(line.rsplit(":", 1)[1]))
        records = fc.requests
    return {"tool": "kubectl", "bytes": _list_bytes(records), "seconds": seconds, "stdout_bytes": stdout_bytes,
            "peak_rss_mb": peak_kb / 1024 if peak_kb else None}


def _baseline_python(fc) -> dict:
    """No kubectl here: the same list requests kubectl makes (limit=500 pages), from Python."""
    import urllib3

    pool = urllib3.HTTPSConnectionPool("127.0.0.1", fc.port, ssl_context=fc.ssl_context(), assert_hostname=False)
    fc.clear_requests()
    started = time.perf_counter()
    for path in ("/api/v1/pods", "/api/v1/nodes"):
        token = None
        while True:
            query = {"limit": "500", **({"continue": token} if token else {})}
            answer = pool.request("GET", path, fields=query, headers={"Authorization": f"Bearer {fc.admin_token}"})
            token = json.loads(answer.data).get("metadata", {}).get("continue")
            if not token:
                break
    seconds = time.perf_counter() - started
    return {"tool": "python lists, no kubectl found", "bytes": _list_bytes(fc.requests), "seconds": seconds}
