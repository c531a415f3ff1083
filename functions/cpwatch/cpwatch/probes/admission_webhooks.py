"""Admission webhooks that fail closed on what the control plane itself writes.

A webhook with failurePolicy Fail whose backend goes away refuses every write it covers. When it
covers leader Leases, node Leases or status, pod binding or endpoints, the control plane cannot
do its own work the day that happens: the controller-manager and scheduler lose leadership, nodes
go NotReady, Services stop following their pods. Such webhooks are reported before they fail
(WEBHOOK_COVERS_CONTROL_PLANE, a warning about a risk, with the keys of the writes it intercepts:
the explanation table makes the webhook the cause when it fails or when a component shows the
failure such a write causes). A webhook that is failing now (WEBHOOK_FAILING_CLOSED) is seen by
the probes whose writes it refuses, and here when the Service it is called through has no ready
endpoint.
"""

from __future__ import annotations

from .control_plane_writes import CONTROL_PLANE_WRITES
from ..errors import ForbiddenError
from ..findings import Component, Observation, Status, observe
from ..cluster.kubeapi import FROM_CACHE
from .webhookrules import Webhook
from .context import ProbeContext, entries, examples, field
from .interceptors import webhooks

def probe(ctx: ProbeContext) -> list[Observation]:
    view = webhooks(ctx)
    if view.error is not None:
        raise view.error
    observations: list[Observation] = _without_endpoints(ctx, [w for w in view.webhooks if w.fail_closed])
    for webhook in view.webhooks:
        if not webhook.fail_closed:
            continue
        covered = [w for w in CONTROL_PLANE_WRITES if webhook.intercepts(w.write, in_some_namespace=w.every_namespace)]
        if covered:
            consequences = list(dict.fromkeys(w.consequence for w in covered))
            observations.append(observe(
                "WEBHOOK_COVERS_CONTROL_PLANE", Component.EXTENSIONS, webhook=webhook.name,
                configuration=webhook.label(), writes=examples([w.what for w in covered], limit=7),
                consequence="; ".join(consequences), timeout_s=webhook.timeout_s,
                match_conditions=webhook.has_match_conditions, intercepts=[w.key for w in covered],
                covers=webhook.coverage()))
    if not any(o.status is not Status.UNKNOWN for o in observations):
        fail_closed = [f"{w.name} ({w.label()}): {w.coverage()}" for w in view.webhooks if w.fail_closed]
        observations.append(observe("WEBHOOKS_OK", Component.EXTENSIONS, count=len(view.webhooks),
                                    fail_closed=len(fail_closed), fail_closed_webhooks=fail_closed[:20]))
    return observations


def _without_endpoints(ctx: ProbeContext, fail_closed: list[Webhook]) -> list[Observation]:
    """A fail-closed webhook called through a Service with no ready endpoint cannot be called:
    the apiserver refuses every write it covers, whoever makes them. Seen from the Service's
    EndpointSlices (from the watch cache), so it is named even when none of cpwatch's writes
    pass through it."""
    found: list[Observation] = []
    ready_by_service: dict[tuple[str, str], bool] = {}
    for webhook in fail_closed:
        if webhook.service is None:
            continue
        if webhook.service not in ready_by_service:
            try:
                ready_by_service[webhook.service] = _has_ready_endpoint(ctx, *webhook.service)
            except ForbiddenError as error:
                return [observe("CHECKER_FORBIDDEN", Component.EXTENSIONS, method=error.method, path=error.path,
                                message=error.message, reason=error.reason, http_status=error.status)]
        if not ready_by_service[webhook.service]:
            namespace, name = webhook.service
            found.append(observe("WEBHOOK_FAILING_CLOSED", Component.EXTENSIONS, webhook=webhook.name,
                                 configuration=webhook.label(),
                                 cause=f"its Service {namespace}/{name} has no ready endpoints",
                                 covers=webhook.coverage()))
    return found


def _has_ready_endpoint(ctx: ProbeContext, namespace: str, service: str) -> bool:
    """Whether a Service has a ready endpoint (EndpointSlice: a missing `ready` condition means ready)."""
    body = ctx.api.get_json(f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                            {"labelSelector": f"kubernetes.io/service-name={service}", **FROM_CACHE})
    return any(field(endpoint, "conditions").get("ready") is not False
               for endpoint_slice in entries(body.get("items")) for endpoint in entries(endpoint_slice.get("endpoints")))
