"""The fake in simulated mode, with each recorded failure switched on, answers like the real
control plane did: the same status codes per request, the same health text lines, and the
same shapes and formats in every field cpwatch reads."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_http_date, parse_time
from tests.fakecluster.scenarios import SCENARIOS

from .kube_http import Answer, Client, recorded_error_kind

pytestmark = pytest.mark.network

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "real-control-plane"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CLIENT_TIMEOUT = 0.4  # the recording's client waited 8 s; the fake's timings are scaled down

# Requests of the recordings (key -> method, path, body); writes use a short ?timeout=.
REQUESTS = {
    "livez_verbose": ("GET", "/livez?verbose", None),
    "readyz_verbose": ("GET", "/readyz?verbose", None),
    "healthz": ("GET", "/healthz", None),
    "livez_etcd": ("GET", "/livez/etcd", None),
    "readyz_etcd": ("GET", "/readyz/etcd", None),
    "version": ("GET", "/version", None),
    "componentstatuses": ("GET", "/api/v1/componentstatuses", None),
    "leases_kube_system": ("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", None),
    "leases_kube_node_lease": ("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", None),
    "nodes": ("GET", "/api/v1/nodes", None),
    "nodes_rv0": ("GET", "/api/v1/nodes?resourceVersion=0", None),
    "pods_all": ("GET", "/api/v1/pods", None),
    "pods_pending": ("GET", "/api/v1/pods?fieldSelector=status.phase%3DPending", None),
    "hpas": ("GET", "/apis/autoscaling/v2/horizontalpodautoscalers", None),
    "events_failed_scheduling": ("GET", "/api/v1/events?fieldSelector=reason%3DFailedScheduling", None),
    "kube_system_pods": ("GET", "/api/v1/namespaces/kube-system/pods", None),
    "write_configmap": ("POST", "/api/v1/namespaces/default/configmaps?timeout=1s",
                        {"metadata": {"name": "probe-1"}, "data": {"t": "1"}}),
    "write_configmap_no_timeout": ("POST", "/api/v1/namespaces/default/configmaps",
                                   {"metadata": {"name": "probe-2"}, "data": {"t": "2"}}),
}


def load(name: str) -> dict:
    return json.loads((RECORDINGS / f"{name}.json").read_text())["responses"]


def run_canaries(client: Client) -> dict[str, Answer]:
    answers = {
        "canary_pod_create": client.post("/api/v1/namespaces/demo/pods", {
            "metadata": {"name": "canary-1"},
            "spec": {"containers": [{"name": "c", "image": "pause"}], "nodeSelector": {"cpwatch.io/never": "true"}}}),
        "canary_deploy_patch": client.patch("/apis/apps/v1/namespaces/demo/deployments/web",
                                            {"spec": {"template": {"metadata": {"annotations": {
                                                "cpwatch.io/probe": "1"}}}}}),
        "canary_namespace_create": client.post("/api/v1/namespaces", {"metadata": {"name": "canary-1"}}),
    }
    client.fc.advance(12)
    answers["canary_pod_after"] = client.get("/api/v1/namespaces/demo/pods/canary-1")
    answers["canary_deploy_after"] = client.get("/apis/apps/v1/namespaces/demo/deployments/web")
    answers["canary_sa_after"] = client.get("/api/v1/namespaces/canary-1/serviceaccounts/default")
    return answers


def issue(fc: FakeCluster, recorded: dict) -> dict[str, Answer]:
    client = Client(fc)
    answers = run_canaries(client) if "canary_pod_create" in recorded else {}

    def send(key: str) -> Answer:
        method, path, body = REQUESTS[key]
        return client.request(method, path, body, timeout=3.0 if method == "POST" else CLIENT_TIMEOUT)

    # Concurrently: with the apiserver hung or etcd without quorum each request waits for its timeout.
    keys = [key for key in recorded if key in REQUESTS]
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        answers.update(zip(keys, pool.map(send, keys)))
    return answers


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request) -> tuple[str, dict, dict[str, Answer]]:
    name = request.param
    recorded = load(name)
    with FakeCluster(nodes=3, demo_objects=True, etcd_health_delay=0.2, etcd_write_fail_delay=0.3,
                     read_hang_cap=5.0) as fc:
        SCENARIOS[name](fc)
        answers = issue(fc, recorded)
    return name, recorded, answers


def pairs(scenario, *keys):
    _, recorded, answers = scenario
    for key in keys:
        if key in recorded and recorded[key]["status"] == 200:
            assert answers[key].status == 200, (key, answers[key])
            yield key, recorded[key], answers[key]


def server_time(response: dict | Answer) -> datetime:
    date = response.headers["Date"] if isinstance(response, Answer) else response["date"]
    return parse_http_date(date)


def test_status_codes_and_failure_kinds(scenario):
    name, recorded, answers = scenario
    for key, response in recorded.items():
        answer = answers[key]
        if response["status"] is None:
            assert answer.status is None, (key, answer)
            assert answer.error == recorded_error_kind(response["error"]), (key, answer.error, response["error"])
        else:
            assert answer.status == response["status"], (key, answer.status, answer.body)


def test_every_answer_has_a_date_and_content_type(scenario):
    name, recorded, answers = scenario
    for key, response in recorded.items():
        if response["status"] is not None:
            answer = answers[key]
            assert answer.headers["Content-Type"] == response["content_type"], key
            assert parse_http_date(answer.headers["Date"]).tzinfo is not None


def _health_lines(text: str) -> tuple[frozenset[str], str]:
    lines = text.splitlines()
    return frozenset(line for line in lines if line.startswith(("[+]", "[-]"))), lines[-1]


def test_health_texts(scenario):
    _, recorded, answers = scenario
    for key in ("livez_verbose", "readyz_verbose", "healthz", "livez_etcd", "readyz_etcd"):
        response = recorded.get(key)
        if not response or response["status"] is None:
            continue
        ours = answers[key].body
        if "\n" in response["body"].strip():
            assert _health_lines(ours) == _health_lines(response["body"]), key
            assert ours.endswith("\n")
        else:
            assert ours == response["body"], key


def test_version_shape(scenario):
    for key, response, answer in pairs(scenario, "version"):
        assert set(answer.json) == set(response["body"])


def test_componentstatuses(scenario):
    for key, response, answer in pairs(scenario, "componentstatuses"):
        def view(body):
            return {item["metadata"]["name"]: (item["conditions"][0]["type"], item["conditions"][0]["status"],
                                              item["conditions"][0]["message"], item["metadata"])
                    for item in body["items"]}
        assert answer.json["kind"] == "ComponentStatusList" and answer.json["metadata"] == {}
        assert view(answer.json) == view(response["body"])


def _lease_view(lease: dict, now: datetime) -> dict:
    spec = lease["spec"]
    view = {"fields": sorted(spec), "duration": spec["leaseDurationSeconds"],
            "released": spec.get("holderIdentity") == ""}
    for field in ("renewTime", "acquireTime"):
        if field in spec:
            assert MICRO_TIME.match(spec[field]), spec[field]
    renewed = parse_time(spec["renewTime"])
    # The checker's rule: stale beyond max(3 x duration, 45 s).
    view["stale"] = (now - renewed).total_seconds() > max(3 * spec["leaseDurationSeconds"], 45)
    if "leaseTransitions" in spec:
        assert isinstance(spec["leaseTransitions"], int)
    return view


def test_leases(scenario):
    for key, response, answer in pairs(scenario, "leases_kube_system", "leases_kube_node_lease"):
        assert answer.json["kind"] == "LeaseList"
        ours = {lease["metadata"]["name"]: _lease_view(lease, server_time(answer)) for lease in answer.json["items"]}
        theirs = {lease["metadata"]["name"]: _lease_view(lease, server_time(response))
                  for lease in response["body"]["items"]}
        assert ours == theirs, key


def _node_view(node: dict, lease: dict | None, now: datetime) -> dict:
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert TIME.match(ready["lastHeartbeatTime"]) and TIME.match(ready["lastTransitionTime"])
    assert re.match(r"^aws:///us-east-1[a-z]/i-0[0-9a-f]{16}$", node["spec"]["providerID"])
    heartbeat = parse_time(ready["lastHeartbeatTime"])
    if lease:
        heartbeat = max(heartbeat, parse_time(lease["spec"]["renewTime"]))
    taints = node["spec"].get("taints", [])
    for taint in taints:
        assert TIME.match(taint["timeAdded"])
    return {"ready": (ready["status"], ready["reason"], ready["message"], sorted(ready)),
            "taints": sorted((t["key"], t["effect"]) for t in taints),
            "silent": (now - heartbeat).total_seconds() > 40}


def test_nodes(scenario):
    _, recorded, answers = scenario
    for key, response, answer in pairs(scenario, "nodes"):
        def view(body, leases_body, now):
            leases = {lease["metadata"]["name"]: lease for lease in (leases_body or {}).get("items", [])}
            return {node["metadata"]["name"]: _node_view(node, leases.get(node["metadata"]["name"]), now)
                    for node in body["items"]}
        ours = view(answer.json, answers["leases_kube_node_lease"].body, server_time(answer))
        theirs = view(response["body"], recorded["leases_kube_node_lease"]["body"], server_time(response))
        assert ours == theirs


def _pod_view(pod: dict) -> dict:
    metadata, spec, status = pod["metadata"], pod["spec"], pod["status"]
    if "deletionTimestamp" in metadata:
        assert TIME.match(metadata["deletionTimestamp"])
    return {
        "deleted": "deletionTimestamp" in metadata,
        "finalizers": metadata.get("finalizers", []),
        "nodeName": spec.get("nodeName"),
        "schedulerName": spec["schedulerName"],
        "phase": status["phase"],
        "conditions": sorted((c["type"], c["status"], c.get("reason"), c.get("message")) for c in
                             status.get("conditions", [])),
        "condition_fields": sorted(sorted(c) for c in status.get("conditions", [])),
    }


def test_pods(scenario):
    for key, response, answer in pairs(scenario, "pods_all", "pods_pending", "kube_system_pods"):
        ours = {pod["metadata"]["name"]: pod for pod in answer.json["items"]}
        theirs = {pod["metadata"]["name"]: pod for pod in response["body"]["items"]}
        assert answer.json["kind"] == "PodList"
        # Pods named alike (the unschedulable one, the orphans) must look alike; the orphan the
        # recording no longer has (removed by pod GC) must be gone here too.
        for name in ("nowhere", "orphan-1", "orphan-2"):
            assert (name in ours) == (name in theirs), (key, name)
            if name in theirs:
                assert _pod_view(ours[name]) == _pod_view(theirs[name]), (key, name)
        for pod in ours.values():
            _pod_view(pod)


def test_failed_scheduling_events(scenario):
    for key, response, answer in pairs(scenario, "events_failed_scheduling"):
        recorded_fields = {frozenset(event) for event in response["body"]["items"]}
        assert all(frozenset(event) in recorded_fields for event in answer.json["items"])
        for event in answer.json["items"]:
            assert event["reason"] == "FailedScheduling" and MICRO_TIME.match(event["eventTime"])
            assert re.match(r"^0/3 nodes are available: .*\.$", event["message"])


def test_writes(scenario):
    _, recorded, answers = scenario
    for key in ("write_configmap", "write_configmap_no_timeout"):
        response = recorded.get(key)
        if not response or response["status"] is None:
            continue
        ours = answers[key].json
        if response["status"] == 201:
            # managedFields are left out by the fake.
            assert ours["kind"] == "ConfigMap"
            assert set(ours["metadata"]) == set(response["body"]["metadata"]) - {"managedFields"}
        else:
            assert ours == response["body"]


CANARY_SCENARIOS = sorted(name for name in SCENARIOS if "canary_pod_create" in load(name))


@pytest.mark.parametrize("scenario", CANARY_SCENARIOS, indirect=True)
def test_canaries(scenario):
    _, recorded, answers = scenario
    pod, theirs = answers["canary_pod_after"].json, recorded["canary_pod_after"]["body"]
    assert _pod_view(pod)["conditions"] == _pod_view(theirs)["conditions"]
    ours_deploy, theirs_deploy = answers["canary_deploy_after"].json, recorded["canary_deploy_after"]["body"]
    assert (ours_deploy["status"]["observedGeneration"] == ours_deploy["metadata"]["generation"]) == \
        (theirs_deploy["status"]["observedGeneration"] == theirs_deploy["metadata"]["generation"])
    patched, theirs_patched = answers["canary_deploy_patch"].json, recorded["canary_deploy_patch"]["body"]
    assert patched["metadata"]["generation"] == patched["status"]["observedGeneration"] + 1
    assert theirs_patched["metadata"]["generation"] == theirs_patched["status"]["observedGeneration"] + 1
    namespace = answers["canary_namespace_create"].json
    assert namespace["spec"] == recorded["canary_namespace_create"]["body"]["spec"]
    assert namespace["status"] == recorded["canary_namespace_create"]["body"]["status"]
    sa, theirs_sa = answers["canary_sa_after"], recorded["canary_sa_after"]
    if theirs_sa["status"] == 404:
        assert sa.json == {**theirs_sa["body"]}
    else:
        assert sa.json["kind"] == "ServiceAccount" and sa.json["metadata"]["name"] == "default"
