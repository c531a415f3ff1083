"""REST semantics: lists, selectors, pagination, metadata-only and Table answers, writes."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.fakecluster import FakeCluster

from .kube_http import Client

pytestmark = pytest.mark.network

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
TABLE = "application/json;as=Table;g=meta.k8s.io;v=v1"


@pytest.fixture
def pods(fc):
    """20 pods in demo over three nodes (and unscheduled), a few Running, two Terminating."""
    for index in range(20):
        fc.add_pod("demo", f"p-{index:02d}", node_name=["node-a", "node-b", None, "node-c"][index % 4],
                   phase="Running" if index % 5 == 0 else "Pending", labels={"app": "web", "n": str(index % 3)},
                   scheduler_name="elsewhere")
    fc.lose_node("node-c")
    fc.add_pod("other", "gone", node_name="node-c", deleted_seconds_ago=600, finalizers=("x/y",))
    return fc


def names(answer) -> list[str]:
    return [item["metadata"]["name"] for item in answer.json["items"]]


def test_get_and_404(admin):
    node = admin.get("/api/v1/nodes/node-a").json
    assert node["kind"] == "Node" and node["apiVersion"] == "v1"
    missing = admin.get("/api/v1/namespaces/demo/pods/x")
    assert missing.status == 404
    assert missing.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": 'pods "x" not found', "reason": "NotFound",
                            "details": {"name": "x", "kind": "pods"}, "code": 404}
    assert admin.get("/apis/apps/v1/namespaces/demo/deployments/x").json["details"] == {
        "name": "x", "group": "apps", "kind": "deployments"}


def test_unknown_paths_are_404(admin):
    for path in ("/api/v1/widgets", "/apis/example.com/v1/things", "/nope", "/api/v1/namespaces/demo/nodes"):
        answer = admin.get(path)
        assert answer.status == 404, path
        assert answer.json["message"] == "the server could not find the requested resource"


def test_list_shape_and_items_without_type(pods, admin):
    body = admin.get("/api/v1/namespaces/demo/pods").json
    assert body["kind"] == "PodList" and body["apiVersion"] == "v1"
    assert int(body["metadata"]["resourceVersion"]) > 0
    assert "kind" not in body["items"][0]
    assert names(admin.get("/api/v1/namespaces/demo/pods")) == sorted(names(admin.get("/api/v1/namespaces/demo/pods")))
    assert len(body["items"]) == 20


def test_field_selectors(pods, admin):
    def query(selector: str, path: str = "/api/v1/pods") -> list[str]:
        return names(admin.get(f"{path}?fieldSelector={quote(selector)}"))

    assert query("spec.nodeName=") == [f"p-{i:02d}" for i in range(2, 20, 4)]
    assert query("spec.nodeName=node-a") == [f"p-{i:02d}" for i in range(0, 20, 4)]
    assert query("spec.nodeName=node-a,status.phase=Running") == ["p-00"]
    assert query("status.phase!=Pending,metadata.namespace=demo") == ["p-00", "p-05", "p-10", "p-15"]
    assert query("spec.schedulerName=default-scheduler") == ["gone"]
    assert query("metadata.name==p-03") == ["p-03"]
    bad = admin.get("/api/v1/pods?fieldSelector=spec.foo%3Dbar")
    assert bad.status == 400 and bad.json["message"] == "field label not supported: spec.foo"


def test_label_selectors(pods, admin):
    def query(selector: str) -> list[str]:
        return names(admin.get(f"/api/v1/namespaces/demo/pods?labelSelector={quote(selector)}"))

    assert len(query("app=web")) == 20 and len(query("app==web")) == 20
    assert query("n=0") == query("n in (0)")
    assert len(query("n in (0,1)")) + len(query("n notin (0,1)")) == 20
    assert len(query("n!=2")) == len(query("n in (0,1)"))
    assert query("missing") == [] and len(query("!missing")) == 20
    assert len(query("app,n=1")) == len(query("n=1"))
    assert admin.get("/api/v1/pods?labelSelector=" + quote("a in (b")).status == 400


def test_pagination_with_continue_and_remaining_count(pods, admin):
    first = admin.get("/api/v1/namespaces/demo/pods?limit=7").json
    assert len(first["items"]) == 7 and first["metadata"]["remainingItemCount"] == 13
    collected = [item["metadata"]["name"] for item in first["items"]]
    page = first
    while page["metadata"].get("continue"):
        page = admin.get(f"/api/v1/namespaces/demo/pods?limit=7&continue={page['metadata']['continue']}").json
        collected += [item["metadata"]["name"] for item in page["items"]]
    assert collected == [f"p-{i:02d}" for i in range(20)]
    assert "remainingItemCount" not in page["metadata"]
    filtered = admin.get("/api/v1/pods?limit=2&labelSelector=n%3D1").json
    assert len(filtered["items"]) == 2 and "continue" in filtered["metadata"]
    assert "remainingItemCount" not in filtered["metadata"]
    assert admin.get("/api/v1/pods?limit=5&continue=%%%").status == 400


def test_resource_version_zero_and_timeout_are_accepted(admin):
    assert len(admin.get("/api/v1/nodes?resourceVersion=0&timeoutSeconds=5").json["items"]) == 3


def test_metadata_only_lists_and_gets(pods, admin):
    body = admin.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-c", accept=METADATA_LIST)
    assert body.headers["Content-Type"] == "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
    assert body.json["kind"] == "PartialObjectMetadataList" and body.json["apiVersion"] == "meta.k8s.io/v1"
    item = body.json["items"][0]
    assert item["kind"] == "PartialObjectMetadata" and set(item) == {"kind", "apiVersion", "metadata"}
    gone = next(i for i in body.json["items"] if i["metadata"]["name"] == "gone")
    assert gone["metadata"]["finalizers"] == ["x/y"] and gone["metadata"]["deletionTimestamp"]
    single = admin.get("/api/v1/nodes/node-a", accept="application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
    assert single.json["kind"] == "PartialObjectMetadata" and single.json["metadata"]["name"] == "node-a"
    # A list-typed Accept on a single object falls back to the next clause, as on a real apiserver.
    assert admin.get("/api/v1/nodes/node-a", accept=METADATA_LIST).json["kind"] == "Node"
    assert admin.get("/api/v1/nodes", accept="application/vnd.kubernetes.protobuf").status == 406


def test_pod_table(pods, admin):
    body = admin.get("/api/v1/pods?limit=30", accept=TABLE).json
    assert body["kind"] == "Table" and body["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in body["columnDefinitions"]] == [
        "Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    rows = {row["cells"][0]: row for row in body["rows"]}
    assert rows["gone"]["cells"][2] == "Terminating"
    assert rows["p-00"]["cells"][1:4] == ["1/1", "Running", "0"] and rows["p-00"]["cells"][6] == "node-a"
    assert rows["p-02"]["cells"][2] == "Pending" and rows["p-02"]["cells"][6] == "<none>"
    assert rows["p-00"]["object"]["kind"] == "PartialObjectMetadata"
    assert rows["p-00"]["object"]["metadata"]["name"] == "p-00"


def test_table_include_object_and_pagination(pods, admin):
    none = admin.get("/api/v1/namespaces/demo/pods?includeObject=None&limit=5", accept=TABLE).json
    assert none["rows"][0]["object"] is None and none["metadata"]["continue"]
    rest = admin.get(f"/api/v1/namespaces/demo/pods?limit=50&continue={none['metadata']['continue']}",
                     accept=TABLE).json
    assert len(none["rows"]) + len(rest["rows"]) == 20
    full = admin.get("/api/v1/namespaces/demo/pods?includeObject=Object&limit=1", accept=TABLE).json
    assert full["rows"][0]["object"]["kind"] == "Pod" and "spec" in full["rows"][0]["object"]


def test_node_table(fc, admin):
    fc.lose_node("node-c")
    fc.advance(45)
    rows = {row["cells"][0]: row["cells"] for row in admin.get("/api/v1/nodes", accept=TABLE).json["rows"]}
    assert rows["node-a"][1] == "Ready" and rows["node-c"][1] == "Unknown"
    assert rows["node-a"][4] == "v1.31.0"


def test_unknown_status_for_nodelost_pods(fc, admin):
    fc.lose_node("node-c")
    pod = fc.add_pod("demo", "lost", node_name="node-c", deleted_seconds_ago=5)
    fc.store.mutate("pods", "demo", "lost", lambda p: p["status"].update(reason="NodeLost"))
    row = admin.get("/api/v1/namespaces/demo/pods/lost", accept=TABLE).json["rows"][0]
    assert row["cells"][2] == "Unknown" and pod["metadata"]["name"] == "lost"


def test_create_conflicts_and_namespace_checks(admin):
    configmap = {"metadata": {"name": "c1"}, "data": {"a": "1"}}
    created = admin.post("/api/v1/namespaces/default/configmaps", configmap)
    assert created.status == 201 and created.json["kind"] == "ConfigMap" and created.json["metadata"]["uid"]
    again = admin.post("/api/v1/namespaces/default/configmaps", configmap)
    assert again.status == 409 and again.json["reason"] == "AlreadyExists"
    assert again.json["message"] == 'configmaps "c1" already exists'
    missing_ns = admin.post("/api/v1/namespaces/cpwatch-nope/configmaps", configmap)
    assert missing_ns.status == 404 and missing_ns.json["message"] == 'namespaces "cpwatch-nope" not found'
    generated = admin.post("/api/v1/namespaces/default/configmaps", {"metadata": {"generateName": "probe-"}})
    assert generated.json["metadata"]["name"].startswith("probe-") and len(generated.json["metadata"]["name"]) == 11
    assert admin.post("/api/v1/namespaces/default/configmaps", {"metadata": {}}).status == 422


def test_resource_versions_are_one_global_counter(admin):
    first = int(admin.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "a"}}).json["metadata"][
        "resourceVersion"])
    second = int(admin.post("/apis/apps/v1/namespaces/default/deployments", {
        "metadata": {"name": "d"}, "spec": {"replicas": 0, "selector": {"matchLabels": {"a": "b"}},
                                             "template": {"metadata": {"labels": {"a": "b"}},
                                                          "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
                            ).json["metadata"]["resourceVersion"])
    assert second > first


def test_patch_update_and_conflict(admin):
    path = "/api/v1/namespaces/cpwatch/configmaps/cpwatch-heartbeat"
    patched = admin.patch(path, {"data": {"written-at": "1"}}).json
    assert patched["data"] == {"written-at": "1"}
    lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a"
    lease = admin.get(lease_path).json
    lease["spec"]["holderIdentity"] = "someone"
    assert admin.put(lease_path, lease).status == 200
    stale = admin.put(lease_path, lease)
    assert stale.status == 409 and stale.json["reason"] == "Conflict"
    json_patch = admin.patch(path, [{"op": "replace", "path": "/data/written-at", "value": "2"}],
                             content_type="application/json-patch+json")
    assert json_patch.json["data"]["written-at"] == "2"
    assert admin.patch(path, {"data": {}}, content_type="text/plain").status == 415


def test_delete_semantics(fc, admin):
    admin.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "gone"}})
    deleted = admin.delete("/api/v1/namespaces/default/configmaps/gone").json
    assert deleted["kind"] == "Status" and deleted["status"] == "Success" and deleted["details"]["name"] == "gone"
    fc.add_pod("demo", "unscheduled", scheduler_name="none")
    assert admin.delete("/api/v1/namespaces/demo/pods/unscheduled").json["kind"] == "Pod"
    assert fc.store.get("pods", "demo", "unscheduled") is None
    fc.lose_node("node-c")
    fc.add_pod("demo", "bound", node_name="node-c")
    graceful = admin.delete("/api/v1/namespaces/demo/pods/bound", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                                    "gracePeriodSeconds": 5}).json
    assert graceful["metadata"]["deletionGracePeriodSeconds"] == 5
    assert fc.store.get("pods", "demo", "bound")["metadata"]["deletionTimestamp"]
    forced = admin.delete("/api/v1/namespaces/demo/pods/bound?gracePeriodSeconds=0")
    assert forced.status == 200 and fc.store.get("pods", "demo", "bound") is None
    assert admin.delete("/api/v1/namespaces/demo/pods/bound").status == 404


def test_deletecollection(fc, admin):
    for name in ("a", "b"):
        fc.add_pod("cpwatch", name, labels={"app.kubernetes.io/managed-by": "cpwatch"}, scheduler_name="none")
    answer = admin.delete("/api/v1/namespaces/cpwatch/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcpwatch")
    assert answer.status == 200 and [i["metadata"]["name"] for i in answer.json["items"]] == ["a", "b"]
    assert fc.store.list("pods", "cpwatch") == []


def test_namespaces_and_discovery(admin):
    namespaces = names(admin.get("/api/v1/namespaces"))
    assert {"cpwatch", "default", "kube-node-lease", "kube-public", "kube-system"} <= set(namespaces)
    assert admin.get("/api/v1/namespaces/cpwatch").json["status"]["phase"] == "Active"
    assert "coordination.k8s.io" in {g["name"] for g in admin.get("/apis").json["groups"]}
    assert "leases" in {r["name"] for r in admin.get("/apis/coordination.k8s.io/v1").json["resources"]}


def test_infra_objects_are_installed_from_the_manifests(admin):
    deployment = admin.get("/apis/apps/v1/namespaces/cpwatch/deployments/cpwatch-canary").json
    assert deployment["spec"]["replicas"] == 0 and deployment["spec"]["revisionHistoryLimit"] == 0
    assert deployment["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "cpwatch"}
    assert admin.get("/api/v1/namespaces/cpwatch/serviceaccounts/cpwatch-canary").json[
        "automountServiceAccountToken"] is False
    assert admin.get("/api/v1/namespaces/cpwatch/configmaps/cpwatch-heartbeat").json["data"] == {"written-at": ""}


def test_request_log(fc, admin):
    fc.clear_requests()
    admin.get("/api/v1/pods?fieldSelector=spec.nodeName%3D")
    (record,) = fc.requests
    assert record.method == "GET" and record.path == "/api/v1/pods?fieldSelector=spec.nodeName%3D"
    assert record.status == 200 and record.bytes_sent > 0 and record.user == "kubernetes-admin"


def test_date_header_follows_the_simulated_clock(fc, admin):
    fc.advance(3600)
    answer = admin.get("/version")
    from tests.fakecluster.clock import parse_http_date

    assert abs((parse_http_date(answer.headers["Date"]) - fc.clock.now()).total_seconds()) < 2


def test_keep_alive_reuses_one_connection(fc):
    import urllib3

    pool = urllib3.HTTPSConnectionPool("127.0.0.1", fc.port, ssl_context=fc.ssl_context(), maxsize=1,
                                       assert_hostname="127.0.0.1")
    headers = {"Authorization": f"Bearer {fc.admin_token}"}
    for _ in range(5):
        assert pool.request("GET", "/livez", headers=headers).status == 200
    assert pool.num_connections == 1
    pool.close()


def test_store_api_for_tests():
    with FakeCluster(nodes=2, install_infra=False) as fc:
        fc.store.put("configmaps", {"metadata": {"name": "x", "namespace": "default"}, "data": {}})
        copy = fc.store.get("configmaps", "default", "x")
        copy["data"]["mutated"] = "1"
        assert fc.store.get("configmaps", "default", "x")["data"] == {}
        assert fc.store.list("namespaces", field_selector="metadata.name=cpwatch") == []
        assert Client(fc).get("/api/v1/namespaces/default/configmaps/x").json["kind"] == "ConfigMap"
