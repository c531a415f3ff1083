"""The evidence each probe puts in its findings, pinned field by field (issue 12, mutation testing).

test_rule_signals.py pins which finding each situation produces; this file pins what the finding
says: the object it names, the threshold it applied, the holder, the counts. That evidence is what
an alert shows on-call (findings.py renders it), so a probe that names the wrong Lease or drops
the threshold misleads as much as a wrong verdict. Each test runs the real read-only check against
the fake control plane and compares the evidence with the fake's own objects.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509

from cpwatch.settings import Settings
from tests.fakecluster import FakeCluster
from tests.fakecluster.health import CHECKS as HEALTH_CHECKS

from .conftest import FAST, codes, verdicts

SETTINGS = Settings()
LEASE_STALE = 3 * 15 + SETTINGS.clock_margin_s          # 55 s for the default leaseDurationSeconds 15
LEASE = {"controller-manager": "kube-controller-manager", "scheduler": "kube-scheduler"}


def only(diagnosis, code: str, component: str):
    [found] = [o for o in diagnosis.observations if o.code == code and o.component.value == component]
    return found


def lease_spec(fc: FakeCluster, component: str) -> dict:
    return fc.store.peek("leases", "kube-system", LEASE[component])["spec"]


# --- leader_leases --------------------------------------------------------------------------


@pytest.mark.parametrize("component", ["controller-manager", "scheduler"])
def test_stale_leader_lease_names_lease_threshold_holder_and_renewal(component, run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component(component)
        fc.advance(LEASE_STALE + 10)
        diagnosis = run_check_on(fc, read_only=True)
        spec = lease_spec(fc, component)
    stale = only(diagnosis, "LEADER_LEASE_STALE", component)
    assert spec["holderIdentity"]
    assert {k: v for k, v in stale.evidence.items() if k != "age_s"} == {
        "lease": f"kube-system/{LEASE[component]}", "threshold_s": LEASE_STALE,
        "holder": spec["holderIdentity"], "renew_time": spec["renewTime"]}
    assert LEASE_STALE + 9 <= stale.evidence["age_s"] <= LEASE_STALE + 30  # + the set-up and check under load
    # the other leader's Lease is judged on its own
    other = next(c for c in LEASE if c != component)
    assert only(diagnosis, "LEADER_LEASE_FRESH", other).evidence["lease"] == f"kube-system/{LEASE[other]}"


def test_fresh_leader_lease_names_holder_and_acquire_time(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(20)
        diagnosis = run_check_on(fc, read_only=True)
        specs = {c: lease_spec(fc, c) for c in LEASE}
    for component, spec in specs.items():
        fresh = only(diagnosis, "LEADER_LEASE_FRESH", component)
        assert spec["holderIdentity"] and spec["acquireTime"]
        assert {k: v for k, v in fresh.evidence.items() if k != "age_s"} == {
            "lease": f"kube-system/{LEASE[component]}", "holder": spec["holderIdentity"],
            "acquire_time": spec["acquireTime"]}
        assert 0 <= fresh.evidence["age_s"] <= 10  # renewed every 2 s while running


def test_released_leader_lease_is_shown_as_released(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler", release_lease=True)
        fc.advance(20)
        diagnosis = run_check_on(fc, read_only=True)
        assert lease_spec(fc, "scheduler").get("holderIdentity", "") == ""
    assert only(diagnosis, "LEADER_LEASE_FRESH", "scheduler").evidence["holder"] == "(released)"
    assert only(diagnosis, "LEADER_LEASE_FRESH", "controller-manager").evidence["holder"] != "(released)"


def test_missing_leader_lease_is_named(run_check_on):
    """A leader that never ran (or whose Lease was deleted): nothing to judge, the Lease named."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        assert fc.store.delete("leases", "kube-system", "kube-scheduler") is not None
        diagnosis = run_check_on(fc, read_only=True)
    assert only(diagnosis, "LEADER_LEASE_MISSING", "scheduler").evidence == {"lease": "kube-system/kube-scheduler"}
    assert "LEADER_LEASE_FRESH" in codes(diagnosis, "controller-manager")
    # the latency probe reads that very Lease: an answered 404 is still a measured round trip
    assert only(diagnosis, "APISERVER_READS_OK", "apiserver").evidence["samples"] == SETTINGS.latency_samples
    assert "PROBE_FAILED" not in codes(diagnosis)


def test_unreadable_renew_time_is_a_probe_failure_naming_the_lease_and_value(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        fc.store.mutate("leases", "kube-system", "kube-controller-manager",
                        lambda lease: lease["spec"].update(renewTime="yesterday"))
        diagnosis = run_check_on(fc, read_only=True)
    failed = [o for o in diagnosis.observations if o.code == "PROBE_FAILED" and o.evidence.get("probe") == "leader_leases"]
    assert [(o.component.value, o.evidence) for o in failed] == [("controller-manager", {
        "probe": "leader_leases",
        "detail": "Lease kube-system/kube-controller-manager has no readable renewTime ('yesterday')"})]
    assert "LEADER_LEASE_FRESH" in codes(diagnosis, "scheduler")



@pytest.mark.parametrize(("age", "stale"), [(100, False), (3 * 60 + SETTINGS.clock_margin_s + 10, True)],
                         ids=["100s-fresh", "past-3x60s"])
def test_a_longer_lease_duration_is_read_from_the_lease(age, stale, run_check_on):
    """--leader-elect-lease-duration=60s: the threshold is 3 x 60 s + margin (190 s), read from
    the Lease's own leaseDurationSeconds; with the 15 s default a 100 s old Lease would be stale."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        fc.store.mutate("leases", "kube-system", "kube-scheduler",
                        lambda lease: lease["spec"].update(leaseDurationSeconds=60))
        fc.advance(age)
        diagnosis = run_check_on(fc, read_only=True)
    if stale:
        assert only(diagnosis, "LEADER_LEASE_STALE", "scheduler").evidence["threshold_s"] == 190
    else:
        assert "LEADER_LEASE_FRESH" in codes(diagnosis, "scheduler")
        assert "LEADER_LEASE_STALE" not in codes(diagnosis)

# --- pending_pods ---------------------------------------------------------------------------


def test_unattempted_pods_evidence_counts_and_names_them_oldest_first(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "young", created_seconds_ago=10)            # under the threshold
        fc.add_pod("apps", "old", created_seconds_ago=300)
        fc.add_pod("apps", "older", created_seconds_ago=900)
        diagnosis = run_check_on(fc, read_only=True)
    found = only(diagnosis, "PODS_UNATTEMPTED", "scheduler")
    evidence = dict(found.evidence)
    pods = evidence.pop("pods")
    assert [p.split(" ")[0] for p in pods] == ["apps/older", "apps/old"]
    assert 899 <= int(pods[0].split("(")[1].split(" ")[0]) <= 930
    assert evidence == {"count": 2, "examples": evidence["examples"], "threshold_s": SETTINGS.unattempted_pod_age_s,
                        "confirmed": 2}
    assert "apps/older" in evidence["examples"] and "apps/old " in evidence["examples"]


def test_unattempted_pods_beyond_the_confirming_reads_are_counted_from_the_cache(run_check_on):
    """Five unattempted pods, two confirming reads: the two oldest are confirmed and named, the
    count includes the three the cache alone shows."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("scheduler")
        for i in range(5):
            fc.add_pod("apps", f"p{i}", created_seconds_ago=300 + 60 * i)
        diagnosis = run_check_on(fc, read_only=True, settings=replace(FAST, max_confirm_lookups=2))
    evidence = only(diagnosis, "PODS_UNATTEMPTED", "scheduler").evidence
    assert (evidence["count"], evidence["confirmed"]) == (5, 2)
    assert [p.split(" ")[0] for p in evidence["pods"]] == ["apps/p4", "apps/p3"]


def test_attempted_pending_pods_are_counted(run_check_on):
    """Pending pods the scheduler did attempt (or that are too young) are counted, not reported."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "a", created_seconds_ago=10)
        fc.add_pod("apps", "b", created_seconds_ago=20)
        diagnosis = run_check_on(fc, read_only=True)
    assert only(diagnosis, "PENDING_PODS_ATTEMPTED", "scheduler").evidence == {"pending": 2}



def test_pods_being_deleted_or_attempted_are_not_unattempted(run_check_on):
    """An unbound pod held by a finalizer while being deleted (the apiserver deletes unbound pods
    at once, so only a finalizer keeps one) and a pod the scheduler attempted but could not
    place (PodScheduled=False, Unschedulable): neither is waiting for a scheduler that ignores it."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.add_pod("apps", "nowhere", created_seconds_ago=5, node_selector={"example.com/none": "x"})
        fc.advance(SETTINGS.unattempted_pod_age_s + 30)
        fc.wedge_component("scheduler")
        fc.add_pod("apps", "leaving", created_seconds_ago=600, deleted_seconds_ago=5, finalizers=["example.com/hold"])
        diagnosis = run_check_on(fc, read_only=True)
        [scheduled] = [c for c in fc.store.peek("pods", "apps", "nowhere")["status"]["conditions"]
                       if c["type"] == "PodScheduled"]
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert only(diagnosis, "PENDING_PODS_ATTEMPTED", "scheduler").evidence == {"pending": 2}


def test_pending_pods_are_listed_from_the_watch_cache_filtered_by_the_apiserver(run_check_on):
    """One list, answered from the watch cache (resourceVersion=0) and filtered server-side to
    Pending unbound pods: a large cluster's running pods never leave the apiserver."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.clear_requests()
        run_check_on(fc, read_only=True)
        queries = [parse_qs(urlsplit(r.path).query) for r in fc.requests
                   if r.method == "GET" and urlsplit(r.path).path == "/api/v1/pods"]
    # other probes list pods too, never for Pending ones
    [pending] = [q for q in queries if "Pending" in "".join(q.get("fieldSelector", []))]
    assert pending["fieldSelector"] == ["status.phase=Pending,spec.nodeName="]
    assert pending["resourceVersion"] == ["0"]

# --- node_heartbeats --------------------------------------------------------------------------

NODE_SILENT = SETTINGS.node_heartbeat_stale_s           # 120 s


def seconds_in(text: str, label: str) -> int:
    return int(text.split(f"{label} ")[1].split(" s")[0])


def test_node_marked_not_ready_is_reported_as_a_node_problem(run_check_on):
    """A lost node that the working controller marked Unknown: the node is named with its
    condition and reason, and the controller is credited with marking it."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.lose_node("node-c")
        fc.advance(90)
        diagnosis = run_check_on(fc, read_only=True)
        [ready] = [c for c in fc.store.peek("nodes", None, "node-c")["status"]["conditions"] if c["type"] == "Ready"]
    assert ready["status"] == "Unknown"
    not_ready = only(diagnosis, "NODE_NOT_READY", "node")
    assert {k: v for k, v in not_ready.evidence.items() if k != "age_s"} == {
        "node": "node-c", "ready": "Ready=Unknown", "reason": ready["reason"]}
    assert 89 <= not_ready.evidence["age_s"] <= 120
    assert only(diagnosis, "NODE_LIFECYCLE_OK", "controller-manager").evidence == {
        "leases": 3, "marked": "node-c marked not Ready"}


def test_silent_ready_nodes_are_listed_oldest_first_with_both_ages(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("controller-manager")
        fc.lose_node("node-c")
        fc.advance(30)
        fc.lose_node("node-b")
        fc.advance(NODE_SILENT + 20)
        diagnosis = run_check_on(fc, read_only=True)
    silent = only(diagnosis, "NODE_READY_BUT_SILENT", "controller-manager")
    nodes = silent.evidence["nodes"]
    assert [n.split(" ")[0] for n in nodes] == ["node-c", "node-b"]  # by silence, not by name
    assert {k: v for k, v in silent.evidence.items() if k != "nodes"} == {
        "count": 2, "examples": ", ".join(nodes), "threshold_s": NODE_SILENT}
    ages = [(seconds_in(n, "Lease"), seconds_in(n, "NodeStatus")) for n in nodes]
    assert NODE_SILENT + 45 <= ages[0][0] <= NODE_SILENT + 80 and NODE_SILENT + 15 <= ages[1][0] <= NODE_SILENT + 50
    assert all(status > NODE_SILENT for _, status in ages)  # Ready.lastHeartbeatTime old too, or not silent
    assert "NODE_LIFECYCLE_OK" not in codes(diagnosis)


def test_the_longest_silent_nodes_get_the_lookups(run_check_on):
    """One node lookup allowed: the node silent longest is read and named."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("controller-manager")
        fc.lose_node("node-c")
        fc.advance(30)
        fc.lose_node("node-a")
        fc.advance(NODE_SILENT + 20)
        diagnosis = run_check_on(fc, read_only=True, settings=replace(FAST, max_node_lookups=1))
    silent = only(diagnosis, "NODE_READY_BUT_SILENT", "controller-manager").evidence
    assert silent["count"] == 1 and silent["nodes"][0].startswith("node-c ")


def test_node_leases_are_listed_from_the_watch_cache(run_check_on):
    """A 5,000-node cluster's Leases come from the apiserver's cache (resourceVersion=0), not etcd."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.clear_requests()
        run_check_on(fc, read_only=True)
        queries = [parse_qs(urlsplit(r.path).query) for r in fc.requests
                   if r.method == "GET" and urlsplit(r.path).path == "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"]
    assert len(queries) == 1 and queries[0]["resourceVersion"] == ["0"]


def test_silent_nodes_within_the_threshold_are_counted_not_blamed(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.wedge_component("controller-manager")
        fc.lose_node("node-b")
        fc.lose_node("node-c")
        fc.advance(NODE_SILENT - 30)
        diagnosis = run_check_on(fc, read_only=True)
    assert only(diagnosis, "NODE_LIFECYCLE_OK", "controller-manager").evidence == {
        "leases": 3, "marked": "2 silent node(s) within grace"}
    assert "NODE_READY_BUT_SILENT" not in codes(diagnosis) and "NODE_NOT_READY" not in codes(diagnosis)


# --- componentstatuses and serving_certificate ------------------------------------------------


def test_componentstatuses_name_the_unhealthy_member_and_component(run_check_on):
    """One etcd member down and the scheduler stopped: componentstatuses names the member with the
    apiserver's error, counts it against all members, and names the scheduler's failed probe of
    its secure port (10259)."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_etcd_members(1)
        fc.stop_component("scheduler")
        fc.advance(10)
        diagnosis = run_check_on(fc, read_only=True)
    member = only(diagnosis, "ETCD_MEMBER_UNHEALTHY", "etcd").evidence
    assert set(member) == {"members", "source"} and member["source"] == "componentstatuses, 1 of 3"
    assert member["members"].startswith("etcd-0 (") and "/health" in member["members"]
    assert "etcd-1" not in member["members"] and "COMPONENTSTATUS_HEALTHY" not in codes(diagnosis, "etcd")
    scheduler = only(diagnosis, "COMPONENTSTATUS_UNHEALTHY", "scheduler").evidence
    assert scheduler["name"] == "scheduler" and "127.0.0.1:10259" in scheduler["message"]
    assert only(diagnosis, "COMPONENTSTATUS_HEALTHY", "controller-manager").evidence == {
        "name": "controller-manager", "message": "ok"}


@pytest.mark.parametrize(("days", "code"), [(10, "APISERVER_CERT_EXPIRING"), (SETTINGS.cert_expiry_warn_days + 2,
                                                                                "APISERVER_CERT_OK")])
def test_serving_certificate_expiry_is_measured_from_the_handshake(days, code, run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.set_serving_certificate(expires_in_days=days)
        diagnosis = run_check_on(fc, read_only=True)
        certificate = x509.load_pem_x509_certificate(fc.serving_certificate_pem.encode())
    evidence = dict(only(diagnosis, code, "apiserver").evidence)
    expected = {"not_after": certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "days_left": int(days) - 1, "subject": "kube-apiserver"}
    if code == "APISERVER_CERT_EXPIRING":
        expected["warn_days"] = int(SETTINGS.cert_expiry_warn_days)
    assert evidence == expected


# --- admission_webhooks (and interceptors, which read the configurations) ----------------------


def test_fail_closed_webhook_on_control_plane_writes_names_writes_and_consequences(run_check_on):
    """A fail-closed mutating webhook on Lease updates in every namespace covers the leader and the
    node Leases; a fail-open (Ignore) webhook is counted but never reported."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.add_failing_webhook("lease-guard.example.org", configuration="lease-guard", kind="mutating", mode="deny",
                               resources=("leases",), api_groups=("coordination.k8s.io",), operations=("UPDATE",),
                               namespaces=None, timeout_seconds=5)
        fc.add_failing_webhook("audit.example.org", configuration="audit", failure_policy="Ignore")
        diagnosis = run_check_on(fc, read_only=True)
    found = [o for o in diagnosis.observations if o.component.value == "extensions" and o.code.startswith("WEBHOOK")]
    assert [(o.code, dict(o.evidence)) for o in found] == [("WEBHOOK_COVERS_CONTROL_PLANE", {
        "webhook": "lease-guard.example.org", "configuration": "mutatingwebhookconfiguration/lease-guard",
        "writes": "leader Leases in kube-system, node Leases",
        "consequence": "the controller-manager and scheduler lose leadership and stop; "
                       "every node goes NotReady and its pods are evicted",
        "timeout_s": 5, "match_conditions": False, "intercepts": ["leader-leases", "node-leases"],
        "covers": "UPDATE leases in every namespace"})]


def test_webhooks_that_spare_the_control_plane_are_listed(run_check_on):
    """Fail-closed on the checker's namespaces only (the default image-policy webhook) and one
    fail-open webhook: nothing the control plane writes is covered; both are counted."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.add_failing_webhook(kind="validating", mode="deny")
        fc.add_failing_webhook("audit.example.org", configuration="audit", kind="mutating", failure_policy="Ignore")
        diagnosis = run_check_on(fc, read_only=True)
    evidence = dict(only(diagnosis, "WEBHOOKS_OK", "extensions").evidence)
    listed = evidence.pop("fail_closed_webhooks")
    assert evidence == {"count": 2, "fail_closed": 1}
    assert len(listed) == 1 and listed[0].startswith(
        "image-policy.policy.example.org (validatingwebhookconfiguration/image-policy): ")
    assert "WEBHOOK_COVERS_CONTROL_PLANE" not in codes(diagnosis)


def test_webhook_behind_a_service_without_endpoints_is_failing(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.add_failing_webhook(mode="refused", service=("policy", "policy-webhook", 443))
        diagnosis = run_check_on(fc, read_only=True)
    failing = dict(only(diagnosis, "WEBHOOK_FAILING_CLOSED", "extensions").evidence)
    covers = failing.pop("covers")
    assert failing == {"webhook": "image-policy.policy.example.org",
                       "configuration": "validatingwebhookconfiguration/image-policy",
                       "cause": "its Service policy/policy-webhook has no ready endpoints"}
    assert "default" in covers and "WEBHOOKS_OK" not in codes(diagnosis)


# --- aggregated_apis --------------------------------------------------------------------------

GRACE = SETTINGS.apiservice_grace_s                     # 30 s


def test_unavailable_apiservices_past_the_grace_are_named_with_condition_and_consequences(run_check_on):
    """Two APIServices unavailable for longer than the grace (a metrics API and another group),
    one that just failed (within the grace: the availability controller rechecks it)."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.register_unavailable_apiservice()
        fc.register_unavailable_apiservice("v1alpha1.example.org", reason="MissingEndpoints",
                                           service=("ex", "ex-api", 443))
        fc.advance(GRACE + 20)
        fc.register_unavailable_apiservice("v1.late.example.org", reason="FailedDiscoveryCheck", service=("ex", "late", 443))
        diagnosis = run_check_on(fc, read_only=True)
        available = {name: next(c for c in fc.store.peek("apiservices", None, name)["status"]["conditions"]
                                if c["type"] == "Available")
                     for name in ("v1beta1.metrics.k8s.io", "v1alpha1.example.org")}
    found = {o.evidence["name"]: dict(o.evidence) for o in diagnosis.observations if o.code == "APISERVICE_UNAVAILABLE"}
    assert set(found) == {"v1beta1.metrics.k8s.io", "v1alpha1.example.org"}
    stalled = "namespace deletion and garbage collection stall on its failed discovery"
    for name, group, consequences in [
            ("v1beta1.metrics.k8s.io", "metrics.k8s.io", f"HPAs that use metrics.k8s.io cannot scale; {stalled}"),
            ("v1alpha1.example.org", "example.org", stalled)]:
        evidence = found[name]
        assert GRACE + 19 <= evidence.pop("age_s") <= GRACE + 45
        assert evidence == {"name": name, "group": group, "reason": available[name]["reason"],
                            "message": available[name]["message"], "consequences": consequences}
    assert "APISERVICES_AVAILABLE" not in codes(diagnosis)


# --- latency ----------------------------------------------------------------------------------


def test_reads_that_hang_name_the_path_and_the_timeout(run_check_on):
    """etcd without quorum: the health endpoints answer, reads get no answer before the request
    timeout (the recorded signature); the check counts them against the reads that were answered
    and names what it read, the latency probe's Lease among them."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_etcd_members(2)
        diagnosis = run_check_on(fc, read_only=True)
    evidence = only(diagnosis, "APISERVER_READS_NO_ANSWER", "apiserver").evidence
    assert evidence["reason"] == "timeout" and evidence["timeout_s"] == FAST.request_timeout_s
    assert "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler" in evidence["paths"]
    assert evidence["path"] in evidence["paths"] and evidence["count"] >= len(evidence["paths"])
    assert evidence["total"] == evidence["count"] + diagnosis.requests
    assert "APISERVER_LIVE" in codes(diagnosis, "apiserver") and "APISERVER_READS_OK" not in codes(diagnosis)


def test_slow_reads_report_median_samples_and_threshold(run_check_on):
    """Every answer 0.3 s late against a 200 ms threshold: slow, with the median it measured."""
    settings = replace(FAST, latency_warn_ms=200.0)
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.set_apiserver("slow", delay=0.3)
        diagnosis = run_check_on(fc, read_only=True, settings=settings)
    evidence = dict(only(diagnosis, "APISERVER_SLOW", "apiserver").evidence)
    assert 300 <= evidence.pop("median_ms") < 3000
    assert evidence == {"samples": settings.latency_samples, "threshold_ms": 200}
    assert "APISERVER_READS_OK" not in codes(diagnosis)


# --- health -----------------------------------------------------------------------------------


def test_a_live_apiserver_counts_every_check_of_its_verbose_answers(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        diagnosis = run_check_on(fc, read_only=True)
    evidence = dict(only(diagnosis, "APISERVER_LIVE", "apiserver").evidence)
    assert 0 <= evidence.pop("latency_ms") < 3000
    assert evidence == {"checks": len(HEALTH_CHECKS["livez"]) + len(HEALTH_CHECKS["readyz"])}
    assert only(diagnosis, "ETCD_CHECK_PASSED", "etcd").evidence == {"path": "/livez/etcd"}


def test_an_apiserver_refusing_connections_is_unreachable_on_livez(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.set_apiserver("down")
        diagnosis = run_check_on(fc, read_only=True)
    unreachable = only(diagnosis, "APISERVER_UNREACHABLE", "apiserver")
    assert (unreachable.evidence["path"], unreachable.evidence["reason"]) == ("/livez", "refused")
    assert "refused" in unreachable.evidence["detail"].lower()


def test_a_serving_certificate_from_another_ca_is_the_checkers_connection_on_livez(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.set_serving_certificate_from_other_ca()
        diagnosis = run_check_on(fc, read_only=True)
    cannot = [o.evidence for o in diagnosis.observations
              if o.code == "CHECKER_CANNOT_CONNECT" and o.component.value == "apiserver" and o.evidence["path"] == "/livez"]
    assert [(e["reason"], "does not chain to the CA cpwatch trusts" in e["detail"]) for e in cannot] == [("tls", True)]
    assert "APISERVER_UNREACHABLE" not in codes(diagnosis)


def test_an_expired_serving_certificate_is_named_with_its_dates_and_subject(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.set_serving_certificate("expired")
        served = x509.load_pem_x509_certificate(fc.serving_certificate_pem.encode())
        diagnosis = run_check_on(fc, read_only=True)
    evidence = only(diagnosis, "APISERVER_CERT_INVALID", "apiserver").evidence
    assert evidence["path"] == fc.url and evidence["verify_code"] == 10
    assert evidence["not_after"] == served.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert evidence["not_before"] == served.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert evidence["subject"] == served.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def test_a_refused_token_is_the_checkers_credentials_on_livez(run_check_on):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        diagnosis = run_check_on(fc, read_only=True, token="not-a-token-the-fake-knows")
        health_paths = [urlsplit(r.path).path for r in fc.requests if urlsplit(r.path).path in ("/livez", "/readyz", "/livez/etcd")]
    assert health_paths == ["/livez"], "a refused token is not sent to the other health endpoints"
    refused = [o.evidence for o in diagnosis.observations if o.code == "CHECKER_UNAUTHORIZED"]
    assert {"path": "/livez"} in refused
    assert "APISERVER_LIVE" not in codes(diagnosis)
    assert set(verdicts(diagnosis).values()) == {"unknown"}
