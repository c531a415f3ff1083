"""Scheduler canary: a pod no node can take; a live scheduler marks it Unschedulable in seconds.

The pod selects nodes by a label key that no node or node group provides, so no cluster
autoscaler (Cluster Autoscaler, Karpenter) can create a node for it; it requests nothing, runs
under the checker's own ServiceAccount, and is deleted at once after the check. Leftovers of an
interrupted run are deleted, by label and age, at the start of the next run.
"""

from __future__ import annotations

from ..errors import ApiStatusError, BadResponseError, NotFoundError
from ..findings import Component, Observation, observe
from .webhookrules import Write
from .context import MANAGED_BY, ProbeContext, bounded_write, condition, field, ms
from .leader_renewal import mark_at_start, renewed_since
from .refused_writes import intercepted_reaction, observations_for

CANARY_LABEL = "cpwatch.io/canary"
NEVER_SCHEDULE_LABEL = "cpwatch.io/never-schedule-canary"


def canary_pod(name: str, namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {**MANAGED_BY, CANARY_LABEL: "scheduler"}},
        "spec": {
            "nodeSelector": {NEVER_SCHEDULE_LABEL: "true"},
            "serviceAccountName": "cpwatch-canary",
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "restartPolicy": "Never",
            "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "1m", "memory": "4Mi"}, "limits": {"memory": "4Mi"}}}],
        },
    }


def probe(ctx: ProbeContext) -> list[Observation]:
    namespace = ctx.settings.namespace
    pods = f"/api/v1/namespaces/{namespace}/pods"
    _delete_leftovers(ctx, pods)
    name = f"cpwatch-canary-{ctx.run_id}"
    pod = canary_pod(name, namespace)
    leader = mark_at_start(ctx, Component.SCHEDULER)
    try:
        ctx.api.post_json(pods, pod, *bounded_write(ctx.settings))
    except NotFoundError as error:
        return [observe("CHECKER_NOT_INSTALLED", Component.SCHEDULER, object=f"namespace {namespace}", message=error.message)]
    except ApiStatusError as error:
        return observations_for(ctx, "scheduler_canary", Component.SCHEDULER, f"canary pod {namespace}/{name}", error)
    try:
        scheduled, seconds = ctx.wait_for(lambda: condition(_pod(ctx, f"{pods}/{name}", name), "PodScheduled"))
    finally:
        _delete(ctx, f"{pods}/{name}")
    target = f"{namespace}/{name}"
    if scheduled is None:
        status_write = Write("UPDATE", "", "pods", "status", namespace=namespace, labels=pod["metadata"]["labels"],
                             namespace_labels=MANAGED_BY)
        intercepted = intercepted_reaction(ctx, "scheduler_canary", Component.SCHEDULER, status_write,
                                           "writing PodScheduled=False on the canary pod")
        if intercepted is not None:
            return [intercepted]
        return [observe("SCHEDULER_CANARY_NOT_ATTEMPTED", Component.SCHEDULER, object=target,
                        wait_s=ctx.settings.canary_wait_s,
                        leader_renewed=renewed_since(ctx, Component.SCHEDULER, leader))]
    if scheduled.get("status") == "True":
        return [observe("SCHEDULER_CANARY_BOUND", Component.SCHEDULER, object=target)]
    return [observe("SCHEDULER_CANARY_ATTEMPTED", Component.SCHEDULER, latency_ms=ms(seconds),
                    reason=scheduled.get("reason"))]


def _pod(ctx: ProbeContext, path: str, name: str) -> dict:
    """The canary pod; an answer that is not it is a bad answer, not a scheduler that did not act."""
    answer = ctx.api.get_json(path)
    if field(answer, "metadata").get("name") != name:
        raise BadResponseError("GET", path, f"the answer is not the pod {name}")
    return answer


def _delete_leftovers(ctx: ProbeContext, pods: str) -> None:
    selector = f"app.kubernetes.io/managed-by=cpwatch,{CANARY_LABEL}=scheduler"
    for pod in ctx.api.list_items(pods, {"labelSelector": selector}, page_size=ctx.settings.page_size):
        metadata = field(pod, "metadata")
        age = ctx.age_s(metadata.get("creationTimestamp"))
        if age is not None and age > ctx.settings.canary_leftover_age_s and isinstance(metadata.get("name"), str):
            _delete(ctx, f"{pods}/{metadata['name']}")


def _delete(ctx: ProbeContext, path: str) -> None:
    try:
        ctx.api.delete(path, body={"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0})
    except NotFoundError:
        pass
