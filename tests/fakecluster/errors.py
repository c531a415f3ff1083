"""API errors as kube-apiserver writes them: a `Status` object with the HTTP code.

Who calls it: the API layer raises ApiError; the server turns it into the answer. Message texts
are copied from apimachinery's errors package and the recordings.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .resources import ResourceType


class ApiError(Exception):
    """An answer with a Status body; `status` is the HTTP code."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def body(self) -> dict:
        status: dict = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": self.message}
        if self.reason:  # StatusReasonUnknown ("") is left out, as metav1.Status serialises it
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status

    def body_bytes(self) -> bytes:
        return json.dumps(self.body(), separators=(",", ":")).encode()


def _details(rt: ResourceType, name: str | None) -> dict:
    details: dict = {}
    if name:
        details["name"] = name
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    return details


def _named(rt: ResourceType, name: str | None) -> str:
    return f'{rt.qualified} "{name}"' if name else rt.qualified


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_named(rt, name)} not found', _details(rt, name))


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f"{_named(rt, name)} already exists", _details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f"Operation cannot be fulfilled on {_named(rt, name)}: the object has been "
                    "modified; please apply your changes to the latest version and try again",
                    _details(rt, name))


def forbidden(rt: ResourceType, name: str | None, reason: str) -> ApiError:
    return ApiError(403, "Forbidden", f"{_named(rt, name)} is forbidden: {reason}", _details(rt, name))


def forbidden_path(user: str, verb: str, path: str) -> ApiError:
    return ApiError(403, "Forbidden", f'forbidden: User "{user}" cannot {verb} path "{path}"', {})


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid(rt: ResourceType, name: str, field_message: str) -> ApiError:
    details = _details(rt, name)
    return ApiError(422, "Invalid", f'{rt.kind} "{name}" is invalid: {field_message}', details)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource", {})


def not_acceptable() -> ApiError:
    return ApiError(406, "NotAcceptable",
                    "only the following media types are accepted: application/json, "
                    "application/yaml, application/vnd.kubernetes.protobuf")


def unsupported_media_type() -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml, application/strategic-merge-patch+json")


def storage(message: str, code: int = 500, reason: str = "") -> ApiError:
    """An etcd error the apiserver passes through untranslated (ErrorToAPIStatus of a plain
    error): code 500, no reason, the etcd message as it is."""
    return ApiError(code, reason, message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}",
                    {"causes": [{"message": message}]})
