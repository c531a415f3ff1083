"""What EKS's vended AWS/EKS metrics say about the control plane: VendedMetrics -> Observations.

Pure (no I/O); called by second_opinion.py with what aws/vended_metrics.py read. A series
without datapoints (clusters before Kubernetes 1.28, or a read that did not ask for it) gives no
observation at all, so it changes no verdict. Times in the evidence are the starts of the
1-minute periods, in UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..aws.vended_metrics import (
    APISERVER_REQUESTS,
    APISERVER_REQUESTS_5XX,
    APISERVER_REQUESTS_429,
    PERIOD_S,
    SCHEDULER_ATTEMPTS,
    SCHEDULER_PENDING,
    SCHEDULER_PENDING_GATED,
    STORAGE_SIZE,
    VendedMetrics,
)
from ..findings import Component, Observation, observe
from ..probes.etcd_db_size import human_bytes
from ..settings import Settings

_PERIOD = timedelta(seconds=PERIOD_S)


def scheduler_findings(metrics: VendedMetrics, settings: Settings) -> list[Observation]:
    """The newest unbroken run of minutes in which pods wait (gated ones excepted: the scheduler
    does not try them) and no attempt is counted; long enough, the scheduler is not scheduling.

    A minute with a pending-pods datapoint and none for attempts counts as no attempt: the
    attempts counter (scheduler_schedule_attempts_total) only exists once the scheduler has made
    its first attempt, and the pending gauge comes from the same scrape. Whether EKS then
    publishes nothing or a zero is not documented, so the finding says which it saw
    (attempts_counted: every silent minute had a published zero)."""
    pending = metrics.by_minute(SCHEDULER_PENDING)
    if not pending:
        return []
    gated = metrics.by_minute(SCHEDULER_PENDING_GATED)
    attempts = metrics.by_minute(SCHEDULER_ATTEMPTS)
    minutes = sorted(pending)
    newest = minutes[-1]
    waiting_now = max(0, int(pending[newest] - gated.get(newest, 0)))
    silent: list[datetime] = []
    for minute in reversed(minutes):
        waiting = pending[minute] - gated.get(minute, 0)
        follows = not silent or silent[-1] - minute == _PERIOD
        if waiting > 0 and attempts.get(minute, 0) == 0 and follows:
            silent.append(minute)
        else:
            break
    if len(silent) * PERIOD_S >= settings.vended_scheduler_silent_s:
        return [observe("VENDED_SCHEDULER_NOT_ATTEMPTING", Component.SCHEDULER, waiting=waiting_now,
                        minutes=len(silent), since=_hhmm(silent[-1]), until=_hhmm(silent[0]),
                        threshold_s=int(settings.vended_scheduler_silent_s),
                        attempts_counted=all(minute in attempts for minute in silent))]
    return [observe("VENDED_SCHEDULER_ATTEMPTING", Component.SCHEDULER, attempts=int(sum(attempts.values())),
                    minutes=len(minutes), since=_hhmm(minutes[0]), waiting=waiting_now)]


def apiserver_findings(metrics: VendedMetrics, settings: Settings, serving_wanted: bool) -> list[Observation]:
    """5XX and 429 shares of all requests over the read; with `serving_wanted` (cpwatch cannot
    judge the apiserver itself), what the newest published minute counted."""
    requests = metrics.by_minute(APISERVER_REQUESTS)
    if not requests:
        return []
    errors = metrics.by_minute(APISERVER_REQUESTS_5XX)
    rejected = metrics.by_minute(APISERVER_REQUESTS_429)
    total = sum(requests.values())
    since, count = _hhmm(min(requests)), len(requests)
    found: list[Observation] = []
    if total >= settings.vended_rate_min_requests:
        errors_total = sum(errors.get(minute, 0) for minute in requests)
        rejected_total = sum(rejected.get(minute, 0) for minute in requests)
        error_percent = round(100 * errors_total / total, 1)
        rejected_percent = round(100 * rejected_total / total, 1)
        if error_percent >= settings.vended_5xx_warn_percent:
            found.append(observe("VENDED_APISERVER_5XX", Component.APISERVER, percent=error_percent,
                                 errors=int(errors_total), requests=int(total), minutes=count, since=since,
                                 warn_percent=settings.vended_5xx_warn_percent))
        if rejected_percent >= settings.vended_429_warn_percent:
            found.append(observe("VENDED_APISERVER_429", Component.APISERVER, percent=rejected_percent,
                                 rejected=int(rejected_total), requests=int(total), minutes=count, since=since,
                                 warn_percent=settings.vended_429_warn_percent))
        if not found:  # judged and below both thresholds: an earlier warning of these rates ends
            found.append(observe("VENDED_APISERVER_RATES_OK", Component.APISERVER, errors_percent=error_percent,
                                 rejected_percent=rejected_percent, requests=int(total), minutes=count, since=since))
    if serving_wanted:
        newest = max(requests)
        found.append(observe("VENDED_APISERVER_SERVING", Component.APISERVER, requests=int(requests[newest]),
                             minute=_hhmm(newest), errors_5xx=int(errors.get(newest, 0)),
                             throttled_429=int(rejected.get(newest, 0))))
    return found


def storage_findings(metrics: VendedMetrics, settings: Settings) -> list[Observation]:
    """The newest apiserver_storage_size_bytes against EKS's etcd quota (vended metrics exist
    only on EKS), judged like the /metrics probe (etcd_db_size)."""
    sizes = metrics.series(STORAGE_SIZE)
    if not sizes:
        return []
    _, size = sizes[-1]
    quota = settings.eks_etcd_quota_bytes
    percent = round(100 * size / quota, 1)
    evidence = dict(size=human_bytes(size), quota=human_bytes(quota), percent=percent,
                    metric=f"AWS/EKS {STORAGE_SIZE.name}", size_bytes=int(size), quota_bytes=int(quota))
    if percent >= settings.etcd_db_warn_percent:
        return [observe("ETCD_DB_NEAR_QUOTA", Component.ETCD, warn_percent=settings.etcd_db_warn_percent, **evidence)]
    return [observe("ETCD_DB_SIZE_OK", Component.ETCD, **evidence)]


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")
