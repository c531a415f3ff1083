"""Named failure scenarios in simulated mode, one per recording, and the runtime fault switches
of the control endpoint. Literal tables: the CLI, the control endpoint and the contract tests
read these same dicts.

A scenario is applied to a started FakeCluster (with demo objects and at least three nodes,
node-c being the one that is lost) and reproduces what the recording's note describes.
"""

from __future__ import annotations

from typing import Callable

from .cluster import FakeCluster

LOST_NODE = "node-c"


def _orphan(fc: FakeCluster, name: str) -> None:
    """A pod bound to a node that does not exist, deleted just now (grace period 5 s)."""
    fc.add_pod("demo", name, node_name="node-gone", deleted_seconds_ago=0)


def _kcm_down(fc: FakeCluster) -> None:
    fc.stop_component("controller-manager")
    fc.lose_node(LOST_NODE)
    _orphan(fc, "orphan-2")
    fc.advance(150)


def _scheduler_down(fc: FakeCluster) -> None:
    fc.stop_component("scheduler", release_lease=True)
    fc.advance(50)


def _node_lost(fc: FakeCluster) -> None:
    fc.lose_node(LOST_NODE)
    _orphan(fc, "orphan-1")
    fc.advance(60)


def _node_lost_orphan_pending(fc: FakeCluster) -> None:
    fc.lose_node(LOST_NODE)
    fc.advance(40)
    _orphan(fc, "orphan-1")
    fc.advance(20)


def _quorum_lost(fc: FakeCluster) -> None:
    fc.stop_etcd_members(2)
    fc.advance(15)


SCENARIOS: dict[str, Callable[[FakeCluster], None]] = {
    "healthy": lambda fc: None,
    "apiserver-down": lambda fc: fc.set_apiserver("down"),
    "apiserver-hung": lambda fc: fc.set_apiserver("hung"),
    "etcd-one-member-down": lambda fc: fc.stop_etcd_members(1),
    "etcd-quorum-lost": _quorum_lost,
    "kcm-down": _kcm_down,
    "scheduler-down": _scheduler_down,
    "node-lost-kcm-alive": _node_lost,
    "node-lost-kcm-alive-orphan-pending": _node_lost_orphan_pending,
}


def _needs(argument: str | None, what: str) -> str:
    if not argument:
        raise ValueError(f"this fault needs {what}")
    return argument


FAULTS: dict[str, Callable[[FakeCluster, str | None], None]] = {
    "apiserver-down": lambda fc, arg: fc.set_apiserver("down"),
    "apiserver-hung": lambda fc, arg: fc.set_apiserver("hung"),
    "apiserver-slow": lambda fc, arg: fc.set_apiserver("slow", float(arg or 2.0)),
    "apiserver-up": lambda fc, arg: fc.set_apiserver("up"),
    "etcd-member-down": lambda fc, arg: fc.stop_etcd_members(1),
    "etcd-quorum-lost": lambda fc, arg: fc.stop_etcd_members(2),
    "etcd-ok": lambda fc, arg: fc.stop_etcd_members(0),
    "kcm-down": lambda fc, arg: fc.stop_component("controller-manager"),
    "kcm-up": lambda fc, arg: fc.start_component("controller-manager"),
    "scheduler-down": lambda fc, arg: fc.stop_component("scheduler"),
    "scheduler-up": lambda fc, arg: fc.start_component("scheduler"),
    "node-lost": lambda fc, arg: fc.lose_node(_needs(arg, "a node name")),
    "node-restore": lambda fc, arg: fc.restore_node(_needs(arg, "a node name")),
    "advance": lambda fc, arg: fc.advance(float(_needs(arg, "a number of seconds"))),
}
