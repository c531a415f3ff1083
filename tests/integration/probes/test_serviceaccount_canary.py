"""The ServiceAccount canary (probes/serviceaccount_canary.py) against the fake control plane (issue 12).

The checker's `default` ServiceAccount deleted and recreated by the controller-manager with a new
uid, or why not: no controller, a fail-closed webhook on the recreation or the delete, a finalizer
that holds the old one, an answer without a uid.
"""

from __future__ import annotations

import pytest

from cpwatch.errors import BadResponseError
from cpwatch.probes import serviceaccount_canary
from tests.fakecluster import FakeCluster

from .helpers import CANARY, NS, after_read, deny_webhook, one, probe_context, reads, select_by

pytestmark = pytest.mark.network

SA = ("serviceaccounts", NS, "default")
SA_TARGET = f"{NS}/default"


def test_serviceaccount_canary_is_recreated_with_a_new_uid(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        before = fc.store.peek(*SA)["metadata"]["uid"]
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
        after = fc.store.peek(*SA)["metadata"]["uid"]
    recreated = one(found, "SERVICEACCOUNT_CANARY_RECREATED")
    assert before != after
    assert recreated.component.value == "controller-manager" and recreated.evidence["object"] == SA_TARGET
    assert 0 <= recreated.evidence["latency_ms"] < CANARY.canary_wait_s * 1000


def test_serviceaccount_missing_at_the_start_and_recreated_counts_as_recreated(tmp_path):
    path = f"/api/v1/namespaces/{NS}/serviceaccounts/default"
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        fc.store.delete(*SA)
        with probe_context(fc, tmp_path, CANARY) as ctx, \
                after_read(fc, path, lambda: fc.start_component("controller-manager")):
            found = serviceaccount_canary.probe(ctx)
        first = reads(fc, path)[0]
        deletes = [r for r in fc.requests if r.method == "DELETE"]
    assert first.status == 404
    assert one(found, "SERVICEACCOUNT_CANARY_RECREATED").evidence["object"] == SA_TARGET
    assert deletes == []  # nothing to delete: the probe only waits for the controller


@pytest.mark.parametrize("missing_before", [False, True])
def test_serviceaccount_not_recreated_says_whether_it_was_missing_before(tmp_path, missing_before):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        if missing_before:
            fc.store.delete(*SA)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
        gone = fc.store.peek(*SA) is None
    missing = one(found, "SERVICEACCOUNT_CANARY_MISSING")
    assert gone and missing.component.value == "controller-manager"
    # stopped: the leader that held the Lease renewed it no more while the canary waited
    assert missing.evidence == {"object": SA_TARGET, "wait_s": CANARY.canary_wait_s, "missing_before": missing_before,
                                "leader_renewed": False}


def test_serviceaccount_canary_is_blocked_when_a_fail_closed_webhook_sits_on_the_recreation(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        deny_webhook(fc, ("serviceaccounts",), ("",), ("CREATE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
    blocked = one(found, "PROBE_BLOCKED")
    assert blocked.evidence["probe"] == "serviceaccount_canary" and blocked.evidence["cause"] == "webhook-intercepts"
    assert blocked.evidence["because"].startswith(
        f"recreating the ServiceAccount needs CREATE serviceaccounts in {NS}, which fail-closed admission webhook(s) ")
    assert blocked.component.value == "controller-manager"


def test_serviceaccount_canary_whose_delete_is_denied_blames_the_set_up(tmp_path):
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        deny_webhook(fc, ("serviceaccounts",), ("",), ("DELETE",))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
        still = fc.store.peek(*SA) is not None
    assert still
    assert [o.code for o in found] == ["CHECKER_WRITE_DENIED", "PROBE_BLOCKED"]
    assert found[0].evidence["object"] == f"ServiceAccount {SA_TARGET}"
    assert found[1].evidence["probe"] == "serviceaccount_canary" and found[1].component.value == "controller-manager"


@pytest.mark.parametrize(("selector", "code"), [("namespaceSelector", "PROBE_BLOCKED"),
                                                ("objectSelector", "SERVICEACCOUNT_CANARY_MISSING")])
def test_serviceaccount_recreation_is_intercepted_by_namespace_labels_not_by_its_own(tmp_path, selector, code):
    """The controller recreates `default` without labels: an objectSelector on managed-by does not
    intercept it, a namespaceSelector on the checker's namespace does."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.stop_component("controller-manager")
        deny_webhook(fc, ("serviceaccounts",), ("",), ("CREATE",))
        select_by(fc, selector)
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
    assert [o.code for o in found] == [code]


def test_serviceaccount_canary_refuses_an_answer_without_a_uid(tmp_path):
    path = f"/api/v1/namespaces/{NS}/serviceaccounts/default"
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.rewrite_answers("GET", path, lambda obj: {**obj, "metadata": {**obj["metadata"], "uid": ""}})
        with probe_context(fc, tmp_path, CANARY) as ctx, pytest.raises(BadResponseError) as raised:
            serviceaccount_canary.probe(ctx)
    assert str(raised.value) == str(BadResponseError("GET", path, "the answer is not a ServiceAccount (no metadata.uid)"))


def test_serviceaccount_held_by_a_finalizer_is_not_taken_for_a_recreated_one(tmp_path):
    """A finalizer (some policy's) keeps the deleted `default` in place with its old uid: the
    controller recreates nothing while it exists, and the old object is not a new one."""
    with FakeCluster(nodes=3) as fc:
        fc.advance(5)
        fc.store.mutate(*SA, lambda sa: sa["metadata"].update(finalizers=["policy.example.org/audit"]))
        with probe_context(fc, tmp_path, CANARY) as ctx:
            found = serviceaccount_canary.probe(ctx)
        held = fc.store.peek(*SA)
    assert held is not None and held["metadata"].get("deletionTimestamp")
    assert one(found, "SERVICEACCOUNT_CANARY_MISSING").evidence["missing_before"] is False
