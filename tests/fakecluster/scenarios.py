"""Named failure scenarios in simulated mode, one per recording, and the runtime fault switches
of the control endpoint. Literal tables: the CLI, the control endpoint and the contract tests
read these same dicts.

A scenario is applied to a started FakeCluster (with demo objects and at least three nodes,
node-c being the one that is lost) and reproduces what the recording's note describes.
"""

from __future__ import annotations

from typing import Callable

from .cluster import FakeCluster

LOST_NODE = "node-c"


def _orphan(fc: FakeCluster, name: str) -> None:
    """A pod bound to a node that does not exist, deleted just now (grace period 5 s)."""
    fc.add_pod("demo", name, node_name="node-gone", deleted_seconds_ago=0)


def _kcm_down(fc: FakeCluster) -> None:
    fc.stop_component("controller-manager")
    fc.lose_node(LOST_NODE)
    _orphan(fc, "orphan-2")
    fc.advance(150)


def _scheduler_down(fc: FakeCluster) -> None:
    fc.stop_component("scheduler", release_lease=True)
    fc.advance(50)


def _node_lost(fc: FakeCluster) -> None:
    fc.lose_node(LOST_NODE)
    _orphan(fc, "orphan-1")
    fc.advance(60)


def _node_lost_orphan_pending(fc: FakeCluster) -> None:
    fc.lose_node(LOST_NODE)
    fc.advance(40)
    _orphan(fc, "orphan-1")
    fc.advance(20)


def _quorum_lost(fc: FakeCluster) -> None:
    fc.stop_etcd_members(2)
    fc.advance(15)


def _aggregated_api_unavailable(fc: FakeCluster) -> None:
    # Registered 60 s before the recording; the HPA controller has synced since.
    fc.register_unavailable_apiservice("v1beta1.metrics.k8s.io", "ServiceNotFound")
    fc.advance(60)


def _etcd_nospace(fc: FakeCluster) -> None:
    # Recorded: node Leases last renewed 45 s and leader Leases 37 s before the reads; the
    # contract's canaries add 12 s, so 29 s here leaves the kubelets' Leases older than the
    # 40 s grace and the leaders' younger than 45 s.
    fc.etcd_nospace(True)
    fc.advance(29)


def placement_audit_webhook(fc: FakeCluster) -> None:
    """webhook-on-binding's ValidatingWebhookConfiguration: CREATE pods/binding in demo, fail
    closed, timeoutSeconds 3, a backend that accepts and never answers."""
    fc.add_failing_webhook("placement.audit.example.org", configuration="placement-audit", mode="timeout",
                           resources=("pods/binding",), operations=("CREATE",), scope="*", namespaces=("demo",),
                           timeout_seconds=3, url="https://127.0.0.1:9443/bind")


def lease_audit_webhook(fc: FakeCluster) -> None:
    """webhook-on-leases's MutatingWebhookConfiguration: UPDATE of Leases in kube-system, fail
    closed, timeoutSeconds 5, a backend that accepts and never answers."""
    fc.add_failing_webhook("lease.audit.example.org", configuration="lease-audit", kind="mutating", mode="timeout",
                           resources=("leases",), api_groups=("coordination.k8s.io",), operations=("UPDATE",),
                           scope="*", namespaces=("kube-system",), timeout_seconds=5,
                           url="https://127.0.0.1:9443/mutate")


def add_web_replicas(fc: FakeCluster, count: int) -> list[str]:
    """Deployment demo/web scaled up by `count`: its spec and `count` new pods of its template (the
    fake has no ReplicaSet controller to make them). Returns the new pods' names."""
    def scale(deployment: dict) -> None:
        deployment["spec"]["replicas"] = deployment["spec"].get("replicas", 1) + count
        deployment["metadata"]["generation"] = deployment["metadata"].get("generation", 1) + 1

    names = []
    with fc.simulation.lock:
        fc.store.mutate("deployments", "demo", "web", scale)
        template = fc.store.get("deployments", "demo", "web")["spec"]["template"]
        for _ in range(count):
            pod = fc.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "generateName": "web-855569f7b9-", "namespace": "demo",
                "labels": {**template["metadata"].get("labels", {}), "pod-template-hash": "855569f7b9"}},
                "spec": {"containers": [dict(container) for container in template["spec"]["containers"]]}})
            names.append(pod["metadata"]["name"])
    return names


def _webhook_on_binding(fc: FakeCluster) -> None:
    # Recorded: the webhook 3 s before the Deployment was scaled from 3 to 5, the reads 30 s after.
    placement_audit_webhook(fc)
    fc.advance(3)
    add_web_replicas(fc, 2)
    fc.advance(30)


# Seconds after the webhook at which webhook-on-leases read the kube-system Leases again; its other
# reads came 76 s after it.
LEASE_READS = {"leader_leases_t15": 15.0, "leader_leases_t45": 45.0, "leader_leases_t75": 75.0}


def _webhook_on_leases(fc: FakeCluster, read: Callable[[str], None] = lambda key: None) -> None:
    """`read(key)` is called at each of LEASE_READS (the contract tests read the Leases there)."""
    lease_audit_webhook(fc)
    elapsed = 0.0
    for key, seconds in LEASE_READS.items():
        fc.advance(seconds - elapsed)
        elapsed = seconds
        read(key)
    fc.advance(76 - elapsed)


SCENARIOS: dict[str, Callable[[FakeCluster], None]] = {
    "healthy": lambda fc: None,
    "apiserver-down": lambda fc: fc.set_apiserver("down"),
    "apiserver-hung": lambda fc: fc.set_apiserver("hung"),
    "etcd-one-member-down": lambda fc: fc.stop_etcd_members(1),
    "etcd-quorum-lost": _quorum_lost,
    "kcm-down": _kcm_down,
    "scheduler-down": _scheduler_down,
    "node-lost-kcm-alive": _node_lost,
    "node-lost-kcm-alive-orphan-pending": _node_lost_orphan_pending,
    "webhook-refused": lambda fc: fc.add_failing_webhook(mode="refused"),
    "webhook-timeout": lambda fc: fc.add_failing_webhook(mode="timeout", timeout_seconds=3),
    "aggregated-api-unavailable": _aggregated_api_unavailable,
    "apiserver-cert-expired": lambda fc: fc.set_serving_certificate("expired"),
    "etcd-nospace": _etcd_nospace,
    "webhook-on-binding": _webhook_on_binding,
    "webhook-on-leases": _webhook_on_leases,
}


def _needs(argument: str | None, what: str) -> str:
    if not argument:
        raise ValueError(f"this fault needs {what}")
    return argument


def _index(argument: str | None) -> int | None:
    """An apiserver's index, or None (every apiserver) without one."""
    return int(argument) if argument else None


FAULTS: dict[str, Callable[[FakeCluster, str | None], None]] = {
    "apiserver-down": lambda fc, arg: fc.set_apiserver("down", index=_index(arg)),
    "apiserver-hung": lambda fc, arg: fc.set_apiserver("hung", index=_index(arg)),
    "apiserver-slow": lambda fc, arg: fc.set_apiserver("slow", float(arg or 2.0)),
    "apiserver-up": lambda fc, arg: fc.set_apiserver("up", index=_index(arg)),
    "etcd-member-down": lambda fc, arg: fc.stop_etcd_members(1),
    "etcd-quorum-lost": lambda fc, arg: fc.stop_etcd_members(2),
    "etcd-ok": lambda fc, arg: fc.stop_etcd_members(0),
    "kcm-down": lambda fc, arg: fc.stop_component("controller-manager"),
    "kcm-up": lambda fc, arg: fc.start_component("controller-manager"),
    "scheduler-down": lambda fc, arg: fc.stop_component("scheduler"),
    "scheduler-up": lambda fc, arg: fc.start_component("scheduler"),
    "fail-over": lambda fc, arg: fc.fail_over(_needs(arg, "controller-manager or scheduler")),
    "node-lost": lambda fc, arg: fc.lose_node(_needs(arg, "a node name")),
    "node-restore": lambda fc, arg: fc.restore_node(_needs(arg, "a node name")),
    "advance": lambda fc, arg: fc.advance(float(_needs(arg, "a number of seconds"))),
    "webhook-refused": lambda fc, arg: fc.add_failing_webhook(mode="refused"),
    "webhook-timeout": lambda fc, arg: fc.add_failing_webhook(mode="timeout", timeout_seconds=int(arg or 10)),
    "webhook-tls": lambda fc, arg: fc.add_failing_webhook(mode="tls"),
    "webhook-deny": lambda fc, arg: fc.add_failing_webhook(mode="deny", deny_message=arg or "image not allowed"),
    "webhooks-clear": lambda fc, arg: fc.remove_webhooks(),
    "apiservice-unavailable": lambda fc, arg: fc.register_unavailable_apiservice(arg or "v1beta1.metrics.k8s.io"),
    "apiservice-restore": lambda fc, arg: fc.restore_apiservice(arg or "v1beta1.metrics.k8s.io"),
    "etcd-nospace": lambda fc, arg: fc.etcd_nospace(True),
    "etcd-nospace-off": lambda fc, arg: fc.etcd_nospace(False),
    "writes-fail": lambda fc, arg: fc.fail_writes(arg or "etcdserver: request timed out"),
    "writes-ok": lambda fc, arg: fc.fail_writes(None),
    "etcd-db-size": lambda fc, arg: fc.set_etcd_db_size(int(_needs(arg, "a size in bytes"))),
    "throttle": lambda fc, arg: fc.throttle(int(arg or 2)),
    "throttle-off": lambda fc, arg: fc.throttle(None),
    "cert-expired": lambda fc, arg: fc.set_serving_certificate("expired"),
    "cert-not-yet-valid": lambda fc, arg: fc.set_serving_certificate("not-yet-valid"),
    "cert-valid": lambda fc, arg: fc.set_serving_certificate(
        "valid", expires_in_days=float(arg) if arg else None),
    "cert-other-ca": lambda fc, arg: fc.set_serving_certificate_from_other_ca(),
    "eks-metrics-on": lambda fc, arg: fc.serve_eks_metrics(True),
    "eks-metrics-off": lambda fc, arg: fc.serve_eks_metrics(False),
    "controller-hung": lambda fc, arg: fc.stall_controller(arg or "node_lifecycle_controller", "hung"),
    "controller-idle": lambda fc, arg: fc.stall_controller(arg or "node_lifecycle_controller", "idle"),
    "controller-ok": lambda fc, arg: fc.stall_controller(arg or "node_lifecycle_controller", None),
}
