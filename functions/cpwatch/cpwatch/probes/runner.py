"""Runs the probes concurrently under one deadline and turns every outcome into observations.

Called by check.py. Each probe runs in its own daemon thread; a probe still running at the
deadline is reported as PROBE_TIMED_OUT and abandoned (its thread cannot hold the process).
The mapping from errors to findings lives here, once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from ..errors import (
    AwsAccessDeniedError,
    AwsError,
    BadResponseError,
    CannotConnectError,
    DeadlineExceededError,
    ForbiddenError,
    NoAnswerError,
    NotFoundError,
    ApiStatusError,
    TooManyRequestsError,
    UnauthorizedError,
)
from ..findings import Observation, observe
from . import Probe
from .context import ProbeContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    observations: tuple[Observation, ...]
    seconds: float


def run_probes(probes: tuple[Probe, ...], ctx: ProbeContext) -> list[ProbeResult]:
    slots: dict[str, ProbeResult] = {}
    lock = threading.Lock()
    threads = []
    for probe in probes:
        thread = threading.Thread(target=_run_one, args=(probe, ctx, slots, lock), name=f"probe-{probe.name}", daemon=True)
        thread.start()
        threads.append((probe, thread))
    for probe, thread in threads:
        thread.join(timeout=max(ctx.api.deadline.remaining(), 0.0))
    results = []
    with lock:
        for probe, _ in threads:
            result = slots.get(probe.name)
            if result is None:
                result = ProbeResult(probe.name, (observe("PROBE_TIMED_OUT", probe.component, probe=probe.name),),
                                     seconds=0.0)
            results.append(result)
    return results


def _run_one(probe: Probe, ctx: ProbeContext, slots: dict[str, ProbeResult], lock: threading.Lock) -> None:
    started = time.monotonic()
    try:
        observations = tuple(probe.run(ctx))
    except Exception as error:  # the one place every probe outcome, bugs included, becomes a finding
        observations = (error_observation(probe, error),)
        if not isinstance(error, (NoAnswerError, CannotConnectError, ApiStatusError, BadResponseError,
                                  DeadlineExceededError, AwsError)):
            log.exception("probe %s crashed", probe.name)
    with lock:
        slots[probe.name] = ProbeResult(probe.name, observations, time.monotonic() - started)


def error_observation(probe: Probe, error: Exception) -> Observation:
    component = probe.component
    if isinstance(error, DeadlineExceededError):
        return observe("PROBE_TIMED_OUT", component, probe=probe.name)
    if isinstance(error, NoAnswerError):
        return observe("PROBE_NO_ANSWER", component, probe=probe.name, path=error.path, reason=error.reason)
    if isinstance(error, CannotConnectError):
        return observe("CHECKER_CANNOT_CONNECT", component, path=error.path, reason=error.reason, detail=error.detail)
    if isinstance(error, UnauthorizedError):
        return observe("CHECKER_UNAUTHORIZED", component, path=error.path)
    if isinstance(error, TooManyRequestsError):
        return observe("PROBE_THROTTLED", component, probe=probe.name, path=error.path)
    if isinstance(error, ForbiddenError):
        return observe("CHECKER_FORBIDDEN", component, method=error.method, path=error.path, message=error.message,
                       reason=error.reason, http_status=error.status)
    if isinstance(error, NotFoundError):
        return observe("PROBE_FAILED", component, probe=probe.name, detail=f"{error.path} not found: {error.message}")
    if isinstance(error, AwsAccessDeniedError):
        return observe("CHECKER_AWS_DENIED", component, operation=f"{error.service}:{error.operation}", detail=error.detail)
    if isinstance(error, AwsError):
        return observe("CHECKER_AWS_FAILED", component, operation=f"{error.service}:{error.operation}", detail=error.detail)
    if isinstance(error, (ApiStatusError, BadResponseError)):
        return observe("PROBE_FAILED", component, probe=probe.name, detail=error.detail)
    return observe("PROBE_CRASHED", component, probe=probe.name, error=f"{type(error).__name__}: {str(error)[:200]}")
