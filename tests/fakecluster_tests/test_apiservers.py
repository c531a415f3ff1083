"""Several apiservers behind a round-robin TCP load balancer: FakeCluster(apiservers=N)."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import parse_time

from .kube_http import Client

pytestmark = pytest.mark.network


@pytest.fixture
def pair():
    with FakeCluster(nodes=3, apiservers=2) as cluster:
        yield cluster


def answered_by(fc: FakeCluster, count: int, **options) -> list[int | None]:
    """Which apiserver answered each of `count` requests, each on a new connection (None: no answer)."""
    client = Client(fc)
    result = []
    for _ in range(count):
        fc.clear_requests()
        answer = client.get("/livez", **options)
        records = fc.requests
        result.append(records[0].apiserver if answer.status == 200 and records else None)
    return result


def test_one_apiserver_keeps_its_own_url():
    with FakeCluster(nodes=1) as fc:
        assert fc.url == fc.apiserver_url(0) and fc.apiservers.balancer is None
        assert Client(fc).get("/livez").status == 200 and fc.requests[-1].apiserver == 0
        with pytest.raises(IndexError):
            fc.apiserver_url(1)


def test_the_balancer_takes_the_backends_strictly_in_turn(pair):
    assert pair.url not in (pair.apiserver_url(0), pair.apiserver_url(1))
    assert answered_by(pair, 6) == [0, 1, 0, 1, 0, 1]
    assert Client(pair, url=pair.apiserver_url(1)).get("/livez").status == 200
    assert pair.requests[-1].apiserver == 1


def test_a_connection_stays_with_its_apiserver(pair):
    connection = http.client.HTTPSConnection("127.0.0.1", pair.port, context=pair.ssl_context(), timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", "/livez", headers={"Authorization": f"Bearer {pair.admin_token}"})
            assert connection.getresponse().read() == b"ok"
    finally:
        connection.close()
    assert len({record.apiserver for record in pair.requests}) == 1


def test_a_down_apiserver_is_skipped(pair):
    pair.set_apiserver("down", index=0)
    assert pair.apiserver_modes == ("down", "up") and pair.apiserver_mode == "mixed"
    assert answered_by(pair, 4) == [1, 1, 1, 1]
    assert Client(pair, url=pair.apiserver_url(0)).get("/livez").error == "refused"
    pair.set_apiserver("up", index=0)
    assert sorted(answered_by(pair, 2)) == [0, 1]


def test_a_hung_apiserver_stays_in_rotation(pair):
    pair.set_apiserver("hung", index=1)
    answers = answered_by(pair, 4, timeout=0.5)
    assert answers in ([0, None, 0, None], [None, 0, None, 0])
    assert Client(pair).get("/livez", timeout=0.5).error in ("handshake-timeout", None)


def test_with_every_apiserver_down_the_balancer_refuses(pair):
    pair.set_apiserver("down")
    assert pair.apiserver_mode == "down"
    assert Client(pair).get("/livez").error == "refused"
    pair.set_apiserver("up", index=1)
    assert answered_by(pair, 2) == [1, 1]


def test_a_slow_apiserver_is_slow_alone(pair):
    pair.set_apiserver("slow", 0.4, index=0)
    seconds = {}
    client = Client(pair)
    for _ in range(2):
        pair.clear_requests()
        answer = client.get("/livez")
        seconds[pair.requests[0].apiserver] = answer.seconds
    assert seconds[0] >= 0.4 > seconds[1]


def test_components_keep_working_while_one_apiserver_answers(pair):
    pair.set_apiserver("hung", index=0)
    pair.advance(60)
    now = pair.clock.now()
    for namespace, name, fresh in (("kube-node-lease", "node-a", 10.5), ("kube-system", "kube-scheduler", 2.5)):
        renewed = parse_time(pair.store.get("leases", namespace, name)["spec"]["renewTime"])
        assert (now - renewed).total_seconds() <= fresh, name
    pair.set_apiserver("hung", index=1)
    before = pair.store.get("leases", "kube-node-lease", "node-a")["spec"]
    pair.advance(30)
    assert pair.store.get("leases", "kube-node-lease", "node-a")["spec"] == before


def test_modes_set_before_start_apply_at_start():
    fc = FakeCluster(nodes=1, apiservers=3)
    fc.set_apiserver("down", index=2)
    assert fc.apiserver_modes == ("up", "up", "down")
    with fc:
        assert fc.apiserver_modes == ("up", "up", "down")
        assert answered_by(fc, 4) == [0, 1, 0, 1]
        with pytest.raises(IndexError):
            fc.set_apiserver("hung", index=3)
    with pytest.raises(ValueError):
        FakeCluster(nodes=1, apiservers=0)


def test_both_legs_have_no_delay_and_a_backend_that_goes_away_closes_the_client(pair):
    raw = socket.create_connection(("127.0.0.1", pair.port), timeout=3)
    try:
        secure = pair.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")
        (client_leg, backend_leg), = pair.apiservers.balancer.connections()
        assert client_leg.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert backend_leg.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        pair.set_apiserver("down")  # the apiservers cut their connections
        try:
            secure.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            received = secure.recv(1024)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            received = b""
        assert received == b""
    finally:
        raw.close()


def test_stop_closes_every_socket_and_thread():
    fc = FakeCluster(nodes=1, apiservers=2).start()
    balancer = fc.apiservers.balancer
    client = Client(fc)
    assert [client.get("/livez").status for _ in range(4)] == [200] * 4
    hanging = socket.create_connection(("127.0.0.1", fc.port), timeout=3)  # an open pair at stop()
    try:
        fc.stop()
        assert balancer.threads == [] and balancer.connections() == []
        assert not [t for t in threading.enumerate() if t.name.startswith("fakecluster-balancer")]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", balancer.port), timeout=1).close()
    finally:
        hanging.close()
