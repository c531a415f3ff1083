"""The Terminating pod probe (probes/terminating_pods.py) against the fake control plane (issue 12).

Deleted pods nobody finishes: orphans the pod garbage collector does not collect, pods stuck on a
Ready or an unhealthy node, each confirmed by a consistent read, and the scan's schedule.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cpwatch.errors import BadResponseError
from cpwatch.probes import terminating_pods
from tests.fakecluster import FakeCluster

from ..conftest import FAST
from .helpers import probe_context, table

ORPHAN_GRACE = FAST.orphan_pod_grace_s                  # 120 s
STUCK = ORPHAN_GRACE + 60


def _orphans_left(fc: FakeCluster) -> None:
    """Nobody finishes a deleted pod: no controller-manager (pod GC), no kubelet on node-a."""
    fc.stop_component("controller-manager")
    fc.lose_node("node-a")


def test_deleted_pods_on_a_vanished_node_are_orphans_not_collected(tmp_path):
    """21 orphans past the grace (20 listed); not stuck: one deleted within the grace, one that
    waits on a finalizer, one never scheduled (no node), one not deleted."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        for n in range(21):
            fc.add_pod("apps", f"orphan-{n:02}", node_name="gone", deleted_seconds_ago=STUCK + n)
        fc.add_pod("apps", "recent", node_name="gone", deleted_seconds_ago=ORPHAN_GRACE - 20)
        fc.add_pod("apps", "finalized", node_name="gone", deleted_seconds_ago=STUCK, finalizers=["example.com/keep"])
        fc.add_pod("apps", "unscheduled", deleted_seconds_ago=STUCK)
        fc.add_pod("apps", "running", node_name="gone", phase="Running")
        found = terminating_pods.probe(ctx)
    [orphans] = found
    evidence = dict(orphans.evidence)
    pods = evidence.pop("pods")
    assert (orphans.code, orphans.component.value) == ("ORPHAN_POD_NOT_COLLECTED", "controller-manager")
    assert evidence == {"count": 21, "threshold_s": int(ORPHAN_GRACE),
                        "examples": ", ".join(pods[:5]) + " and 16 more"}
    assert len(pods) == 20
    for n, text in enumerate(sorted(pods)):
        age = text.removeprefix(f"apps/orphan-{n:02} on gone (").removesuffix(" s)")
        assert STUCK + n <= int(age) <= STUCK + n + 15


def test_pods_past_the_grace_are_judged_by_their_nodes_health(tmp_path):
    """On node-a, Ready but with its kubelet gone: stuck on a Ready node (the kubelet's).
    On node-b, NotReady: stuck on an unhealthy node. Each node is read once. Checked: the
    Terminating pods bound to a node, not a running pod nor a deleted one never scheduled."""
    with FakeCluster(nodes=2) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.lose_node("node-b")
        fc.store.mutate("nodes", None, "node-b", lambda node: node["status"].update(conditions=[
            {**c, "status": "Unknown"} if c["type"] == "Ready" else c for c in node["status"]["conditions"]]))
        fc.add_pod("apps", "web-0", node_name="node-a", deleted_seconds_ago=STUCK)
        fc.add_pod("apps", "web-1", node_name="node-a", deleted_seconds_ago=STUCK + 30)
        fc.add_pod("apps", "db-0", node_name="node-b", deleted_seconds_ago=STUCK)
        fc.add_pod("apps", "running", node_name="node-a", phase="Running")      # not Terminating
        fc.add_pod("apps", "unscheduled", deleted_seconds_ago=STUCK)          # Terminating on no node
        found = terminating_pods.probe(ctx)
        node_reads = sorted(r.path for r in fc.requests if r.path.startswith("/api/v1/nodes/"))
        scans = [r.path for r in fc.requests if r.path.startswith("/api/v1/pods?includeObject")]
        pod_reads = [r.work for r in fc.requests if "fieldSelector=metadata.name" in r.path]
    ages = {o.evidence["pod"]: o.evidence["age_s"] for o in found if "age_s" in o.evidence}
    assert sorted(((code, component, {k: v for k, v in evidence.items() if k != "age_s"})
                   for code, component, evidence in table(found)), key=str) == sorted([
        ("POD_STUCK_TERMINATING", "node", {"pod": "apps/web-0", "node": "node-a"}),
        ("POD_STUCK_TERMINATING", "node", {"pod": "apps/web-1", "node": "node-a"}),
        ("POD_STUCK_ON_UNHEALTHY_NODE", "node", {"pod": "apps/db-0", "node": "node-b"}),
        ("ORPHAN_PODS_COLLECTED", "controller-manager", {"checked": 3})], key=str)
    deleted = {"apps/web-0": STUCK, "apps/web-1": STUCK + 30, "apps/db-0": STUCK}
    assert all(deleted[pod] <= age <= deleted[pod] + 15 for pod, age in ages.items()) and set(ages) == set(deleted)
    assert node_reads == ["/api/v1/nodes/node-a", "/api/v1/nodes/node-b"]
    # The scan is a Table without objects from the watch cache; each lookup (cached, then
    # consistent) asks for metadata only.
    assert scans == ["/api/v1/pods?includeObject=None&resourceVersion=0&limit=500"]
    assert len(pod_reads) == 6 and all(work.converted == work.returned == 1 for work in pod_reads)


def test_namesakes_in_two_namespaces_on_one_node_are_each_judged_once(tmp_path):
    """The Table's rows carry no namespace, so a lookup by name and node finds both namesakes:
    the one deleted within the grace (listed first) is skipped, the stuck one reported once."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.add_pod("a-team", "web-0", node_name="gone", deleted_seconds_ago=ORPHAN_GRACE - 30)
        fc.add_pod("b-team", "web-0", node_name="gone", deleted_seconds_ago=STUCK)
        [found] = terminating_pods.probe(ctx)
    assert (found.code, found.evidence["count"]) == ("ORPHAN_POD_NOT_COLLECTED", 1)
    assert found.evidence["examples"].startswith("b-team/web-0 on gone (")


def test_only_the_first_lookups_are_made_and_every_terminating_pod_is_counted(tmp_path):
    settings = FAST.with_overrides(max_terminating_lookups=2)
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path, settings) as ctx:
        _orphans_left(fc)
        for n in range(3):
            fc.add_pod("apps", f"orphan-{n}", node_name="gone", deleted_seconds_ago=STUCK)
        [found] = terminating_pods.probe(ctx)
        lookups = [r.path for r in fc.requests if "metadata.name%3Dorphan-" in r.path and "spec.nodeName" in r.path]
    assert (found.code, found.evidence["count"], len(lookups)) == ("ORPHAN_POD_NOT_COLLECTED", 2, 2)


def test_a_pod_the_cache_still_shows_but_etcd_no_longer_has_is_not_reported(tmp_path):
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.add_pod("apps", "gone-already", node_name="gone", deleted_seconds_ago=STUCK)
        fc.freeze_watch_cache()
        fc.store.delete("pods", "apps", "gone-already")
        found = terminating_pods.probe(ctx)
    assert table(found) == [("ORPHAN_PODS_COLLECTED", "controller-manager", {"checked": 1})]


def test_a_pod_etcd_shows_waiting_on_a_finalizer_is_not_reported_from_the_cache(tmp_path):
    """The cache shows the pod stuck; etcd has it waiting on a finalizer since: the consistent
    read decides, so a pod is reported only when both say stuck."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.add_pod("apps", "kept", node_name="gone", deleted_seconds_ago=STUCK)
        fc.freeze_watch_cache()
        fc.store.mutate("pods", "apps", "kept", lambda pod: pod["metadata"].update(finalizers=["example.com/keep"]))
        found = terminating_pods.probe(ctx)
    assert table(found) == [("ORPHAN_PODS_COLLECTED", "controller-manager", {"checked": 1})]


def test_a_pod_recreated_under_its_name_since_the_cache_saw_it_deleted_is_not_reported(tmp_path):
    """A StatefulSet's pod: the cache still shows the old one Terminating; etcd already has its
    successor, not deleted, on the same node."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        _orphans_left(fc)
        fc.add_pod("apps", "web-0", node_name="gone", deleted_seconds_ago=STUCK)
        fc.freeze_watch_cache()
        fc.store.delete("pods", "apps", "web-0")
        fc.add_pod("apps", "web-0", node_name="gone", phase="Running")
        found = terminating_pods.probe(ctx)
    assert table(found) == [("ORPHAN_PODS_COLLECTED", "controller-manager", {"checked": 1})]


def test_a_pod_list_that_does_not_come_as_a_table_is_a_bad_answer(tmp_path):
    """An apiserver serving Tables only as meta.k8s.io/v1beta1 (Kubernetes 1.10-1.14) answers
    the v1 Table request with its JSON fallback, a plain pod list: no Terminating pod can be
    told from it, which must not read as "none"."""
    with FakeCluster(nodes=1) as fc, probe_context(fc, tmp_path) as ctx:
        fc.serve_meta_versions("v1beta1")
        with pytest.raises(BadResponseError) as raised:
            terminating_pods.probe(ctx)
    assert (raised.value.method, raised.value.path, raised.value.detail) == (
        "GET", "/api/v1/pods", "the pod list did not come as a Table with Name, Status and Node columns")


# The scan's schedule: every run below orphan_scan_every_run_below_pods pods, else in the runs
# whose minute on the apiserver's clock is a multiple of the period.
FIVE_MINUTES = datetime(2026, 3, 2, 10, 35, 5, tzinfo=timezone.utc)   # minute 35: a multiple of 5
SEVEN_PAST = datetime(2026, 3, 2, 10, 37, 5, tzinfo=timezone.utc)     # minute 37: not a multiple of 5 or 2


def _pods(fc: FakeCluster) -> int:
    return len(list(fc.store.scan("pods")))


@pytest.mark.parametrize(("start", "below", "period_s", "scanned"), [
    (SEVEN_PAST, 0, 300, False),       # as many pods as the threshold (set to the pod count), between scans
    (FIVE_MINUTES, 0, 300, True),      # its scan minute
    (SEVEN_PAST, 0, 60, True),         # a one-minute period: every run
    (SEVEN_PAST, 0, 29, True),         # under a minute rounds up to every run
    (SEVEN_PAST, 0, 120, False),       # two minutes: minute 37 is odd
    (SEVEN_PAST, 0, 90, False),        # a minute and a half rounds to two
    (SEVEN_PAST, 1, 300, True),        # fewer pods than the threshold (set to the pod count + 1)
], ids=["between-scans", "scan-minute", "one-minute", "sub-minute", "two-minutes-odd", "ninety-s", "below"])
def test_the_scan_runs_below_the_pod_threshold_or_on_its_minute(start, below, period_s, scanned, tmp_path):
    with FakeCluster(nodes=1, start_time=start) as fc:
        _orphans_left(fc)
        fc.add_pod("apps", "orphan", node_name="gone", deleted_seconds_ago=STUCK)
        fc.add_pod("apps", "running", node_name="node-a", phase="Running")
        threshold = _pods(fc) + below
        settings = FAST.with_overrides(orphan_scan_every_run_below_pods=threshold, orphan_scan_period_s=period_s)
        with probe_context(fc, tmp_path, settings) as ctx:
            found = terminating_pods.probe(ctx)
        assert _pods(fc) == threshold - below >= 2
        [count] = [r.work for r in fc.requests if r.path == "/api/v1/pods?limit=1"]
    assert [o.code for o in found] == (["ORPHAN_POD_NOT_COLLECTED"] if scanned else [])
    assert count.returned == count.converted == 1  # counted from one item's metadata and remainingItemCount
