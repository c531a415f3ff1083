"""The EKS control-plane metrics API: kube-controller-manager's work queues and kube-scheduler's
pending pods, read through the apiserver (an independent path to each component's own process).

Two probes, one per component (registered in probes/__init__.py), so that a failure to look is
reported against the right component: `controller_manager` and `scheduler`. Each reads its
endpoint once and a second time, settings.eks_metrics_second_look_s later, only when the first
look shows items or pods waiting (a healthy cluster pays one read per component). Parsing and
the rules are in eksmetrics.py.

Answers: 404 (the group does not exist: not EKS, or EKS before 1.28) -> EKS_METRICS_NOT_SERVED,
which judges nothing. A 5xx (the aggregator's 503 `service unavailable` when the endpoint's
backend cannot be reached) -> EKS_METRICS_FAILING: what EKS answers while the component is down
is not documented, so the diagnosis uses it only to raise the confidence of a verdict reached by
the leader Lease or the component's symptoms. 401/403/429 are mapped by the runner as for any
probe (a 403 names the missing RBAC rule).
"""

from __future__ import annotations

import time

from ..errors import ApiError, BadResponseError
from ..findings import Component, Observation, observe
from ..cluster.kubeapi import Response, one_line, raise_for_status_of, status_answer
from .context import ProbeContext
from .eksmetrics import (
    KCM_PATH,
    KSH_PATH,
    MetricsTextError,
    hung_workers,
    idle_workers,
    parse_controller_manager,
    parse_scheduler,
    scheduler_stalled,
    waiting_without_workers,
)

_MAX_REPORTED = 5  # stuck queues reported one by one; a wedged process has dozens


def controller_manager(ctx: ProbeContext) -> list[Observation]:
    component = Component.CONTROLLER_MANAGER
    first = _read(ctx, KCM_PATH)
    if first.status != 200:
        return [_unusable(first, component, KCM_PATH)]
    look = _parsed(parse_controller_manager, first, KCM_PATH)
    if look.leader is False:
        return [observe("EKS_METRICS_STANDBY", component, path=KCM_PATH)]
    stuck_after = ctx.settings.controller_stuck_after_s
    found = [observe("CONTROLLER_WORKER_HUNG", component, controller=s.queue.name,
                     longest_running_s=int(s.queue.longest_running_s), unfinished_s=int(s.queue.unfinished_s),
                     depth=int(s.queue.depth), threshold_s=int(stuck_after))
             for s in hung_workers(look, stuck_after)]
    if waiting_without_workers(look) and _second_look_fits(ctx):
        second = _second_read(ctx, KCM_PATH)
        if second is not None:
            gap = ctx.settings.eks_metrics_second_look_s
            found += [observe("CONTROLLER_QUEUE_NOT_DRAINING", component, controller=s.queue.name,
                              depth=int(s.queue.depth), first_depth=int(s.first_depth), taken=int(s.queue.taken),
                              gap_s=gap)
                      for s in idle_workers(look, _parsed(parse_controller_manager, second, KCM_PATH))]
    if found:
        return found[:_MAX_REPORTED]
    deepest = max(look.queues.values(), key=lambda queue: queue.depth, default=None)
    if deepest is None or deepest.depth == 0:
        return [observe("CONTROLLER_QUEUES_DRAINING", component, queues=len(look.queues), deepest="none", depth=0)]
    return [observe("CONTROLLER_QUEUES_DRAINING", component, queues=len(look.queues), deepest=deepest.name,
                    depth=int(deepest.depth))]


def scheduler(ctx: ProbeContext) -> list[Observation]:
    component = Component.SCHEDULER
    first = _read(ctx, KSH_PATH)
    if first.status != 200:
        return [_unusable(first, component, KSH_PATH)]
    look = _parsed(parse_scheduler, first, KSH_PATH)
    if look.leader is False:
        return [observe("EKS_METRICS_STANDBY", component, path=KSH_PATH)]
    if look.pending["active"] > 0 and _second_look_fits(ctx):
        second = _second_read(ctx, KSH_PATH)
        if second is not None:
            later = _parsed(parse_scheduler, second, KSH_PATH)
            if scheduler_stalled(look, later):
                return [observe("SCHEDULER_NOT_ATTEMPTING", component, gap_s=ctx.settings.eks_metrics_second_look_s,
                                attempts=int(later.attempts), **_queues(later.pending))]
            look = later
    return [observe("SCHEDULER_QUEUES_MOVING", component, attempts=int(look.attempts), **_queues(look.pending))]


def _read(ctx: ProbeContext, path: str) -> Response:
    """The endpoint's answer when it is 200, 404 or 5xx; any other status raises (the runner maps it)."""
    response = ctx.api.request("GET", path, accept="text/plain", compressed=True, raise_for_status=False)
    if response.status not in (200, 404) and response.status < 500:
        raise_for_status_of(response, "GET", path)
    return response


def _second_read(ctx: ProbeContext, path: str) -> Response | None:
    """The endpoint again after the gap; None when it gives no usable answer then (the first
    look's finding stands: the second only adds the rules that need two looks)."""
    time.sleep(ctx.settings.eks_metrics_second_look_s)
    try:
        response = _read(ctx, path)
    except ApiError:
        return None
    return response if response.status == 200 else None


def _unusable(response: Response, component: Component, path: str) -> Observation:
    if response.status == 404:
        return observe("EKS_METRICS_NOT_SERVED", component, path=path)
    status = status_answer(response)
    detail = f"{status.reason}: {status.message}" if status else one_line(response.text(), 120)
    return observe("EKS_METRICS_FAILING", component, path=path, http_status=response.status, detail=detail)


def _parsed(parse, response: Response, path: str):
    try:
        return parse(response.text())
    except MetricsTextError as error:
        raise BadResponseError("GET", path, str(error)) from None


def _second_look_fits(ctx: ProbeContext) -> bool:
    """The gap and a quick read fit before the run's deadline (a slow second read is cut by the
    deadline and dropped)."""
    return ctx.api.deadline.remaining() > ctx.settings.eks_metrics_second_look_s + 2.0


def _queues(pending: dict[str, float]) -> dict[str, int]:
    return {queue: int(pods) for queue, pods in pending.items()}
