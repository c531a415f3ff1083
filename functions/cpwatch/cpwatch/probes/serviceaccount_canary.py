"""Controller-manager canary: the ServiceAccount controller must recreate `default`.

The ServiceAccount controller keeps a `default` ServiceAccount in every namespace and recreates
it when deleted, so deleting it in the checker's own namespace is a canary that never leaves the
namespace (the canary pods run under their own account and do not need it). If `default` is
already missing at the start, a previous run deleted it and it was never recreated.
"""

from __future__ import annotations

from ..errors import ApiStatusError, BadResponseError, NotFoundError
from ..findings import Component, Observation, observe
from .webhookrules import Write
from .context import MANAGED_BY, ProbeContext, field, ms
from .leader_renewal import mark_at_start, renewed_since
from .refused_writes import intercepted_reaction, observations_for


def probe(ctx: ProbeContext) -> list[Observation]:
    namespace = ctx.settings.namespace
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/default"
    target = f"{namespace}/default"
    previous_uid = _uid(ctx, path)
    leader = mark_at_start(ctx, Component.CONTROLLER_MANAGER)
    if previous_uid is not None:
        try:
            ctx.api.delete(path)
        except NotFoundError:
            pass
        except ApiStatusError as error:
            return observations_for(ctx, "serviceaccount_canary", Component.CONTROLLER_MANAGER,
                                    f"ServiceAccount {target}", error)
    recreated, seconds = ctx.wait_for(lambda: _recreated(ctx, path, previous_uid))
    if recreated is None:
        recreate = Write("CREATE", "", "serviceaccounts", namespace=namespace, namespace_labels=MANAGED_BY)
        intercepted = intercepted_reaction(ctx, "serviceaccount_canary", Component.CONTROLLER_MANAGER, recreate,
                                           "recreating the ServiceAccount")
        if intercepted is not None:
            return [intercepted]
        return [observe("SERVICEACCOUNT_CANARY_MISSING", Component.CONTROLLER_MANAGER, object=target,
                        wait_s=ctx.settings.canary_wait_s, missing_before=previous_uid is None,
                        leader_renewed=renewed_since(ctx, Component.CONTROLLER_MANAGER, leader))]
    return [observe("SERVICEACCOUNT_CANARY_RECREATED", Component.CONTROLLER_MANAGER, object=target,
                    latency_ms=ms(seconds))]


def _uid(ctx: ProbeContext, path: str) -> str | None:
    try:
        answer = ctx.api.get_json(path)
    except NotFoundError:
        return None
    uid = field(answer, "metadata").get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadResponseError("GET", path, "the answer is not a ServiceAccount (no metadata.uid)")
    return uid


def _recreated(ctx: ProbeContext, path: str, previous_uid: str | None) -> bool | None:
    uid = _uid(ctx, path)
    return True if uid is not None and uid != previous_uid else None
