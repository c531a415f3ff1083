"""What the benchmarks share: the figure list, percentiles, the machine description, and the
realistic pods the large-cluster and fleet benchmarks put into the fake control plane.

Who calls it: bench/run.py and every bench/*.py section. Nothing here is measured itself.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORDED_HEALTHY = REPO / "tests" / "data" / "real-control-plane" / "healthy.json"


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""  # e.g. "<= 10 s"; empty when the figure has no target
    met: bool | None = None
    detail: dict = field(default_factory=dict)  # for ratios: the two measured values

    def as_dict(self) -> dict:
        out = {"name": self.name, "value": self.value, "unit": self.unit}
        if self.target:
            out["target"] = self.target
            out["met"] = self.met
        out.update(self.detail)
        return out


class Figures:
    def __init__(self) -> None:
        self.items: list[Figure] = []

    def add(self, name: str, value: float, unit: str, *, target: str = "", met: bool | None = None,
            **detail: object) -> Figure:
        figure = Figure(name, round(value, 4) if isinstance(value, float) else value, unit, target, met, dict(detail))
        self.items.append(figure)
        print(f"  {name:<58} {_fmt(figure.value):>12} {unit}" + (f"  (target {target}: {'met' if met else 'MISSED'})" if target else ""),
              flush=True)
        return figure

    def ratio(self, name: str, numerator: float, denominator: float, num_name: str, den_name: str, unit_of_parts: str,
              *, as_percent: bool = False, target: str = "", limit: float | None = None) -> Figure:
        value = numerator / denominator if denominator else float("nan")
        if as_percent:
            value *= 100
        met = None if limit is None else value <= limit
        return self.add(name, value, "%" if as_percent else "x", target=target, met=met,
                        **{num_name: numerator, den_name: denominator, "parts_unit": unit_of_parts})


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))  # ceil(q/100 * n)
    return ordered[min(rank, len(ordered)) - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict:
    """nproc, memory and CPU model, as the README quotes them."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        free = subprocess.run(["free", "-g"], capture_output=True, text=True, timeout=5).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        free = ""
    return {"nproc": os.cpu_count(), "free_g": free, "cpu_model": model or platform.processor(),
            "python": sys.version.split()[0], "platform": platform.platform()}


# --- realistic pods ---------------------------------------------------------------------------

def realistic_running_pod() -> dict:
    """A Running Deployment pod shaped like a real one.

    Base: the recorded real pod demo/web-855569f7b9-7dtqz (2,537 bytes: metadata with labels,
    ownerReferences and the controller-manager's managedFields, defaulted spec with the
    projected token volume and tolerations). The recording had no kubelets, so the pod never
    ran; added here is what a kubelet and a typical workload add: a container with requests and
    limits, a port and a readiness probe (and their managedFields), the kubelet's status
    (five conditions, containerStatuses, host/pod IPs, startTime) and the kubelet's managedFields
    entry for it, in the shapes Kubernetes writes.
    """
    recorded = json.loads(RECORDED_HEALTHY.read_text())["responses"]["pods_all"]["body"]["items"]
    pod = copy.deepcopy(next(i for i in recorded if i["metadata"]["name"] == "web-855569f7b9-7dtqz"))
    stamp = pod["metadata"]["creationTimestamp"]
    container = pod["spec"]["containers"][0]
    container["image"] = "public.ecr.aws/nginx/nginx:1.27.2"
    container["imagePullPolicy"] = "IfNotPresent"
    container["ports"] = [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    container["resources"] = {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                                   "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    kcm_fields = pod["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    kcm_fields["f:ports"] = {".": {}, 'k:{"containerPort":8080,"protocol":"TCP"}': {
        ".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}}
    kcm_fields["f:readinessProbe"] = {".": {}, "f:failureThreshold": {}, "f:httpGet": {
        ".": {}, "f:path": {}, "f:port": {}, "f:scheme": {}}, "f:periodSeconds": {}, "f:successThreshold": {},
        "f:timeoutSeconds": {}}
    kcm_fields["f:resources"] = {".": {}, "f:limits": {".": {}, "f:cpu": {}, "f:memory": {}},
                                 "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}}
    condition_fields = {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}
    pod["metadata"]["managedFields"].append({
        "manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": stamp, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {
            "f:conditions": {f'k:{{"type":"{kind}"}}': dict(condition_fields) for kind in
                             ("ContainersReady", "Initialized", "PodReadyToStartContainers", "Ready")},
            "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {},
            "f:podIPs": {".": {}, 'k:{"ip":"10.1.23.45"}': {".": {}, "f:ip": {}}}, "f:startTime": {}}},
        "subresource": "status"})
    ready = {"status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
    pod["status"] = {
        "phase": "Running",
        "conditions": [{"type": kind, **ready} for kind in
                       ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")],
        "hostIP": "10.0.12.34", "hostIPs": [{"ip": "10.0.12.34"}],
        "podIP": "10.1.23.45", "podIPs": [{"ip": "10.1.23.45"}],
        "startTime": stamp,
        "containerStatuses": [{
            "name": "web", "state": {"running": {"startedAt": stamp}}, "lastState": {}, "ready": True,
            "restartCount": 0, "image": "public.ecr.aws/nginx/nginx:1.27.2",
            "imageID": "public.ecr.aws/nginx/nginx@sha256:bc5eac5eafc581aeda3008b4b1f07ebba230de2f27d47767129a6a905c84f470",
            "containerID": "containerd://" + "4f" * 32, "started": True,
            "volumeMounts": [{"name": "kube-api-access-bds7t", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                              "readOnly": True, "recursiveReadOnly": "Disabled"}]}],
        "qosClass": "Burstable",
    }
    return pod


def compact_size(obj: dict) -> int:
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def add_realistic_pods(fc, namespace: str, count: int, *, node_names: list[str], prefix: str = "web-",
                       created_seconds_ago: float = 3600) -> int:
    """`count` Running pods shaped like realistic_running_pod(), round-robin over `node_names`, put
    straight into the fake's store (like FakeCluster.add_pods, which uses a smaller pod). Returns
    the compact JSON size of one pod as the fake serves it."""
    from tests.fakecluster.clock import rfc3339

    template = realistic_running_pod()
    now = fc.clock.now()
    template["metadata"]["creationTimestamp"] = rfc3339(now - timedelta(seconds=created_seconds_ago))
    fc.ensure_namespace(namespace)
    width = len(str(count))
    owner_uid = str(uuid.uuid4())
    owner = [{**template["metadata"]["ownerReferences"][0], "uid": owner_uid}]
    with fc.simulation.lock, fc.store.lock:
        for index in range(count):
            # Stored objects are never changed in place, so pods may share what they do not own.
            metadata = {**template["metadata"], "name": f"{prefix}{index:0{width}d}", "namespace": namespace,
                        "ownerReferences": owner}
            metadata.pop("uid", None)
            spec = {**template["spec"], "nodeName": node_names[index % len(node_names)]}
            ip = f"10.{1 + index // 65536}.{index // 256 % 256}.{index % 256}"
            status = {**template["status"], "podIP": ip, "podIPs": [{"ip": ip}]}
            fc.store.create("pods", {"metadata": metadata, "spec": spec, "status": status})
    sample = fc.store.entry("pods", namespace, f"{prefix}{0:0{width}d}")
    return len(sample.raw())
