"""Replay of the recordings: recorded objects, time, verbatim answers and the fault in force."""

from __future__ import annotations

import json
import re
import socket
import ssl
from pathlib import Path

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_http_date, parse_time

from .kube_http import Client

pytestmark = pytest.mark.network

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "real-control-plane"


def recorded(name: str) -> dict:
    return json.loads((RECORDINGS / f"{name}.json").read_text())["responses"]


@pytest.fixture
def replay(request):
    clusters = []

    def start(name: str, **options) -> tuple[FakeCluster, Client]:
        fc = FakeCluster.from_recording(name, etcd_health_delay=0.2, etcd_write_fail_delay=0.3, **options).start()
        clusters.append(fc)
        return fc, Client(fc)

    yield start
    for fc in clusters:
        fc.stop()


def ready(fc: FakeCluster, node: str) -> str:
    return next(c for c in fc.store.get("nodes", None, node)["status"]["conditions"] if c["type"] == "Ready")["status"]


def test_healthy_replay_serves_the_recording(replay):
    fc, client = replay("healthy")
    responses = recorded("healthy")
    assert abs((fc.clock.now() - parse_http_date(responses["nodes"]["date"])).total_seconds()) < 2
    for key, path in (("livez_verbose", "/livez?verbose"), ("readyz_verbose", "/readyz?verbose"),
                      ("componentstatuses", "/api/v1/componentstatuses"), ("version", "/version")):
        assert client.get(path).body == responses[key]["body"], key
    nodes = client.get("/api/v1/nodes").json["items"]
    assert [(n["metadata"]["name"], n["metadata"]["uid"]) for n in nodes] == [
        (n["metadata"]["name"], n["metadata"]["uid"]) for n in responses["nodes"]["body"]["items"]]
    assert int(client.get("/api/v1/nodes").json["metadata"]["resourceVersion"]) >= 366
    assert client.get("/api/v1/namespaces/cpwatch/configmaps/cpwatch-heartbeat").status == 200
    assert client.get("/api/v1/namespaces/demo/pods/nowhere").status == 200


def test_replayed_components_continue_from_the_recorded_state(replay):
    fc, client = replay("healthy")
    before = fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]
    fc.advance(30)
    after = fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]
    assert after["holderIdentity"] == before["holderIdentity"] and after["renewTime"] > before["renewTime"]
    assert after["leaseTransitions"] == before["leaseTransitions"]
    assert parse_time(fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"]) > parse_time(
        before["renewTime"])


def test_kcm_down_replay(replay):
    fc, client = replay("kcm-down")
    assert not fc.controller_manager.running
    assert not fc.kubelets.nodes["node-c"].live and fc.kubelets.nodes["node-a"].live
    fc.advance(60)
    assert ready(fc, "node-c") == "True"
    assert fc.store.get("pods", "demo", "orphan-2") is not None
    lease = fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]
    fc.start_component("controller-manager")
    taken = fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]
    assert taken["leaseTransitions"] == lease["leaseTransitions"] + 1
    assert taken["holderIdentity"] != lease["holderIdentity"]
    fc.advance(45)
    assert ready(fc, "node-c") == "Unknown"
    assert fc.store.get("pods", "demo", "orphan-2") is None


def test_orphan_quarantine_starts_at_replay_start(replay):
    fc, _ = replay("node-lost-kcm-alive-orphan-pending")
    assert fc.controller_manager.running and fc.controller_manager.elector.leader
    fc.advance(35)
    assert fc.store.get("pods", "demo", "orphan-1") is not None
    fc.advance(10)
    assert fc.store.get("pods", "demo", "orphan-1") is None


def test_scheduler_down_replay(replay):
    fc, client = replay("scheduler-down")
    pending = "web-79c6f5cb65-fgg82"
    fc.advance(30)
    assert "conditions" not in fc.store.get("pods", "demo", pending)["status"]
    lease = fc.store.get("leases", "kube-system", "kube-scheduler")["spec"]
    assert lease["holderIdentity"] == "" and lease["leaseDurationSeconds"] == 1
    fc.start_component("scheduler")
    fc.advance(1)
    assert fc.store.get("pods", "demo", pending)["spec"]["nodeName"]
    # The recording's terminating pods stay: the recorded cluster had no kubelets.
    assert fc.store.get("pods", "demo", "web-855569f7b9-7dtqz")["metadata"]["deletionTimestamp"]


def test_apiserver_down_and_hung_replays(replay):
    _, down = replay("apiserver-down")
    assert down.get("/livez").error == "refused"
    fc, hung = replay("apiserver-hung")
    assert hung.get("/livez", timeout=0.3).error == "handshake-timeout"
    fc.set_apiserver("up")
    assert hung.get("/api/v1/nodes").status == 200


def test_etcd_quorum_lost_replay(replay):
    fc, client = replay("etcd-quorum-lost")
    responses = recorded("etcd-quorum-lost")
    livez = client.get("/livez?verbose")
    assert (livez.status, livez.body) == (500, responses["livez_verbose"]["body"]) and livez.seconds >= 0.2
    assert client.get("/version").body == responses["version"]["body"]
    assert client.get("/api/v1/nodes", timeout=0.3).error == "read-timeout"
    fc.stop_etcd_members(0)
    assert client.get("/livez?verbose").body.endswith("livez check passed\n")
    fc.advance(2)  # the electors try every retryPeriod; the Leases were never read: they create them
    assert {lease["metadata"]["name"] for lease in fc.store.list("leases", "kube-system")} == {
        "kube-controller-manager", "kube-scheduler"}


def test_one_member_down_replay(replay):
    fc, client = replay("etcd-one-member-down")
    assert fc.etcd.down_members == {0}
    assert client.get("/api/v1/componentstatuses").body == recorded("etcd-one-member-down")["componentstatuses"]["body"]
    fc.stop_etcd_members(0)
    statuses = client.get("/api/v1/componentstatuses").json["items"]
    assert all(item["conditions"][0]["status"] == "True" for item in statuses)


def test_replay_by_path(replay):
    fc, client = replay(str(RECORDINGS / "node-lost-kcm-alive.json"))
    assert not fc.kubelets.nodes["node-c"].live
    assert client.get("/api/v1/nodes/node-c").json["spec"]["taints"]


# --- the recordings of issue 8 ---------------------------------------------------------------------

def test_webhook_refused_replay(replay):
    fc, client = replay("webhook-refused")
    responses = recorded("webhook-refused")
    answer = client.post("/api/v1/namespaces/default/configmaps?timeout=5s", {"metadata": {"name": "x"}})
    assert (answer.status, answer.json) == (500, responses["write_configmap"]["body"])
    configurations = client.get("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations").json
    assert configurations["items"] == responses["webhook_configurations"]["body"]["items"]
    assert client.post("/api/v1/namespaces/cpwatch/configmaps", {"metadata": {"name": "x"}}).status == 201


def test_webhook_timeout_replay(replay):
    fc, client = replay("webhook-timeout")
    responses = recorded("webhook-timeout")
    answer = client.post("/api/v1/namespaces/default/configmaps?timeout=5s", {"metadata": {"name": "x"}}, timeout=6)
    assert (answer.status, answer.json) == (500, responses["write_configmap"]["body"])
    assert 2.9 <= answer.seconds < 5  # held for the webhook's time, answered before ?timeout=5s


def test_aggregated_api_unavailable_replay(replay):
    fc, client = replay("aggregated-api-unavailable")
    responses = recorded("aggregated-api-unavailable")
    assert client.get("/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io").json == \
        responses["apiservice"]["body"]
    discovery = client.get("/apis/metrics.k8s.io/v1beta1")
    assert (discovery.status, discovery.body) == (503, responses["group_discovery"]["body"])
    fc.advance(16)
    conditions = client.get("/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers/web").json["status"]
    assert conditions["conditions"] == responses["hpa_web"]["body"]["status"]["conditions"]
    fc.restore_apiservice("v1beta1.metrics.k8s.io")
    assert client.get("/apis/metrics.k8s.io/v1beta1").status == 200


def test_etcd_nospace_replay(replay):
    fc, client = replay("etcd-nospace")
    responses = recorded("etcd-nospace")
    answer = client.post("/api/v1/namespaces/default/configmaps?timeout=5s", {"metadata": {"name": "x"}})
    assert (answer.status, answer.json) == (500, responses["write_configmap"]["body"])
    assert client.get("/api/v1/componentstatuses").body == responses["componentstatuses"]["body"]
    lines = [re.sub(r":\d+", ":<port>", line) for line in client.get("/metrics").body.splitlines()
             if "etcd_db_total_size_in_bytes" in line]
    assert lines == [re.sub(r":\d+", ":<port>", line) for line in responses["metrics_etcd_size_lines"]["lines"]]
    before = fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"]
    fc.etcd_nospace(False)
    fc.advance(1)
    assert fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"] != before
    assert client.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "y"}}).status == 201


def test_apiserver_cert_expired_replay(replay):
    fc, _ = replay("apiserver-cert-expired")
    expected = json.loads((RECORDINGS / "apiserver-cert-expired.json").read_text())["tls"]
    with socket.create_connection(("127.0.0.1", fc.port), timeout=3) as raw:
        with pytest.raises(ssl.SSLCertVerificationError) as refused:
            fc.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")
    assert (refused.value.verify_code, refused.value.verify_message) == (
        expected["verify_code"], expected["verify_message"])


# --- the control plane's own writes refused (webhook-on-binding, webhook-on-leases) -----------------

def _scheduled(pod: dict) -> dict:
    return next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")


def test_webhook_on_binding_replay(replay):
    fc, client = replay("webhook-on-binding")
    responses = recorded("webhook-on-binding")
    configurations = client.get("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations").json
    assert configurations["items"] == responses["webhook_configurations"]["body"]["items"]
    assert client.get("/api/v1/namespaces/demo/pods").json["items"] == responses["pods_demo"]["body"]["items"]
    events = {e["metadata"]["name"]: e for e in client.get("/api/v1/namespaces/demo/events").json["items"]}
    assert events == {e["metadata"]["name"]: e for e in responses["events_demo"]["body"]["items"]}
    fc.advance(40)
    # The scheduler keeps failing to bind the two unbound pods, with the recorded message; the
    # repeats only count in its events' series.
    assert fc.scheduler.attempt_results["error"] >= 4
    for pod in responses["pods_demo"]["body"]["items"]:
        now = fc.store.get("pods", "demo", pod["metadata"]["name"])
        assert now["spec"].get("nodeName") == pod["spec"].get("nodeName")
        assert _scheduled(now) == _scheduled(pod)
    assert {e["metadata"]["name"] for e in fc.store.scan("events", "demo")} == set(events)


def test_webhook_on_leases_replay(replay):
    fc, client = replay("webhook-on-leases")
    responses = recorded("webhook-on-leases")
    configurations = client.get("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations").json
    assert configurations["items"] == responses["webhook_configurations"]["body"]["items"]
    leases = responses["leases_kube_system"]["body"]["items"]
    fc.advance(60)
    assert client.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases").json["items"] == leases
    assert fc.controller_manager.running and fc.scheduler.running
    assert not fc.controller_manager.elector.leader and not fc.scheduler.elector.leader
    # What the processes' tries meet: the recorded webhook, bounded by the client's ?timeout=5s.
    refusal = fc.scheduler.elector.writes.update("leases", fc.store.get("leases", "kube-system", "kube-scheduler"))
    assert refusal.message == ('Internal error occurred: failed calling webhook "lease.audit.example.org": failed to '
                               'call webhook: Post "https://127.0.0.1:46965/mutate?timeout=5s": context deadline exceeded')
    node_lease = fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"]
    assert parse_time(node_lease) > parse_time(responses["leases_kube_node_lease"]["body"]["items"][0]["spec"]["renewTime"])
