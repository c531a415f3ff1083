"""The scheduler canary (probes/scheduler_canary.py) against the fake control plane (issue 12).

An unschedulable canary pod the scheduler attempts (or binds, to a node carrying the never
label), or why not: no scheduler, a fail-closed webhook on the pod or its status, no namespace,
an answer that is not the pod; the pod as stored, and the clean-up of leftovers.
"""

from __future__ import annotations

import pytest

from cpwatch.errors import BadResponseError
from cpwatch.probes import scheduler_canary
from tests.fakecluster import FakeCluster

from .helpers import CANARY, NS, PODS, after_read, deny_webhook, one, probe_context, renamed

pytestmark = pytest.mark.network



def canary_pods(fc: FakeCluster) -> list[str]:
    return sorted(p["metadata"]["name"] for p in fc.store.list("pods", NS)
                  if (p["metadata"].get("labels") or {}).get(scheduler_canary.CANARY_LABEL) == "scheduler")


def test_scheduler_canary_is_attempted_and_deleted(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
        left = canary_pods(fc)
        created = [r for r in fc.requests if r.method == "POST" and r.path.startswith(PODS)]
    attempted = one(found, "SCHEDULER_CANARY_ATTEMPTED")
    assert attempted.component.value == "scheduler" and attempted.evidence["reason"] == "Unschedulable"
    assert 0 <= attempted.evidence["latency_ms"] < CANARY.canary_wait_s * 1000
    assert [r.status for r in created] == [201] and left == []


def test_scheduler_canary_not_attempted_names_the_pod_and_the_wait(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
        left = canary_pods(fc)
    missed = one(found, "SCHEDULER_CANARY_NOT_ATTEMPTED")
    assert missed.component.value == "scheduler"
    assert missed.evidence == {"object": f"{NS}/cpwatch-canary-c0ffee", "wait_s": CANARY.canary_wait_s,
                               "leader_renewed": False}
    assert left == []  # deleted even though nothing happened to it


def test_scheduler_canary_bound_to_a_node_that_carries_the_never_label(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.add_node("node-x", labels={scheduler_canary.NEVER_SCHEDULE_LABEL: "true"})
        fc.advance(2)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
    bound = one(found, "SCHEDULER_CANARY_BOUND")
    assert bound.component.value == "scheduler" and bound.evidence == {"object": f"{NS}/cpwatch-canary-c0ffee"}


def test_scheduler_canary_is_blocked_when_a_fail_closed_webhook_sits_on_the_pod_status(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        deny_webhook(fc, ("pods/status",), ("",), ("UPDATE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
    blocked = one(found, "PROBE_BLOCKED")
    assert blocked.component.value == "scheduler"
    assert blocked.evidence["probe"] == "scheduler_canary" and blocked.evidence["cause"] == "webhook-intercepts"
    assert blocked.evidence["because"].startswith(
        f"writing PodScheduled=False on the canary pod needs UPDATE pods/status in {NS}, which fail-closed ")


def test_scheduler_canary_whose_pod_is_denied_blames_the_set_up(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        deny_webhook(fc, ("pods",), ("",), ("CREATE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
    assert [o.code for o in found] == ["CHECKER_WRITE_DENIED", "PROBE_BLOCKED"]
    assert found[0].evidence["object"] == f"canary pod {NS}/cpwatch-canary-c0ffee"
    assert found[1].evidence["probe"] == "scheduler_canary" and found[1].component.value == "scheduler"


def test_scheduler_canary_in_a_missing_namespace_says_the_checker_is_not_installed(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.store.delete("namespaces", None, NS)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = scheduler_canary.probe(ctx)
    missing = one(found, "CHECKER_NOT_INSTALLED")
    assert missing.component.value == "scheduler" and missing.evidence["object"] == f"namespace {NS}"
    assert NS in missing.evidence["message"]


def test_scheduler_canary_deletes_only_old_leftovers_of_its_own(tmp_path):
    labels = {"app.kubernetes.io/managed-by": "cpwatch", scheduler_canary.CANARY_LABEL: "scheduler"}
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")  # the leftovers stay pending, as after an interrupted run
        old = CANARY.canary_leftover_age_s + 30
        fc.add_pod(NS, "cpwatch-canary-old", labels=labels, created_seconds_ago=old)
        fc.add_pod(NS, "cpwatch-canary-young", labels=labels, created_seconds_ago=CANARY.canary_leftover_age_s - 30)
        fc.add_pod(NS, "someone-else-old", labels={"app.kubernetes.io/managed-by": "cpwatch"}, created_seconds_ago=old)
        fc.add_pod(NS, "other-canary-old", labels={**labels, scheduler_canary.CANARY_LABEL: "other"},
                   created_seconds_ago=old)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            scheduler_canary.probe(ctx)
        left = sorted(p["metadata"]["name"] for p in fc.store.list("pods", NS))
    assert left == ["cpwatch-canary-young", "other-canary-old", "someone-else-old"]


def test_scheduler_canary_pod_costs_nothing_and_runs_as_its_own_account(tmp_path):
    """The pod as the apiserver stored it, read while the probe waits for the scheduler."""
    stored = {}
    path = f"{PODS}/cpwatch-canary-c0ffee"
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("scheduler")
        snapshot = lambda: stored.update(fc.store.peek("pods", NS, "cpwatch-canary-c0ffee"))  # noqa: E731
        with probe_context(fc, tmp_path, CANARY) as ctx, after_read(fc, path, snapshot):
            scheduler_canary.probe(ctx)
        account = fc.store.peek("serviceaccounts", NS, stored["spec"]["serviceAccountName"])
    spec = stored["spec"]
    # found again by the next run's clean-up if this run is interrupted
    assert stored["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "cpwatch",
                                            scheduler_canary.CANARY_LABEL: "scheduler"}
    # the standing account of infra/ (not `default`, which the ServiceAccount canary deletes), no token mounted
    assert account is not None and account["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "cpwatch"}
    assert spec["automountServiceAccountToken"] is False and "volumes" not in spec
    assert spec["terminationGracePeriodSeconds"] == 0 and spec["restartPolicy"] == "Never"
    [container] = spec["containers"]
    assert container["image"].startswith("registry.k8s.io/pause:") and container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"] == {"requests": {"cpu": "1m", "memory": "4Mi"}, "limits": {"memory": "4Mi"}}
    assert stored["status"]["qosClass"] == "Burstable"


def test_scheduler_canary_refuses_an_answer_that_is_not_its_pod(tmp_path):
    path = f"{PODS}/cpwatch-canary-c0ffee"
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.rewrite_answers("GET", path, renamed)
        with probe_context(fc, tmp_path, CANARY) as ctx, pytest.raises(BadResponseError) as raised:
            scheduler_canary.probe(ctx)
        left = canary_pods(fc)
    assert str(raised.value) == str(BadResponseError("GET", path, "the answer is not the pod cpwatch-canary-c0ffee"))
    assert left == []  # deleted all the same


def test_scheduler_canary_leftover_bound_to_a_dead_node_is_removed_at_once(tmp_path):
    """A leftover that some scheduler did bind, on a node whose kubelet is gone, and without a grace
    period of its own (30 s by default): only DeleteOptions' gracePeriodSeconds=0 removes it now
    instead of leaving it terminating until a kubelet confirms."""
    labels = {"app.kubernetes.io/managed-by": "cpwatch", scheduler_canary.CANARY_LABEL: "scheduler"}
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.lose_node("node-c")
        fc.add_pod(NS, "cpwatch-canary-bound", node_name="node-c", labels=labels,
                   created_seconds_ago=CANARY.canary_leftover_age_s + 30)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            scheduler_canary.probe(ctx)
        left = fc.store.peek("pods", NS, "cpwatch-canary-bound")
    assert left is None
