"""FakeCluster: the fake control plane that tests and the demo start.

Who calls it: tests (directly or through the `fake_cluster` fixture), the CLI and the demo.
It wires the store, RBAC, the simulated components and the HTTPS server, and offers the fault
switches. Simulated mode builds a cluster from scratch; `from_recording` replays a recording
of a real control plane (see recording.py).
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from . import admission, objects
from .api import Api, ApiSettings, ComponentHealth
from .auth import Authenticator, TokenValidator
from .clock import SimClock, rfc3339
from .components import Context, ControllerManager, Etcd, Kubelets, Scheduler, Simulation, StaticPods
from .components.static_pods import CONTROL_PLANE_LABEL
from .health import SIMULATED_VERSION
from .infra import demo_manifests, demo_web_pods, infra_objects
from .rbac import Authorizer, RuleRef
from .resources import resource_for_manifest
from .server import ApiServer, RequestLog, RequestRecord
from .store import Store
from .tls import make_credentials

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INFRA = REPO_ROOT / "infra"
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
CHECKER_USER = "cpwatch-checker"
CHECKER_GROUPS = ("cpwatch", "system:authenticated")
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUPS = ("system:masters", "system:authenticated")


class FakeCluster:
    """A fake control plane on https://127.0.0.1:<port>.

    nodes: node count (node-a.. up to 26, else node-0001..). static_pods: kubeadm-style
    control-plane pods in kube-system. rbac_dir: the RBAC (and, with install_infra, the
    objects) of infra/; None for no RBAC at all. rbac_overrides: RBAC documents replacing or
    adding to those; rbac_drop: RuleRefs to leave out. token_validator: token -> (user, groups)
    or None, asked for tokens not added with add_token. etcd_health_delay,
    etcd_write_fail_delay, read_hang_cap: real seconds of the etcd-quorum-lost behaviour.
    demo_objects: namespace demo like the recordings. start_time: simulated time at start.
    tick_interval: real seconds between component ticks; advance_step: simulated seconds per
    tick inside advance().
    """

    def __init__(
        self,
        nodes: int = 3,
        *,
        static_pods: bool = False,
        rbac_dir: Path | None = DEFAULT_INFRA,
        install_infra: bool = True,
        token_validator: TokenValidator | None = None,
        rbac_overrides: Iterable[dict] = (),
        rbac_drop: Iterable[RuleRef] = (),
        etcd_health_delay: float = 2.0,
        etcd_write_fail_delay: float = 10.0,
        read_hang_cap: float = 120.0,
        demo_objects: bool = False,
        start_time: datetime | None = None,
        tick_interval: float = 0.5,
        advance_step: float = 1.0,
    ) -> None:
        self.clock = SimClock(start_time)
        self.store = Store(self.clock)
        _add_indexes(self.store)
        self.etcd = Etcd()
        self._stopping = threading.Event()
        self._credentials = make_credentials()
        self.authenticator = Authenticator(token_validator)
        self.checker_token = secrets.token_urlsafe(32)
        self.admin_token = secrets.token_urlsafe(32)
        self.authenticator.add_token(self.checker_token, CHECKER_USER, CHECKER_GROUPS)
        self.authenticator.add_token(self.admin_token, ADMIN_USER, ADMIN_GROUPS)
        self.rbac = Authorizer.from_dir(rbac_dir, rbac_overrides, rbac_drop)
        self._log = RequestLog()
        self._server: ApiServer | None = None
        self._pending_mode: tuple[str, float] | None = None

        context = Context(self.clock, self.store, self.etcd, self._apiserver_answers)
        self.kubelets = Kubelets(context)
        self.controller_manager = ControllerManager(context)
        self.scheduler = Scheduler(context)
        self._node_names = objects.node_names(nodes)
        control_plane = self._node_names[:3] if static_pods else []
        self.static_pods = StaticPods(context, control_plane, self.kubelets, self.controller_manager,
                                      self.scheduler, lambda: self._server.restarts if self._server else 0)
        components = [self.kubelets, self.controller_manager, self.scheduler]
        if static_pods:
            components.append(self.static_pods)
        self.simulation = Simulation(self.clock, components, tick_interval, advance_step)
        self.api = Api(store=self.store, clock=self.clock, authenticator=self.authenticator,
                       authorizer=self.rbac, etcd=self.etcd, component_health=self._component_health,
                       poke=self.simulation.poke,
                       settings=ApiSettings(etcd_health_delay, etcd_write_fail_delay, read_hang_cap),
                       stopping=self._stopping, version=dict(SIMULATED_VERSION))
        self._infra_dir = rbac_dir if install_infra else None
        self._demo_objects = demo_objects
        self._seeded = False

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeCluster:
        if self._stopping.is_set():
            raise RuntimeError("a stopped FakeCluster cannot start again; make a new one")
        if self._server is not None:
            return self
        if not self._seeded:
            self.seed_simulated()
        self.simulation.tick()
        self._server = ApiServer(self._credentials.server_context(), self.api.handle, self.clock, self._log,
                                 self._stopping)
        self._server.start()
        if self._pending_mode:
            self._server.set_mode(*self._pending_mode)
        self.simulation.start()
        return self

    def stop(self) -> None:
        self.simulation.stop()
        if self._server is not None:
            self._server.stop()
        self._stopping.set()
        self.simulation.check()
        if self._server is not None and self._server.failures:
            raise RuntimeError("the fake apiserver failed while answering a request") from self._server.failures[0]

    def __enter__(self) -> FakeCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def from_recording(cls, path_or_name: str | Path, **options: object) -> FakeCluster:
        """A cluster replaying a recording of a real control plane (see recording.py)."""
        from .recording import Recording, replay

        recording = Recording.load(path_or_name)
        cluster = cls(**options)
        replay(cluster, recording)
        return cluster

    # --- connection details -------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake cluster is not started")
        return f"https://127.0.0.1:{self._server.port}"

    @property
    def port(self) -> int:
        return self._server.port if self._server else 0

    @property
    def ca_pem(self) -> str:
        return self._credentials.ca_pem

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client SSLContext that trusts this cluster's CA."""
        return self._credentials.client_context()

    def add_token(self, token: str, user: str, groups: Iterable[str]) -> None:
        self.authenticator.add_token(token, user, tuple(groups))

    def issue_client_certificate(self, user: str = CHECKER_USER, groups: Iterable[str] = ("cpwatch",)) -> tuple[str, str]:
        """(certificate PEM, key PEM) of a client certificate this cluster accepts: CN `user`,
        O `groups`, signed by its CA (kubeadm's admin.conf has CN=kubernetes-admin,
        O=system:masters or kubeadm:cluster-admins)."""
        return self._credentials.issue_client_certificate(user, tuple(groups))

    def client_certificate_user(self, user: str = CHECKER_USER, groups: Iterable[str] = ("cpwatch",)) -> dict:
        """A kubeconfig `user` section with client-certificate-data and client-key-data."""
        cert, key = self.issue_client_certificate(user, groups)
        return {"client-certificate-data": base64.b64encode(cert.encode()).decode(),
                "client-key-data": base64.b64encode(key.encode()).decode()}

    def write_kubeconfig(self, path: str | Path, token: str | None = None, context: str = "fake", *,
                         user: dict | None = None, ca_file: bool = False) -> Path:
        """A kubeconfig for this cluster. `user`: the user section (default: the checker's
        token, or `token`); `ca_file`: reference the CA as a file beside the kubeconfig, by a
        relative path, instead of certificate-authority-data."""
        path = Path(path)
        if ca_file:
            ca_path = path.with_name(path.name + ".ca.crt")
            ca_path.parent.mkdir(parents=True, exist_ok=True)
            ca_path.write_text(self.ca_pem)
            cluster_ca = {"certificate-authority": ca_path.name}
        else:
            cluster_ca = {"certificate-authority-data": base64.b64encode(self.ca_pem.encode()).decode()}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url, **cluster_ca}}],
            "users": [{"name": context, "user": user if user is not None else {"token": token or self.checker_token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    # --- time ---------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.simulation.check()
        self.simulation.advance(seconds)

    # --- faults -------------------------------------------------------------------------

    def set_apiserver(self, mode: str, delay: float = 2.0) -> None:
        self._fault_changed()
        if self._server is None:
            self._pending_mode = (mode, delay)
            return
        self._server.set_mode(mode, delay)
        self.simulation.poke()

    @property
    def apiserver_mode(self) -> str:
        if self._server is None:
            return self._pending_mode[0] if self._pending_mode else "up"
        return self._server.mode

    def stop_etcd_members(self, n: int) -> None:
        """Members 0..n-1 down: 1 keeps quorum, 2 or 3 lose it, 0 restores all."""
        self._fault_changed()
        self.etcd.stop_members(n)
        self.simulation.poke()

    def stop_component(self, name: str, release_lease: bool = False) -> None:
        self._fault_changed()
        component = self._component(name)
        with self.simulation.lock:
            component.stop(self.clock.now(), release_lease)

    def start_component(self, name: str) -> None:
        self._fault_changed()
        component = self._component(name)
        with self.simulation.lock:
            component.start()
            self.simulation.tick()

    def lose_node(self, name: str) -> None:
        self._fault_changed()
        with self.simulation.lock:
            self.kubelets.set_live(name, False)

    def restore_node(self, name: str) -> None:
        self._fault_changed()
        with self.simulation.lock:
            self.kubelets.set_live(name, True)
            self.simulation.tick()

    def delete_node(self, name: str) -> None:
        self._fault_changed()
        with self.simulation.lock:
            self.kubelets.remove(name)
            self.store.delete("nodes", None, name)
            self.store.delete("leases", objects.NODE_LEASE_NAMESPACE, name)
        self.simulation.poke()

    def _component(self, name: str) -> ControllerManager | Scheduler:
        components = {"controller-manager": self.controller_manager, "kube-controller-manager": self.controller_manager,
                      "scheduler": self.scheduler, "kube-scheduler": self.scheduler}
        if name not in components:
            raise ValueError(f"unknown component {name!r}; expected controller-manager or scheduler")
        return components[name]

    def _fault_changed(self) -> None:
        # A replayed recording is served verbatim only while its own fault is in force.
        self.api.recorded = {target: answer for target, answer in self.api.recorded.items() if target == "/version"}

    def _apiserver_answers(self) -> bool:
        if self._server is not None:
            return self._server.answers()
        return self._pending_mode is None or self._pending_mode[0] in ("up", "slow")

    def _component_health(self) -> list[ComponentHealth]:
        items = []
        for name, component, port in (("controller-manager", self.controller_manager, 10257),
                                      ("scheduler", self.scheduler, 10259)):
            if component.running:
                items.append(ComponentHealth(name, True, "ok"))
            else:
                items.append(ComponentHealth(name, False, f'Get "https://127.0.0.1:{port}/healthz": dial tcp '
                                                          f"127.0.0.1:{port}: connect: connection refused"))
        for member in range(3):
            healthy, message = self.etcd.member_health(member)
            items.append(ComponentHealth(f"etcd-{member}", healthy, message))
        return items

    # --- objects ------------------------------------------------------------------------

    def seed_simulated(self) -> None:
        """Namespaces, nodes with their Leases, infra/ objects (and demo objects)."""
        self._seeded = True
        now = self.clock.now()
        for name in SYSTEM_NAMESPACES:
            self.ensure_namespace(name)
        for index, name in enumerate(self._node_names):
            self.add_node(name, index=index, labels={CONTROL_PLANE_LABEL: ""} if name in self.static_pods.nodes
                          else None, now=now)
        self.install_infra()
        if self._demo_objects:
            for manifest in demo_manifests():
                self.apply(manifest)
            for obj in demo_web_pods(self._node_names, now):
                self.store.create("pods", obj)

    def install_infra(self) -> None:
        """The non-RBAC objects of infra/*.yaml (when install_infra=True)."""
        if self._infra_dir is not None:
            for manifest in infra_objects(self._infra_dir):
                self.apply(manifest)

    def apply(self, manifest: dict) -> dict:
        """Create an object as `kubectl create` would (defaults, admission); for set-up."""
        rt = resource_for_manifest(manifest)
        namespace = (manifest.get("metadata") or {}).get("namespace", "default") if rt.namespaced else ""
        with self.store.lock:
            obj = admission.prepare_create(self.store, rt, namespace, _copy(manifest), self.clock.now())
            self.store.create(rt.plural, obj)
            if rt.plural == "namespaces":
                self.store.create("serviceaccounts", objects.service_account(obj["metadata"]["name"]))
        self.simulation.poke()
        return obj

    def ensure_namespace(self, name: str) -> None:
        if self.store.peek("namespaces", None, name) is None:
            self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def add_node(self, name: str, *, index: int | None = None, labels: dict | None = None,
                 now: datetime | None = None) -> dict:
        now = now or self.clock.now()
        index = self.store.count("nodes") if index is None else index
        with self.simulation.lock:
            node = self.store.create("nodes", objects.node(name, now, index, labels))
            self.store.create("leases", objects.node_lease(node, now))
            self.kubelets.add(name, True, now, now)
        return node

    def add_pod(
        self,
        namespace: str,
        name: str,
        node_name: str | None = None,
        deleted_seconds_ago: float | None = None,
        finalizers: Iterable[str] = (),
        phase: str = "Pending",
        scheduler_name: str = "default-scheduler",
        node_selector: dict | None = None,
        scheduling_gates: Iterable[str] = (),
        created_seconds_ago: float = 0,
        labels: dict | None = None,
    ) -> dict:
        """Put a pod straight into the store (no admission). `deleted_seconds_ago` sets
        metadata.deletionTimestamp that many seconds in the past (grace period 30 s)."""
        now = self.clock.now()
        self.ensure_namespace(namespace)
        pod = objects.pod(namespace, name, node_name=node_name, phase=phase, scheduler_name=scheduler_name,
                          node_selector=node_selector, scheduling_gates=tuple(scheduling_gates),
                          finalizers=tuple(finalizers), labels=labels,
                          created=now - timedelta(seconds=max(created_seconds_ago, deleted_seconds_ago or 0)))
        if deleted_seconds_ago is not None:
            pod["metadata"]["deletionTimestamp"] = rfc3339(now - timedelta(seconds=deleted_seconds_ago))
            pod["metadata"]["deletionGracePeriodSeconds"] = 30
        with self.simulation.lock:
            self.store.create("pods", pod)
        self.simulation.poke()
        return pod


    def add_pods(self, namespace: str, count: int, *, prefix: str = "pod-", node_names: Sequence[str] | None = None,
                 phase: str = "Running", labels: dict | None = None) -> None:
        """Many pods at once (scale tests): `count` pods named prefix + number, spread round-robin
        over `node_names` (default: every node), sharing one template, so 150,000 take seconds."""
        now = self.clock.now()
        nodes = list(node_names if node_names is not None else self.kubelets.nodes)
        self.ensure_namespace(namespace)
        template = objects.pod(namespace, "template", node_name=nodes[0] if nodes else None, phase=phase,
                               labels=labels, created=now, bound_by_scheduler=True)
        width = len(str(count))
        with self.simulation.lock, self.store.lock:
            for index in range(count):
                # Stored objects are never changed in place, so pods may share the parts of the
                # template they do not own.
                metadata = {**template["metadata"], "name": f"{prefix}{index:0{width}d}"}
                spec = {**template["spec"]}
                if nodes:
                    spec["nodeName"] = nodes[index % len(nodes)]
                self.store.create("pods", {"metadata": metadata, "spec": spec, "status": template["status"]})


def _add_indexes(store: Store) -> None:
    store.add_index("pods", "spec.nodeName", lambda pod: (pod.get("spec") or {}).get("nodeName") or "")
    # Deleted pods by node ("" for never-scheduled ones): what kubelets and pod GC finish.
    store.add_index("pods", "terminating", lambda pod: ((pod.get("spec") or {}).get("nodeName") or "")
                    if pod["metadata"].get("deletionTimestamp") else None)


def _copy(obj: dict) -> dict:
    return json.loads(json.dumps(obj))
