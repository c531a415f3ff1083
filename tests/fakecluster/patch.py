"""PATCH bodies: JSON merge patch (RFC 7386; also used for strategic merge patch, whose list
merging the fake does not model) and JSON patch (RFC 6902).

Who calls it: the API layer's patch handler.
"""

from __future__ import annotations

import copy

from . import errors

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


def apply_patch(target: dict, patch: object, content_type: str) -> dict:
    media = content_type.split(";")[0].strip().lower()
    if media in (MERGE, STRATEGIC, APPLY):
        if not isinstance(patch, dict):
            raise errors.bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
        return merge_patch(target, patch)
    if media == JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        return json_patch(target, patch)
    raise errors.unsupported_media_type()


def merge_patch(target: object, patch: object) -> object:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict, operations: list) -> dict:
    document = copy.deepcopy(target)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        parent, key = _resolve(document, path)
        if op == "test":
            if _get(parent, key) != operation.get("value"):
                raise errors.ApiError(422, "Invalid", f"the server rejected our request due to an error in "
                                      f"our request: testing value {path} failed")
        elif op == "remove":
            _get(parent, key)
            if isinstance(parent, list):
                del parent[int(key)]
            else:
                del parent[key]
        elif op in ("add", "replace"):
            value = copy.deepcopy(operation.get("value"))
            if isinstance(parent, list):
                if key == "-":
                    parent.append(value)
                elif op == "add":
                    parent.insert(int(key), value)
                else:
                    parent[int(key)] = value
            else:
                if op == "replace":
                    _get(parent, key)
                parent[key] = value
        else:
            raise errors.bad_request(f"Unexpected kind: {op}")
    return document


def _resolve(document: object, path: str) -> tuple[object, str]:
    if not path.startswith("/"):
        raise errors.bad_request(f"add operation does not apply: doc is missing path: {path}")
    parts = [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]
    node = document
    for part in parts[:-1]:
        node = _get(node, part)
    return node, parts[-1]


def _get(node: object, key: str) -> object:
    try:
        if isinstance(node, list):
            return node[int(key)]
        if isinstance(node, dict):
            return node[key]
    except (KeyError, IndexError, ValueError):
        pass
    raise errors.ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                          f"request: doc is missing path: {key}")
