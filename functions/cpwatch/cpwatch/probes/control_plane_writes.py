"""What the control plane itself writes through admission, and what stops when a webhook refuses it.

Pure data, used by the admission-webhooks probe (which fail-closed webhooks sit on these writes)
and by the explanation table (a component's failure that such a webhook explains). Every write
below passes the apiserver's admission chain like any client's: leader election and the
kubelets' heartbeats update Leases, the scheduler creates pods/binding, the node lifecycle
controller and kubelets update nodes/status, the endpoint controllers update Endpoints and
EndpointSlices, DaemonSets and the kubelets (mirror pods) create pods in kube-system.
"""

from __future__ import annotations

from dataclasses import dataclass

from .webhookrules import Write

LEADER_LEASES = "leader-leases"
NODE_LEASES = "node-leases"
NODE_STATUS = "node-status"
POD_BINDING = "pod-binding"
SYSTEM_PODS = "system-pods"
ENDPOINT_SLICES = "endpointslices"
ENDPOINTS = "endpoints"


@dataclass(frozen=True)
class ControlPlaneWrite:
    key: str
    write: Write  # namespaced writes made in every namespace are looked at in `default`
    what: str
    consequence: str  # what stops when a fail-closed webhook refuses it
    every_namespace: bool = False  # made in every namespace: a webhook on some namespaces covers it there


CONTROL_PLANE_WRITES: tuple[ControlPlaneWrite, ...] = (
    ControlPlaneWrite(LEADER_LEASES, Write("UPDATE", "coordination.k8s.io", "leases", namespace="kube-system"),
                      "leader Leases in kube-system", "the controller-manager and scheduler lose leadership and stop"),
    ControlPlaneWrite(NODE_LEASES, Write("UPDATE", "coordination.k8s.io", "leases", namespace="kube-node-lease"),
                      "node Leases", "every node goes NotReady and its pods are evicted"),
    ControlPlaneWrite(NODE_STATUS, Write("UPDATE", "", "nodes", "status"), "node status",
                      "node status stops and nodes go NotReady"),
    ControlPlaneWrite(POD_BINDING, Write("CREATE", "", "pods", "binding", namespace="default"), "pod binding",
                      "no new pod can start", every_namespace=True),
    ControlPlaneWrite(SYSTEM_PODS, Write("CREATE", "", "pods", namespace="kube-system"), "pods in kube-system",
                      "system pods (DaemonSets, mirror pods of static pods) cannot be created"),
    ControlPlaneWrite(ENDPOINT_SLICES, Write("UPDATE", "discovery.k8s.io", "endpointslices", namespace="default"),
                      "EndpointSlices", "Services stop following their pods", every_namespace=True),
    ControlPlaneWrite(ENDPOINTS, Write("UPDATE", "", "endpoints", namespace="default"), "Endpoints",
                      "Services stop following their pods", every_namespace=True),
)

BY_KEY = {write.key: write for write in CONTROL_PLANE_WRITES}
