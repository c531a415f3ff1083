"""Replay of a recording of a real control plane (tests/data/real-control-plane/*.json).

Who calls it: FakeCluster.from_recording. The store is seeded with the recorded objects (webhook
configurations of the kind their request names, APIServices, HPAs, the pods and events of
namespace demo included), the clock is set to the recording's server time and runs on in real
time, the recorded health texts, /version and componentstatuses are served verbatim (until a
fault switch changes the state they describe), and the failure that was in force is applied
(the recorded webhook's backend, hanging for webhook-on-binding and webhook-on-leases, the
NOSPACE alarm with the recorded quota and sizes, the expired serving certificate). Components
that were alive in the recording keep running from the recorded state (a leader whose Lease
was renewed lately goes on as its holder, the scheduler continues its backoff and its events'
series); kubelets whose Lease was stale stay stopped. The recordings are of Kubernetes 1.24,
which had no apiserver identity Leases: a replay has none. The recorded cluster had no real kubelets (a script posted heartbeats), so
replayed kubelets heartbeat but leave terminating pods alone, as in the recording.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from . import objects
from .api import RecordedAnswer
from .clock import parse_http_date, parse_time
from .components.kubelet import LEASE_RENEW_SECONDS
from .infra import demo_manifests
from .store import dumps
from .webhooks import KINDS as WEBHOOK_KINDS
from .webhooks import Backend

if TYPE_CHECKING:
    from .cluster import FakeCluster

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "real-control-plane"

# Response key -> (resource, single object?) of what a replay seeds into the store; None: the
# resource its request path names (the webhook configurations are validating or mutating ones).
_SEEDS = (
    ("nodes", "nodes", False),
    ("leases_kube_node_lease", "leases", False),
    ("leases_kube_system", "leases", False),
    ("pods_all", "pods", False),
    ("kube_system_pods", "pods", False),
    ("events_failed_scheduling", "events", False),
    ("hpas", "horizontalpodautoscalers", False),
    ("canary_deploy_after", "deployments", True),
    ("webhook_configurations", None, False),
    ("apiservices", "apiservices", False),
    ("hpa_web", "horizontalpodautoscalers", True),
    ("pods_demo", "pods", False),
    ("events_demo", "events", False),
)
# Recordings whose webhook backends accepted connections and never answered.
_HANGING_WEBHOOKS = ("webhook-on-binding", "webhook-on-leases")
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
        # apiserver-cert-expired.json has no HTTP answers, only what the TLS handshake gave.
        return cls(data["scenario"], data.get("note", ""), recorded_at, data.get("responses") or {})

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
    # The recorded control plane (1.24) had no apiserver identity Leases.
    cluster.apiserver_identities.enabled = False
    seeded = _seed(cluster, recording)
    if not seeded:
        # Nothing was readable (apiserver down or hung): a simulated cluster stands in.
        cluster.seed_simulated()
    else:
        cluster._seeded = True
        cluster.install_infra()
        cluster.seed_apiservices()
        _seed_unrecorded_demo_objects(cluster)
    # The fault first: switching it on ends verbatim answers, which describe the faulty state.
    _apply_fault(cluster, recording, now, seeded)
    _serve_verbatim(cluster, recording)


def _seed(cluster: FakeCluster, recording: Recording) -> bool:
    store = cluster.store
    seeded = False
    namespaces = set()
    for key, resource, single in _SEEDS:
        body = recording.body(key)
        if body is None:
            continue
        items = [body] if single else body.get("items") or []
        resource = resource or recording.target(key).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
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


def _seed_unrecorded_demo_objects(cluster: FakeCluster) -> None:
    """Deployment `web` was in every recorded cluster (see the README) but is read back only
    by some recordings; the HPA controller needs its scale."""
    for manifest in demo_manifests():
        if manifest["kind"] == "Deployment" and cluster.store.peek(
                "deployments", manifest["metadata"]["namespace"], manifest["metadata"]["name"]) is None:
            cluster.ensure_namespace(manifest["metadata"]["namespace"])
            cluster.apply(manifest)


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
            # Under NOSPACE the kubelets live but cannot renew: they resume once writes land.
            cluster.kubelets.adopt_recorded(name, live=not stale or scenario == "etcd-nospace")
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
        cluster.set_apiserver("down")
    elif scenario == "apiserver-hung":
        cluster.set_apiserver("hung")
    elif scenario == "etcd-quorum-lost":
        cluster.etcd.stop_members(2)
    elif scenario == "etcd-one-member-down":
        cluster.etcd.stop_members(1)
    elif scenario in ("webhook-refused", "webhook-timeout"):
        _replay_webhook(cluster, recording)
    elif scenario in _HANGING_WEBHOOKS:
        _replay_hanging_webhooks(cluster)
    elif scenario == "apiserver-cert-expired":
        cluster.set_serving_certificate("expired")
    elif scenario == "etcd-nospace":
        _replay_nospace(cluster, recording)


_WEBHOOK_CALL = re.compile(r'failed calling webhook "([^"]+)": failed to call webhook: Post "([^"?]+)\?timeout=')


def _replay_webhook(cluster: FakeCluster, recording: Recording) -> None:
    """The recorded webhook failing the same way: the recorded configuration when there is one,
    else one made from the recorded refusal (its webhook name, URL and deadline)."""
    message = ((recording.responses.get("write_configmap") or {}).get("body") or {}).get("message", "")
    match = _WEBHOOK_CALL.search(message)
    if match is None:
        raise ValueError(f"recording {recording.scenario}: no webhook refusal in write_configmap")
    name, url = match.groups()
    mode = "timeout" if "context deadline exceeded" in message else "refused"
    for item in (recording.body("webhook_configurations") or {}).get("items") or []:
        if any(hook.get("name") == name for hook in item.get("webhooks") or []):
            cluster.webhooks.register("validating", item["metadata"]["name"], name, Backend(mode))
            return
    deadline = int(re.search(r"\?timeout=(\d+)s", message).group(1))
    cluster.add_failing_webhook(name, mode=mode, url=url, timeout_seconds=deadline)


def _replay_hanging_webhooks(cluster: FakeCluster) -> None:
    """Every recorded webhook's backend hangs: the calls fail after their timeoutSeconds, the
    simulated components' own writes included (the scheduler's bindings, the leaders' Lease
    updates)."""
    for kind, plural in WEBHOOK_KINDS.items():
        for configuration in cluster.store.scan(plural):
            for hook in configuration.get("webhooks") or []:
                cluster.webhooks.register(kind, configuration["metadata"]["name"], hook["name"], Backend("timeout"))


def _replay_nospace(cluster: FakeCluster, recording: Recording) -> None:
    quota = re.search(r"--quota-backend-bytes=(\d+)", recording.note)
    cluster.etcd_nospace(True, quota_bytes=int(quota.group(1)) if quota else None)
    lines = (recording.responses.get("metrics_etcd_size_lines") or {}).get("lines") or []
    sizes = [int(line.rsplit(" ", 1)[1]) for line in lines if not line.startswith("#")]
    if len(sizes) == 3:
        cluster.set_etcd_db_size(sizes)
