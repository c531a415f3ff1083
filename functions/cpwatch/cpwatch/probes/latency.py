"""Latency of small reads: a few sequential GETs of one small object.

A read that gets no answer while the health endpoints answer is the recorded signature of
etcd quorum loss (reads hang, even with resourceVersion=0); the diagnosis decides which.
"""

from __future__ import annotations

import statistics

from ..errors import NoAnswerError
from ..findings import Component, Observation, observe
from ..kubeapi import raise_for_status_of
from .context import ProbeContext, lease_path, ms

_PATH = lease_path("kube-system", "kube-scheduler")


def probe(ctx: ProbeContext) -> list[Observation]:
    samples: list[float] = []
    for _ in range(ctx.settings.latency_samples):
        try:
            response = ctx.api.request("GET", _PATH, raise_for_status=False)
        except NoAnswerError as error:
            if error.reason not in ("timeout", "closed"):
                raise  # refused, or a certificate no client accepts: the health probe's finding
            return [observe("APISERVER_READS_NO_ANSWER", Component.APISERVER, path=_PATH, reason=error.reason)]
        if response.status != 404:  # an answered 404 still measured a round trip to storage
            raise_for_status_of(response, "GET", _PATH)
        samples.append(response.seconds)
    median_ms = ms(statistics.median(samples))
    if median_ms > ctx.settings.latency_warn_ms:
        return [observe("APISERVER_SLOW", Component.APISERVER, median_ms=median_ms, samples=len(samples),
                        threshold_ms=int(ctx.settings.latency_warn_ms))]
    return [observe("APISERVER_READS_OK", Component.APISERVER, median_ms=median_ms, samples=len(samples))]
