"""etcd write probe: merge-patch the checker's heartbeat ConfigMap within a short deadline.

Every write goes through etcd's raft log, so a write that etcd does not accept while the health
endpoints answer means the cluster cannot change. But a write is refused by more than etcd, so
the refusal is read before etcd is blamed (refusals.py): storage errors ("etcdserver: ...",
timeouts) are etcd; "database space exceeded" is etcd's space quota, with its own runbook; a
webhook or policy that refuses the write is reported as such and the probe could not look.
Recorded under quorum loss were a connection closed without an answer (with `?timeout=5s`) and
HTTP 500 "resource quota evaluation timed out" after 10 s (without).

No answer at all is etcd's, unless a fail-closed webhook intercepts the write with a timeout at
least as long as the write's own: the apiserver calls webhooks within the request's deadline, so
a webhook that hangs that long can also end the request without an answer.
"""

from __future__ import annotations

from ..errors import ApiStatusError, NoAnswerError, NotFoundError
from ..findings import Component, Observation, observe
from ..cluster.kubeapi import MERGE_PATCH
from .refusals import Cause, classify
from ..timeutil import format_k8s_time
from .webhookrules import Write
from .context import MANAGED_BY, ProbeContext, bounded_write, ms
from .interceptors import webhooks
from .refused_writes import WEBHOOK_INTERCEPTS, blocked, observations_for

HEARTBEAT = "cpwatch-heartbeat"


def heartbeat_write(namespace: str) -> Write:
    return Write("UPDATE", "", "configmaps", namespace=namespace, labels=MANAGED_BY, namespace_labels=MANAGED_BY)


def probe(ctx: ProbeContext) -> list[Observation]:
    namespace = ctx.settings.namespace
    path = f"/api/v1/namespaces/{namespace}/configmaps/{HEARTBEAT}"
    timeout_s = ctx.settings.write_timeout_s
    patch = {"data": {"written-at": format_k8s_time(ctx.now()), "run": ctx.run_id}}
    target = f"ConfigMap {namespace}/{HEARTBEAT}"
    query, client_timeout_s = bounded_write(ctx.settings)
    try:
        response = ctx.api.request("PATCH", path, query, body=patch, content_type=MERGE_PATCH,
                                   timeout_s=client_timeout_s)
    except NoAnswerError as error:
        if error.reason not in ("timeout", "closed"):
            raise  # refused, or a certificate no client accepts: the apiserver's, not etcd's
        return _no_answer(ctx, target, timeout_s, error)
    except NotFoundError as error:
        return [observe("CHECKER_NOT_INSTALLED", Component.ETCD, object=target, message=error.message)]
    except ApiStatusError as error:
        refusal = classify(error)
        if refusal.cause is Cause.ETCD_NOSPACE:
            return [observe("ETCD_NOSPACE", Component.ETCD, object=target, detail=refusal.detail)]
        if refusal.cause is Cause.STORAGE:
            return [observe("ETCD_WRITE_FAILED", Component.ETCD, object=target, timeout_s=timeout_s,
                            detail=f"HTTP {error.status}: {refusal.detail}", cause=refusal.cause.value)]
        if refusal.cause is Cause.OTHER and error.status >= 500:
            return [observe("APISERVER_WRITE_FAILED", Component.APISERVER, object=target, status=error.status,
                            detail=refusal.detail),
                    blocked("etcd_write", Component.ETCD, f"the apiserver failed the write with an error that "
                                                          f"is not etcd's (HTTP {error.status})", refusal)]
        return observations_for(ctx, "etcd_write", Component.ETCD, target, error)
    return [observe("ETCD_WRITE_OK", Component.ETCD, latency_ms=ms(response.seconds))]


def _no_answer(ctx: ProbeContext, target: str, timeout_s: float, error: NoAnswerError) -> list[Observation]:
    slow_webhooks = [w for w in webhooks(ctx).fail_closed_on(heartbeat_write(ctx.settings.namespace))
                     if w.timeout_s >= timeout_s]
    if slow_webhooks:
        names = ", ".join(f"{w.name} (timeoutSeconds {w.timeout_s})" for w in slow_webhooks[:3])
        return [blocked("etcd_write", Component.ETCD,
                        f"the write to {target} got no answer within {timeout_s:g} s and fail-closed admission "
                        f"webhook(s) {names} intercept it, so the wait may be theirs", cause=WEBHOOK_INTERCEPTS)]
    return [observe("ETCD_WRITE_FAILED", Component.ETCD, object=target, timeout_s=timeout_s,
                    detail=f"no answer ({error.reason})", cause="no-answer")]
