"""Apiserver and etcd faults, at the socket level and in their recorded timings."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import urllib3

from tests.fakecluster import FakeCluster

pytestmark = pytest.mark.network

QUOTA_TIMEOUT = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": "Internal error occurred: resource quota evaluation timed out", "reason": "InternalError",
                 "details": {"causes": [{"message": "resource quota evaluation timed out"}]}, "code": 500}


def test_down_refuses_then_comes_back_on_the_same_port(fc, admin):
    port = fc.port
    fc.set_apiserver("down")
    assert admin.get("/livez").error == "refused"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    fc.set_apiserver("up")
    assert fc.port == port and admin.get("/livez").status == 200


def test_down_resets_open_keep_alive_connections(fc):
    pool = urllib3.HTTPSConnectionPool("127.0.0.1", fc.port, ssl_context=fc.ssl_context(), retries=False,
                                       assert_hostname="127.0.0.1", maxsize=1)
    headers = {"Authorization": f"Bearer {fc.admin_token}"}
    assert pool.request("GET", "/livez", headers=headers).status == 200
    assert pool.request("GET", "/readyz", headers=headers).status == 200
    fc.set_apiserver("down")
    with pytest.raises(urllib3.exceptions.HTTPError):
        pool.request("GET", "/livez", headers=headers, timeout=1)
    pool.close()


def test_hung_accepts_tcp_but_never_completes_tls(fc, admin):
    fc.set_apiserver("hung")
    with socket.create_connection(("127.0.0.1", fc.port), timeout=1):
        pass  # the TCP handshake completes
    started = time.monotonic()
    answer = admin.get("/livez", timeout=0.3)
    assert answer.error == "handshake-timeout"
    assert 0.25 < time.monotonic() - started < 2


def test_hung_also_freezes_open_connections_and_resumes(fc):
    pool = urllib3.HTTPSConnectionPool("127.0.0.1", fc.port, ssl_context=fc.ssl_context(), retries=False,
                                       assert_hostname="127.0.0.1", maxsize=1)
    headers = {"Authorization": f"Bearer {fc.admin_token}"}
    assert pool.request("GET", "/livez", headers=headers).status == 200
    fc.set_apiserver("hung")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        pool.request("GET", "/livez", headers=headers, timeout=0.3)
    fc.set_apiserver("up")
    assert pool.request("GET", "/livez", headers=headers, timeout=2).status == 200
    pool.close()


def test_slow_delays_every_answer(fc, admin):
    fc.set_apiserver("slow", delay=1.0)
    answer = admin.get("/version")
    assert answer.status == 200 and answer.seconds >= 1.0
    fc.set_apiserver("up")
    assert admin.get("/version").seconds < 1.0  # no longer held for the delay


def test_components_cannot_write_while_the_apiserver_is_down(fc):
    fc.set_apiserver("down")
    before = fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"]
    fc.advance(30)
    assert fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"] == before
    fc.set_apiserver("up")
    fc.advance(1)
    assert fc.store.get("leases", "kube-node-lease", "node-a")["spec"]["renewTime"] != before


def test_one_etcd_member_down_shows_only_in_componentstatuses(fc, admin):
    fc.stop_etcd_members(1)
    statuses = {item["metadata"]["name"]: item["conditions"][0] for item in
                admin.get("/api/v1/componentstatuses").json["items"]}
    assert statuses["etcd-0"]["status"] == "False"
    assert statuses["etcd-0"]["message"] == ('Get "http://127.0.0.1:23793/health": dial tcp 127.0.0.1:23793: '
                                             "connect: connection refused")
    assert statuses["etcd-1"] == {"type": "Healthy", "status": "True", "message": '{"health":"true"}'}
    assert admin.get("/readyz?verbose").status == 200
    assert admin.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x"}}).status == 201


def test_quorum_lost_health_fails_after_the_delay_and_version_answers_at_once(fc, admin):
    fc.stop_etcd_members(2)
    answer = admin.get("/livez?verbose")
    assert answer.status == 500 and answer.seconds >= 0.2
    assert "[-]etcd failed: reason withheld\n" in answer.body and answer.body.endswith("livez check failed\n")
    assert admin.get("/healthz").body.endswith("healthz check failed\n")
    etcd = admin.get("/livez/etcd")
    assert etcd.status == 500
    assert etcd.body == "internal server error: error getting data from etcd: context deadline exceeded\n"
    assert admin.get("/livez/ping").body == "ok"
    assert admin.get("/readyz?exclude=etcd").status == 200
    version = admin.get("/version")
    assert version.status == 200 and version.seconds < 0.2  # not held like the health checks (etcd_health_delay)


def test_quorum_lost_reads_hang_until_the_client_gives_up(fc, admin):
    fc.stop_etcd_members(2)
    for path in ("/api/v1/nodes?resourceVersion=0", "/api/v1/componentstatuses",
                 "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler"):
        answer = admin.get(path, timeout=0.3)
        assert answer.status is None and answer.error == "read-timeout", path


def test_quorum_lost_writes(fc, admin):
    fc.stop_etcd_members(2)
    started = time.monotonic()
    closed = admin.post("/api/v1/namespaces/default/configmaps?timeout=0.5s", {"metadata": {"name": "a"}}, timeout=3)
    assert closed.status is None and closed.error == "closed"
    assert 0.45 < time.monotonic() - started < 3  # closed at ?timeout=, before the client's own timeout
    failed = admin.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "b"}}, timeout=3)
    assert failed.status == 500 and failed.body == QUOTA_TIMEOUT and failed.seconds >= 0.3
    assert fc.requests[-2].status is None
    assert fc.store.get("configmaps", "default", "a") is None


def test_quorum_restored_releases_a_hanging_read(fc, admin):
    fc.stop_etcd_members(2)
    threading.Timer(0.3, fc.stop_etcd_members, args=(0,)).start()
    answer = admin.get("/api/v1/nodes", timeout=3)
    assert answer.status == 200 and answer.seconds >= 0.25


def test_quorum_lost_leaders_lose_their_leases_and_take_over_after(fc, admin):
    fc.stop_etcd_members(2)
    before = fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]
    fc.advance(30)
    assert fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"] == before
    assert not fc.controller_manager.elector.leader and not fc.scheduler.elector.leader
    fc.stop_etcd_members(0)
    # The restarted processes could not read the Lease without quorum: their first look is now,
    # and client-go takes a Lease held by another only leaseDurationSeconds (15 s) after that.
    fc.advance(13)
    assert fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"] == before
    fc.advance(6)
    after = fc.store.get("leases", "kube-system", "kube-controller-manager")["spec"]
    assert after["holderIdentity"] != before["holderIdentity"]
    assert after["leaseTransitions"] == before["leaseTransitions"] + 1


def test_start_and_stop_are_idempotent():
    fc = FakeCluster(nodes=1)
    fc.start()
    fc.start()
    fc.stop()
    fc.stop()
    with pytest.raises(RuntimeError, match="cannot start again"):
        fc.start()


def test_healthy_start_is_fast():
    started = time.process_time()  # CPU time: what the fake costs, whatever else the machine runs
    with FakeCluster(nodes=3):
        assert time.process_time() - started < 0.5
