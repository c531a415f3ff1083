"""Which fail-closed admission webhooks intercept a write: the configurations read once per run.

Used by the admission-webhooks probe (what the control plane writes) and by the probes whose
outcome rests on a write, of the checker or of a controller (the heartbeat, the canaries): a
write a fail-closed webhook intercepts can fail because of the webhook, so its failure is not
evidence against etcd, the controller-manager or the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ApiError
from .webhookrules import Webhook, Write, parse_configuration
from .context import ProbeContext, entries

_CONFIGURATIONS = (
    ("validating", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"),
    ("mutating", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"),
)


@dataclass(frozen=True)
class WebhookView:
    webhooks: tuple[Webhook, ...]
    error: ApiError | None = None  # why the configurations could not be read

    def fail_closed_on(self, write: Write) -> list[Webhook]:
        return [w for w in self.webhooks if w.fail_closed and w.intercepts(write)]

    def named(self, name: str) -> Webhook | None:
        return next((w for w in self.webhooks if w.name == name), None)


def intercepted_by(ctx: ProbeContext, write: Write) -> dict[str, object]:
    """Evidence naming the fail-closed webhooks that intercept `write` ({} when none does or the
    configurations cannot be read): a write that fails, or did not happen, may be theirs."""
    names = [w.name for w in webhooks(ctx).fail_closed_on(write)]
    return {"intercepted_by": names} if names else {}


def webhooks(ctx: ProbeContext) -> WebhookView:
    """Every admission webhook of the cluster, read once per run (from the watch cache)."""
    return ctx.cache.get("webhooks", lambda: _load(ctx))


def _load(ctx: ProbeContext) -> WebhookView:
    found: list[Webhook] = []
    try:
        for kind, path in _CONFIGURATIONS:
            body = ctx.api.get_json(path, {"resourceVersion": "0"})
            for item in entries(body.get("items")):
                found.extend(parse_configuration(item, kind))
    except ApiError as error:
        return WebhookView(tuple(found), error=error)
    return WebhookView(tuple(found))
