"""The health probe (probes/health.py) against the fake control plane, one decision a test (issue 12).

The health probe asks /livez?verbose, then /readyz?verbose, then /livez/etcd: here /livez answers
and a later request does not, or answers something else: a readiness check failing on its own
(graceful shutdown), a process that freezes or stops between two requests, a token that expires
between them, RBAC that allows the public health paths but not /livez/etcd, a throttled
/livez/etcd, a skewed clock, and a serving certificate that is not valid. Each test runs the real
probe (mutation testing).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from cryptography import x509

from cpwatch.probes import health
from cpwatch.settings import Settings
from tests.fakecluster import FakeCluster
from tests.fakecluster.health import CHECKS

from .helpers import context_of

HOOK = "poststarthook/rbac/bootstrap-roles"
OTHER_HOOK = "poststarthook/bootstrap-controller"


def probe_health(fc: FakeCluster, tmp_path, token: str | None = None, settings: Settings = Settings()):
    """The health probe's observations, through a client built from a kubeconfig as cpwatch's."""
    ctx, api = context_of(fc, tmp_path, settings, token)
    try:
        return health.probe(ctx)
    finally:
        api.close()


def found(observations, code: str, component: str | None = None) -> list[dict]:
    return [dict(o.evidence) for o in observations
            if o.code == code and (component is None or o.component.value == component)]


def codes(observations) -> list[tuple[str, str]]:
    return [(o.code, o.component.value) for o in observations]


def narrow_rbac(paths: list[str]) -> list[dict]:
    """A ClusterRole for group `narrow` allowing only `paths` (e.g. what system:public-info-viewer
    gives every authenticated user: /livez, /readyz, /healthz, /version, not /livez/etcd)."""
    return [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": "narrow-health"},
             "rules": [{"nonResourceURLs": paths, "verbs": ["get"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": "narrow-health"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "narrow-health"},
             "subjects": [{"kind": "Group", "name": "narrow"}]}]


def narrow_cluster(paths: list[str], **options) -> FakeCluster:
    fc = FakeCluster(nodes=1, rbac_overrides=narrow_rbac(paths), **options)
    fc.add_token("narrow-token", "narrow-checker", ["narrow"])
    return fc


# --- checks failing on their own -----------------------------------------------------------


def test_a_healthy_apiserver_is_live_with_every_check_counted_and_etcd_passed(tmp_path):
    with FakeCluster(nodes=1) as fc:
        observations = probe_health(fc, tmp_path)
    assert codes(observations) == [("APISERVER_LIVE", "apiserver"), ("ETCD_CHECK_PASSED", "etcd")]
    assert found(observations, "APISERVER_LIVE")[0]["checks"] == len(CHECKS["livez"]) + len(CHECKS["readyz"])


def test_graceful_shutdown_fails_readiness_alone(tmp_path):
    """kube-apiserver fails /readyz's `shutdown` check as soon as shutdown begins and keeps
    serving (and passing /livez) for the shutdown delay: not ready, not dead, etcd fine."""
    with FakeCluster(nodes=1) as fc:
        fc.fail_health_checks("shutdown")
        observations = probe_health(fc, tmp_path)
    assert codes(observations) == [("APISERVER_NOT_READY", "apiserver"), ("ETCD_CHECK_PASSED", "etcd")]
    assert found(observations, "APISERVER_NOT_READY") == [{"checks": "shutdown"}]


def test_unfinished_start_hooks_fail_liveness_and_readiness_and_are_all_named(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.fail_health_checks(HOOK, OTHER_HOOK)
        observations = probe_health(fc, tmp_path)
    order = [c for c in CHECKS["livez"] if c in (HOOK, OTHER_HOOK)]
    assert codes(observations) == [("APISERVER_LIVEZ_FAILED", "apiserver"), ("APISERVER_NOT_READY", "apiserver"),
                                   ("ETCD_CHECK_PASSED", "etcd")]
    assert found(observations, "APISERVER_LIVEZ_FAILED") == [{"checks": ", ".join(order)}]
    assert found(observations, "APISERVER_NOT_READY") == [{"checks": ", ".join(order)}]


def test_etcd_failing_with_another_readiness_check_is_judged_apart(tmp_path):
    """etcd's [-] lines go to etcd's finding; the shutdown check alone makes the apiserver not
    ready; /livez/etcd's own reason is the detail, and both health lists are named."""
    with FakeCluster(nodes=1, etcd_health_delay=0.1) as fc:
        fc.stop_etcd_members(2)
        fc.fail_health_checks("shutdown")
        observations = probe_health(fc, tmp_path)
    assert found(observations, "APISERVER_NOT_READY") == [{"checks": "shutdown"}]
    assert not found(observations, "APISERVER_LIVEZ_FAILED") and not found(observations, "APISERVER_LIVE")
    assert found(observations, "ETCD_CHECK_FAILED") == [{
        "path": "/livez/etcd",
        "detail": "internal server error: error getting data from etcd: context deadline exceeded",
        "also_failed_in": ["/livez", "/readyz"]}]


def test_etcd_failing_in_the_lists_while_livez_etcd_is_forbidden_names_the_lists(tmp_path):
    with narrow_cluster(["/livez", "/readyz"], etcd_health_delay=0.1) as fc:
        fc.stop_etcd_members(2)
        observations = probe_health(fc, tmp_path, token="narrow-token")
    assert found(observations, "ETCD_CHECK_FAILED") == [{
        "path": "/livez and /readyz", "detail": "[-]etcd failed", "also_failed_in": ["/livez", "/readyz"]}]
    assert not found(observations, "CHECKER_FORBIDDEN")


# --- /livez answers, a later request does not ----------------------------------------------


def test_a_process_freezing_after_livez_leaves_readiness_and_etcd_unanswered(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.when_requested("/readyz", lambda: fc.set_apiserver("hung"))
        observations = probe_health(fc, tmp_path)
    assert codes(observations) == [("PROBE_NO_ANSWER", "apiserver"), ("PROBE_NO_ANSWER", "etcd")]
    assert found(observations, "PROBE_NO_ANSWER") == [
        {"probe": "health", "path": "/readyz", "reason": "timeout"},
        {"probe": "health", "path": "/livez/etcd", "reason": "timeout"}]


def test_a_process_freezing_on_livez_etcd_leaves_the_apiserver_live_and_etcd_unanswered(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.when_requested("/livez/etcd", lambda: fc.set_apiserver("hung"))
        observations = probe_health(fc, tmp_path)
    assert codes(observations) == [("APISERVER_LIVE", "apiserver"), ("PROBE_NO_ANSWER", "etcd")]
    assert found(observations, "PROBE_NO_ANSWER") == [{"probe": "health", "path": "/livez/etcd", "reason": "timeout"}]


def test_a_process_stopping_after_livez_closes_readiness_and_refuses_etcd(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.when_requested("/readyz", lambda: fc.set_apiserver("down"))
        observations = probe_health(fc, tmp_path)
    assert found(observations, "PROBE_NO_ANSWER") == [
        {"probe": "health", "path": "/readyz", "reason": "closed"},
        {"probe": "health", "path": "/livez/etcd", "reason": "refused"}]
    assert not found(observations, "APISERVER_UNREACHABLE") and not found(observations, "APISERVER_LIVE")


def test_a_token_expiring_after_livez_is_the_checkers_credentials_on_the_later_paths(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.add_token("short-lived", "cpwatch-checker", ["cpwatch"])
        fc.when_requested("/readyz", lambda: fc.remove_token("short-lived"))
        observations = probe_health(fc, tmp_path, token="short-lived")
    assert codes(observations) == [("CHECKER_UNAUTHORIZED", "apiserver"), ("CHECKER_UNAUTHORIZED", "etcd")]
    assert found(observations, "CHECKER_UNAUTHORIZED", "apiserver") == [{"path": "/readyz"}]
    assert found(observations, "CHECKER_UNAUTHORIZED", "etcd") == [{"path": "/livez/etcd"}]


def test_rbac_without_livez_etcd_is_the_checkers_permission_not_etcd(tmp_path):
    with narrow_cluster(["/livez", "/readyz"]) as fc:
        observations = probe_health(fc, tmp_path, token="narrow-token")
    assert codes(observations) == [("APISERVER_LIVE", "apiserver"), ("CHECKER_FORBIDDEN", "etcd")]
    assert found(observations, "CHECKER_FORBIDDEN") == [{
        "method": "GET", "path": "/livez/etcd", "http_status": 403, "reason": "Forbidden",
        "message": 'forbidden: User "narrow-checker" cannot get path "/livez/etcd"'}]


def test_rbac_without_readyz_is_the_checkers_permission_on_readyz(tmp_path):
    with narrow_cluster(["/livez", "/livez/*"]) as fc:
        observations = probe_health(fc, tmp_path, token="narrow-token")
    assert codes(observations) == [("CHECKER_FORBIDDEN", "apiserver"), ("ETCD_CHECK_PASSED", "etcd")]
    assert found(observations, "CHECKER_FORBIDDEN")[0]["path"] == "/readyz"


def test_rbac_without_livez_is_the_checkers_permission_on_livez_and_the_rest_is_still_judged(tmp_path):
    with narrow_cluster(["/readyz", "/livez/*"]) as fc:
        observations = probe_health(fc, tmp_path, token="narrow-token")
    assert codes(observations) == [("CHECKER_FORBIDDEN", "apiserver"), ("ETCD_CHECK_PASSED", "etcd")]
    assert found(observations, "CHECKER_FORBIDDEN") == [{
        "method": "GET", "path": "/livez", "http_status": 403, "reason": "Forbidden",
        "message": 'forbidden: User "narrow-checker" cannot get path "/livez"'}]


def test_a_refused_token_stops_at_livez(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.clear_requests()
        observations = probe_health(fc, tmp_path, token="a-token-nobody-issued")
        asked = [urlsplit(r.path).path for r in fc.requests]
    assert codes(observations) == [("CHECKER_UNAUTHORIZED", "apiserver")]
    assert found(observations, "CHECKER_UNAUTHORIZED") == [{"path": "/livez"}]
    assert asked == ["/livez"]


def test_a_throttled_livez_etcd_reports_nothing_of_its_own(tmp_path):
    """/livez/etcd is not one of the exact paths of the `probes` flow schema, so APF can reject
    it; the run's throttling finding says so, the health probe adds no failure."""
    with FakeCluster(nodes=1) as fc:
        fc.throttle(every=1, paths=["/livez/etcd"])
        observations = probe_health(fc, tmp_path)
    assert codes(observations) == [("APISERVER_LIVE", "apiserver")]


# --- the checker's clock ------------------------------------------------------------------


def test_an_apiserver_clock_ahead_or_behind_past_the_warning_is_reported_with_its_offset(tmp_path):
    settings = Settings()
    for skew in (-3 * settings.clock_skew_warn_s, 3 * settings.clock_skew_warn_s):
        with FakeCluster(nodes=1, start_time=datetime.now(timezone.utc) + timedelta(seconds=skew)) as fc:
            observations = probe_health(fc, tmp_path, settings=settings)
        [reported] = found(observations, "CHECKER_CLOCK_SKEW", "checker")
        assert abs(reported["offset_s"] - skew) <= 3, (skew, reported)
        assert ("APISERVER_LIVE", "apiserver") in codes(observations)


def test_a_clock_skew_under_the_warning_is_not_reported(tmp_path):
    skew = Settings().clock_skew_warn_s / 2
    with FakeCluster(nodes=1, start_time=datetime.now(timezone.utc) - timedelta(seconds=skew)) as fc:
        observations = probe_health(fc, tmp_path)
    assert codes(observations) == [("APISERVER_LIVE", "apiserver"), ("ETCD_CHECK_PASSED", "etcd")]


# --- TLS failures on /livez -----------------------------------------------------------------


def served_dates(fc: FakeCluster) -> tuple[str, str]:
    served = x509.load_pem_x509_certificate(fc.serving_certificate_pem.encode())
    return (served.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            served.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_an_expired_serving_certificate_that_chains_to_the_ca_is_the_apiservers_alone(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.set_serving_certificate("expired")
        not_before, not_after = served_dates(fc)
        fc.clear_requests()
        observations = probe_health(fc, tmp_path)
        answered = fc.requests
    assert codes(observations) == [("APISERVER_CERT_INVALID", "apiserver")]
    evidence = found(observations, "APISERVER_CERT_INVALID")[0]
    assert evidence == {"path": fc.url, "problem": f"expired on {not_after}", "not_before": not_before,
                        "not_after": not_after, "subject": evidence["subject"], "verify_code": 10}
    assert evidence["subject"] and answered == []


def test_a_serving_certificate_not_yet_valid_names_the_clocks(tmp_path):
    with FakeCluster(nodes=1) as fc:
        fc.set_serving_certificate("not-yet-valid")
        not_before, _ = served_dates(fc)
        observations = probe_health(fc, tmp_path)
    [evidence] = found(observations, "APISERVER_CERT_INVALID")
    assert (evidence["problem"], evidence["verify_code"]) == (
        f"is not valid before {not_before} (check the clocks too)", 9)


def test_an_expired_certificate_replaced_by_one_from_another_ca_before_the_second_look_is_the_checkers(tmp_path):
    """The health probe looks again, trusting the CA apart from the validity period; when that
    handshake fails too (here a rotation to a CA the kubeconfig does not trust landed between the
    two connections), no apiserver fault is shown: the checker cannot connect."""
    with FakeCluster(nodes=1) as fc:
        fc.set_serving_certificate("expired")
        fc.when_connecting(fc.set_serving_certificate_from_other_ca, nth=2)
        observations = probe_health(fc, tmp_path)
    assert codes(observations) == [("CHECKER_CANNOT_CONNECT", "apiserver")]
    [evidence] = found(observations, "CHECKER_CANNOT_CONNECT")
    assert (evidence["path"], evidence["reason"]) == ("/livez", "tls")
    first, second = evidence["detail"].split("; and not trusted apart from its validity: ")
    assert "certificate has expired" in first and "does not chain to the CA cpwatch trusts" in second
    assert len(evidence["detail"]) <= 300
