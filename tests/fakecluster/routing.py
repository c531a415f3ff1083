"""Request paths and Accept headers: what is asked for, and in which shape to answer.

Who calls it: the API layer. Path parsing follows apiserver's RequestInfoFactory (including its
quirk that `/api/v1/namespaces/<name>` carries `<name>` as the request's namespace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import errors
from .resources import RESOURCES, ResourceType

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class Route:
    is_resource: bool
    verb: str
    path: str
    group: str = ""
    version: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""

    @property
    def rt(self) -> ResourceType | None:
        rt = RESOURCES.get(self.resource)
        if rt is None or rt.group != self.group or rt.version != self.version:
            return None
        return rt


def parse_route(method: str, path: str, query: dict[str, str]) -> Route:
    parts = [part for part in path.split("/") if part]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        rest = []
    if not rest:
        verb = "get" if method in ("GET", "HEAD") else method.lower()
        return Route(False, verb, path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if method in ("GET", "HEAD"):
        verb = "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return Route(True, verb, path, group, version, resource, namespace, name, subresource)


@dataclass(frozen=True)
class Rendering:
    shape: str  # "object", "metadata" or "table"
    content_type: str = "application/json"
    api_version: str = "meta.k8s.io/v1"


# Versions of meta.k8s.io whose Table and PartialObjectMetadata(List) the apiserver serves: both
# v1 and v1beta1 since Kubernetes 1.15; only v1beta1 from 1.10 to 1.14.
META_VERSIONS = ("v1", "v1beta1")


def negotiate(accept: str | None, is_list: bool, meta_versions: tuple[str, ...] = META_VERSIONS) -> Rendering:
    """The first acceptable clause of Accept wins, as in apiserver's content negotiation."""
    if not accept or not accept.strip():
        return Rendering("object")
    for clause in accept.split(","):
        media, *raw_params = [piece.strip() for piece in clause.split(";")]
        if media.lower() not in ("application/json", "*/*", "application/*"):
            continue
        params = dict(param.split("=", 1) for param in raw_params if "=" in param)
        shape = params.get("as")
        if not shape:
            return Rendering("object")
        version = params.get("v")
        if params.get("g") != "meta.k8s.io" or version not in meta_versions:
            continue
        content_type = f"application/json;as={shape};v={version};g=meta.k8s.io"
        if shape == "Table":
            return Rendering("table", content_type, f"meta.k8s.io/{version}")
        if shape == ("PartialObjectMetadataList" if is_list else "PartialObjectMetadata"):
            return Rendering("metadata", content_type, f"meta.k8s.io/{version}")
    raise errors.not_acceptable()


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str | None) -> float | None:
    """`5s`, `1m30s`, `500ms` -> seconds; None when absent or not a Go duration."""
    if not text:
        return None
    position, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total if position == len(text) and position else None
