"""A fake Kubernetes control plane over real HTTPS, with switchable faults.

    from tests.fakecluster import FakeCluster

    with FakeCluster(nodes=3) as fc:
        fc.write_kubeconfig(tmp_path / "kubeconfig")
        fc.stop_component("controller-manager")
        fc.advance(120)
"""

from .cluster import ADMIN_GROUPS, ADMIN_USER, CHECKER_GROUPS, CHECKER_USER, FakeCluster
from .rbac import RuleRef
from .server import RequestRecord

__all__ = ["ADMIN_GROUPS", "ADMIN_USER", "CHECKER_GROUPS", "CHECKER_USER", "FakeCluster", "RequestRecord", "RuleRef"]
