"""The non-RBAC objects of infra/*.yaml (namespace cpwatch, heartbeat ConfigMap, canary
ServiceAccount and Deployment) and the optional demo objects like those of the recordings.

Who calls it: FakeCluster at start (install_infra=True / demo_objects=True).
"""

from __future__ import annotations

from pathlib import Path

from .objects import pod
from .rbac import RBAC_KINDS, manifest_documents


def infra_objects(directory: Path) -> list[dict]:
    """Manifests in apply order: namespaces first, then the rest as written."""
    documents = [doc for doc in manifest_documents(directory) if doc.get("kind") not in RBAC_KINDS]
    return sorted(documents, key=lambda doc: doc.get("kind") != "Namespace")


def demo_manifests() -> list[dict]:
    labels = {"app": "web"}
    template = {"metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx",
                                         "resources": {"requests": {"cpu": "100m"}}}]}}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
         "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": template}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": "web", "namespace": "demo"},
         "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                  "minReplicas": 3, "maxReplicas": 6,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                      "type": "Utilization", "averageUtilization": 80}}}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nowhere", "namespace": "demo"},
         "spec": {"containers": [{"name": "c", "image": "pause"}], "nodeSelector": {"no-such-label": "x"}}},
    ]


def demo_web_pods(node_names: list[str], now) -> list[dict]:
    """The Deployment's pods, bound round-robin (there is no ReplicaSet controller)."""
    pods = []
    for index in range(3):
        name = f"web-855569f7b9-{'abcde'[index]}{index}x7q"
        pods.append(pod("demo", name, node_name=node_names[index % len(node_names)] if node_names else None,
                        labels={"app": "web", "pod-template-hash": "855569f7b9"}, created=now,
                        bound_by_scheduler=True))
    return pods
