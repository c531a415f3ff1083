"""Pods stuck Terminating: is pod GC (controller-manager) collecting orphans?

A deleted pod bound to a node that no longer exists can only be finished by the
controller-manager's pod GC (a 40 s quarantine, checked every 20 s). Deleted pods on an
existing node are the kubelet's job: those are node problems, reported apart.

No field selector matches a deletionTimestamp, so finding Terminating pods means looking at every
pod. That look comes from the apiserver's watch cache (resourceVersion=0), as a Table without
objects (a few short cells per pod: name, status, node); only rows whose status is Terminating
(or Unknown, kubectl's word for a terminating pod on an unreachable node) are then looked up, by
name and node from the cache's spec.nodeName index, metadata only. Even so the look costs the
apiserver about 7 % of one full pod list, so on clusters above orphan_scan_every_run_below_pods
pods (counted by a one-item consistent list) it is made once per orphan_scan_period_s, in the run
whose minute on the apiserver's clock is a multiple of the period. Before a pod is reported, it
is read again consistently: a lagging cache alone never makes a finding.
"""

from __future__ import annotations

from ..errors import BadResponseError, NotFoundError
from ..findings import Component, Observation, observe
from ..cluster.kubeapi import FROM_CACHE, METADATA_LIST, TABLE
from .context import ProbeContext, condition, entries, examples, field, pod_consistently, whole, whole_number

_TERMINATING_STATUSES = ("Terminating", "Unknown")


def probe(ctx: ProbeContext) -> list[Observation]:
    settings = ctx.settings
    if not _scan_due(ctx):
        return []
    candidates = _terminating_rows(ctx)
    orphans: list[str] = []
    observations: list[Observation] = []
    node_health: dict[str, bool | None] = {}
    # Rows carry no namespace, so namesakes on one node share a lookup, which finds them all.
    lookups = list(dict.fromkeys(candidates))
    for name, node_name in lookups[: settings.max_terminating_lookups]:
        for pod in _pods_named(ctx, name, node_name):
            pod = _stuck(ctx, pod) and _stuck(ctx, _consistent(ctx, pod))
            if not pod:
                continue  # not deleted, not stuck yet, waiting on its finalizers by design, or gone
            metadata = field(pod, "metadata")
            age = ctx.age_s(metadata.get("deletionTimestamp"))
            pod_ref = f"{metadata.get('namespace')}/{metadata.get('name')}"
            if node_name not in node_health:
                node_health[node_name] = _node_ready(ctx, node_name)
            ready = node_health[node_name]
            if ready is None:
                orphans.append(f"{pod_ref} on {node_name} ({whole(age)} s)")
            elif ready:
                observations.append(observe("POD_STUCK_TERMINATING", Component.NODE, pod=pod_ref,
                                            node=node_name, age_s=whole(age)))
            else:
                observations.append(observe("POD_STUCK_ON_UNHEALTHY_NODE", Component.NODE, pod=pod_ref,
                                            node=node_name, age_s=whole(age)))
    if orphans:
        observations.append(observe("ORPHAN_POD_NOT_COLLECTED", Component.CONTROLLER_MANAGER, count=len(orphans),
                                    examples=examples(orphans), pods=orphans[:20],
                                    threshold_s=whole(settings.orphan_pod_grace_s)))
    else:
        observations.append(observe("ORPHAN_PODS_COLLECTED", Component.CONTROLLER_MANAGER, checked=len(candidates)))
    return observations


def _scan_due(ctx: ProbeContext) -> bool:
    settings = ctx.settings
    pods = _pod_count(ctx)
    if pods is not None and pods < settings.orphan_scan_every_run_below_pods:
        return True
    period_minutes = max(1, round(settings.orphan_scan_period_s / 60))
    return int(ctx.now().timestamp() // 60) % period_minutes == 0


def _pod_count(ctx: ProbeContext) -> int | None:
    """How many pods the cluster has, from a one-item consistent list (etcd reads one object and
    counts the keys: remainingItemCount); None when the answer does not say."""
    page = ctx.api.get_json("/api/v1/pods", {"limit": "1"}, accept=METADATA_LIST)
    items, metadata = page.get("items"), field(page, "metadata")
    if not isinstance(items, list):
        raise BadResponseError("GET", "/api/v1/pods", "list answer has no items array")
    remaining = whole_number(metadata.get("remainingItemCount"))
    if remaining is not None:
        return len(items) + remaining
    return None if metadata.get("continue") else len(items)


def _terminating_rows(ctx: ProbeContext) -> list[tuple[str, str]]:
    """(pod name, node name) of every pod the server prints as Terminating and bound to a node."""
    rows: list[tuple[str, str]] = []
    columns: list[str] = []
    for table in ctx.api.list_pages("/api/v1/pods", {"includeObject": "None", **FROM_CACHE}, accept=TABLE,
                                    page_size=ctx.settings.page_size):
        definitions = table.get("columnDefinitions")
        if isinstance(definitions, list) and definitions:
            columns = [str(c.get("name", "")).lower() if isinstance(c, dict) else "" for c in definitions]
        if not {"name", "status", "node"} <= set(columns):
            raise BadResponseError("GET", "/api/v1/pods", "the pod list did not come as a Table with Name, Status and Node columns")
        name_at, status_at, node_at = columns.index("name"), columns.index("status"), columns.index("node")
        for row in entries(table.get("rows")):
            cells = row.get("cells")
            if not isinstance(cells, list) or len(cells) <= max(name_at, status_at, node_at):
                continue
            node = cells[node_at]
            if cells[status_at] in _TERMINATING_STATUSES and isinstance(node, str) and node and node != "<none>":
                rows.append((str(cells[name_at]), node))
    return rows


def _pods_named(ctx: ProbeContext, name: str, node_name: str) -> list[dict]:
    """Metadata of the pods called `name` on `node_name`, from the cache's spec.nodeName index."""
    query = {"fieldSelector": f"metadata.name={name},spec.nodeName={node_name}", **FROM_CACHE}
    return list(ctx.api.list_items("/api/v1/pods", query, accept=METADATA_LIST, page_size=ctx.settings.page_size))


def _stuck(ctx: ProbeContext, pod: dict | None) -> dict | None:
    """The pod if it was deleted longer than the grace ago and waits on no finalizer, else None."""
    metadata = field(pod, "metadata")
    age = ctx.age_s(metadata.get("deletionTimestamp"))
    if age is None or age <= ctx.settings.orphan_pod_grace_s or metadata.get("finalizers"):
        return None
    return pod


def _consistent(ctx: ProbeContext, pod: dict) -> dict | None:
    """The pod's metadata by a consistent read (None if it is gone)."""
    metadata = field(pod, "metadata")
    return pod_consistently(ctx, str(metadata.get("namespace")), str(metadata.get("name")), accept=METADATA_LIST)


def _node_ready(ctx: ProbeContext, node_name: str) -> bool | None:
    """True if the node is Ready, False if it exists but is not, None if it does not exist."""
    try:
        node = ctx.api.get_json(f"/api/v1/nodes/{node_name}")
    except NotFoundError:
        return None
    return (condition(node, "Ready") or {}).get("status") == "True"
