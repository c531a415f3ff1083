"""Which writes an admission webhook intercepts: its configuration parsed, and the match rules.

Pure (no I/O); used by the admission-webhooks probe and by the probes whose reaction a webhook
could block. Matching follows k8s.io/apiserver pkg/admission/plugin/webhook/predicates: a rule
matches on operation (UPDATE covers patches), API group, resource and subresource ("*" is every
resource but no subresource, "*/*" everything, "pods/*" pods and each of its subresources) and
scope;
namespaceSelector applies to namespaced objects (and Namespace objects), objectSelector to the
object's labels. API versions are not compared: the v1 default matchPolicy Equivalent converts
requests of other versions. CEL matchConditions cannot be evaluated here, so a webhook with
them is taken to match (it may).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True)
class Write:
    """A write the apiserver sends through admission."""

    operation: str  # CREATE, UPDATE, DELETE
    group: str  # "" for the core group
    resource: str  # plural, e.g. "leases"
    subresource: str = ""
    namespace: str | None = None  # None for cluster-scoped objects
    labels: Mapping[str, str] = field(default_factory=dict)  # the object's labels, when known
    # The namespace's labels beyond kubernetes.io/metadata.name (which every namespace has), when known.
    namespace_labels: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.operation} {what}{where}"


@dataclass(frozen=True)
class Rule:
    operations: tuple[str, ...]
    groups: tuple[str, ...]
    resources: tuple[str, ...]
    scope: str  # "*", "Cluster" or "Namespaced"

    def matches(self, write: Write) -> bool:
        return (_any_or(self.operations, write.operation) and _any_or(self.groups, write.group)
                and _resource_matches(self.resources, write.resource, write.subresource)
                and _scope_matches(self.scope, write))


@dataclass(frozen=True)
class Webhook:
    name: str
    configuration: str
    kind: str  # "validating" or "mutating"
    fail_closed: bool
    timeout_s: int
    rules: tuple[Rule, ...]
    namespace_selector: Mapping
    object_selector: Mapping
    has_match_conditions: bool = False
    service: tuple[str, str] | None = None  # (namespace, name) of the Service it is called through

    def intercepts(self, write: Write, in_some_namespace: bool = False) -> bool:
        """True if this webhook is called for `write`; with in_some_namespace, for the same write
        in at least one namespace (its namespaceSelector is not compared)."""
        if not any(rule.matches(write) for rule in self.rules):
            return False
        if write.namespace is not None and not in_some_namespace:
            labels = {**write.namespace_labels, "kubernetes.io/metadata.name": write.namespace}
            if not selector_matches(self.namespace_selector, labels):
                return False
        return selector_matches(self.object_selector, write.labels)

    def label(self) -> str:
        return f"{self.kind}webhookconfiguration/{self.configuration}"

    def coverage(self) -> str:
        """What it intercepts, in a line: operations and resources, and its namespaceSelector."""
        rules = "; ".join(f"{'/'.join(r.operations) or 'no operation'} {', '.join(r.resources) or 'no resource'}"
                          for r in self.rules) or "no rules"
        return rules + _describe_namespaces(self.namespace_selector)


def parse_configuration(item: Mapping, kind: str) -> list[Webhook]:
    """The webhooks of one Validating/MutatingWebhookConfiguration (admissionregistration/v1).
    Fields of the wrong type read as absent, so a strange object never crashes the probe."""
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    configuration = str(metadata.get("name") or "?")
    webhooks = []
    for entry in item.get("webhooks") or []:
        if not isinstance(entry, dict):
            continue
        timeout = entry.get("timeoutSeconds")
        service = _mapping(_mapping(entry.get("clientConfig")).get("service"))
        webhooks.append(Webhook(
            name=str(entry.get("name") or "?"),
            configuration=configuration,
            kind=kind,
            # failurePolicy defaults to Fail in admissionregistration.k8s.io/v1.
            fail_closed=entry.get("failurePolicy", "Fail") != "Ignore",
            timeout_s=timeout if isinstance(timeout, int) and not isinstance(timeout, bool) else 10,
            rules=tuple(_rule(rule) for rule in entry.get("rules") or [] if isinstance(rule, dict)),
            namespace_selector=_mapping(entry.get("namespaceSelector")),
            object_selector=_mapping(entry.get("objectSelector")),
            has_match_conditions=bool(entry.get("matchConditions")),
            service=(str(service["namespace"]), str(service["name"]))
            if isinstance(service.get("namespace"), str) and isinstance(service.get("name"), str) else None,
        ))
    return webhooks


def selector_matches(selector: Mapping, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector against labels; an empty selector matches everything. An
    expression with an operator Kubernetes does not know matches nothing (as the apiserver
    refuses such a selector, the webhook could never be called)."""
    for key, value in _mapping(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            return False
        key, operator = expression.get("key"), expression.get("operator")
        values = [v for v in expression.get("values") or [] if isinstance(v, str)]
        if operator not in _OPERATORS or not isinstance(key, str):
            return False
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _rule(rule: Mapping) -> Rule:
    return Rule(operations=_strings(rule.get("operations")), groups=_strings(rule.get("apiGroups")),
                resources=_strings(rule.get("resources")), scope=str(rule.get("scope") or "*"))


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _mapping(value: object) -> Mapping:
    return value if isinstance(value, dict) else {}


def _any_or(allowed: tuple[str, ...], value: str) -> bool:
    return "*" in allowed or value in allowed


def _resource_matches(patterns: tuple[str, ...], resource: str, subresource: str) -> bool:
    for pattern in patterns:
        res, _, sub = pattern.partition("/")
        if res in ("*", resource) and sub in ("*", subresource):
            return True
    return False


def _scope_matches(scope: str, write: Write) -> bool:
    if scope == "*":
        return True
    if scope == "Cluster":
        return write.namespace is None
    if scope == "Namespaced":
        return write.namespace is not None
    return False


def _describe_namespaces(selector: Mapping) -> str:
    """ in kube-system; in every namespace but a, b; in namespaces <selector>; in every namespace."""
    expressions = [e for e in selector.get("matchExpressions") or [] if isinstance(e, dict)]
    if not _mapping(selector.get("matchLabels")) and len(expressions) == 1 \
            and expressions[0].get("key") == "kubernetes.io/metadata.name":
        values = ", ".join(v for v in expressions[0].get("values") or [] if isinstance(v, str))
        if expressions[0].get("operator") == "In" and values:
            return f" in {values}"
        if expressions[0].get("operator") == "NotIn" and values:
            return f" in every namespace but {values}"
    described = _describe_selector(selector)
    return f" in namespaces {described}" if described else " in every namespace"


def _describe_selector(selector: Mapping) -> str:
    parts = [f"{k}={v}" for k, v in _mapping(selector.get("matchLabels")).items()]
    for expression in selector.get("matchExpressions") or []:
        if isinstance(expression, dict):
            values = ", ".join(v for v in expression.get("values") or [] if isinstance(v, str))
            key = expression.get("key")
            key = "name" if key == "kubernetes.io/metadata.name" else key
            parts.append(f"{key} {expression.get('operator')}" + (f" ({values})" if values else ""))
    return ", ".join(parts)
