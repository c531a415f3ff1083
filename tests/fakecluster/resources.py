"""The API resources the fake serves: one literal registry, read by routing, RBAC and the store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" is the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: frozenset[str]
    subresources: frozenset[str] = frozenset()
    # Graceful deletion (pods) or finalization (namespaces): DELETE answers with the object.
    returns_deleted_object: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def qualified(self) -> str:
        """How Status messages name the resource: `leases.coordination.k8s.io`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_READ = frozenset({"get", "list", "watch"})
_ALL = _READ | {"create", "update", "patch", "delete", "deletecollection"}

RESOURCES: dict[str, ResourceType] = {
    rt.plural: rt
    for rt in (
        ResourceType("", "v1", "namespaces", "Namespace", False, _ALL, frozenset({"status"}), True),
        ResourceType("", "v1", "nodes", "Node", False, _ALL, frozenset({"status"})),
        ResourceType("", "v1", "pods", "Pod", True, _ALL, frozenset({"status"}), True),
        ResourceType("", "v1", "configmaps", "ConfigMap", True, _ALL),
        ResourceType("", "v1", "secrets", "Secret", True, _ALL),
        ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, _ALL),
        ResourceType("", "v1", "services", "Service", True, _ALL, frozenset({"status"})),
        ResourceType("", "v1", "events", "Event", True, _ALL),
        ResourceType("", "v1", "componentstatuses", "ComponentStatus", False, frozenset({"get", "list"})),
        ResourceType("apps", "v1", "deployments", "Deployment", True, _ALL, frozenset({"status", "scale"})),
        ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, _ALL, frozenset({"status"})),
        ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, _ALL),
        ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True, _ALL),
        ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
                     _ALL, frozenset({"status"})),
        ResourceType("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
                     "ValidatingWebhookConfiguration", False, _ALL),
        ResourceType("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
                     "MutatingWebhookConfiguration", False, _ALL),
        ResourceType("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, _ALL,
                     frozenset({"status"})),
    )
}

BY_KIND: dict[tuple[str, str], ResourceType] = {(rt.api_version, rt.kind): rt for rt in RESOURCES.values()}

# Group/versions served, for path routing: (group, version) -> plurals served there.
GROUP_VERSIONS: dict[tuple[str, str], frozenset[str]] = {}
for _rt in RESOURCES.values():
    _key = (_rt.group, _rt.version)
    GROUP_VERSIONS[_key] = GROUP_VERSIONS.get(_key, frozenset()) | {_rt.plural}
del _rt, _key


def resource_for_manifest(manifest: dict) -> ResourceType:
    try:
        return BY_KIND[(manifest["apiVersion"], manifest["kind"])]
    except KeyError:
        raise ValueError(f"the fake does not serve {manifest.get('apiVersion')} {manifest.get('kind')}") from None
