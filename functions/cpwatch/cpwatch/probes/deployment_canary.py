"""Controller-manager canary: the Deployment controller must observe a new generation.

The checker's own Deployment (replicas: 0, from infra/) gets a spec change that bumps
metadata.generation without starting a rollout: minReadySeconds toggles between 0 and 1 (a
pod-template annotation would create a new ReplicaSet every run). A live Deployment controller
sets status.observedGeneration to the new generation within seconds.
"""

from __future__ import annotations

from ..errors import ApiStatusError, BadResponseError, NotFoundError
from ..findings import Component, Observation, observe
from .webhookrules import Write
from .context import MANAGED_BY, ProbeContext, bounded_write, field, ms, whole_number
from .leader_renewal import mark_at_start, renewed_since
from .refused_writes import intercepted_reaction, observations_for

CANARY_DEPLOYMENT = "cpwatch-canary"


def probe(ctx: ProbeContext) -> list[Observation]:
    namespace = ctx.settings.namespace
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{CANARY_DEPLOYMENT}"
    target = f"{namespace}/{CANARY_DEPLOYMENT}"
    try:
        current = _deployment(ctx, path)
    except NotFoundError as error:
        return [observe("CHECKER_NOT_INSTALLED", Component.CONTROLLER_MANAGER, object=f"Deployment {target}",
                        message=error.message)]
    min_ready = field(current, "spec").get("minReadySeconds") or 0
    leader = mark_at_start(ctx, Component.CONTROLLER_MANAGER)
    try:
        patched = ctx.api.merge_patch(path, {"spec": {"minReadySeconds": 0 if min_ready else 1}},
                                      *bounded_write(ctx.settings))
    except ApiStatusError as error:
        return observations_for(ctx, "deployment_canary", Component.CONTROLLER_MANAGER, f"Deployment {target}", error)
    generation = whole_number(field(patched, "metadata").get("generation"))
    if not generation:
        raise BadResponseError("PATCH", path, "the patched Deployment has no metadata.generation")

    def observed() -> int | None:
        seen = whole_number(field(_deployment(ctx, path), "status").get("observedGeneration")) or 0
        return seen if seen >= generation else None

    seen, seconds = ctx.wait_for(observed)
    if seen is None:
        status_write = Write("UPDATE", "apps", "deployments", "status", namespace=namespace,
                             labels=MANAGED_BY, namespace_labels=MANAGED_BY)
        intercepted = intercepted_reaction(ctx, "deployment_canary", Component.CONTROLLER_MANAGER, status_write,
                                           "recording the observed generation")
        if intercepted is not None:
            return [intercepted]
        last = field(_deployment(ctx, path), "status").get("observedGeneration")
        return [observe("DEPLOYMENT_CANARY_NOT_OBSERVED", Component.CONTROLLER_MANAGER, object=target,
                        generation=generation, observed=last, wait_s=ctx.settings.canary_wait_s,
                        leader_renewed=renewed_since(ctx, Component.CONTROLLER_MANAGER, leader))]
    return [observe("DEPLOYMENT_CANARY_OBSERVED", Component.CONTROLLER_MANAGER, object=target,
                    generation=generation, latency_ms=ms(seconds))]


def _deployment(ctx: ProbeContext, path: str) -> dict:
    """The canary Deployment; an answer that is not it is a bad answer, not a missed reaction."""
    answer = ctx.api.get_json(path)
    if field(answer, "metadata").get("name") != CANARY_DEPLOYMENT:
        raise BadResponseError("GET", path, f"the answer is not the Deployment {CANARY_DEPLOYMENT}")
    return answer
