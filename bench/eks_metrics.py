"""What the EKS control-plane metrics probes add to a run: requests and bytes, from the fake.

`python -m bench.eks_metrics` prints, per situation, the requests the two probes (eks_kcm_metrics,
eks_ksh_metrics) made, the bytes that crossed the wire (gzipped when the endpoint gzips, as the
fake does like promhttp) and the decoded exposition sizes. The fake's kube-controller-manager
exports the ~42 work queues of a 1.31 controller-manager; a real one adds rest-client, Go and
process series, so real expositions are larger (the probe parses only the lines it reads).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.probes import PROBES
from cpwatch.probes.context import ProbeContext
from cpwatch.probes.eksmetrics import KCM_PATH, KSH_PATH, parse_controller_manager
from cpwatch.probes.runner import run_probes
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline
from tests.fakecluster import FakeCluster, eks_metrics

SETTINGS = Settings(eks_metrics_second_look_s=1.0)
EKS_PROBES = tuple(p for p in PROBES if p.name in ("eks_kcm_metrics", "eks_ksh_metrics"))


def measure(fc: FakeCluster, kubeconfig: Path) -> tuple[int, int, str]:
    api, _ = api_from_kubeconfig(str(kubeconfig), None, SETTINGS.request_timeout_s, Deadline.after(20))
    try:
        results = run_probes(EKS_PROBES, ProbeContext(api=api, settings=SETTINGS, run_id="bench"))
        codes = ", ".join(o.code for r in results for o in r.observations)
        return api.stats.requests, api.stats.bytes_received, codes
    finally:
        api.close()


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeCluster(nodes=3) as fc:
        kubeconfig = fc.write_kubeconfig(Path(tmp) / "kubeconfig")
        fc.advance(20)
        rows.append(("metrics API absent (404)", *measure(fc, kubeconfig)))
        fc.serve_eks_metrics()
        fc.advance(5)
        rows.append(("healthy", *measure(fc, kubeconfig)))
        fc.stall_controller(mode="idle")
        fc.advance(10)
        rows.append(("node lifecycle queue idle (second look)", *measure(fc, kubeconfig)))
        fc.stall_controller(mode=None)
        fc.stop_component("controller-manager")
        rows.append(("controller-manager down (503)", *measure(fc, kubeconfig)))
        fc.start_component("controller-manager")
        fc.advance(20)
        kcm = len(eks_metrics.kcm_text(fc.controller_manager, fc.clock.now()).encode())
        ksh = len(eks_metrics.ksh_text(fc.scheduler).encode())
    print(f"{'situation':44} {'requests':>8} {'bytes':>8}  findings")
    for name, requests, received, codes in rows:
        print(f"{name:44} {requests:>8} {received:>8}  {codes}")
    print(f"decoded expositions of the fake: {KCM_PATH} {kcm} B, {KSH_PATH} {ksh} B")
    size, median_ms = parse_ms()
    print(f"parsing a {size // 1024} KB controller-manager exposition (the fake's plus "
          f"{BULK_LINES} lines of other series): {median_ms:.1f} ms median of 20")


# A real controller-manager also exports rest-client latency histograms, Go runtime and process
# series: the probe skips their lines before parsing.
BULK_LINES = 6000
LARGE = "".join(f'rest_client_request_duration_seconds_bucket{{host="10.0.0.1:443",verb="GET",le="{i % 12}"}} {i}\n'
                for i in range(BULK_LINES))


def parse_ms() -> tuple[int, float]:
    with FakeCluster(nodes=3) as fc:
        fc.advance(10)
        text = eks_metrics.kcm_text(fc.controller_manager, fc.clock.now()) + LARGE
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        parse_controller_manager(text)
        timings.append((time.perf_counter() - started) * 1000)
    return len(text.encode()), statistics.median(timings)


if __name__ == "__main__":
    main()
