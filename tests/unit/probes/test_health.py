"""The health probe (probes/health.py) on one answer at a time, without a server (issue 12).

Which answers are the apiserver's own health report (kube-apiserver writes them with
http.Error or fmt.Fprintf: text/plain, 200 or 500), and what each other answer says: a proxy's
page, a throttled or refused request, an error without a Status body. The answers a real server
sends in sequence are in tests/integration/probes/test_health.py.
"""

from __future__ import annotations

import json

import pytest

from cpwatch.errors import CannotConnectError, NoAnswerError
from cpwatch.findings import Component
from cpwatch.cluster.kubeapi import Response
from cpwatch.probes import health
from cpwatch.probes.healthtext import parse_health_text

TEXT = "text/plain; charset=utf-8"
READYZ_ETCD_READINESS_FAILED = ("[+]ping ok\n[+]log ok\n[+]etcd ok\n[-]etcd-readiness failed: reason withheld\n"
                                "[+]informer-sync ok\n[+]shutdown ok\nreadyz check failed\n")
LIVEZ_OK = "[+]ping ok\n[+]log ok\n[+]etcd ok\nlivez check passed\n"


def answer(status: int, body: str | bytes, content_type: str = TEXT) -> Response:
    return Response(status=status, body=body.encode() if isinstance(body, str) else body,
                    content_type=content_type, date=None, seconds=0.01)


def parsed(response, path: str = "/readyz", component: Component = Component.APISERVER):
    observations = []
    report = health._parsed(response, path, component, observations)
    return report, [(o.code, o.component, dict(o.evidence)) for o in observations]


# --- which answers are the apiserver's health report ----------------------------------------


@pytest.mark.parametrize("status,content_type", [
    (200, "text/plain; charset=utf-8"), (500, "text/plain; charset=utf-8"), (200, "text/plain"),
    (500, "Text/Plain ;charset=utf-8"), (200, " text/plain")])
def test_text_plain_200_or_500_is_the_apiservers_health_report(status, content_type):
    assert health._from_apiserver(answer(status, "ok", content_type))


@pytest.mark.parametrize("status,content_type", [
    (502, TEXT), (503, TEXT), (504, TEXT), (201, TEXT), (500, "text/html"), (200, "application/json"),
    (200, ""), (500, "text/plainx")])
def test_other_statuses_and_content_types_are_not_a_health_report(status, content_type):
    assert not health._from_apiserver(answer(status, "ok", content_type))


def test_a_report_is_parsed_and_adds_no_observation():
    report, observations = parsed(answer(500, READYZ_ETCD_READINESS_FAILED))
    assert report == parse_health_text(READYZ_ETCD_READINESS_FAILED) and observations == []


# --- answers that are not a report ----------------------------------------------------------


def test_a_proxys_error_page_is_a_probe_failure_naming_path_status_and_content_type():
    report, observations = parsed(answer(502, "<html>Bad Gateway</html>", "text/html; charset=UTF-8"))
    assert report is None
    assert observations == [("PROBE_FAILED", Component.APISERVER, {
        "probe": "health", "detail": "/readyz answered HTTP 502 (text/html), not a health report"})]


def test_an_answer_without_content_type_says_so():
    _, observations = parsed(answer(500, "", ""), "/livez/etcd", Component.ETCD)
    assert observations == [("PROBE_FAILED", Component.ETCD, {
        "probe": "health", "detail": "/livez/etcd answered HTTP 500 (no content type), not a health report"})]


def test_a_throttled_answer_adds_nothing_of_its_own():
    report, observations = parsed(answer(429, "Too many requests, please try again later.\n"))
    assert report is None and observations == []


def test_an_unauthorized_answer_is_the_checkers_credentials_on_that_path():
    _, observations = parsed(answer(401, json.dumps({"kind": "Status", "code": 401, "reason": "Unauthorized"}),
                                    "application/json"), "/livez/etcd", Component.ETCD)
    assert observations == [("CHECKER_UNAUTHORIZED", Component.ETCD, {"path": "/livez/etcd"})]


def test_a_forbidden_answer_without_a_status_body_quotes_its_text_on_one_line():
    _, observations = parsed(answer(403, "forbidden by\n  the proxy " + "x" * 300, TEXT))
    [(code, component, evidence)] = observations
    assert (code, component) == ("CHECKER_FORBIDDEN", Component.APISERVER)
    assert evidence["message"] == ("forbidden by the proxy " + "x" * 300)[:199] + "…"
    assert (evidence["reason"], evidence["http_status"], evidence["method"], evidence["path"]) == (
        "", 403, "GET", "/readyz")


# --- etcd's verdict from the three answers --------------------------------------------------


def etcd_codes(live_text, ready_text, etcd_response):
    live = parse_health_text(live_text) if live_text else None
    ready = parse_health_text(ready_text) if ready_text else None
    return [(o.code, o.component, dict(o.evidence)) for o in health._etcd(live, ready, etcd_response)]


def test_etcd_readiness_failing_in_readyz_alone_is_etcds_failure():
    """Since Kubernetes 1.29 /readyz has its own etcd check, `etcd-readiness` (options/etcd.go)."""
    observations = etcd_codes(LIVEZ_OK, READYZ_ETCD_READINESS_FAILED, answer(200, "ok"))
    assert observations == [("ETCD_CHECK_FAILED", Component.ETCD, {
        "path": "/readyz", "detail": "[-]etcd failed", "also_failed_in": ["/readyz"]})]


def test_livez_etcd_failing_with_an_empty_body_names_its_status():
    observations = etcd_codes(LIVEZ_OK, None, answer(500, "  \n"))
    assert observations == [("ETCD_CHECK_FAILED", Component.ETCD, {
        "path": "/livez/etcd", "detail": "HTTP 500", "also_failed_in": []})]


def test_livez_etcd_reason_is_cut_at_200_characters():
    observations = etcd_codes(LIVEZ_OK, None, answer(500, "internal server error: " + "y" * 400))
    assert observations[0][2]["detail"] == ("internal server error: " + "y" * 400)[:200]


def test_a_proxys_500_page_on_livez_etcd_is_not_etcd_failing():
    observations = etcd_codes(LIVEZ_OK, None, answer(500, "<html>oops</html>", "text/html"))
    assert [(code, component) for code, component, _ in observations] == [("PROBE_FAILED", Component.ETCD)]


def test_a_proxys_200_page_on_livez_etcd_is_not_etcd_passing():
    observations = etcd_codes(LIVEZ_OK, None, answer(200, "<html>ok</html>", "text/html"))
    assert [(code, component) for code, component, _ in observations] == [("PROBE_FAILED", Component.ETCD)]


def test_an_unanswered_livez_etcd_is_no_answer_for_etcd():
    observations = etcd_codes(LIVEZ_OK, None, NoAnswerError("GET", "/livez/etcd", "timeout", "read timed out"))
    assert observations == [("PROBE_NO_ANSWER", Component.ETCD,
                             {"probe": "health", "path": "/livez/etcd", "reason": "timeout"})]


# --- no answer ------------------------------------------------------------------------------


def test_the_checkers_own_connection_problem_is_named_as_such_on_any_path():
    error = CannotConnectError("GET", "/readyz", "proxy", "proxy refused the tunnel")
    observation = health._no_answer(error, Component.APISERVER)
    assert (observation.code, dict(observation.evidence)) == ("CHECKER_CANNOT_CONNECT", {
        "path": "/readyz", "reason": "proxy", "detail": "proxy refused the tunnel"})


def test_only_the_apiservers_livez_unanswered_is_unreachable():
    error = NoAnswerError("GET", "/livez", "refused", "connection refused")
    assert health._no_answer(error, Component.APISERVER).code == "APISERVER_UNREACHABLE"
    assert dict(health._no_answer(error, Component.APISERVER).evidence) == {
        "path": "/livez", "reason": "refused", "detail": "connection refused"}
    assert health._no_answer(error, Component.ETCD).code == "PROBE_NO_ANSWER"
