"""The explanation table (issue 16): each row in the one situation where only it decides.

Every case comes as a pair against a background where every component is healthy on two
signals: with the row's condition met, the symptom is explained and the verdicts are those of
the cause; with one part of the condition broken, the same symptom counts against its own
component. A row that is dropped, inverted or loosened changes exactly one side of its pair.
"""

from __future__ import annotations

import pytest

from cpwatch.judging.check import _diagnosis
from cpwatch.judging.explanations import ROWS, Effect, explain
from cpwatch.findings import Component, observe

A, E, K, S, N, X_ = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                     Component.NODE, Component.EXTENSIONS)

LIVE = observe("APISERVER_LIVE", A)
READS_OK = observe("APISERVER_READS_OK", A)
ETCD_OK = observe("ETCD_CHECK_PASSED", E)
WRITE_OK = observe("ETCD_WRITE_OK", E)
FRESH_K, FRESH_S = observe("LEADER_LEASE_FRESH", K), observe("LEADER_LEASE_FRESH", S)
NODES_OK = observe("NODE_LIFECYCLE_OK", K)
PODS_ATTEMPTED = observe("PENDING_PODS_ATTEMPTED", S)
W = "guard.example.org"


def background(*left_out) -> list:
    healthy = [LIVE, READS_OK, ETCD_OK, WRITE_OK, FRESH_K, NODES_OK, FRESH_S, PODS_ATTEMPTED]
    return [o for o in healthy if o not in left_out]


def covers(*keys: str) -> object:
    return observe("WEBHOOK_COVERS_CONTROL_PLANE", X_, webhook=W, configuration="validatingwebhookconfiguration/guard",
                   writes="...", consequence="...", timeout_s=5, match_conditions=False, intercepts=list(keys),
                   covers="UPDATE leases in namespaces name In (kube-system)")


def hung_write():
    return observe("ETCD_WRITE_FAILED", E, object="ConfigMap cpwatch/cpwatch-heartbeat", timeout_s=5,
                   detail="no answer (timeout)", cause="no-answer")


def reads_hang():
    return observe("APISERVER_READS_NO_ANSWER", A, count=3, total=40, timeout_s=5, path="/api/v1/pods",
                   reason="timeout", paths=["/api/v1/pods"])


def stale(component, **evidence):
    return observe("LEADER_LEASE_STALE", component, lease=f"kube-system/{component.value}", age_s=75, threshold_s=55,
                   holder="h", **evidence)


def canary(leader_renewed):
    return observe("DEPLOYMENT_CANARY_NOT_OBSERVED", K, object="cpwatch/cpwatch-canary", generation=4, observed=3,
                   wait_s=10, leader_renewed=leader_renewed)


def node_leases(status_reported, **evidence):
    return observe("NODE_LEASES_EXPIRED", N, count=3, leases=3, oldest_s=90, status_reported=status_reported,
                   **evidence)


def binding(**evidence):
    return observe("PODS_BINDING_REJECTED", S, count=2, examples="demo/web-1 (40 s), demo/web-2 (40 s)",
                   pods=[], namespaces=["demo"], detail="Internal error occurred: ...", **evidence)


H, D, U, DOWN = "healthy", "degraded", "unknown", "down"

# (row, observations, {component: verdict} where not healthy, root cause, overall)
def unreachable():
    return observe("APISERVER_UNREACHABLE", A, path="/livez", reason="timeout", detail="TLS handshake timed out")


CASES = [
    ("apiserver-path-livez",
     [unreachable(), reads_hang(), WRITE_OK, FRESH_K, NODES_OK, FRESH_S, PODS_ATTEMPTED], {A: D}, A, D),
    ("apiserver-path-livez: no new connection was answered either: the apiserver answers no client",
     [unreachable(), WRITE_OK], {A: DOWN, E: U, K: U, S: U}, A, DOWN),
    ("apiserver-path: /livez hung (no etcd check was asked), other requests answered",
     [unreachable(), hung_write(), reads_hang(), FRESH_K, NODES_OK, FRESH_S, PODS_ATTEMPTED],
     {A: D, E: U}, A, U),
    ("apiserver-path",
     background(WRITE_OK, READS_OK) + [hung_write(), reads_hang()], {A: D}, A, D),
    ("apiserver-path: etcd's own check fails, so the hung write is etcd's",
     background(WRITE_OK, READS_OK, ETCD_OK) + [observe("ETCD_CHECK_FAILED", E), hung_write(), reads_hang()],
     {E: DOWN}, E, DOWN),
    ("apiserver-path: only the write hangs (reads answered): etcd's slow writes",
     background(WRITE_OK) + [hung_write()], {E: DOWN}, E, DOWN),
    ("etcd-down-reads",
     background(ETCD_OK, READS_OK) + [observe("ETCD_CHECK_FAILED", E), reads_hang()], {E: DOWN}, E, DOWN),
    ("etcd-down-reads: etcd's check passes, so the hanging reads are the apiserver's",
     background(READS_OK) + [reads_hang()], {A: D}, A, D),
    ("etcd-down-leaders",
     background(ETCD_OK, FRESH_K) + [observe("ETCD_CHECK_FAILED", E), stale(K)], {E: DOWN, K: U}, E, DOWN),
    ("etcd-down-leaders: etcd fine, the stale Lease is the controller-manager's",
     background(FRESH_K) + [stale(K)], {K: DOWN}, K, DOWN),
    ("webhook-leader-leases",
     background(FRESH_K, FRESH_S) + [stale(K, intercepted_by=[W]), stale(S, intercepted_by=[W]),
                                     covers("leader-leases")], {K: DOWN, S: DOWN}, X_, DOWN),
    ("webhook-leader-leases: the scheduler renewed through the webhook, so it works",
     background(FRESH_K, FRESH_S) + [stale(K, intercepted_by=[W]),
                                     observe("LEADER_LEASE_FRESH", S, intercepted_by=[W]), covers("leader-leases")],
     {K: DOWN}, K, DOWN),
    ("webhook-node-leases",
     background() + [node_leases(2, intercepted_by=[W]), observe("NODE_NOT_READY", N), covers("node-leases")],
     {}, X_, D),
    ("webhook-node-leases: no kubelet reports status and the webhook is not seen failing: nodes' own",
     background() + [node_leases(0, intercepted_by=[W]), observe("NODE_NOT_READY", N), covers("node-leases")],
     {}, None, H),
    ("webhook-node-status",
     background(NODES_OK) + [observe("NODE_READY_BUT_SILENT", K, intercepted_by=[W]), covers("node-status")],
     {}, X_, D),
    ("webhook-node-status: no webhook on the mark, so the controller-manager did not act",
     background(NODES_OK) + [observe("NODE_READY_BUT_SILENT", K)], {K: D}, K, D),
    ("webhook-binding",
     background() + [binding(cause="webhook-unreachable", webhook=W), covers("pod-binding")], {}, X_, D),
    ("webhook-binding: refused for a reason that names no webhook, none intercepting",
     background() + [binding(cause="other")], {S: D}, S, D),
    ("webhook-failing",
     background() + [covers("system-pods"), observe("WEBHOOK_FAILING_CLOSED", X_, webhook=W)], {}, X_, D),
    ("webhook-failing: not failing, only a risk",
     background() + [covers("system-pods")], {}, None, H),
    ("failover",
     background() + [canary(leader_renewed=False)], {}, None, H),
    ("failover: the leader renewed during the wait, so it did not react (wedged)",
     background() + [canary(leader_renewed=True)], {K: D}, K, D),
    ("failover: the Lease is stale, so the missed reaction corroborates the Lease",
     background(FRESH_K) + [stale(K), canary(leader_renewed=False)], {K: DOWN}, K, DOWN),
]


@pytest.mark.parametrize(("name", "observations", "expected", "cause", "worst"), CASES, ids=[c[0] for c in CASES])
def test_row(name, observations, expected, cause, worst):
    diagnosis = _diagnosis("c", tuple(observations), None, 0.0, False, {}, 0, 0)
    verdicts = {c: v.verdict.value for c, v in diagnosis.components.items()}
    assert verdicts == {c: expected.get(c, H) for c in (A, E, K, S)}
    assert diagnosis.root_cause is cause
    assert diagnosis.overall.value == worst


def test_every_row_has_a_case():
    named = {name.split(":")[0] for name, *_ in CASES}
    assert named == {row.name for row in ROWS}


def test_a_consequence_of_a_webhook_keeps_its_verdict_and_names_its_cause():
    """webhook-leader-leases: the controller-manager is really down (no leader), but as the
    webhook's consequence: not paged on its own, the webhook's finding first."""
    observations = background(FRESH_K, FRESH_S) + [stale(K, intercepted_by=[W]), stale(S, intercepted_by=[W]),
                                                    covers("leader-leases")]
    diagnosis = _diagnosis("c", tuple(observations), None, 0.0, False, {}, 0, 0)
    assert {diagnosis.components[c].consequence_of for c in (K, S)} == {X_}
    cause = diagnosis.cause_finding()
    assert cause.code == "WEBHOOK_BLOCKS_CONTROL_PLANE" and cause.evidence["webhook"] == W
    assert cause.evidence["configuration"] == "validatingwebhookconfiguration/guard"
    assert cause.evidence["blocks"] == "leader Leases in kube-system"
    assert diagnosis.extensions.value == "down"


def test_explained_symptoms_carry_the_row_and_effect():
    found = explain(background() + [canary(leader_renewed=False)])
    assert [(e.row, e.effect, e.cause) for e in found] == [("failover", Effect.NOT_EVIDENCE, None)]
