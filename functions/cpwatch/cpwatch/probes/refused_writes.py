"""Observations for a write the apiserver refused for a reason that is not the probed component.

Called by the probes that write (etcd heartbeat, canaries). A webhook that cannot be called is a
finding of its own (WEBHOOK_FAILING_CLOSED); a webhook or policy that denies cpwatch's write is
the checker's set-up; etcd refusing writes is judged by the etcd probe. In each case the probe
itself "could not look" (PROBE_BLOCKED), which never counts against its component.
"""

from __future__ import annotations

from ..errors import ApiStatusError
from ..findings import Component, Observation, observe
from .refusals import Cause, Refusal, classify
from .context import ProbeContext
from .interceptors import webhooks

WEBHOOK_INTERCEPTS = "webhook-intercepts"  # a fail-closed webhook sits on the write; failing or not is unknown


def observations_for(ctx: ProbeContext, probe: str, component: Component, target: str,
                     error: ApiStatusError) -> list[Observation]:
    """What a refused write shows; raises `error` again when the runner's own mapping fits
    (RBAC, throttling, bad requests)."""
    refusal = classify(error)
    if refusal.cause is Cause.WEBHOOK_UNREACHABLE:
        return [webhook_failing_closed(ctx, refusal),
                blocked(probe, component, f"admission webhook {refusal.webhook} refused the write to "
                                          f"{target}: it cannot be called ({refusal.webhook_cause})",
                        refusal)]
    if refusal.cause in (Cause.WEBHOOK_DENIED, Cause.POLICY_DENIED):
        by = ("admission webhook " if refusal.cause is Cause.WEBHOOK_DENIED else "admission policy ") + refusal.webhook
        return [observe("CHECKER_WRITE_DENIED", Component.CHECKER, by=by, object=target, detail=refusal.detail,
                        namespace=ctx.settings.namespace),
                blocked(probe, component, f"{by} denied the write to {target}", refusal)]
    if refusal.is_etcd:
        return [blocked(probe, component, f"etcd refuses writes ({refusal.detail})", refusal)]
    if refusal.cause is Cause.OTHER and refusal.status >= 500:
        return [blocked(probe, component, f"the apiserver failed the write to {target}: HTTP {refusal.status}: "
                                          f"{refusal.detail}", refusal)]
    raise error


def webhook_failing_closed(ctx: ProbeContext, refusal: Refusal) -> Observation:
    webhook = webhooks(ctx).named(refusal.webhook)
    return observe("WEBHOOK_FAILING_CLOSED", Component.EXTENSIONS, webhook=refusal.webhook,
                   configuration=webhook.label() if webhook else "configuration not readable",
                   cause=refusal.webhook_cause or refusal.detail[:160],
                   covers=webhook.coverage() if webhook else "unknown")


def blocked(probe: str, component: Component, because: str, refusal: Refusal | None = None,
            cause: str = "") -> Observation:
    evidence: dict[str, object] = {"probe": probe, "because": because}
    if cause:
        evidence["cause"] = cause
    if refusal is not None:
        evidence.update(cause=refusal.cause.value, status=refusal.status)
        if refusal.webhook:
            evidence["webhook"] = refusal.webhook
    return observe("PROBE_BLOCKED", component, **evidence)


def intercepted_reaction(ctx: ProbeContext, probe: str, component: Component, write, reaction: str) -> Observation | None:
    """PROBE_BLOCKED when a fail-closed webhook intercepts the write a controller's reaction
    needs: its absence then does not show that the controller is down."""
    view = webhooks(ctx)
    found = view.fail_closed_on(write)
    if not found:
        return None
    names = ", ".join(f"{w.name} ({w.label()})" for w in found[:3])
    return blocked(probe, component, f"{reaction} needs {write.describe()}, which fail-closed admission "
                                     f"webhook(s) {names} intercept; a missing reaction may be theirs",
                   cause=WEBHOOK_INTERCEPTS)
