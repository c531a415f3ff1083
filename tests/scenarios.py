"""Failure scenarios on the fake control plane, shared by the demo and the end-to-end tests.

Each scenario takes a started FakeCluster and puts it into one failure mode, using simulated
time (fc.advance) so that "down for 150 s" takes no real time. A scenario that needs constructor
options declares them in OPTIONS (FakeCluster(**cluster_options(name)) builds its cluster).
"""

from __future__ import annotations

from typing import Callable

from tests.fakecluster import FakeCluster
from tests.fakecluster.infra import demo_manifests
from tests.fakecluster.scenarios import add_web_replicas, lease_audit_webhook, placement_audit_webhook


def healthy(fc: FakeCluster) -> None:
    fc.advance(15)


def apiserver_down(fc: FakeCluster) -> None:
    fc.set_apiserver("down")


def apiserver_hung(fc: FakeCluster) -> None:
    fc.set_apiserver("hung")


def etcd_member_lost(fc: FakeCluster) -> None:
    fc.stop_etcd_members(1)
    fc.advance(15)


def etcd_quorum_lost(fc: FakeCluster) -> None:
    fc.stop_etcd_members(2)
    fc.advance(15)


def controller_manager_down(fc: FakeCluster) -> None:
    """As recorded in kcm-down: a node dies and a pod on a vanished node is deleted meanwhile."""
    fc.stop_component("controller-manager")
    fc.lose_node("node-c")
    fc.add_pod("default", "orphan", node_name="node-gone", deleted_seconds_ago=0)
    fc.advance(150)


def scheduler_down(fc: FakeCluster) -> None:
    fc.stop_component("scheduler", release_lease=True)
    fc.add_pod("default", "waiting", created_seconds_ago=0)
    fc.advance(90)


def both_down(fc: FakeCluster) -> None:
    fc.stop_component("controller-manager")
    fc.stop_component("scheduler")
    fc.lose_node("node-c")
    fc.advance(150)


def webhook_failing_closed(fc: FakeCluster) -> None:
    """A policy webhook on pods and configmaps in every namespace whose backend is gone."""
    fc.add_failing_webhook(mode="refused", namespaces=None)
    fc.advance(15)


def webhook_hanging(fc: FakeCluster) -> None:
    fc.add_failing_webhook(mode="timeout", timeout_seconds=3, namespaces=None)
    fc.advance(15)


def aggregated_api_unavailable(fc: FakeCluster) -> None:
    fc.register_unavailable_apiservice("v1beta1.metrics.k8s.io", reason="ServiceNotFound")
    fc.advance(60)


def apiserver_cert_expired(fc: FakeCluster) -> None:
    fc.set_serving_certificate("expired")


def apiserver_cert_other_ca(fc: FakeCluster) -> None:
    fc.set_serving_certificate_from_other_ca()


def apiserver_cert_expiring(fc: FakeCluster) -> None:
    fc.set_serving_certificate("valid", expires_in_days=12)
    fc.advance(15)


def etcd_nospace(fc: FakeCluster) -> None:
    fc.advance(15)
    fc.etcd_nospace()
    fc.advance(25)


def etcd_near_quota(fc: FakeCluster) -> None:
    fc.set_etcd_db_size(int(1.8 * 2**30))
    fc.advance(15)


def throttled(fc: FakeCluster) -> None:
    fc.throttle(every=3, retry_after=1)
    fc.advance(15)


# --- EKS control-plane metrics API (issue 10): the fake serves it only in these scenarios ---


def eks_controller_stuck(fc: FakeCluster) -> None:
    """EKS: the controller-manager runs and renews its Lease, but its node lifecycle controller's
    worker has hung for six minutes (no node has died yet, so only the metrics show it)."""
    fc.serve_eks_metrics()
    fc.advance(15)
    fc.stall_controller("node_lifecycle_controller", "hung")
    fc.advance(360)


def eks_scheduler_stalled(fc: FakeCluster) -> None:
    """EKS: the scheduler renews its Lease and pops nothing: two new pods wait in its active queue."""
    fc.serve_eks_metrics()
    fc.advance(15)
    fc.wedge_component("scheduler")
    fc.add_pod("default", "web-0")
    fc.add_pod("default", "web-1")
    fc.advance(10)


# --- one failure showing up as another component's symptoms -----------------------------------


def apiserver_one_hung(fc: FakeCluster) -> None:
    """Two apiservers behind the load balancer, the second hung: every other new connection
    hangs, and the components work on through the first."""
    if len(fc.apiserver_modes) < 2:
        raise ValueError("apiserver-one-hung needs FakeCluster(apiservers=2) (OPTIONS in tests/scenarios.py)")
    fc.set_apiserver("hung", index=1)
    fc.advance(15)


def controller_manager_failover(fc: FakeCluster) -> None:
    """The controller-manager's leader crashed 2.5 s before the check: its standby takes over
    only once the Lease has expired in its eyes (about 15 s after the last renewal)."""
    fc.advance(15)
    fc.fail_over("controller-manager")
    fc.advance(2.5)


def webhook_on_leases(fc: FakeCluster) -> None:
    """A fail-closed mutating webhook on UPDATE of kube-system Leases whose backend hangs
    (timeoutSeconds 5): neither leader can renew; both Leases about 75 s stale."""
    fc.advance(15)
    lease_audit_webhook(fc)
    fc.advance(75)


def webhook_on_binding(fc: FakeCluster) -> None:
    """A fail-closed validating webhook on CREATE pods/binding in demo whose backend hangs
    (timeoutSeconds 3): the scheduler cannot bind demo's two new pods."""
    if fc.store.peek("deployments", "demo", "web") is None:
        for manifest in demo_manifests():  # without demo_objects=True: the Deployment and its namespace
            if manifest["kind"] in ("Namespace", "Deployment"):
                fc.apply(manifest)
    fc.advance(15)
    placement_audit_webhook(fc)
    add_web_replicas(fc, 2)
    fc.advance(30)


def webhook_on_node_leases(fc: FakeCluster) -> None:
    """A fail-closed webhook on UPDATE of kube-node-lease Leases whose backend is gone: the node
    Leases expire while the kubelets still post NodeStatus."""
    fc.advance(15)
    fc.add_failing_webhook("node-lease-policy.example.org", configuration="node-lease-policy", mode="refused",
                           resources=("leases",), api_groups=("coordination.k8s.io",), operations=("UPDATE",),
                           namespaces=("kube-node-lease",))
    fc.advance(120)


SCENARIOS: dict[str, Callable[[FakeCluster], None]] = {
    "healthy": healthy,
    "apiserver-down": apiserver_down,
    "apiserver-hung": apiserver_hung,
    "etcd-member-lost": etcd_member_lost,
    "etcd-quorum-lost": etcd_quorum_lost,
    "controller-manager-down": controller_manager_down,
    "scheduler-down": scheduler_down,
    "both-down": both_down,
    "webhook-failing-closed": webhook_failing_closed,
    "webhook-hanging": webhook_hanging,
    "aggregated-api-unavailable": aggregated_api_unavailable,
    "apiserver-cert-expired": apiserver_cert_expired,
    "apiserver-cert-other-ca": apiserver_cert_other_ca,
    "apiserver-cert-expiring": apiserver_cert_expiring,
    "etcd-nospace": etcd_nospace,
    "etcd-near-quota": etcd_near_quota,
    "throttled": throttled,
    "eks-controller-stuck": eks_controller_stuck,
    "eks-scheduler-stalled": eks_scheduler_stalled,
    "apiserver-one-hung": apiserver_one_hung,
    "controller-manager-failover": controller_manager_failover,
    "webhook-on-leases": webhook_on_leases,
    "webhook-on-binding": webhook_on_binding,
    "webhook-on-node-leases": webhook_on_node_leases,
}

# Constructor options a scenario needs beyond FakeCluster(nodes=3).
OPTIONS: dict[str, dict] = {
    "apiserver-one-hung": {"apiservers": 2},
    "webhook-on-binding": {"demo_objects": True},
}


def cluster_options(name: str) -> dict:
    """The FakeCluster options of scenario `name`: nodes=3 and what OPTIONS declares."""
    return {"nodes": 3, **OPTIONS.get(name, {})}
