"""The probe registry: every probe cpwatch runs, in one literal tuple.

`writes` marks active probes (they change objects in the checker's namespace); read-only mode
skips them. `periodic` marks probes that read something large: they run once per
settings.metrics_interval_s (check.py decides). The runner (runner.py) runs each with the same
signature and owns their deadline; each probe module is called only through this registry,
by judging/check.py (and its own tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..findings import Component, Observation
from . import (
    admission_webhooks,
    aggregated_apis,
    apiserver_connections,
    apiserver_identities,
    componentstatuses,
    deployment_canary,
    ec2_instances,
    eks_metrics,
    etcd_db_size,
    etcd_write,
    health,
    latency,
    leader_leases,
    node_heartbeats,
    pending_pods,
    scheduler_canary,
    serviceaccount_canary,
    serving_certificate,
    static_pods,
    terminating_pods,
)
from .context import ProbeContext


@dataclass(frozen=True)
class Probe:
    name: str
    component: Component  # who a failure to look is reported against
    run: Callable[[ProbeContext], list[Observation]]
    writes: bool = False
    periodic: bool = False


PROBES: tuple[Probe, ...] = (
    Probe("health", Component.APISERVER, health.probe),
    Probe("latency", Component.APISERVER, latency.probe),
    Probe("apiserver_identities", Component.APISERVER, apiserver_identities.probe),
    Probe("apiserver_connections", Component.APISERVER, apiserver_connections.probe),
    Probe("serving_certificate", Component.APISERVER, serving_certificate.probe),
    Probe("etcd_write", Component.ETCD, etcd_write.probe, writes=True),
    Probe("etcd_db_size", Component.ETCD, etcd_db_size.probe, periodic=True),
    Probe("leader_leases", Component.CONTROLLER_MANAGER, leader_leases.probe),
    Probe("node_heartbeats", Component.CONTROLLER_MANAGER, node_heartbeats.probe),
    Probe("terminating_pods", Component.CONTROLLER_MANAGER, terminating_pods.probe),
    Probe("ec2_instances", Component.CONTROLLER_MANAGER, ec2_instances.probe),
    Probe("deployment_canary", Component.CONTROLLER_MANAGER, deployment_canary.probe, writes=True),
    Probe("serviceaccount_canary", Component.CONTROLLER_MANAGER, serviceaccount_canary.probe, writes=True),
    Probe("pending_pods", Component.SCHEDULER, pending_pods.probe),
    Probe("scheduler_canary", Component.SCHEDULER, scheduler_canary.probe, writes=True),
    Probe("admission_webhooks", Component.EXTENSIONS, admission_webhooks.probe),
    Probe("aggregated_apis", Component.EXTENSIONS, aggregated_apis.probe),
    # EKS control-plane metrics API (404 elsewhere: a context finding, nothing judged)
    Probe("eks_kcm_metrics", Component.CONTROLLER_MANAGER, eks_metrics.controller_manager),
    Probe("eks_ksh_metrics", Component.SCHEDULER, eks_metrics.scheduler),
    # supporting evidence last, so a component's key finding is its primary signal
    Probe("componentstatuses", Component.CHECKER, componentstatuses.probe),
    Probe("static_pods", Component.CHECKER, static_pods.probe),
)
