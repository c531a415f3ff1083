"""RBAC: ClusterRoles, Roles and their bindings from YAML, evaluated as the RBAC authorizer does.

Who calls it: the API layer, once per request, after authentication. There is no bootstrap
policy (no system:public-info-viewer, no system:discovery): only what the manifests grant, so
a test can show that each rule in infra/ is needed by dropping it (`RuleRef`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml

from . import errors
from .resources import RESOURCES, ResourceType

MASTERS = "system:masters"
RBAC_KINDS = frozenset({"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})


@dataclass(frozen=True)
class RuleRef:
    """One rule of one role: `RuleRef("Role", "kube-system", "cpwatch-leader-leases", 0)`."""

    role_kind: str  # "ClusterRole" or "Role"
    namespace: str  # "" for a ClusterRole
    role: str
    index: int

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.role_kind} {where}{self.role} rule {self.index}"


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: frozenset[str]
    resource_names: frozenset[str]
    non_resource_urls: tuple[str, ...]

    @classmethod
    def from_manifest(cls, rule: dict) -> Rule:
        return cls(frozenset(rule.get("verbs") or ()), frozenset(rule.get("apiGroups") or ()),
                   frozenset(rule.get("resources") or ()), frozenset(rule.get("resourceNames") or ()),
                   tuple(rule.get("nonResourceURLs") or ()))

    def allows(self, request: Request) -> bool:
        if "*" not in self.verbs and request.verb not in self.verbs:
            return False
        if not request.is_resource:
            return any(url == "*" or url == request.path
                       or (url.endswith("*") and request.path.startswith(url[:-1]))
                       for url in self.non_resource_urls)
        if "*" not in self.api_groups and request.api_group not in self.api_groups:
            return False
        combined = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
        if not ("*" in self.resources or combined in self.resources
                or (request.subresource and f"*/{request.subresource}" in self.resources)):
            return False
        # A rule naming objects never allows list or create: those requests carry no name.
        return not self.resource_names or request.name in self.resource_names


@dataclass(frozen=True)
class Request:
    """Authorization attributes of one request."""

    user: str
    groups: tuple[str, ...]
    verb: str
    is_resource: bool
    path: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    def denial(self) -> errors.ApiError:
        if not self.is_resource:
            return errors.forbidden_path(self.user, self.verb, self.path)
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        reason = f'User "{self.user}" cannot {self.verb} resource "{resource}" in API group "{self.api_group}"'
        reason += f' in the namespace "{self.namespace}"' if self.namespace else " at the cluster scope"
        rt = RESOURCES.get(self.resource) or ResourceType(self.api_group, "", self.resource, "", False,
                                                          frozenset())
        return errors.forbidden(rt, self.name or None, reason)


@dataclass(frozen=True)
class _Binding:
    namespace: str  # "" for a ClusterRoleBinding
    role_kind: str
    role: str
    users: frozenset[str]
    groups: frozenset[str]


class Authorizer:
    def __init__(self, documents: Iterable[dict], drop: Iterable[RuleRef] = ()) -> None:
        self._lock = threading.Lock()
        self._roles: dict[tuple[str, str, str], list[Rule]] = {}
        self._bindings: list[_Binding] = []
        for doc in documents:
            self._add(doc)
        self._dropped: set[RuleRef] = set(drop)
        unknown = self._dropped - set(self.rule_refs())
        if unknown:
            raise ValueError(f"no such RBAC rule: {', '.join(sorted(map(str, unknown)))}")

    @classmethod
    def from_dir(cls, directory: Path | None, overrides: Iterable[dict] = (),
                 drop: Iterable[RuleRef] = ()) -> Authorizer:
        """Every RBAC document in directory/*.yaml; `overrides` replace documents of the same
        kind/namespace/name or add new ones."""
        documents = rbac_documents(directory) if directory else []
        by_id = {_doc_id(doc): doc for doc in documents}
        for doc in overrides:
            by_id[_doc_id(doc)] = doc
        return cls(by_id.values(), drop)

    def _add(self, doc: dict) -> None:
        kind = doc.get("kind")
        metadata = doc.get("metadata") or {}
        namespace = metadata.get("namespace", "") if kind in ("Role", "RoleBinding") else ""
        if kind in ("ClusterRole", "Role"):
            self._roles[(kind, namespace, metadata["name"])] = [Rule.from_manifest(rule)
                                                               for rule in doc.get("rules") or ()]
        elif kind in ("ClusterRoleBinding", "RoleBinding"):
            subjects = doc.get("subjects") or []
            users = set()
            for subject in subjects:
                if subject.get("kind") == "User":
                    users.add(subject["name"])
                elif subject.get("kind") == "ServiceAccount":
                    users.add(f"system:serviceaccount:{subject.get('namespace', namespace)}:{subject['name']}")
            groups = {s["name"] for s in subjects if s.get("kind") == "Group"}
            ref = doc["roleRef"]
            self._bindings.append(_Binding(namespace, ref["kind"], ref["name"], frozenset(users),
                                           frozenset(groups)))

    def rule_refs(self) -> list[RuleRef]:
        return [RuleRef(kind, namespace, name, index)
                for (kind, namespace, name), rules in self._roles.items()
                for index in range(len(rules))]

    def drop(self, ref: RuleRef) -> None:
        if ref not in self.rule_refs():
            raise ValueError(f"no such RBAC rule: {ref}")
        with self._lock:
            self._dropped.add(ref)

    def restore(self, ref: RuleRef) -> None:
        with self._lock:
            self._dropped.discard(ref)

    def allows(self, request: Request) -> bool:
        if MASTERS in request.groups:
            return True
        groups = set(request.groups)
        for binding in self._bindings:
            if request.user not in binding.users and not (binding.groups & groups):
                continue
            # A RoleBinding grants only inside its namespace, and never a path.
            if binding.namespace and (not request.is_resource or request.namespace != binding.namespace):
                continue
            role_namespace = binding.namespace if binding.role_kind == "Role" else ""
            role_key = (binding.role_kind, role_namespace, binding.role)
            for index, rule in enumerate(self._roles.get(role_key, ())):
                if RuleRef(*role_key, index) in self._dropped:
                    continue
                if rule.allows(request):
                    return True
        return False


def rbac_documents(directory: Path) -> list[dict]:
    return [doc for doc in manifest_documents(directory) if doc.get("kind") in RBAC_KINDS]


def manifest_documents(directory: Path) -> list[dict]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    documents = []
    for path in sorted(Path(directory).glob("*.yaml")):
        with path.open() as stream:
            documents += [doc for doc in yaml.load_all(stream, Loader=loader) if doc]
    return documents


def _doc_id(doc: dict) -> tuple[str, str, str]:
    metadata = doc.get("metadata") or {}
    return doc.get("kind", ""), metadata.get("namespace", ""), metadata.get("name", "")
