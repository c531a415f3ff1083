"""etcd write probe: merge-patch the checker's heartbeat ConfigMap within a short deadline.

Every write goes through etcd's raft log, so a write that does not succeed while the health
endpoints answer means the cluster is locked. How it fails varies and is kept as evidence:
recorded were a connection closed without an answer (with `?timeout=5s`) and HTTP 500
"resource quota evaluation timed out" after 10 s (without); elsewhere
"etcdserver: request timed out" (500) and 504.
"""

from __future__ import annotations

from ..errors import NoAnswerError, NotFoundError, ServerError
from ..findings import Component, Observation, observe
from .context import ProbeContext, ms

HEARTBEAT = "cpwatch-heartbeat"


def probe(ctx: ProbeContext) -> list[Observation]:
    namespace = ctx.settings.namespace
    path = f"/api/v1/namespaces/{namespace}/configmaps/{HEARTBEAT}"
    timeout_s = ctx.settings.write_timeout_s
    patch = {"data": {"written-at": ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "run": ctx.run_id}}
    target = f"ConfigMap {namespace}/{HEARTBEAT}"
    try:
        response = ctx.api.request("PATCH", path, {"timeout": f"{int(timeout_s)}s"}, body=patch,
                                   content_type="application/merge-patch+json", timeout_s=timeout_s + 2)
    except NoAnswerError as error:
        if error.reason == "refused":
            raise  # the apiserver is gone, not etcd: the runner reports it as no answer
        return [observe("ETCD_WRITE_FAILED", Component.ETCD, object=target, timeout_s=timeout_s,
                        detail=f"no answer ({error.reason})")]
    except ServerError as error:
        return [observe("ETCD_WRITE_FAILED", Component.ETCD, object=target, timeout_s=timeout_s,
                        detail=f"HTTP {error.status}: {error.message}")]
    except NotFoundError as error:
        return [observe("CHECKER_NOT_INSTALLED", Component.ETCD, object=target, message=error.message)]
    return [observe("ETCD_WRITE_OK", Component.ETCD, latency_ms=ms(response.seconds))]
