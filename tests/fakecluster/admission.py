"""What the apiserver does to an object between the request and etcd: defaulting, the
admission checks the fake models (namespace lifecycle, ServiceAccount), metadata rules on
update (generation, immutable fields, status subresource) and graceful deletion.

Who calls it: the API layer's write handlers. Functions take and return plain dicts and raise
ApiError; the store write happens in the caller.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from . import errors
from .clock import rfc3339
from .objects import DEFAULTERS, random_suffix
from .resources import RESOURCES, ResourceType
from .store import Store

# Resources whose metadata.generation counts spec changes (in the served set).
GENERATION_RESOURCES = frozenset({"deployments", "replicasets"})
_SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
               "deletionGracePeriodSeconds", "generation", "managedFields", "selfLink")


def prepare_create(store: Store, rt: ResourceType, namespace: str, obj: object, now: datetime) -> dict:
    if not isinstance(obj, dict):
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {rt.kind})")
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise errors.bad_request("metadata must be an object")
    for field in _SERVER_SET:
        metadata.pop(field, None)
    if rt.namespaced:
        if metadata.get("namespace") and metadata["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                     "sent on the request")
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    if not metadata.get("name"):
        if metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + random_suffix()
        else:
            raise errors.invalid(rt, "", "metadata.name: Required value: name or generateName is required")
    name = metadata["name"]
    if rt.namespaced:
        owner = store.peek("namespaces", None, namespace)
        if owner is None:
            raise errors.not_found(RESOURCES["namespaces"], namespace)
        if owner["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(rt, name, f"unable to create new content in namespace {namespace} "
                                             "because it is being terminated")
    if rt.plural == "pods":
        account = (obj.get("spec") or {}).get("serviceAccountName") or (obj.get("spec") or {}).get(
            "serviceAccount") or "default"
        if store.peek("serviceaccounts", namespace, account) is None:
            raise errors.forbidden(rt, name, f"error looking up service account {namespace}/{account}: "
                                             f'serviceaccount "{account}" not found')
    if rt.plural == "pods":
        _check_container_names(rt, name, obj.get("spec") or {})
    defaulter = DEFAULTERS.get(rt.plural)
    if defaulter:
        defaulter(obj)
    if rt.plural in GENERATION_RESOURCES:
        metadata["generation"] = 1
    metadata["creationTimestamp"] = rfc3339(now)
    return obj


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _check_container_names(rt: ResourceType, name: str, spec: dict) -> None:
    """Pod validation (pkg/apis/core/validation, validateContainers): a container's name is
    required and an RFC 1123 label."""
    for index, container in enumerate(spec.get("containers") or []):
        field = f"spec.containers[{index}].name"
        value = container.get("name") if isinstance(container, dict) else None
        if not value:
            raise errors.invalid(rt, name, f"{field}: Required value")
        if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
            raise errors.invalid(rt, name, f'{field}: Invalid value: "{value}": a lowercase RFC 1123 label must '
                                           "consist of lower case alphanumeric characters or '-', and must start "
                                           "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
                                           "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def prepare_update(rt: ResourceType, current: dict, new: object, subresource: str) -> dict:
    """The object to store for an update or patch of `current`."""
    if not isinstance(new, dict):
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {rt.kind})")
    new.pop("kind", None)
    new.pop("apiVersion", None)
    name = current["metadata"]["name"]
    metadata = new.setdefault("metadata", {})
    if metadata.get("name", name) != name:
        raise errors.bad_request(f"the name of the object ({metadata.get('name')}) does not match the name on "
                                 f"the URL ({name})")
    expected_rv = metadata.get("resourceVersion")
    if expected_rv and expected_rv != current["metadata"].get("resourceVersion"):
        raise errors.conflict(rt, name)
    if subresource == "status":
        result = json.loads(json.dumps(current))
        if "status" in new:
            result["status"] = new["status"]
        return result
    if subresource:
        raise errors.path_not_found()
    if "status" in rt.subresources:
        # The main resource ignores status; only /status changes it.
        if "status" in current:
            new["status"] = current["status"]
        else:
            new.pop("status", None)
    for field in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation"):
        if field in current["metadata"]:
            metadata[field] = current["metadata"][field]
        else:
            metadata.pop(field, None)
    if rt.plural in GENERATION_RESOURCES and new.get("spec") != current.get("spec"):
        metadata["generation"] = current["metadata"].get("generation", 1) + 1
    return new


def finalized(rt: ResourceType, obj: dict) -> bool:
    """True when a deleted object has nothing left holding it and leaves storage."""
    metadata = obj["metadata"]
    if not metadata.get("deletionTimestamp") or metadata.get("finalizers"):
        return False
    # A pod on a node stays until its kubelet confirms (grace 0); a namespace until it is emptied.
    if rt.plural == "pods":
        return metadata.get("deletionGracePeriodSeconds") == 0
    return rt.plural != "namespaces"


def delete_options(body: bytes, query: dict[str, str]) -> dict:
    options: dict = {}
    if body.strip():
        try:
            options = json.loads(body)
        except ValueError:
            raise errors.bad_request("the body of the request was not valid JSON DeleteOptions") from None
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        _check_delete_options_type(options)
    if "gracePeriodSeconds" in query:
        try:
            options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
        except ValueError:
            raise errors.bad_request(f"invalid gracePeriodSeconds {query['gracePeriodSeconds']!r}") from None
    return options


def _check_delete_options_type(options: dict) -> None:
    """As the delete handler decodes its body (apiserver pkg/endpoints/handlers/delete.go): an
    absent apiVersion or kind defaults to meta.k8s.io/v1 DeleteOptions, a group's own version is
    accepted for backwards compatibility, any other kind or version is not registered: 400."""
    version, kind = options.get("apiVersion") or "meta.k8s.io/v1", options.get("kind") or "DeleteOptions"
    if kind != "DeleteOptions" or not re.fullmatch(r"([a-z0-9.-]+/)?v[0-9]+((alpha|beta)[0-9]+)?", version):
        raise errors.bad_request(f'no kind "{kind}" is registered for version "{version}" in scheme '
                                 '"k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme/register.go:28"')


def check_preconditions(rt: ResourceType, current: dict, options: dict) -> None:
    preconditions = options.get("preconditions") or {}
    metadata = current["metadata"]
    if preconditions.get("uid") and preconditions["uid"] != metadata.get("uid"):
        raise errors.ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} '
                              f'"{metadata["name"]}": Precondition failed: UID in precondition: '
                              f'{preconditions["uid"]}, UID in object meta: {metadata.get("uid")}',
                              {"name": metadata["name"], "kind": rt.plural})
    if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != metadata.get("resourceVersion"):
        raise errors.ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} '
                              f'"{metadata["name"]}": Precondition failed: ResourceVersion in precondition: '
                              f'{preconditions["resourceVersion"]}, ResourceVersion in object meta: '
                              f'{metadata.get("resourceVersion")}', {"name": metadata["name"], "kind": rt.plural})


def mark_deleted(rt: ResourceType, current: dict, options: dict, now: datetime) -> dict:
    """The object with deletionTimestamp set as a DELETE leaves it (graceful or finalizers)."""
    obj = json.loads(json.dumps(current))
    metadata = obj["metadata"]
    if rt.plural == "pods":
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = int(spec.get("terminationGracePeriodSeconds", 30))
        # Unscheduled or finished pods have no kubelet to wait for: deleted at once.
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            grace = 0
        grace = max(0, int(grace))
        previous = metadata.get("deletionGracePeriodSeconds")
        if previous is not None and grace >= previous:
            return obj
        metadata["deletionTimestamp"] = rfc3339(now + timedelta(seconds=grace))
        metadata["deletionGracePeriodSeconds"] = grace
        return obj
    if not metadata.get("deletionTimestamp"):
        metadata["deletionTimestamp"] = rfc3339(now)
        metadata["deletionGracePeriodSeconds"] = 0
    if rt.plural == "namespaces":
        obj["status"] = {**(obj.get("status") or {}), "phase": "Terminating"}
    return obj
