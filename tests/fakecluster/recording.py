"""Replay of a recording of a real control plane (tests/data/real-control-plane/*.json).

Who calls it: FakeCluster.from_recording. The store is seeded with the recorded objects, the
clock is set to the recording's server time and runs on in real time, the recorded health
texts, /version and componentstatuses are served verbatim (until a fault switch changes the
state they describe), and the failure that was in force is applied. Components that were
alive in the recording keep running from the recorded state; kubelets whose Lease was stale
stay stopped. The recorded cluster had no real kubelets (a script posted heartbeats), so
replayed kubelets heartbeat but leave terminating pods alone, as in the recording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from . import objects
from .api import RecordedAnswer
from .clock import parse_http_date, parse_time
from .components.kubelet import LEASE_RENEW_SECONDS
from .store import dumps

if TYPE_CHECKING:
    from .cluster import FakeCluster

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "real-control-plane"

# Response key -> (resource, single object?) of what a replay seeds into the store.
_SEEDS = (
    ("nodes", "nodes", False),
    ("leases_kube_node_lease", "leases", False),
    ("leases_kube_system", "leases", False),
    ("pods_all", "pods", False),
    ("kube_system_pods", "pods", False),
    ("events_failed_scheduling", "events", False),
    ("hpas", "horizontalpodautoscalers", False),
    ("canary_deploy_after", "deployments", True),
)
# Answers served verbatim while the recorded fault is in force.
_VERBATIM = ("livez_verbose", "readyz_verbose", "healthz", "livez_etcd", "readyz_etcd", "version",
             "componentstatuses")
_NODE_GRACE = 40.0


@dataclass(frozen=True)
class Recording:
    scenario: str
    note: str
    recorded_at: datetime
    responses: dict

    @classmethod
    def load(cls, path_or_name: str | Path) -> Recording:
        path = Path(path_or_name)
        if not path.suffix:
            path = RECORDINGS / f"{path_or_name}.json"
        data = json.loads(path.read_text())
        recorded_at = datetime.fromisoformat(data["recorded_at"].replace("Z", "+00:00")).astimezone(timezone.utc)
        return cls(data["scenario"], data.get("note", ""), recorded_at, data["responses"])

    @property
    def server_time(self) -> datetime:
        """The apiserver's Date when the objects were read (else the recording time)."""
        date = (self.responses.get("nodes") or {}).get("date")
        return parse_http_date(date) if date else self.recorded_at

    def body(self, key: str) -> object:
        response = self.responses.get(key) or {}
        return response.get("body") if response.get("status") == 200 else None

    def target(self, key: str) -> str:
        request = self.responses[key]["request"]
        return request.split(" ", 1)[1] if request.startswith(("GET ", "POST ")) else request


def replay(cluster: FakeCluster, recording: Recording) -> None:
    now = recording.server_time
    cluster.clock.set(now)
    seeded = _seed(cluster, recording)
    if not seeded:
        # Nothing was readable (apiserver down or hung): a simulated cluster stands in.
        cluster.seed_simulated()
    else:
        cluster._seeded = True
        cluster.install_infra()
    _serve_verbatim(cluster, recording)
    _apply_fault(cluster, recording, now, seeded)


def _seed(cluster: FakeCluster, recording: Recording) -> bool:
    store = cluster.store
    seeded = False
    namespaces = set()
    for key, resource, single in _SEEDS:
        body = recording.body(key)
        if body is None:
            continue
        items = [body] if single else body.get("items") or []
        if not single:
            store.seed_resource_version(int(body.get("metadata", {}).get("resourceVersion", "0") or 0))
        for item in items:
            item = json.loads(json.dumps(item))
            store.seed(resource, item)
            if item["metadata"].get("namespace"):
                namespaces.add(item["metadata"]["namespace"])
        seeded = seeded or key == "nodes"
    if not seeded:
        return False
    for name in sorted(namespaces | {"default", "kube-node-lease", "kube-public", "kube-system"}):
        if store.peek("namespaces", None, name) is None:
            ns = objects.namespace(name)
            objects.default_namespace(ns)
            store.create("namespaces", ns)
        if store.peek("serviceaccounts", name, "default") is None:
            store.create("serviceaccounts", objects.service_account(name))
    return True


def _serve_verbatim(cluster: FakeCluster, recording: Recording) -> None:
    for key in _VERBATIM:
        response = recording.responses.get(key)
        if not response or response.get("status") is None:
            continue
        body = response["body"]
        raw = body.encode() if isinstance(body, str) else dumps(body)
        cluster.api.recorded[recording.target(key)] = RecordedAnswer(response["status"], raw,
                                                                     response.get("content_type", "application/json"))
    version = recording.body("version")
    if isinstance(version, dict):
        cluster.api.version = version


def _apply_fault(cluster: FakeCluster, recording: Recording, now: datetime, seeded: bool) -> None:
    scenario = recording.scenario
    store = cluster.store
    if seeded:
        cluster.kubelets.finish_pods = False
        for node in store.scan("nodes"):
            name = node["metadata"]["name"]
            lease = store.peek("leases", objects.NODE_LEASE_NAMESPACE, name) or {}
            renewed = parse_time((lease.get("spec") or {}).get("renewTime"))
            stale = renewed is None or (now - renewed).total_seconds() > _NODE_GRACE
            cluster.kubelets.adopt_recorded(name, live=not stale)
    for component, down in ((cluster.controller_manager, scenario == "kcm-down"),
                            (cluster.scheduler, scenario == "scheduler-down")):
        lease = store.peek("leases", "kube-system", component.elector.lease_name)
        spec = (lease or {}).get("spec") or {}
        if down:
            component.running = False
        elif spec.get("holderIdentity") and scenario != "etcd-quorum-lost":
            renewed = parse_time(spec.get("renewTime")) or now
            if (now - renewed).total_seconds() < LEASE_RENEW_SECONDS:
                component.elector.adopt(spec["holderIdentity"], renewed)
    cluster.scheduler.remember_attempts(now)
    if scenario == "apiserver-down":
        cluster._pending_mode = ("down", 2.0)
    elif scenario == "apiserver-hung":
        cluster._pending_mode = ("hung", 2.0)
    elif scenario == "etcd-quorum-lost":
        cluster.etcd.stop_members(2)
    elif scenario == "etcd-one-member-down":
        cluster.etcd.stop_members(1)
