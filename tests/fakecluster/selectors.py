"""Label and field selectors, parsed once per request and matched per object in O(1).

Who calls it: the store's list. Grammar and semantics follow apimachinery's labels and fields
packages: `!=` and `notin` also match objects that lack the label; an absent field compares as
the empty string, which is how `spec.nodeName=` finds unscheduled pods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .errors import bad_request


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.op:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!":
                return not present
            case "gt" | "lt":
                if not present:
                    return False
                try:
                    number, bound = int(value), int(next(iter(self.values)))
                except ValueError:
                    return False
                return number > bound if self.op == "gt" else number < bound
        return False


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: dict | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP = re.compile(rf"^\s*({_KEY})\s*(==|=|!=|>|<)\s*(.*?)\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def parse_label_selector(text: str | None) -> LabelSelector:
    if not text or not text.strip():
        return LabelSelector()
    requirements = []
    for part in _split_outside_parens(text):
        if match := _SET.match(part):
            values = frozenset(v.strip() for v in match.group(4).split(",") if v.strip())
            for value in values:
                _check_value(value, part)
            requirements.append(LabelRequirement(match.group(1), match.group(3), values))
        elif match := _CMP.match(part):
            key, op, value = match.group(1), match.group(3), match.group(4)
            if op in (">", "<"):
                if not value.lstrip("-").isdigit():
                    raise bad_request(f"unable to parse requirement: {part}: for 'Gt', 'Lt' operators, "
                                      "the value must be an integer")
                requirements.append(LabelRequirement(key, "gt" if op == ">" else "lt", frozenset({value})))
            else:
                _check_value(value, part)
                requirements.append(LabelRequirement(key, "!=" if op == "!=" else "=", frozenset({value})))
        elif match := _EXISTS.match(part):
            requirements.append(LabelRequirement(match.group(2), "!" if match.group(1) else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: found '{part.strip()}', expected: "
                              "identifier or operator")
    return LabelSelector(tuple(requirements))


def _check_value(value: str, part: str) -> None:
    if len(value) > 63 or not re.fullmatch(_VALUE, value):
        raise bad_request(f"unable to parse requirement: {part.strip()}: invalid label value: "
                          f'"{value}": a valid label must be an empty string or consist of '
                          "alphanumeric characters, '-', '_' or '.', and must start and end with "
                          "an alphanumeric character")


def _split_outside_parens(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


# --- field selectors ------------------------------------------------------------------------

FieldGetter = Callable[[dict], str]


def _path(*keys: str) -> FieldGetter:
    def get(obj: dict) -> str:
        value = obj
        for key in keys:
            if not isinstance(value, dict):
                return ""
            value = value.get(key)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return get


_COMMON: dict[str, FieldGetter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}

# The field labels each resource's registry strategy accepts (GetAttrs / field label conversion).
FIELDS: dict[str, dict[str, FieldGetter]] = {
    "pods": {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": _path("spec", "hostNetwork"),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    "nodes": {"spec.unschedulable": _path("spec", "unschedulable")},
    "namespaces": {"status.phase": _path("status", "phase")},
    "events": {
        "involvedObject.kind": _path("involvedObject", "kind"),
        "involvedObject.namespace": _path("involvedObject", "namespace"),
        "involvedObject.name": _path("involvedObject", "name"),
        "involvedObject.uid": _path("involvedObject", "uid"),
        "involvedObject.apiVersion": _path("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": _path("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": _path("involvedObject", "fieldPath"),
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source", "component"),
        "type": _path("type"),
    },
    "secrets": {"type": _path("type")},
    "replicasets": {"status.replicas": _path("status", "replicas")},
}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    equal: bool
    getter: FieldGetter

    def matches(self, obj: dict) -> bool:
        return (self.getter(obj) == self.value) == self.equal


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict) -> bool:
        return all(requirement.matches(obj) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact(self, field: str) -> str | None:
        """The value an `field=value` requirement pins, for index lookups."""
        for requirement in self.requirements:
            if requirement.field == field and requirement.equal:
                return requirement.value
        return None


def parse_field_selector(text: str | None, resource: str) -> FieldSelector:
    if not text or not text.strip():
        return FieldSelector()
    supported = {**_COMMON, **FIELDS.get(resource, {})}
    requirements = []
    for part in _split_unescaped(text, ","):
        part = part.strip()
        if not part:
            continue
        for op in ("!=", "==", "="):
            pieces = _split_unescaped(part, op, maxsplit=1)
            if len(pieces) == 2:
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, value = pieces[0].strip(), _unescape(pieces[1].strip())
        if field not in supported:
            raise bad_request(f'field label not supported: {field}')
        requirements.append(FieldRequirement(field, value, op != "!=", supported[field]))
    return FieldSelector(tuple(requirements))


def _split_unescaped(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    parts, current, index = [], [], 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            current.append(text[index:index + 2])
            index += 2
            continue
        if text.startswith(separator, index) and (maxsplit < 0 or len(parts) < maxsplit):
            # "!=" must not be read as "=" with a trailing "!" on the key.
            if separator == "=" and index > 0 and text[index - 1] == "!":
                current.append(text[index])
                index += 1
                continue
            parts.append("".join(current))
            current = []
            index += len(separator)
            continue
        current.append(text[index])
        index += 1
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


_MANIFEST_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def selector_from_manifest(selector: dict | None) -> LabelSelector:
    """A metav1.LabelSelector object (matchLabels, matchExpressions) as a LabelSelector; an
    empty or absent selector matches everything (LabelSelectorAsSelector)."""
    requirements = [LabelRequirement(key, "=", frozenset({value}))
                    for key, value in sorted(((selector or {}).get("matchLabels") or {}).items())]
    for expression in (selector or {}).get("matchExpressions") or []:
        operator = _MANIFEST_OPERATORS.get(expression.get("operator"))
        if operator is None:
            raise ValueError(f"label selector operator {expression.get('operator')!r} is not one of "
                             f"{', '.join(_MANIFEST_OPERATORS)}")
        requirements.append(LabelRequirement(expression["key"], operator, frozenset(expression.get("values") or ())))
    return LabelSelector(tuple(requirements))
