"""Node heartbeats against `Ready`: is the node lifecycle controller (controller-manager) acting?

Kubelets renew their Lease in kube-node-lease every 10 s (leaseDurationSeconds 40) and post
NodeStatus only on change or every 5 min, so the Lease is the heartbeat. The Leases are listed
from the apiserver's watch cache (resourceVersion=0: no etcd read), so a healthy 5,000-node
cluster costs one list of small cached objects. The cache may lag, so a Lease it shows as
expired is read again by a consistent get, and only then is its node fetched (consistently too).
- Silent and not Ready: the controller did its job; the node itself is reported (a node problem).
- Silent for longer than the threshold yet still `Ready=True` (Lease and Ready.lastHeartbeatTime
  both old): the node was never marked Unknown, so the controller is not running. After a
  controller-manager failover every node gets a fresh grace period, so nodes are judged only once
  the current leader has held its Lease for longer than the threshold too.
The expired Leases are counted (NODE_LEASES_EXPIRED), with how many of the nodes looked at still
report NodeStatus after their Lease's last renewal (the kubelet lives and reaches the apiserver,
only its Lease update does not land) and the fail-closed webhooks that intercept the renewal;
the marks the controller writes (nodes/status) name the webhooks that intercept them too.
"""

from __future__ import annotations

from ..errors import ApiStatusError, NotFoundError
from ..findings import Component, Observation, observe
from ..cluster.kubeapi import FROM_CACHE
from .webhookrules import Write
from .context import ProbeContext, condition, examples, field, lease_path, whole
from .interceptors import intercepted_by
from .leader_renewal import lease_at_start

_DEFAULT_NODE_LEASE_S = 40
# The kubelet renews its Lease by an update; the node lifecycle controller marks a node by
# updating its status.
LEASE_RENEWAL = Write("UPDATE", "coordination.k8s.io", "leases", namespace="kube-node-lease")
NODE_MARK = Write("UPDATE", "", "nodes", "status")


def probe(ctx: ProbeContext) -> list[Observation]:
    expired: list[tuple[str, float]] = []
    total = 0
    for lease in ctx.api.list_items(lease_path("kube-node-lease"), FROM_CACHE, page_size=ctx.settings.page_size):
        total += 1
        age = _expired_age(ctx, lease)
        name = field(lease, "metadata").get("name")
        if age is not None and isinstance(name, str) and name:
            expired.append((name, age))
    in_cache = len(expired)
    looked_up = min(in_cache, ctx.settings.max_node_lookups)
    expired = _confirmed(ctx, expired)
    if not expired:
        return [observe("NODE_LIFECYCLE_OK", Component.CONTROLLER_MANAGER, leases=total, marked="no silent node")]

    threshold = ctx.settings.node_heartbeat_stale_s
    leader_tenure = _leader_tenure_s(ctx)
    observations: list[Observation] = []
    silent_ready: list[str] = []
    marked: list[str] = []
    status_reported = 0
    for name, lease_age in sorted(expired, key=lambda item: -item[1])[: ctx.settings.max_node_lookups]:
        try:
            node = ctx.api.get_json(f"/api/v1/nodes/{name}")
        except NotFoundError:
            continue  # the node is gone; its Lease awaits garbage collection
        ready = condition(node, "Ready") or {}
        heartbeat_age = ctx.age_s(ready.get("lastHeartbeatTime"))
        if heartbeat_age is not None and heartbeat_age < lease_age:
            status_reported += 1
        if ready.get("status") != "True":
            marked.append(name)
            observations.append(observe("NODE_NOT_READY", Component.NODE, node=name,
                                        ready=f"Ready={ready.get('status', 'missing')}",
                                        reason=ready.get("reason") or "no reason", age_s=whole(lease_age)))
            continue
        silent = lease_age > threshold and (heartbeat_age is None or heartbeat_age > threshold)
        if silent and (leader_tenure is None or leader_tenure > threshold):
            silent_ready.append(f"{name} (Lease {whole(lease_age)} s, NodeStatus {whole(heartbeat_age)} s)")
    # Beyond the lookups, the cache's word is counted.
    count = len(expired) + in_cache - looked_up
    observations.insert(0, observe("NODE_LEASES_EXPIRED", Component.NODE, count=count, leases=total,
                                   oldest_s=whole(max(age for _, age in expired)), status_reported=status_reported,
                                   **intercepted_by(ctx, LEASE_RENEWAL)))
    if silent_ready:
        observations.append(observe("NODE_READY_BUT_SILENT", Component.CONTROLLER_MANAGER, count=len(silent_ready),
                                    examples=examples(silent_ready), nodes=silent_ready[:20],
                                    threshold_s=whole(threshold), **intercepted_by(ctx, NODE_MARK)))
    else:
        detail = f"{examples(marked)} marked not Ready" if marked else f"{len(expired)} silent node(s) within grace"
        observations.append(observe("NODE_LIFECYCLE_OK", Component.CONTROLLER_MANAGER, leases=total, marked=detail))
    return observations


def _expired_age(ctx: ProbeContext, lease: dict) -> float | None:
    """Seconds since the Lease's renewal if it has expired, else None."""
    spec = field(lease, "spec")
    age = ctx.age_s(spec.get("renewTime"))
    duration = spec.get("leaseDurationSeconds")
    duration = duration if isinstance(duration, (int, float)) and duration > 0 else _DEFAULT_NODE_LEASE_S
    return age if age is not None and age > duration else None


def _confirmed(ctx: ProbeContext, expired: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The oldest expired Leases (as many as there are node lookups), read again consistently;
    those renewed since the cache's copy, or gone, drop out."""
    confirmed = []
    for name, _ in sorted(expired, key=lambda item: -item[1])[: ctx.settings.max_node_lookups]:
        try:
            lease = ctx.api.get_json(lease_path("kube-node-lease", name))
        except NotFoundError:
            continue  # the node is gone and its Lease with it
        age = _expired_age(ctx, lease)
        if age is not None:
            confirmed.append((name, age))
    return confirmed


def _leader_tenure_s(ctx: ProbeContext) -> float | None:
    """Seconds the current controller-manager leader has held its Lease (None if unknown)."""
    try:
        lease = lease_at_start(ctx, Component.CONTROLLER_MANAGER)
    except ApiStatusError:
        return None
    return ctx.age_s(field(lease, "spec").get("acquireTime"))
