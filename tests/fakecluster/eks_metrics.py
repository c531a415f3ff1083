"""The EKS control-plane metrics API: /apis/metrics.eks.amazonaws.com/v1/{kcm,ksh}/container/metrics.

Who calls it: the API layer, for requests under that group once FakeCluster.serve_eks_metrics()
registered its APIService (without it the group does not exist: 404, as on any cluster that is
not EKS 1.28+). RBAC: resources kcm/metrics and ksh/metrics, verb get (infra/10-rbac.yaml).

The answers follow the simulated components, not canned numbers: the controller-manager's work
queues (components/workqueues.py; workqueue_* as client-go exports them, histograms with
ExponentialBuckets(10e-9, 10, 12)) and the scheduler's queues and attempts
(scheduler_pending_pods{queue}, scheduler_schedule_attempts_total{profile,result}), with
leader_election_master_status. A component that is not running cannot be reached behind the
aggregated API: the aggregator answers 503 text/plain `service unavailable` (its answer for an
unreachable backend, as recorded in aggregated-api-unavailable). What EKS really answers then
is not documented; cpwatch treats any 5xx as supporting evidence only. The aggregator's proxy
passes a reachable backend's own answer through as it is (status, body, Content-Type):
FakeCluster.fail_eks_metrics makes a backend answer an error, or 200 with a broken exposition.
"""

from __future__ import annotations

import json
from datetime import datetime

from .components.controller_manager import ControllerManager
from .components.scheduler import Scheduler

GROUP = "metrics.eks.amazonaws.com"
APISERVICE = f"v1.{GROUP}"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
# The EKS metrics API is served by EKS's own service; any name does for the fake's APIService.
SERVICE = ("kube-system", "eks-control-plane-metrics", 443)

_BUCKETS = ("1e-08", "1e-07", "1e-06", "9.999999999999999e-06", "9.999999999999999e-05", "0.001", "0.01", "0.1",
            "1", "10", "100", "1000")
# Queues of a 1.31 kube-controller-manager that the fake does not model: present and idle.
_IDLE_QUEUES = ("ClusterRoleAggregator", "DynamicCABundle-client-ca-bundle", "bootstrap_signer_queue",
                "certificate", "claims", "cronjob", "daemonset", "disruption", "endpoint", "endpoint_slice",
                "endpoint_slice_mirroring", "ephemeral_volume", "garbage_collector_attempt_to_delete",
                "garbage_collector_attempt_to_orphan", "garbage_collector_graph_changes", "job", "job_orphan_pod",
                "noexec_taint_node", "noexec_taint_pod", "orphaned_pods_nodes", "pvcprotection", "pvcs",
                "pvprotection", "replicaset", "replicationmanager", "resource_quota_controller_resource_changes",
                "resourcequota_primary", "resourcequota_priority", "root_ca_cert_publisher", "service",
                "serviceaccount_tokens_secret", "statefulset", "token_cleaner", "ttl_jobs_to_delete", "ttlcontroller",
                "volume_expand", "volumes")


def answer(component: str, controller_manager: ControllerManager, scheduler: Scheduler,
           now: datetime) -> tuple[int, bytes, str] | None:
    """(status, body, content type) for `kcm` or `ksh`; None for any other resource of the group (404)."""
    if component == "kcm":
        if not controller_manager.running:
            return 503, b"service unavailable\n", TEXT
        return 200, kcm_text(controller_manager, now).encode(), CONTENT_TYPE
    if component == "ksh":
        if not scheduler.running:
            return 503, b"service unavailable\n", TEXT
        return 200, ksh_text(scheduler).encode(), CONTENT_TYPE
    return None


def internal_error(message: str) -> bytes:
    """A metav1.Status InternalError as apimachinery writes it (errors.NewInternalError)."""
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": f"Internal error occurred: {message}", "reason": "InternalError",
                       "details": {"causes": [{"message": message}]}, "code": 500}).encode()


def kcm_text(kcm: ControllerManager, now: datetime) -> str:
    lines = _leader("kube-controller-manager", kcm.elector.leader)
    # Controllers start only once the process leads: a standby exports no work queue.
    queues = dict(kcm.workqueues.queues) if kcm.elector.leader else {}
    names = sorted([*queues, *(_IDLE_QUEUES if queues else ())])
    state = {name: queues.get(name) for name in names}

    def gauge(name: str, help_text: str, value) -> None:
        lines.extend([f"# HELP {name} [ALPHA] {help_text}", f"# TYPE {name} gauge"])
        lines.extend(f'{name}{{name="{queue}"}} {value(queue, q)}' for queue, q in state.items())

    def counter(name: str, help_text: str, value) -> None:
        lines.extend([f"# HELP {name} [ALPHA] {help_text}", f"# TYPE {name} counter"])
        lines.extend(f'{name}{{name="{queue}"}} {value(queue, q)}' for queue, q in state.items())

    counter("workqueue_adds_total", "Total number of adds handled by workqueue", lambda _, q: q.adds if q else 0)
    gauge("workqueue_depth", "Current depth of workqueue", lambda _, q: q.depth if q else 0)
    gauge("workqueue_longest_running_processor_seconds",
          "How many seconds has the longest running processor for workqueue been running.",
          lambda queue, q: _float(kcm.workqueues.longest_running_s(queue, now)) if q else 0)
    _histogram(lines, "workqueue_queue_duration_seconds",
               "How long in seconds an item stays in workqueue before being requested.",
               {queue: (q.taken if q else 0, 0.001 * (q.taken if q else 0)) for queue, q in state.items()})
    counter("workqueue_retries_total", "Total number of retries handled by workqueue", lambda _, q: 0)
    gauge("workqueue_unfinished_work_seconds",
          "How many seconds of work has done that is in progress and hasn't been observed by work_duration. "
          "Large values indicate stuck threads. One can deduce the number of stuck threads by observing the "
          "rate at which this increases.",
          lambda queue, q: _float(kcm.workqueues.longest_running_s(queue, now)) if q else 0)
    _histogram(lines, "workqueue_work_duration_seconds",
               "How long in seconds processing an item from workqueue takes.",
               {queue: ((q.taken - (1 if q.hung_since else 0)) if q else 0, q.work_seconds if q else 0.0)
                for queue, q in state.items()})
    return "\n".join(lines + _process()) + "\n"


def ksh_text(scheduler: Scheduler) -> str:
    lines = _leader("kube-scheduler", scheduler.elector.leader)
    lines += ["# HELP scheduler_pending_pods [STABLE] Number of pending pods, by the queue type. 'active' means "
              "number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number "
              "of pods in unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the "
              "number of unschedulable pods that the scheduler never attempted to schedule because they are gated.",
              "# TYPE scheduler_pending_pods gauge"]
    lines += [f'scheduler_pending_pods{{queue="{queue}"}} {pods}'
              for queue, pods in sorted(scheduler.pending_queues().items())]
    lines += ["# HELP scheduler_schedule_attempts_total [STABLE] Number of attempts to schedule pods, by the "
              "result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal "
              "scheduler problem.", "# TYPE scheduler_schedule_attempts_total counter"]
    lines += [f'scheduler_schedule_attempts_total{{profile="default-scheduler",result="{result}"}} '
              f'{scheduler.attempt_results.get(result, 0)}' for result in ("error", "scheduled", "unschedulable")]
    return "\n".join(lines + _process()) + "\n"


def _leader(lease: str, leading: bool) -> list[str]:
    return ["# HELP leader_election_master_status [ALPHA] Gauge of if the reporting system is master of the "
            "relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the "
            "lease. Please make sure to group by name.", "# TYPE leader_election_master_status gauge",
            f'leader_election_master_status{{name="{lease}"}} {1 if leading else 0}']


def _histogram(lines: list[str], name: str, help_text: str, counts: dict[str, tuple[int, float]]) -> None:
    """Every item observed at a few milliseconds: buckets from 0.01 s hold them all."""
    lines.extend([f"# HELP {name} [ALPHA] {help_text}", f"# TYPE {name} histogram"])
    for queue, (count, total) in counts.items():
        lines.extend(f'{name}_bucket{{name="{queue}",le="{le}"}} {count if float(le) >= 0.01 else 0}'
                     for le in _BUCKETS)
        lines.append(f'{name}_bucket{{name="{queue}",le="+Inf"}} {count}')
        lines.append(f'{name}_sum{{name="{queue}"}} {_float(total)}')
        lines.append(f'{name}_count{{name="{queue}"}} {count}')


def _float(value: float) -> str:
    return f"{value:.6g}" if value else "0"


def _process() -> list[str]:
    return ["# HELP go_goroutines Number of goroutines that currently exist.", "# TYPE go_goroutines gauge",
            "go_goroutines 1214",
            "# HELP process_resident_memory_bytes Resident memory size in bytes.",
            "# TYPE process_resident_memory_bytes gauge", "process_resident_memory_bytes 1.38477568e+08"]

