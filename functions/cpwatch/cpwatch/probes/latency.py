"""Latency of small reads: a few sequential GETs of one small object.

A read that gets no answer ends the probe (the runner reports it); the check counts every read
of the run that got no answer (check.py), and the diagnosis decides whose it is: etcd quorum
loss (reads hang, even with resourceVersion=0, while the health endpoints answer) or the path to
one of several apiservers.
"""

from __future__ import annotations

import statistics

from ..findings import Component, Observation, observe
from ..cluster.kubeapi import raise_for_status_of
from .context import ProbeContext, lease_path, ms

_PATH = lease_path("kube-system", "kube-scheduler")


def probe(ctx: ProbeContext) -> list[Observation]:
    samples: list[float] = []
    for _ in range(ctx.settings.latency_samples):
        response = ctx.api.request("GET", _PATH, raise_for_status=False)
        if response.status != 404:  # an answered 404 still measured a round trip to storage
            raise_for_status_of(response, "GET", _PATH)
        samples.append(response.seconds)
    median_ms = ms(statistics.median(samples))
    if median_ms > ctx.settings.latency_warn_ms:
        return [observe("APISERVER_SLOW", Component.APISERVER, median_ms=median_ms, samples=len(samples),
                        threshold_ms=int(ctx.settings.latency_warn_ms))]
    return [observe("APISERVER_READS_OK", Component.APISERVER, median_ms=median_ms, samples=len(samples))]
