"""Bad answers to every request a probe parses, property-based: the real check runs against a
loopback HTTPS front of the fake control plane that answers the chosen requests itself with a
generated body (health text, truncated or wrong-kind JSON, an HTML 502 page from a proxy, Lease,
Node and Pod objects with missing, odd or wrongly typed fields, MicroTime without fraction,
unknown enum values) and passes every other request through.

Whatever comes back: the check returns within its deadline, no probe crashes (no PROBE_CRASHED:
every answer is either understood or reported as "could not look" with a message), and a body
cpwatch cannot parse never makes a component `down`. Odd but valid objects are judged by what
they say: a Lease renewed a moment ago is fresh in every timestamp format Kubernetes accepts.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest
import urllib3
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from cpwatch.judging.check import Diagnosis, run_check
from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.telling.report import to_dict
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline
from tests.fakecluster import FakeCluster
from tests.fakecluster.clock import http_date
from tests.fakecluster.tls import make_credentials

pytestmark = pytest.mark.network

SETTINGS = Settings(run_timeout_s=6.0, request_timeout_s=2.0, write_timeout_s=1.0, canary_wait_s=1.0,
                    canary_poll_s=0.1)
NETWORK_EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True,
                            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes | Callable[[bytes], bytes]  # a callable gets the real answer's body (to cut it)

    def __repr__(self) -> str:
        body = self.body if isinstance(self.body, bytes) else "<from the real answer>"
        return f"Answer({self.status}, {self.content_type!r}, {body[:80]!r})"


class Tamper:
    """HTTPS on 127.0.0.1 in front of a FakeCluster: requests matching `rule` get `answer`."""

    def __init__(self, fc: FakeCluster):
        self.fc = fc
        self.rule: tuple[str, re.Pattern] | None = None
        self.answer: Answer | None = None
        self.hits = 0
        self._credentials = make_credentials()
        self._upstream = urllib3.PoolManager(ssl_context=fc.ssl_context(), retries=False, maxsize=16)
        tamper = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as Go's net package does: no 40 ms wait per answer

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = None
                answer = tamper.answer_for(self.command, self.path)
                if answer is None or callable(answer.body):
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() in ("authorization", "accept", "content-type")}
                    upstream = tamper._upstream.request(self.command, tamper.fc.url + self.path, body=body,
                                                        headers=headers, timeout=10, redirect=False)
                if answer is None:
                    status, content_type, data = upstream.status, upstream.headers.get("Content-Type", ""), upstream.data
                    date = upstream.headers.get("Date")
                else:
                    tamper.hits += 1
                    data = answer.body(upstream.data) if callable(answer.body) else answer.body
                    status, content_type, date = answer.status, answer.content_type, http_date(tamper.fc.clock.now())
                self.send_response_only(status)
                if date:
                    self.send_header("Date", date)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # the probes open a dozen connections at once

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.socket = self._credentials.server_context().wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer_for(self, method: str, path: str) -> Answer | None:
        if self.rule and self.rule[0] == method and self.rule[1].search(path):
            return self.answer
        return None

    def kubeconfig(self, path) -> str:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "t", "cluster": {
                "server": self.url, "certificate-authority-data": base64.b64encode(self._credentials.ca_pem.encode()).decode()}}],
            "users": [{"name": "t", "user": {"token": self.fc.checker_token}}],
            "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
        }
        path.write_text(yaml.safe_dump(config))
        return str(path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.clear()


@pytest.fixture(scope="module")
def tamper(tmp_path_factory):
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        front = Tamper(fc)
        front.config = front.kubeconfig(tmp_path_factory.mktemp("tamper") / "kubeconfig")
        yield front
        front.close()


def check_through(tamper: Tamper, rule: tuple[str, str], answer: Answer) -> tuple[Diagnosis, float]:
    tamper.rule, tamper.answer, tamper.hits = (rule[0], re.compile(rule[1])), answer, 0
    started = time.monotonic()
    api, target = api_from_kubeconfig(tamper.config, None, SETTINGS.request_timeout_s,
                                      Deadline.after(SETTINGS.run_timeout_s))
    try:
        diagnosis = run_check(api, target.name, SETTINGS)
    finally:
        api.close()
        tamper.rule = tamper.answer = None
    return diagnosis, time.monotonic() - started


def assert_no_crash_and_bounded(diagnosis: Diagnosis, seconds: float) -> dict:
    assert seconds < SETTINGS.run_timeout_s + 1.0, seconds
    document = to_dict(diagnosis)  # every finding renders its message
    crashed = [f for f in document["findings"] if f["code"] == "PROBE_CRASHED"]
    assert not crashed, crashed
    assert all(f["message"] and "?" != f["message"] for f in document["findings"])
    return document


def down(document: dict) -> list[str]:
    return [name for name, c in document["components"].items() if c["verdict"] == "down"]


# --- what the probes ask for -----------------------------------------------------------------

NS = "/api/v1/namespaces/cpwatch"
REQUESTS = {
    "livez": ("GET", r"^/livez\?"),
    "readyz": ("GET", r"^/readyz\?"),
    "livez-etcd": ("GET", r"^/livez/etcd$"),
    "leader-lease-kcm": ("GET", r"/namespaces/kube-system/leases/kube-controller-manager$"),
    "leader-lease-scheduler": ("GET", r"/namespaces/kube-system/leases/kube-scheduler$"),
    "node-leases": ("GET", r"/namespaces/kube-node-lease/leases\?"),
    "pending-pods": ("GET", r"^/api/v1/pods\?.*fieldSelector=status\.phase"),
    "pod-table": ("GET", r"^/api/v1/pods\?.*includeObject=None"),
    "componentstatuses": ("GET", r"^/api/v1/componentstatuses"),
    "static-pods": ("GET", r"^/api/v1/namespaces/kube-system/pods\?"),
    "heartbeat-write": ("PATCH", r"/configmaps/cpwatch-heartbeat"),
    "deployment-get": ("GET", r"/deployments/cpwatch-canary$"),
    "deployment-patch": ("PATCH", r"/deployments/cpwatch-canary$"),
    "serviceaccount-get": ("GET", r"/serviceaccounts/default$"),
    "canary-create": ("POST", re.escape(NS) + r"/pods$"),
    "canary-get": ("GET", re.escape(NS) + r"/pods/cpwatch-canary-"),
    "canary-leftovers": ("GET", re.escape(NS) + r"/pods\?"),
}

HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
            b"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
JSON_TYPE = "application/json"


def cut(fraction: float) -> Callable[[bytes], bytes]:
    return lambda body: body[: int(len(body) * fraction)]


wrong_kinds = st.sampled_from([b"[]", b"42", b"\"ok\"", b"null", b"{}", b"{\"items\": 5}", b"{\"items\": [1, \"x\", null]}",
                               b"{\"spec\": \"x\", \"metadata\": [], \"status\": 7}", b"{\"kind\": \"Status\"}",
                               b"{\"columnDefinitions\": \"x\", \"rows\": {}}",
                               b"{\"metadata\": {\"continue\": 5}, \"items\": []}"])
garbage = st.one_of(
    st.just(Answer(502, "text/html", HTML_502)),
    st.just(Answer(200, "text/html", b"<html><body>Please log in to the corporate proxy</body></html>")),
    st.sampled_from([500, 503, 504]).map(lambda status: Answer(status, "text/html", HTML_502.replace(b"502", str(status).encode()))),
    st.floats(0.0, 0.95).map(lambda f: Answer(200, JSON_TYPE, cut(f))),
    wrong_kinds.map(lambda body: Answer(200, JSON_TYPE, body)),
    st.binary(max_size=64).map(lambda body: Answer(200, JSON_TYPE, body)),
    st.just(Answer(200, JSON_TYPE, b"")),
)


# JSON of the right syntax but the wrong shape, for every request: objects where lists belong,
# numbers where objects belong, fields of the wrong type at every level a probe reads.
WRONG_SHAPES = [
    b"[]", b"42", b"\"ok\"", b"null", b"{}", b"{\"items\": 5}", b"{\"items\": [1, \"x\", null]}",
    b"{\"spec\": \"x\", \"metadata\": [], \"status\": 7}", b"{\"kind\": \"Status\"}",
    b"{\"columnDefinitions\": \"x\", \"rows\": {}}", b"{\"metadata\": {\"continue\": 5}, \"items\": []}",
    b"{\"items\": [{\"metadata\": \"x\", \"spec\": 5, \"status\": []}]}",
    b"{\"items\": [{\"metadata\": {\"name\": 5, \"labels\": []}, \"spec\": {\"renewTime\": 5, \"leaseDurationSeconds\": \"x\"},"
    b" \"status\": {\"conditions\": \"x\", \"containerStatuses\": [5, {\"restartCount\": \"x\"}]}}]}",
    b"{\"columnDefinitions\": [{\"name\": \"Name\"}, {\"name\": \"Status\"}, {\"name\": \"Node\"}],"
    b" \"rows\": [{\"cells\": [\"a\", \"Terminating\", \"node-a\"]}, {\"cells\": 5}, 7]}",
    b"{\"metadata\": {\"generation\": \"x\"}, \"status\": {\"observedGeneration\": \"y\"}, \"spec\": {\"minReadySeconds\": \"z\"}}",
    b"{\"status\": {\"conditions\": [{\"type\": \"PodScheduled\", \"status\": \"Maybe\"}]}}",
    b"{\"metadata\": {\"continue\": \"same-token\"}, \"items\": []}",
]


# One test per request (every wrong shape each), so that the 17 x 17 checks spread over the
# suite's parallel workers.
@pytest.mark.parametrize("request_name", sorted(REQUESTS))
def test_every_request_answered_with_json_of_the_wrong_shape(tamper, request_name):
    failures = []
    for body in WRONG_SHAPES:
        diagnosis, seconds = check_through(tamper, REQUESTS[request_name], Answer(200, JSON_TYPE, body))
        document = to_dict(diagnosis)
        crashed = [f["message"] for f in document["findings"] if f["code"] == "PROBE_CRASHED"]
        if crashed or down(document) or seconds > SETTINGS.run_timeout_s + 1:
            failures.append((request_name, body[:50], round(seconds, 2), down(document), crashed))
    assert failures == []


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("request_name", ["livez", "readyz", "livez-etcd", "heartbeat-write"])
def test_a_proxy_error_page_is_not_an_etcd_or_apiserver_failure(tamper, request_name, status):
    """A load balancer's or proxy's 5xx page (not a Kubernetes Status, not the apiserver's plain
    health text) used to read as "etcd check failed" / "cluster locked"."""
    page = HTML_502.replace(b"502", str(status).encode())
    diagnosis, seconds = check_through(tamper, REQUESTS[request_name], Answer(status, "text/html", page))
    document = assert_no_crash_and_bounded(diagnosis, seconds)
    assert down(document) == []
    assert tamper.hits >= 1


@NETWORK_EXAMPLES
@given(request=st.sampled_from(sorted(REQUESTS)), answer=garbage)
def test_an_answer_cpwatch_cannot_parse_is_never_a_crash_or_a_down(tamper, request, answer):
    diagnosis, seconds = check_through(tamper, REQUESTS[request], answer)
    document = assert_no_crash_and_bounded(diagnosis, seconds)
    assert down(document) == [], (request, answer, document["summary"])


# --- health text ---------------------------------------------------------------------------------

check_names = st.sampled_from(["ping", "log", "etcd", "etcd-readiness", "informer-sync", "poststarthook/x",
                               "shutdown", "", "[+]", "é"])
health_lines = st.lists(st.tuples(st.sampled_from(["[+]", "[-]", "[?]", "", "+", "[+] "]), check_names,
                                  st.sampled_from([" ok", " failed: reason withheld", "", " ok extra words"])),
                        max_size=6).map(lambda lines: "\n".join(a + b + c for a, b, c in lines))
health_bodies = st.tuples(health_lines, st.sampled_from(["", "\nlivez check passed", "\nreadyz check failed",
                                                          "\nhealthz check passed\n"])).map(lambda t: t[0] + t[1]) \
    | st.text(max_size=80)


@NETWORK_EXAMPLES
@given(request=st.sampled_from(["livez", "readyz", "livez-etcd"]),
       status=st.sampled_from([200, 500, 502, 503]), content_type=st.sampled_from(["text/plain; charset=utf-8", "text/html"]),
       body=health_bodies)
def test_health_text_of_any_shape(tamper, request, status, content_type, body):
    diagnosis, seconds = check_through(tamper, REQUESTS[request], Answer(status, content_type, body.encode()))
    document = assert_no_crash_and_bounded(diagnosis, seconds)
    from_apiserver = status in (200, 500) and content_type.startswith("text/plain")
    if not from_apiserver:
        assert down(document) == [], (request, status, content_type, body, document["summary"])
    else:
        # The apiserver's own health report may say etcd (or a check) failed: that is its verdict,
        # and it can only be about the apiserver or etcd.
        assert set(down(document)) <= {"apiserver", "etcd"}


# --- Lease, Node and Pod objects with odd fields -------------------------------------------------


def k8s_time_formats(moment: datetime) -> st.SearchStrategy[str]:
    """`moment` written every way Kubernetes' RFC 3339 parsing accepts it."""
    utc = moment.astimezone(timezone.utc)
    plus2 = utc.astimezone(timezone(timedelta(hours=2)))
    return st.sampled_from([
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),  # metav1.Time, or a MicroTime without fraction
        utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),  # MicroTime
        utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",  # nanoseconds
        plus2.strftime("%Y-%m-%dT%H:%M:%S+02:00"),
        utc.strftime("%Y-%m-%dt%H:%M:%Sz"),
    ])


unparsable_times = st.sampled_from([None, "", "yesterday", "2026-13-45T99:99:99Z", "1700000000", 1700000000,
                                    [], {}, "2026-11-27 09:28:47", "0000-00-00T00:00:00Z"])
odd_values = st.sampled_from([None, "", "x", -1, 0, 1e300, [], {}, True, "15"])


@NETWORK_EXAMPLES
@given(data=st.data(), fresh=st.booleans(), duration=odd_values | st.just(15),
       holder=st.sampled_from([None, "", 5, "control-plane_0b1c", ["a"]]),
       extra=st.dictionaries(st.sampled_from(["leaseTransitions", "strategy", "preferredHolder", "unknownField"]),
                             odd_values, max_size=2))
def test_leader_lease_with_odd_fields(tamper, data, fresh, duration, holder, extra):
    now = tamper.fc.clock.now()
    renew = data.draw(k8s_time_formats(now - timedelta(seconds=3)) if fresh else unparsable_times)
    spec = {"holderIdentity": holder, "leaseDurationSeconds": duration, "renewTime": renew,
            "acquireTime": data.draw(k8s_time_formats(now - timedelta(minutes=5)) | unparsable_times), **extra}
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "kube-controller-manager", "namespace": "kube-system"},
             "spec": data.draw(st.sampled_from([spec, {k: v for k, v in spec.items() if v is not None}]))}
    diagnosis, seconds = check_through(tamper, REQUESTS["leader-lease-kcm"], Answer(200, JSON_TYPE, json.dumps(lease).encode()))
    document = assert_no_crash_and_bounded(diagnosis, seconds)
    codes = {f["code"] for f in document["findings"] if f["component"] == "controller-manager"}
    assert "controller-manager" not in down(document), document["summary"]
    if fresh:
        assert "LEADER_LEASE_FRESH" in codes, (lease, codes)


def _node_lease(name: str, renew: object) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": renew}}


@NETWORK_EXAMPLES
@given(data=st.data(),
       ready_status=st.sampled_from(["True", "False", "Unknown", "Maybe", "", None, True, 1]),
       heartbeat_fresh=st.booleans(),
       conditions_shape=st.sampled_from(["list", "missing", "dict", "string", "with-junk"]))
def test_silent_node_objects_with_odd_fields(tamper, data, ready_status, heartbeat_fresh, conditions_shape):
    """node-a's Lease expired 200 s ago; its Node object comes back with odd fields."""
    now = tamper.fc.clock.now()
    leases = {"apiVersion": "coordination.k8s.io/v1", "kind": "LeaseList", "metadata": {},
              "items": [_node_lease("node-a", (now - timedelta(seconds=200)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
                        _node_lease("node-b", data.draw(k8s_time_formats(now - timedelta(seconds=2)))),
                        _node_lease("node-c", data.draw(unparsable_times))]}
    heartbeat = data.draw(k8s_time_formats(now - timedelta(seconds=5)) if heartbeat_fresh else unparsable_times)
    ready = {"type": "Ready", "status": ready_status, "lastHeartbeatTime": heartbeat, "reason": data.draw(odd_values)}
    conditions = {"list": [ready], "missing": None, "dict": {"Ready": ready}, "string": "Ready",
                  "with-junk": [None, "x", 5, ready]}[conditions_shape]
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
            "spec": data.draw(st.sampled_from([{}, {"providerID": 5}, "x"])),
            "status": {"conditions": conditions} if conditions is not None else {}}

    tamper.fc.clock  # the Node answer is served by a second rule through the same front
    original_answer_for = tamper.answer_for

    def answer_for(method: str, path: str) -> Answer | None:
        if method == "GET" and path.startswith("/api/v1/nodes/node-a"):
            return Answer(200, JSON_TYPE, json.dumps(node).encode())
        if method == "GET" and path.startswith("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a"):
            # the consistent read that confirms what the cached list showed
            return Answer(200, JSON_TYPE, json.dumps(leases["items"][0]).encode())
        return original_answer_for(method, path)

    tamper.answer_for = answer_for
    try:
        diagnosis, seconds = check_through(tamper, REQUESTS["node-leases"], Answer(200, JSON_TYPE, json.dumps(leases).encode()))
    finally:
        del tamper.answer_for
    document = assert_no_crash_and_bounded(diagnosis, seconds)
    assert "controller-manager" not in down(document), document["summary"]
    codes = {f["code"] for f in document["findings"]}
    if conditions_shape == "list" and ready_status != "True":
        assert "NODE_NOT_READY" in codes  # the controller marked it: a node problem, not the control plane
    if conditions_shape == "list" and ready_status == "True" and heartbeat_fresh:
        assert "NODE_READY_BUT_SILENT" not in codes


@NETWORK_EXAMPLES
@given(data=st.data(), phase=st.sampled_from(["Pending", "Running", "Weird", None, 3]),
       gates=st.sampled_from([None, [], [{"name": "g"}], "x", 5]),
       scheduler=st.sampled_from([None, "default-scheduler", "other", 7]),
       conditions=st.sampled_from([None, [], "x", [None], [{"type": "PodScheduled", "status": "Maybe"}]]))
def test_pending_pods_with_odd_fields(tamper, data, phase, gates, scheduler, conditions):
    now = tamper.fc.clock.now()
    created = data.draw(k8s_time_formats(now - timedelta(seconds=10)) | unparsable_times)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "odd", "namespace": data.draw(st.sampled_from(["default", None, 5])), "creationTimestamp": created},
           "spec": {"schedulingGates": gates, "schedulerName": scheduler, "nodeName": data.draw(st.sampled_from([None, "", 0]))},
           "status": {"phase": phase, "conditions": conditions}}
    body = {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [pod, data.draw(st.sampled_from([None, "x", {}]))]}
    diagnosis, seconds = check_through(tamper, REQUESTS["pending-pods"], Answer(200, JSON_TYPE, json.dumps(body).encode()))
    document = assert_no_crash_and_bounded(diagnosis, seconds)
    assert down(document) == [], document["summary"]  # created 10 s ago or unreadable: never unattempted
