"""One failure that shows up as another component's symptoms (issue 16), end to end against the
fake control plane, whose components write through the same admission path as any client and
which can run several apiservers behind a round-robin load balancer.

Each situation has its control: the same symptom without the cause, where the symptom counts
against its own component again.
"""

from __future__ import annotations

import pytest

from cpwatch.findings import Component
from cpwatch.telling.headline import headline
from cpwatch.telling.urgency import looks_of
from tests.fakecluster import FakeCluster
from tests.fakecluster.scenarios import lease_audit_webhook
from tests.fakecluster.webhooks import configuration_object
from tests.scenarios import SCENARIOS, cluster_options

from .conftest import FAST, codes, verdicts

pytestmark = pytest.mark.network

A, E, K, S, X = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                 Component.EXTENSIONS)


def working_webhook(fc, name, configuration, namespace):
    """A fail-closed webhook on UPDATE of the Leases in `namespace` whose backend answers and
    admits (the fake calls no backend it was not told to fail)."""
    fc.apply({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
              **configuration_object("mutating", configuration, name, url="https://127.0.0.1:9443/mutate",
                                     ca_pem=fc.ca_pem, operations=("UPDATE",), api_groups=("coordination.k8s.io",),
                                     api_versions=("v1",), resources=("leases",), scope="*",
                                     namespaces=(namespace,), timeout_seconds=5, failure_policy="Fail")})


def scenario(name, run_check_on, settings=FAST):
    with FakeCluster(**cluster_options(name)) as fc:
        SCENARIOS[name](fc)
        return run_check_on(fc, settings=settings)


def explained(diagnosis, code):
    return [e for e in diagnosis.explained if e.symptom.code == code]


def test_one_hung_apiserver_of_two_is_the_apiserver_path_not_etcd(run_check_on):
    diagnosis = scenario("apiserver-one-hung", run_check_on)
    found = verdicts(diagnosis)
    # etcd is healthy when its check went to the live apiserver, not judged when that hung too
    etcd = "healthy" if "ETCD_CHECK_PASSED" in codes(diagnosis) else "unknown"
    assert found == {"apiserver": "degraded", "etcd": etcd, "controller-manager": found["controller-manager"],
                     "scheduler": found["scheduler"]}
    assert {found["controller-manager"], found["scheduler"]} <= {"healthy", "unknown"}
    assert diagnosis.root_cause is A
    hung = [o for o in diagnosis.observations if o.code == "APISERVER_CONNECTIONS_NO_ANSWER"]
    # the balancer takes the two apiservers in turn: some of the check's new connections hang
    assert hung and 0 < hung[0].evidence["unanswered"] < hung[0].evidence["connections"]
    assert [e.row for e in explained(diagnosis, "ETCD_WRITE_FAILED")] in ([], ["apiserver-path"])


def test_a_hung_write_and_hung_reads_with_one_apiserver_and_etcd_failing_stay_etcd(run_check_on):
    """The control: etcd without quorum behind one apiserver hangs writes and reads too, and its
    own check fails: etcd down, as before."""
    diagnosis = scenario("etcd-quorum-lost", run_check_on)
    assert diagnosis.root_cause is E and verdicts(diagnosis)["etcd"] == "down"
    assert verdicts(diagnosis)["apiserver"] == "healthy"


def test_a_failover_is_not_a_failing_controller_manager(run_check_on):
    diagnosis = scenario("controller-manager-failover", run_check_on)
    assert verdicts(diagnosis)["controller-manager"] == "healthy" and diagnosis.overall.value == "healthy"
    rows = {e.row for e in diagnosis.explained}
    assert rows == {"failover"}, rows
    assert {e.symptom.code for e in diagnosis.explained} <= {"DEPLOYMENT_CANARY_NOT_OBSERVED",
                                                               "SERVICEACCOUNT_CANARY_MISSING"}


def test_a_wedged_leader_is_not_taken_for_a_failover(run_check_on):
    """The control: the leader renews its Lease and does no work: the canaries count (degraded)."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(15)
        fc.wedge_component("controller-manager")
        diagnosis = run_check_on(fc)
    assert verdicts(diagnosis)["controller-manager"] == "degraded" and diagnosis.explained == ()


def test_a_webhook_on_the_leader_leases_is_the_root_cause_not_the_leaders(run_check_on):
    diagnosis = scenario("webhook-on-leases", run_check_on)
    assert verdicts(diagnosis)["controller-manager"] == verdicts(diagnosis)["scheduler"] == "down"
    assert {diagnosis.components[c].consequence_of for c in (K, S)} == {X}
    assert diagnosis.root_cause is X and diagnosis.overall.value == "down"
    cause = diagnosis.cause_finding()
    assert cause.code == "WEBHOOK_BLOCKS_CONTROL_PLANE" and cause.evidence["webhook"] == "lease.audit.example.org"
    assert cause.evidence["configuration"] == "mutatingwebhookconfiguration/lease-audit"
    assert headline(diagnosis).startswith("admission webhook lease.audit.example.org")
    # one page, the webhook's: the leaders are its consequence
    looks, _ = looks_of(diagnosis)
    assert (looks["extensions"].value, looks["controller-manager"].value, looks["scheduler"].value) == (
        "bad", "unknown", "unknown")


def test_the_leader_down_beside_a_webhook_that_lets_renewals_through_is_down(run_check_on):
    """The control: the same kind of webhook, working, and the controller-manager stopped: the
    scheduler's Lease, renewed through the webhook, shows it works, so the controller-manager's
    stale Lease is its own."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        working_webhook(fc, "lease.audit.example.org", "lease-audit", "kube-system")
        fc.stop_component("controller-manager")
        fc.advance(90)
        diagnosis = run_check_on(fc)
    stale = next(o for o in diagnosis.observations if o.code == "LEADER_LEASE_STALE")
    assert stale.evidence["intercepted_by"] == ["lease.audit.example.org"]
    assert diagnosis.root_cause is K and diagnosis.components[K].consequence_of is None
    assert verdicts(diagnosis)["scheduler"] == "healthy"


def test_a_webhook_on_pod_binding_is_an_impaired_cluster_not_a_healthy_one(run_check_on):
    diagnosis = scenario("webhook-on-binding", run_check_on)
    assert verdicts(diagnosis)["scheduler"] == "healthy"
    assert diagnosis.overall.value == "degraded" and diagnosis.root_cause is X
    assert [e.row for e in explained(diagnosis, "PODS_BINDING_REJECTED")] == ["webhook-binding"]
    cause = diagnosis.cause_finding()
    assert cause.evidence["webhook"] == "placement.audit.example.org" and "no new pod can start" in cause.message()


def test_binding_refused_without_a_webhook_counts_against_the_scheduler_path(run_check_on):
    """The control: the same refused bindings, caused by nothing cpwatch can name (the webhook
    is removed from the configurations the checker reads, the pods keep their condition): the
    scheduler is degraded."""
    with FakeCluster(**cluster_options("webhook-on-binding")) as fc:
        SCENARIOS["webhook-on-binding"](fc)
        for pod in fc.store.list("pods", "demo"):
            if not pod["spec"].get("nodeName") and pod["metadata"]["name"] != "nowhere":
                def drop_name(obj):
                    for condition in obj["status"]["conditions"]:
                        condition["message"] = condition["message"].split(": Internal error", 1)[0] + ": refused"
                fc.store.mutate("pods", "demo", pod["metadata"]["name"], drop_name)
        fc.remove_webhooks()
        diagnosis = run_check_on(fc)
    assert verdicts(diagnosis)["scheduler"] == "degraded" and diagnosis.root_cause is S


def test_a_webhook_on_the_node_leases_is_the_root_cause_of_expired_node_leases(run_check_on):
    diagnosis = scenario("webhook-on-node-leases", run_check_on)
    assert diagnosis.overall.value == "degraded" and diagnosis.root_cause is X
    assert [e.row for e in explained(diagnosis, "NODE_LEASES_EXPIRED")] == ["webhook-node-leases"]
    assert diagnosis.cause_finding().evidence["webhook"] == "node-lease-policy.example.org"


def test_nodes_that_all_die_beside_such_a_webhook_are_the_nodes_own(run_check_on):
    """The control: the same webhook admits, and every kubelet stops: nothing posts NodeStatus
    either, and nothing shows the webhook failing: a node problem, not the webhook."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        working_webhook(fc, "node-lease-policy.example.org", "node-lease-policy", "kube-node-lease")
        for node in ("node-a", "node-b", "node-c"):
            fc.lose_node(node)
        fc.advance(120)
        diagnosis = run_check_on(fc)
    expired = next(o for o in diagnosis.observations if o.code == "NODE_LEASES_EXPIRED")
    assert expired.evidence["intercepted_by"] == ["node-lease-policy.example.org"]
    assert expired.evidence["count"] == expired.evidence["leases"] == 3 and expired.evidence["status_reported"] == 0
    assert not explained(diagnosis, "NODE_LEASES_EXPIRED")
    assert diagnosis.root_cause is not X


@pytest.mark.parametrize(("recording", "webhook"), [("webhook-on-leases", "lease.audit.example.org"),
                                                    ("webhook-on-binding", "placement.audit.example.org")])
def test_the_recorded_cascades_name_the_webhook(run_check_on, recording, webhook):
    with FakeCluster.from_recording(recording) as fc:
        diagnosis = run_check_on(fc)
    assert diagnosis.root_cause is X, verdicts(diagnosis)
    assert diagnosis.cause_finding().evidence["webhook"] == webhook


def test_a_webhook_on_leader_leases_through_the_real_admission_path_stops_them(run_check_on):
    """The fake's leaders renew through admission: the webhook stops them as it stops the real
    ones, and the verdict follows (the scenario's helper, applied to a plain cluster)."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(10)
        lease_audit_webhook(fc)
        fc.advance(80)
        diagnosis = run_check_on(fc)
    assert diagnosis.root_cause is X


def test_a_hung_livez_while_new_connections_are_answered_is_not_an_apiserver_down(run_check_on):
    """/livez lands on the hung backend (here: its request held past the client's timeout) while
    the check's new connections are answered: the apiserver answers clients, so it is degraded
    (a read without answer), not down, and the others are judged."""
    import time

    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.when_requested("/livez", lambda: time.sleep(FAST.request_timeout_s + 1))
        diagnosis = run_check_on(fc, read_only=True)
    assert [e.row for e in explained(diagnosis, "APISERVER_UNREACHABLE")] == ["apiserver-path-livez"]
    assert verdicts(diagnosis)["apiserver"] == "degraded" and diagnosis.root_cause is A
    assert verdicts(diagnosis)["controller-manager"] == "healthy"
