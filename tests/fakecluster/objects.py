"""Object shapes as kube-apiserver stores them: builders for simulated objects, and the
defaulting the apiserver applies on create. Shapes follow the recordings.

Who calls it: the API layer (defaulting on create), the simulated components, and test set-up
helpers on FakeCluster.
"""

from __future__ import annotations

import base64
import hashlib
import random
import string
import uuid
from datetime import datetime

from .clock import micro_time, rfc3339

NODE_LEASE_NAMESPACE = "kube-node-lease"
NODE_LEASE_SECONDS = 40
LEADER_LEASE_SECONDS = 15
APISERVER_IDENTITY_LEASE_SECONDS = 3600  # IdentityLeaseDurationSeconds
KUBELET_VERSION = "v1.31.0"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's utilrand alphabet


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(length))


def provider_id(name: str, zone: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"aws:///{zone}/i-0{digest}"


def node_names(count: int) -> list[str]:
    if count <= 26:
        return [f"node-{letter}" for letter in string.ascii_lowercase[:count]]
    return [f"node-{index:04d}" for index in range(1, count + 1)]


def node(name: str, now: datetime, index: int = 0, labels: dict | None = None) -> dict:
    zone = ZONES[index % len(ZONES)]
    stamp = rfc3339(now)
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/region": zone[:-1],
                "topology.kubernetes.io/zone": zone,
                **(labels or {}),
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            "creationTimestamp": stamp,
        },
        "spec": {"providerID": provider_id(name, zone)},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [
                _node_condition("MemoryPressure", "False", stamp, "KubeletHasSufficientMemory",
                                "kubelet has sufficient memory available"),
                _node_condition("DiskPressure", "False", stamp, "KubeletHasNoDiskPressure",
                                "kubelet has no disk pressure"),
                _node_condition("PIDPressure", "False", stamp, "KubeletHasSufficientPID",
                                "kubelet has sufficient PID available"),
                _node_condition("Ready", "True", stamp, "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": f"10.0.{index // 250}.{index % 250 + 4}"},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": hashlib.md5(name.encode()).hexdigest(),
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
                "bootID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                "kernelVersion": "6.1.112-124.190.amzn2023.x86_64",
                "osImage": "Amazon Linux 2023.6.20241121",
                "containerRuntimeVersion": "containerd://1.7.23",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def _node_condition(kind: str, status: str, stamp: str, reason: str, message: str) -> dict:
    return {"type": kind, "status": status, "lastHeartbeatTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def node_lease(node_obj: dict, now: datetime) -> dict:
    name = node_obj["metadata"]["name"]
    return {
        "kind": "Lease",
        "apiVersion": "coordination.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": NODE_LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                 "uid": node_obj["metadata"].get("uid", "")}],
        },
        "spec": {"holderIdentity": name, "leaseDurationSeconds": NODE_LEASE_SECONDS,
                 "renewTime": micro_time(now)},
    }


def leader_lease(name: str, identity: str, now: datetime, transitions: int = 0) -> dict:
    stamp = micro_time(now)
    return {
        "kind": "Lease",
        "apiVersion": "coordination.k8s.io/v1",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"holderIdentity": identity, "leaseDurationSeconds": LEADER_LEASE_SECONDS,
                 "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": transitions},
    }


def apiserver_identity(hostname: str) -> str:
    """kube-apiserver's identity, the name of its identity Lease (k8s.io/apiserver
    pkg/server/config.go, 1.26+): "apiserver-" + the lowercase unpadded base32 of the first 16
    bytes of sha256(hostname, "kube-apiserver"), each with a 2-byte length prefix (cryptobyte)."""
    data = b"".join(len(part).to_bytes(2, "big") + part for part in (hostname.encode(), b"kube-apiserver"))
    digest = hashlib.sha256(data).digest()[:16]
    return "apiserver-" + base64.b32encode(digest).decode().rstrip("=").lower()


def apiserver_identity_lease(hostname: str, holder: str, now: datetime) -> dict:
    """The identity Lease of the lease controller (component-helpers/apimachinery/lease, newLease)
    with kube-apiserver's labels (pkg/controlplane/apiserver/server.go,
    labelAPIServerHeartbeatFunc): no acquireTime, no leaseTransitions."""
    return {
        "kind": "Lease",
        "apiVersion": "coordination.k8s.io/v1",
        "metadata": {"name": apiserver_identity(hostname), "namespace": "kube-system",
                     "labels": {"apiserver.kubernetes.io/identity": "kube-apiserver",
                                "kubernetes.io/hostname": hostname}},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": APISERVER_IDENTITY_LEASE_SECONDS,
                 "renewTime": micro_time(now)},
    }


def namespace(name: str, labels: dict | None = None) -> dict:
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "labels": dict(labels or {})}, "spec": {}, "status": {}}


def service_account(namespace_name: str, name: str = "default") -> dict:
    return {"kind": "ServiceAccount", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": namespace_name}}


def pod(namespace_name: str, name: str, *, node_name: str | None = None, phase: str = "Pending",
        scheduler_name: str = "default-scheduler", node_selector: dict | None = None,
        scheduling_gates: tuple[str, ...] = (), finalizers: tuple[str, ...] = (),
        labels: dict | None = None, created: datetime, service_account_name: str = "default",
        bound_by_scheduler: bool = False) -> dict:
    """A defaulted pod as a test would find it in a cluster (bypasses admission). A pod given a
    nodeName at creation has no PodScheduled condition (no scheduler saw it), unless
    `bound_by_scheduler`."""
    spec: dict = {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
                  "schedulerName": scheduler_name, "serviceAccountName": service_account_name}
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if scheduling_gates:
        spec["schedulingGates"] = [{"name": gate} for gate in scheduling_gates]
    if node_name:
        spec["nodeName"] = node_name
    metadata: dict = {"name": name, "namespace": namespace_name, "creationTimestamp": rfc3339(created)}
    if labels:
        metadata["labels"] = dict(labels)
    if finalizers:
        metadata["finalizers"] = list(finalizers)
    obj = {"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": spec}
    default_pod(obj)
    status = obj["status"]
    status["phase"] = phase
    stamp = rfc3339(created)
    if node_name and bound_by_scheduler:
        status["conditions"] = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                 "lastTransitionTime": stamp}]
    elif scheduling_gates:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                 "lastTransitionTime": stamp, "reason": "SchedulingGated",
                                 "message": "Scheduling is blocked due to non-empty scheduling gates"}]
    if phase == "Running":
        ready = {"lastProbeTime": None, "lastTransitionTime": stamp, "status": "True"}
        status["conditions"] = [
            {"type": "PodReadyToStartContainers", **ready}, {"type": "Initialized", **ready},
            {"type": "Ready", **ready}, {"type": "ContainersReady", **ready},
            {"type": "PodScheduled", **ready},
        ]
        status["hostIP"] = "10.0.0.4"
        status["podIP"] = f"10.1.{random.randint(0, 255)}.{random.randint(1, 254)}"
        status["startTime"] = stamp
        status["containerStatuses"] = [{
            "name": "app", "state": {"running": {"startedAt": stamp}}, "lastState": {}, "ready": True,
            "restartCount": 0, "image": "registry.k8s.io/pause:3.10",
            "imageID": "registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
            "containerID": f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}", "started": True,
        }]
    return obj


# --- defaulting on create (what the apiserver's defaulters and admission add) ---------------

_NOT_READY_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
)


def default_pod_spec(spec: dict) -> None:
    for container in spec.get("containers") or []:
        _default_container(container)
    for container in spec.get("initContainers") or []:
        _default_container(container)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")


def _default_container(container: dict) -> None:
    container.setdefault("resources", {})
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = container.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    pinned = "@" in tag or (":" in tag and not tag.endswith(":latest"))
    container.setdefault("imagePullPolicy", "IfNotPresent" if pinned else "Always")


def default_pod(obj: dict) -> None:
    """Defaults, ServiceAccount token volume and DefaultTolerationSeconds, as on create."""
    spec = obj.setdefault("spec", {})
    default_pod_spec(spec)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = account
    spec["serviceAccount"] = account
    if spec.get("automountServiceAccountToken") is not False:
        volume = f"kube-api-access-{random_suffix()}"
        spec.setdefault("volumes", []).insert(0, {"name": volume, "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 420}})
        for container in spec.get("containers") or []:
            container.setdefault("volumeMounts", []).append(
                {"name": volume, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
    tolerations = spec.setdefault("tolerations", [])
    for default in _NOT_READY_TOLERATIONS:
        if not any(t.get("key") == default["key"] and t.get("effect") in (None, "", "NoExecute")
                   for t in tolerations):
            tolerations.append(dict(default))
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", qos_class(spec))


def qos_class(spec: dict) -> str:
    requests, limits = {}, {}
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        requests.update(resources.get("requests") or {})
        limits.update(resources.get("limits") or {})
    if not requests and not limits:
        return "BestEffort"
    if all(limits.get(kind) and (requests.get(kind) in (None, limits[kind])) for kind in ("cpu", "memory")):
        return "Guaranteed"
    return "Burstable"


def default_deployment(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("strategy", {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    default_pod_spec(template.setdefault("spec", {}))
    obj.setdefault("status", {})


def default_namespace(obj: dict) -> None:
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj["spec"] = {"finalizers": ["kubernetes"], **(obj.get("spec") or {})}
    obj["status"] = {"phase": "Active"}


DEFAULTERS = {
    "pods": default_pod,
    "deployments": default_deployment,
    "namespaces": default_namespace,
}


def event(involved: dict, reason: str, message: str, now: datetime, *, event_type: str = "Warning",
          action: str = "Scheduling", component: str = "default-scheduler",
          instance: str = "default-scheduler-control-plane") -> dict:
    metadata = involved["metadata"]
    # The events library names an event <object>.<unix nanoseconds in hex>.
    nanoseconds = (int(now.timestamp()) * 1_000_000 + now.microsecond) * 1000
    name = f"{metadata['name']}.{nanoseconds:x}"
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": metadata.get("namespace", "default")},
        "involvedObject": {"kind": involved.get("kind", "Pod"), "namespace": metadata.get("namespace"),
                           "name": metadata["name"], "uid": metadata.get("uid"),
                           "apiVersion": involved.get("apiVersion", "v1"),
                           "resourceVersion": metadata.get("resourceVersion")},
        "reason": reason,
        "message": message,
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "type": event_type,
        "eventTime": micro_time(now),
        "action": action,
        "reportingComponent": component,
        "reportingInstance": instance,
    }
