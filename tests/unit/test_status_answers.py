"""Error answers become one-line messages: a Status by its message (reason and code kept apart),
anything else (a proxy's HTML page) folded onto one line."""

from __future__ import annotations

import json

from cpwatch.errors import ForbiddenError
from cpwatch.cluster.kubeapi import Response, raise_for_status_of, status_answer

STATUS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
          "message": "forbidden: User \"x\" cannot get path \"/readyz\"", "reason": "Forbidden", "details": {}, "code": 403}


def answer(status: int, body: bytes, content_type: str = "application/json") -> Response:
    return Response(status=status, body=body, content_type=content_type, date=None, seconds=0.0)


def test_status_is_read_by_its_fields():
    found = status_answer(answer(403, json.dumps(STATUS, indent=2).encode()))
    assert (found.code, found.reason, found.message) == (403, "Forbidden", STATUS["message"])


def test_forbidden_error_carries_the_message_not_the_body():
    try:
        raise_for_status_of(answer(403, json.dumps(STATUS, indent=2).encode()), "GET", "/readyz")
    except ForbiddenError as error:
        assert error.message == STATUS["message"] and error.reason == "Forbidden" and error.status == 403
        assert "\n" not in str(error) and "{" not in str(error)
    else:
        raise AssertionError("no ForbiddenError")


def test_a_page_that_is_not_a_status_is_folded_onto_one_line():
    page = b"<html>\n<head><title>403 Forbidden</title></head>\n<body>\n  denied by proxy\n</body>\n</html>\n"
    assert status_answer(answer(403, page, "text/html")) is None
    try:
        raise_for_status_of(answer(403, page, "text/html"), "GET", "/livez")
    except ForbiddenError as error:
        assert "\n" not in error.message and "denied by proxy" in error.message
    else:
        raise AssertionError("no ForbiddenError")
