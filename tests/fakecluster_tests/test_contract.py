"""The fake in simulated mode, with each recorded failure switched on, answers like the real
control plane did: the same status codes per request, the same health text lines, the same
shapes and formats in every field cpwatch reads, the same refusals (webhooks, etcd's space
quota) with their variable parts (ports, generated names) normalised, the same waits, the same
TLS verification errors, and the same /metrics size lines."""

from __future__ import annotations

import json
import re
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_http_date, parse_time
from tests.fakecluster.components.etcd import Etcd
from tests.fakecluster.scenarios import LEASE_READS, SCENARIOS

from .kube_http import Answer, Client, recorded_error_kind

pytestmark = pytest.mark.network

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "real-control-plane"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CLIENT_TIMEOUT = 1.5  # the recording's client waited 8 s; the fake's timings are scaled down (health 0.2 s, hung reads 5 s): a wide margin on a busy machine
# Scenarios whose write timings the fake scales down (its etcd_write_fail_delay): their writes
# carry ?timeout=1s instead of the recorded 5s.
SCALED_WRITES = frozenset({"etcd-quorum-lost"})
# Recorded answers that did not come from the apiserver.
NOT_APISERVER = frozenset({"etcd_member_health", "scheduler_log_lines", "controller_manager_log_lines"})
# Requests whose path is the recorded one (the webhook configurations are validating or mutating).
RECORDED_PATHS = frozenset({"webhook_configurations"})
LEASES_KUBE_SYSTEM = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"

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
    "write_configmap": ("POST", "/api/v1/namespaces/default/configmaps?timeout=5s",
                        {"metadata": {"name": "probe-1"}, "data": {"t": "1"}}),
    "write_configmap_no_timeout": ("POST", "/api/v1/namespaces/default/configmaps",
                                   {"metadata": {"name": "probe-2"}, "data": {"t": "2"}}),
    "webhook_configurations": ("GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", None),
    "apiservice": ("GET", "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io", None),
    "apiservices": ("GET", "/apis/apiregistration.k8s.io/v1/apiservices", None),
    "group_discovery": ("GET", "/apis/metrics.k8s.io/v1beta1", None),
    "hpa_web": ("GET", "/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers/web", None),
    "metrics_etcd_size_lines": ("GET", "/metrics", None),
    "pods_demo": ("GET", "/api/v1/namespaces/demo/pods", None),
    "events_demo": ("GET", "/api/v1/namespaces/demo/events", None),
}


def load(name: str) -> dict:
    return recording(name).get("responses") or {}


def recording(name: str) -> dict:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


def normalised(body: object) -> object:
    """A body with its run-specific parts replaced: ports, generated canary names."""
    text = json.dumps(body, sort_keys=True)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    return json.loads(re.sub(r"canary-\d+", "canary-<n>", text))


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


def write_timeout(recorded: dict) -> float:
    """Client timeout of a write: 3 s, or longer where the recorded apiserver took longer."""
    return max(3.0, (recorded.get("seconds") or 0) + 2.0) if recorded.get("status") is not None else 3.0


def issue(fc: FakeCluster, name: str, recorded: dict) -> dict[str, Answer]:
    client = Client(fc)
    answers = run_canaries(client) if "canary_pod_create" in recorded else {}

    def send(key: str) -> Answer:
        method, path, body = REQUESTS[key]
        if key in RECORDED_PATHS:
            path = recorded[key]["request"].split(" ")[1]
        if name in SCALED_WRITES:
            path = path.replace("?timeout=5s", "?timeout=1s")
        return client.request(method, path, body,
                              timeout=write_timeout(recorded[key]) if method == "POST" else CLIENT_TIMEOUT)

    # Concurrently: with the apiserver hung or etcd without quorum each request waits for its timeout.
    keys = [key for key in recorded if key in REQUESTS]
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        answers.update(zip(keys, pool.map(send, keys)))
    return answers


# Scenarios recorded as HTTP answers (apiserver-cert-expired has only a TLS handshake).
HTTP_SCENARIOS = sorted(name for name in SCENARIOS if load(name))


@pytest.fixture(scope="module", params=HTTP_SCENARIOS)
def scenario(request) -> tuple[str, dict, dict[str, Answer]]:
    name = request.param
    recorded = load(name)
    with FakeCluster(nodes=3, demo_objects=True, etcd_health_delay=0.2, etcd_write_fail_delay=0.3,
                     read_hang_cap=5.0) as fc:
        timed: dict[str, Answer] = {}
        if any(key in recorded for key in LEASE_READS):
            # The recording read the kube-system Leases again at these moments of its scenario.
            SCENARIOS[name](fc, read=lambda key: timed.update({key: Client(fc).get(LEASES_KUBE_SYSTEM)}))
        else:
            SCENARIOS[name](fc)
        answers = {**timed, **issue(fc, name, recorded)}
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
        if key in NOT_APISERVER:
            continue
        answer = answers[key]
        if response["status"] is None:
            assert answer.status is None, (key, answer)
            assert answer.error == recorded_error_kind(response["error"]), (key, answer.error, response["error"])
        else:
            assert answer.status == response["status"], (key, answer.status, answer.body)


def test_every_answer_has_a_date_and_content_type(scenario):
    name, recorded, answers = scenario
    for key, response in recorded.items():
        if response.get("status") is not None and key not in NOT_APISERVER:
            answer = answers[key]
            if response.get("content_type"):  # the /metrics excerpt was recorded without it
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


def _identity_lease(lease: dict) -> bool:
    return "apiserver.kubernetes.io/identity" in (lease["metadata"].get("labels") or {})


def test_leases(scenario):
    for key, response, answer in pairs(scenario, "leases_kube_system", "leases_kube_node_lease"):
        assert answer.json["kind"] == "LeaseList"
        # The recorded control plane (1.24) had no apiserver identity Leases (1.26+; see
        # test_apiserver_identity.py); every other Lease looks alike.
        ours = {lease["metadata"]["name"]: _lease_view(lease, server_time(answer)) for lease in answer.json["items"]
                if not _identity_lease(lease)}
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


def _message_shape(message: str) -> str:
    """A scheduler message without its run-specific parts: ports, generated pod names, nodes."""
    message = re.sub(r"127\.0\.0\.1:\d+/\w+", "127.0.0.1:<port>/<path>", message)
    message = re.sub(r"web-855569f7b9-[a-z0-9]{5}", "web-<pod>", message)
    return re.sub(r"\bnode-[a-z]\b", "<node>", message)


BINDING_REFUSED = re.compile(r'^binding rejected: running Bind plugin "DefaultBinder": Internal error occurred: '
                             r'failed calling webhook "[^"]+": failed to call webhook: Post "[^"]+\?timeout=\d+s": .+$')


def test_failed_scheduling_events(scenario):
    _, recorded, _ = scenario
    for key, response, answer in pairs(scenario, "events_failed_scheduling"):
        recorded_fields = {frozenset(event) for event in response["body"]["items"]}
        assert all(frozenset(event) in recorded_fields for event in answer.json["items"])
        for event in answer.json["items"]:
            assert event["reason"] == "FailedScheduling" and MICRO_TIME.match(event["eventTime"])
            assert re.match(r"^0/3 nodes are available: .*\.$", event["message"]) or BINDING_REFUSED.match(
                event["message"]), event["message"]
        # Refused bindings (webhook-on-binding): the same messages, ports aside, for the pods that
        # still exist (webhook-on-leases, recorded next on the same cluster, kept the events of
        # webhook-on-binding's pods, since deleted).
        existing = {pod["metadata"]["name"] for pod in (recorded.get("pods_all") or {}).get("body", {}).get("items", [])}
        theirs = {_message_shape(e["message"]) for e in response["body"]["items"]
                  if BINDING_REFUSED.match(e["message"]) and e["involvedObject"]["name"] in existing}
        ours = {_message_shape(e["message"]) for e in answer.json["items"] if BINDING_REFUSED.match(e["message"])}
        assert ours == theirs


def test_demo_pods(scenario):
    """Every pod of namespace demo looks like one of the recording's, as many of each kind:
    webhook-on-binding's bound ones keep PodScheduled=True, the refused ones SchedulerError."""
    for key, response, answer in pairs(scenario, "pods_demo"):
        def kinds(body):
            views = []
            for pod in body["items"]:
                view = _pod_view(pod)
                view["conditions"] = [tuple(_message_shape(part) if isinstance(part, str) else part for part in c)
                                      for c in view["conditions"]]
                views.append(json.dumps(view, sort_keys=True))
            return sorted(views)
        assert kinds(answer.json) == kinds(response["body"])


def _scheduler_event_view(event: dict) -> tuple:
    return (event["reason"], event["type"], event.get("action"), _message_shape(event["message"]),
            tuple(sorted(event)), tuple(sorted(event.get("series") or {})), json.dumps(event["source"]),
            event["firstTimestamp"], event["lastTimestamp"])


def test_scheduler_events(scenario):
    """The scheduler's events in namespace demo (events.k8s.io events: eventTime, action,
    reportingComponent, series) look like the recorded ones, and each pod whose binding was
    refused has a first event and then a series of one, as the events library makes them. The
    recording's events of other controllers (ReplicaSet, Deployment, HPA) are not modelled."""
    for key, response, answer in pairs(scenario, "events_demo"):
        def scheduler_events(body):
            return [e for e in body["items"] if e.get("reportingComponent") == "default-scheduler"]
        ours, theirs = scheduler_events(answer.json), scheduler_events(response["body"])
        assert {_scheduler_event_view(e) for e in ours} <= {_scheduler_event_view(e) for e in theirs}
        assert {_scheduler_event_view(e) for e in theirs if e["reason"] == "FailedScheduling"} <= {
            _scheduler_event_view(e) for e in ours}
        for event in ours:
            assert MICRO_TIME.match(event["eventTime"]) and re.fullmatch(
                rf"{re.escape(event['involvedObject']['name'])}\.[0-9a-f]{{16}}", event["metadata"]["name"])

        def series_per_pod(events):
            per_pod: dict[str, list] = {}
            for event in sorted(events, key=lambda e: e["eventTime"]):
                if BINDING_REFUSED.match(event["message"]):
                    per_pod.setdefault(event["involvedObject"]["name"], []).append(
                        (event.get("series") or {}).get("count"))
            return sorted(per_pod.values())
        assert series_per_pod(ours) == series_per_pod(theirs)


@pytest.mark.parametrize("scenario", sorted(name for name in HTTP_SCENARIOS if set(LEASE_READS) & set(load(name))),
                         indirect=True)
def test_leader_leases_stay_as_they_were(scenario):
    """webhook-on-leases: 15, 45, 75 and 76 s after the webhook appeared both leader Leases have
    the holder, renewTime and transitions they had when it appeared: nobody renews or takes them."""
    _, recorded, answers = scenario
    keys = [key for key in LEASE_READS if key in recorded]

    def snapshot(body):
        return {lease["metadata"]["name"]: lease["spec"] for lease in body["items"] if not _identity_lease(lease)}
    for source in ("recorded", "ours"):
        snapshots = []
        for key in [*keys, "leases_kube_system"]:
            body, date = (recorded[key]["body"], server_time(recorded[key])) if source == "recorded" else (
                answers[key].json, server_time(answers[key]))
            snapshots.append(snapshot(body))
            if key in LEASE_READS:
                for spec in snapshot(body).values():
                    age = (date - parse_time(spec["renewTime"])).total_seconds()
                    assert LEASE_READS[key] - 1.5 <= age <= LEASE_READS[key] + 3, (source, key, age)
        assert sorted(snapshots[0]) == ["kube-controller-manager", "kube-scheduler"], source
        assert all(other == snapshots[0] for other in snapshots), source


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
            assert normalised(ours) == normalised(response["body"])


def test_refused_canaries(scenario):
    """Canary writes refused (webhook, etcd's quota) are refused with the recorded Status."""
    _, recorded, answers = scenario
    for key in ("canary_pod_create", "canary_deploy_patch", "canary_namespace_create"):
        response = recorded.get(key)
        if response and (response["status"] or 0) >= 400:
            assert normalised(answers[key].json) == normalised(response["body"]), key


def test_waits(scenario):
    """A write the recorded apiserver held (a hanging webhook's timeoutSeconds) is held as long;
    one it answered at once is answered at once."""
    name, recorded, answers = scenario
    if name in SCALED_WRITES:
        pytest.skip("this scenario's waits are scaled down (etcd_write_fail_delay)")
    for key in ("write_configmap", "canary_pod_create"):
        response = recorded.get(key)
        if not response or response["status"] is None:
            continue
        if response["seconds"] >= 1:
            assert response["seconds"] - 0.1 <= answers[key].seconds <= response["seconds"] + 1.5, key
        else:
            assert answers[key].seconds < 1, key


def _hook_view(hook: dict) -> dict:
    return {**{key: value for key, value in hook.items() if key != "clientConfig"},
            "clientConfig": sorted(hook["clientConfig"])}


def test_webhook_configurations(scenario):
    for key, response, answer in pairs(scenario, "webhook_configurations"):
        ours, theirs = answer.json, response["body"]
        assert (ours["kind"], ours["apiVersion"]) == (theirs["kind"], theirs["apiVersion"])
        assert [item["metadata"]["name"] for item in ours["items"]] == [
            item["metadata"]["name"] for item in theirs["items"]]
        for mine, recorded_item in zip(ours["items"], theirs["items"]):
            assert set(mine["metadata"]) == set(recorded_item["metadata"]) - {"managedFields"}
            assert [_hook_view(hook) for hook in mine["webhooks"]] == [
                _hook_view(hook) for hook in recorded_item["webhooks"]]


def _available(apiservice: dict) -> tuple:
    (condition,) = apiservice["status"]["conditions"]
    return condition["type"], condition["status"], condition["reason"], condition["message"]


def test_apiservices(scenario):
    for key, response, answer in pairs(scenario, "apiservice"):
        ours, theirs = answer.json, response["body"]
        assert (ours["kind"], ours["spec"], _available(ours)) == (theirs["kind"], theirs["spec"], _available(theirs))
        assert set(ours["metadata"]) == set(theirs["metadata"]) - {"managedFields"}
    for key, response, answer in pairs(scenario, "apiservices"):
        def view(body):
            return {item["metadata"]["name"]: (_available(item), json.dumps(item["metadata"].get("labels")),
                                               tuple(sorted(item["spec"])))
                    for item in body["items"]}
        ours, theirs = view(answer.json), view(response["body"])
        assert answer.json["kind"] == "APIServiceList"
        # The built-in group/versions differ between 1.24 and 1.31; the local ones look alike
        # (the core group's has no spec.group) and the aggregated ones are the same.
        assert {value for value in ours.values() if value[1] != "null"} == {
            value for value in theirs.values() if value[1] != "null"}
        assert {name: value for name, value in ours.items() if value[1] == "null"} == {
            name: value for name, value in theirs.items() if value[1] == "null"}


def test_unavailable_group_discovery(scenario):
    _, recorded, answers = scenario
    response = recorded.get("group_discovery")
    if response:
        answer = answers["group_discovery"]
        assert (answer.status, answer.headers["Content-Type"], answer.body) == (
            response["status"], response["content_type"], response["body"])


def test_hpa_conditions(scenario):
    for key, response, answer in pairs(scenario, "hpa_web"):
        def view(hpa):
            return [(c["type"], c["status"], c["reason"], c["message"]) for c in hpa["status"]["conditions"]]
        assert view(answer.json) == view(response["body"])
        assert set(answer.json["status"]) == set(response["body"]["status"])


SIZE_LINE = re.compile(r'^(?P<name>[a-z_]+)\{(?P<label>[a-z_]+)="(?P<value>[^"]+)"\} (?P<size>\d+)$')


def test_metrics_has_the_size_series_of_its_version(scenario):
    """/metrics is Prometheus text with a HELP and TYPE gauge for the size series, and under
    NOSPACE a size past the quota, as recorded."""
    name, recorded, answers = scenario
    if "metrics_etcd_size_lines" not in recorded:
        pytest.skip("no /metrics in this recording")
    lines = answers["metrics_etcd_size_lines"].body.splitlines()
    series = [SIZE_LINE.match(line) for line in lines if line.startswith("apiserver_storage_size_bytes")]
    assert "# TYPE apiserver_storage_size_bytes gauge" in lines and len(series) == 1 and series[0]
    assert series[0]["label"] == "storage_cluster_id" and series[0]["value"] == "etcd-0"
    assert int(series[0]["size"]) > Etcd().quota_bytes
    recorded_sizes = [int(SIZE_LINE.match(line)["size"]) for line in recorded["metrics_etcd_size_lines"]["lines"]
                      if not line.startswith("#")]
    quota = int(re.search(r"--quota-backend-bytes=(\d+)", recording(name)["note"]).group(1))
    assert all(size > quota for size in recorded_sizes)


CANARY_SCENARIOS = sorted(name for name in HTTP_SCENARIOS if "canary_pod_create" in load(name))


def _succeeded(recorded: dict, key: str) -> bool:
    return recorded[key]["status"] in (200, 201)


@pytest.mark.parametrize("scenario", CANARY_SCENARIOS, indirect=True)
def test_canaries(scenario):
    # Which canaries succeeded is test_status_codes'; here: the succeeded ones look alike.
    _, recorded, answers = scenario
    if _succeeded(recorded, "canary_pod_after"):
        pod, theirs = answers["canary_pod_after"].json, recorded["canary_pod_after"]["body"]
        assert _pod_view(pod)["conditions"] == _pod_view(theirs)["conditions"]
    ours_deploy, theirs_deploy = answers["canary_deploy_after"].json, recorded["canary_deploy_after"]["body"]
    assert (ours_deploy["status"]["observedGeneration"] == ours_deploy["metadata"]["generation"]) == \
        (theirs_deploy["status"]["observedGeneration"] == theirs_deploy["metadata"]["generation"])
    if _succeeded(recorded, "canary_deploy_patch"):
        patched, theirs_patched = answers["canary_deploy_patch"].json, recorded["canary_deploy_patch"]["body"]
        assert patched["metadata"]["generation"] == patched["status"]["observedGeneration"] + 1
        assert theirs_patched["metadata"]["generation"] == theirs_patched["status"]["observedGeneration"] + 1
    if _succeeded(recorded, "canary_namespace_create"):
        namespace = answers["canary_namespace_create"].json
        assert namespace["spec"] == recorded["canary_namespace_create"]["body"]["spec"]
        assert namespace["status"] == recorded["canary_namespace_create"]["body"]["status"]
    sa, theirs_sa = answers["canary_sa_after"], recorded["canary_sa_after"]
    if theirs_sa["status"] == 404:
        assert normalised(sa.json) == normalised(theirs_sa["body"])
    else:
        assert sa.json["kind"] == "ServiceAccount" and sa.json["metadata"]["name"] == "default"


# --- TLS ------------------------------------------------------------------------------------

def _handshake(fc: FakeCluster, context: ssl.SSLContext) -> ssl.SSLCertVerificationError:
    with socket.create_connection(("127.0.0.1", fc.port), timeout=3) as raw:
        with pytest.raises(ssl.SSLCertVerificationError) as refused:
            context.wrap_socket(raw, server_hostname="127.0.0.1")
    return refused.value


@pytest.mark.parametrize("name", sorted(name for name in SCENARIOS if "tls" in recording(name)))
def test_tls_verification_errors(name):
    """The handshake fails as recorded: the cluster's CA gives the certificate's own fault
    (expired: 10), another CA gives `unable to get local issuer certificate` (20)."""
    recorded = recording(name)
    with FakeCluster(nodes=1) as fc:
        SCENARIOS[name](fc)
        own = _handshake(fc, ssl.create_default_context(cadata=fc.ca_pem))
        other = _handshake(fc, ssl.create_default_context(cadata=FakeCluster(nodes=1).ca_pem))
    for error, expected in ((own, recorded["tls"]), (other, recorded["tls_other_ca"])):
        assert type(error).__name__ == expected["error"]
        assert (error.verify_code, error.verify_message) == (expected["verify_code"], expected["verify_message"])


# --- /metrics ---------------------------------------------------------------------------------

def _port_free(line: str) -> str:
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", line)


@pytest.mark.parametrize("name", sorted(name for name in HTTP_SCENARIOS if "metrics_etcd_size_lines" in load(name)))
def test_metrics_size_lines_of_the_recorded_version(name):
    """Asked for the recorded version's series with the recorded sizes, /metrics has the
    recorded lines (etcd client ports aside), in Prometheus text format."""
    recorded = load(name)["metrics_etcd_size_lines"]
    metric = SIZE_LINE.match(next(line for line in recorded["lines"] if not line.startswith("#")))["name"]
    sizes = [int(SIZE_LINE.match(line)["size"]) for line in recorded["lines"] if not line.startswith("#")]
    with FakeCluster(nodes=1) as fc:
        fc.api.version = {**fc.api.version, "major": "", "minor": "", "gitVersion": "v1.24.0-alpha.3.4+a35ea3e7c5a9e7"}
        fc.set_etcd_db_size(sizes, metric=metric)
        answer = Client(fc).get("/metrics")
    assert answer.status == 200 and answer.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    ours = [line for line in answer.body.splitlines() if metric in line]
    assert [_port_free(line) for line in ours] == [_port_free(line) for line in recorded["lines"]]
    assert 300_000 < len(answer.body) < 2_000_000  # a real apiserver's is hundreds of KB
