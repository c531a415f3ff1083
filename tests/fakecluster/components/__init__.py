"""Simulated control-plane components, driven by the simulated clock."""

from .context import Context
from .controller_manager import ControllerManager
from .etcd import Etcd
from .kubelet import Kubelets
from .scheduler import Scheduler
from .simulation import Simulation
from .static_pods import StaticPods

__all__ = ["Context", "ControllerManager", "Etcd", "Kubelets", "Scheduler", "Simulation", "StaticPods"]
