"""Mirror pods of a kubeadm control plane: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler as static pods in kube-system, their readiness and restart counts following the
simulated components.

Who calls it: the simulation tick, only when FakeCluster(static_pods=True). The first three
nodes are the control-plane nodes (stacked etcd: member i runs on control-plane node i). The
kubelet of each node writes its mirror pods (CREATE pods, then UPDATE pods/status, through the
apiserver's write path), so a lost node's pods keep their last status.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from ..clock import rfc3339
from ..objects import KUBELET_VERSION
from .context import Context
from .controller_manager import ControllerManager
from .kubelet import Kubelets
from .scheduler import Scheduler
from .writes import Writes

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


@dataclass(frozen=True)
class _PodState:
    ready: bool
    restarts: int


class StaticPods:
    def __init__(self, context: Context, control_plane_nodes: list[str], kubelets: Kubelets,
                 controller_manager: ControllerManager, scheduler: Scheduler,
                 apiserver_restarts: Callable[[int], int]) -> None:
        self.context = context
        self.writes = Writes(context)
        self.nodes = control_plane_nodes
        self.kubelets = kubelets
        self.controller_manager = controller_manager
        self.scheduler = scheduler
        self.apiserver_restarts = apiserver_restarts
        self._written: dict[str, _PodState] = {}
        self._started: dict[str, datetime] = {}

    def _desired(self) -> dict[tuple[str, str], _PodState]:
        etcd = self.context.etcd
        kcm, scheduler = self.controller_manager, self.scheduler
        desired = {}
        for index, node in enumerate(self.nodes):
            desired[("kube-apiserver", node)] = _PodState(True, self.apiserver_restarts(index))
            desired[("kube-controller-manager", node)] = _PodState(kcm.running, kcm.restarts + kcm.elector.exits)
            desired[("kube-scheduler", node)] = _PodState(scheduler.running,
                                                          scheduler.restarts + scheduler.elector.exits)
        for member in range(3):
            node = self.nodes[member % len(self.nodes)]
            name = "etcd" if member < len(self.nodes) else f"etcd-{member}"
            desired[(name, node)] = _PodState(member not in etcd.down_members, etcd.restarts[member])
        return desired

    def tick(self, now: datetime) -> None:
        if not self.context.can_write() or not self.nodes:
            return
        for (component, node), state in self._desired().items():
            kubelet = self.kubelets.nodes.get(node)
            if kubelet is None or not kubelet.live:
                continue
            name = f"{component}-{node}"
            previous = self._written.get(name)
            if previous == state:
                continue
            if previous is None or (state.ready and not previous.ready) or state.restarts != previous.restarts:
                self._started[name] = now
            pod = _mirror_pod(component, node, state, self._started[name], now,
                              self.context.store.peek("nodes", None, node))
            # The kubelet creates the mirror pod, then its status manager writes pods/status.
            if self.context.store.peek("pods", "kube-system", name) is None:
                refusal = self.writes.create("pods", pod)
            else:
                refusal = self.writes.update("pods", pod, subresource="status")
            if refusal is None:
                self._written[name] = state


def _mirror_pod(component: str, node: str, state: _PodState, started: datetime, now: datetime,
                node_obj: dict | None) -> dict:
    base = "etcd" if component.startswith("etcd") else component
    image = "registry.k8s.io/etcd:3.5.15-0" if base == "etcd" else f"registry.k8s.io/{base}:{KUBELET_VERSION}"
    config_hash = hashlib.md5(f"{component}/{node}".encode()).hexdigest()
    stamp, started_at = rfc3339(now), rfc3339(started)
    ready = "True" if state.ready else "False"
    if state.ready:
        container_state = {"running": {"startedAt": started_at}}
    else:
        container_state = {"waiting": {"reason": "CrashLoopBackOff",
                                       "message": f"back-off 40s restarting failed container={base} "
                                                  f"pod={component}-{node}_kube-system"}}
    not_ready = {} if state.ready else {"reason": "ContainersNotReady",
                                        "message": f"containers with unready status: [{base}]"}
    address = next((a["address"] for a in ((node_obj or {}).get("status") or {}).get("addresses") or []
                    if a.get("type") == "InternalIP"), "10.0.0.4")
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": f"{component}-{node}",
            "namespace": "kube-system",
            "labels": {"component": base, "tier": "control-plane"},
            "annotations": {"kubernetes.io/config.hash": config_hash, "kubernetes.io/config.mirror": config_hash,
                            "kubernetes.io/config.seen": started_at, "kubernetes.io/config.source": "file"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node,
                                 "uid": ((node_obj or {}).get("metadata") or {}).get("uid", ""),
                                 "controller": True}],
        },
        "spec": {
            "containers": [{"name": base, "image": image, "command": [base], "resources": {"requests": {"cpu": "100m"}},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "nodeName": node, "hostNetwork": True, "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "schedulerName": "default-scheduler", "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
            "priorityClassName": "system-node-critical", "priority": 2000001000, "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp},
                {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp},
                {"type": "Ready", "status": ready, "lastProbeTime": None, "lastTransitionTime": stamp, **not_ready},
                {"type": "ContainersReady", "status": ready, "lastProbeTime": None, "lastTransitionTime": stamp,
                 **not_ready},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp},
            ],
            "hostIP": address,
            "podIP": address,
            "startTime": started_at,
            "containerStatuses": [{
                "name": base, "state": container_state,
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": started_at,
                                             "finishedAt": started_at}} if state.restarts else {},
                "ready": state.ready, "restartCount": state.restarts, "image": image,
                "imageID": f"{image}@sha256:{config_hash}{config_hash}", "started": state.ready,
                "containerID": f"containerd://{config_hash}{config_hash}",
            }],
            "qosClass": "Burstable",
        },
    }
