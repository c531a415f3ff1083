"""The measured process of the large-cluster benchmark: cpwatch's check and nothing else.

Run by bench/large.py as `python -m bench.checker_child` with a JSON job on stdin:
{"server", "ca_pem", "token", "read_only", "runs"} and optionally "request_timeout_s"; prints one JSON line: per run the wall time of
run_check, requests and bytes received (KubeApi.stats), the verdict, and the process's peak RSS.
The KubeApi is built as the Lambda builds it for EKS (verified TLS against the cluster CA, bearer
token), without the kubernetes package the kubeconfig loader would import.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> None:
    job = json.loads(sys.stdin.read())
    from cpwatch.judging.check import run_check
    from cpwatch.cluster.connect import ssl_context_for_ca
    from cpwatch.cluster.kubeapi import KubeApi
    from cpwatch.settings import Settings
    from cpwatch.timeutil import Deadline

    settings = Settings()
    if job.get("request_timeout_s"):
        settings = settings.with_overrides(request_timeout_s=job["request_timeout_s"])
    token = job["token"]
    rss_after_import = peak_rss_kb()
    runs = []
    for _ in range(job.get("runs", 1)):
        api = KubeApi(job["server"], ssl_context_for_ca(ca_pem=job["ca_pem"]), lambda: f"Bearer {token}",
                      settings.request_timeout_s, Deadline.after(settings.run_timeout_s))
        started = time.perf_counter()
        diagnosis = run_check(api, "bench", settings, read_only=job["read_only"])
        seconds = time.perf_counter() - started
        api.close()
        runs.append({"seconds": seconds, "requests": api.stats.requests, "bytes": api.stats.bytes_received,
                     "overall": diagnosis.overall.value,
                     "findings": sorted({o.code for o in diagnosis.observations}),
                     "probe_seconds": diagnosis.probe_seconds})
    print(json.dumps({"runs": runs, "peak_rss_kb": peak_rss_kb(), "peak_rss_after_import_kb": rss_after_import}))


def peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries that
    over from the parent through fork/vfork and execve, so a child of the big benchmark process
    would report the parent's size."""
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main()
