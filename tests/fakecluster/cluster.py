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
from typing import Callable, Iterable, Sequence

import yaml

from . import admission, aggregation, eks_metrics, metrics, objects
from .api import Api, ApiRequest, ApiResponse, ApiSettings, ComponentHealth, NoAnswer
from .auth import Authenticator, TokenValidator
from .clock import SimClock, rfc3339
from .apiservers import ApiServers
from .components import Context, ControllerManager, Etcd, Kubelets, Scheduler, Simulation, StaticPods
from .components.apiserver_identity import ApiserverIdentities
from .components.static_pods import CONTROL_PLANE_LABEL
from .components.workqueues import NODE_LIFECYCLE
from .health import SIMULATED_VERSION
from .infra import demo_manifests, demo_web_pods, infra_objects
from .components.etcd import WriteFault
from .rbac import Authorizer, RuleRef
from .resources import RESOURCES, resource_for_manifest
from .server import ConnectionHook, RequestLog, RequestRecord
from .store import Store
from .throttling import PriorityAndFairness, Throttle
from .tls import ClusterCA, ServerCredentials, validity
from .webhooks import KINDS as WEBHOOK_KINDS
from .webhooks import Backend, Webhooks, configuration_object
from .work import Work

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
    tick inside advance(). apiservers: how many kube-apiservers; with two or more they share
    everything behind their own listeners and a round-robin TCP load balancer (balancer.py)
    whose URL is the cluster's.
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
        apiservers: int = 1,
    ) -> None:
        self.clock = SimClock(start_time)
        self.store = Store(self.clock)
        _add_indexes(self.store)
        self.etcd = Etcd()
        self._stopping = threading.Event()
        self._ca = ClusterCA()
        # Client certificates come from a CA of their own: OpenSSL would otherwise send the
        # serving CA along with the serving certificate (it completes chains from the server's
        # trust store), which kube-apiserver does not do and which changes what a client with
        # another CA sees (verify code 19 instead of the recorded 20).
        self._client_ca = ClusterCA("fakecluster-client-ca")
        self._credentials = self._ca.issue_server(*validity("valid"))
        self.webhooks = Webhooks(self.store)
        self.flow_control = PriorityAndFairness()
        self._db_sizes = [metrics.DEFAULT_DB_SIZE] * 3
        self._size_metric: str | None = None
        self._size_metric_disabled = False
        self._webhook_configurations: set[tuple[str, str]] = set()
        self._eks_metrics_failures: dict[str, tuple[int, bytes, str]] = {}  # fail_eks_metrics
        self.authenticator = Authenticator(token_validator)
        self.checker_token = secrets.token_urlsafe(32)
        self.admin_token = secrets.token_urlsafe(32)
        self.authenticator.add_token(self.checker_token, CHECKER_USER, CHECKER_GROUPS)
        self.authenticator.add_token(self.admin_token, ADMIN_USER, ADMIN_GROUPS)
        self.rbac = Authorizer.from_dir(rbac_dir, rbac_overrides, rbac_drop)
        self._log = RequestLog()
        self.apiservers = ApiServers(apiservers, self._handle, self.clock, self._log, self._stopping)

        context = Context(self.clock, self.store, self.etcd, self.apiservers.answers, self.webhooks)
        self.kubelets = Kubelets(context)
        self.controller_manager = ControllerManager(context)
        self.scheduler = Scheduler(context)
        self._node_names = objects.node_names(nodes)
        control_plane = self._node_names[:3] if static_pods else []
        self.static_pods = StaticPods(context, control_plane, self.kubelets, self.controller_manager,
                                      self.scheduler, lambda node: self.apiservers.restarts(node % apiservers))
        hostnames = ["control-plane"] if apiservers == 1 else [f"control-plane-{i}" for i in range(apiservers)]
        self.apiserver_identities = ApiserverIdentities(context, hostnames, self.apiservers.answers,
                                                        self.apiservers.restarts)
        components = [self.kubelets, self.controller_manager, self.scheduler, self.apiserver_identities]
        if static_pods:
            components.append(self.static_pods)
        self.simulation = Simulation(self.clock, components, tick_interval, advance_step)
        self.api = Api(store=self.store, clock=self.clock, authenticator=self.authenticator,
                       authorizer=self.rbac, etcd=self.etcd, component_health=self._component_health,
                       poke=self.simulation.poke,
                       settings=ApiSettings(etcd_health_delay, etcd_write_fail_delay, read_hang_cap),
                       stopping=self._stopping, version=dict(SIMULATED_VERSION), webhooks=self.webhooks,
                       flow_control=self.flow_control, metrics_body=self._metrics_body,
                       eks_metrics=self._eks_metrics_answer)
        self._infra_dir = rbac_dir if install_infra else None
        self._demo_objects = demo_objects
        self._seeded = False

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeCluster:
        if self._stopping.is_set():
            raise RuntimeError("a stopped FakeCluster cannot start again; make a new one")
        if self.apiservers.started:
            return self
        if not self._seeded:
            self.seed_simulated()
        self.simulation.tick()
        self.apiservers.start(self._credentials.server_context(self._client_ca.pem))
        self.simulation.start()
        return self

    def stop(self) -> None:
        self.simulation.stop()
        self.apiservers.stop()
        self._stopping.set()
        self.simulation.check()
        if self.apiservers.failures:
            raise RuntimeError("the fake apiserver failed while answering a request") from self.apiservers.failures[0]

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
        """The cluster's URL: its apiserver's, or with two or more the load balancer's."""
        return self.apiservers.url()

    @property
    def port(self) -> int:
        return self.apiservers.port

    def apiserver_url(self, index: int) -> str:
        """The URL of apiserver `index` itself (0 ..), past the load balancer."""
        return self.apiservers.url(index)

    @property
    def ca_pem(self) -> str:
        """The cluster CA (what a kubeconfig trusts), whichever CA signed the serving certificate."""
        return self._ca.pem

    @property
    def serving_certificate_pem(self) -> str:
        return self._credentials.cert_pem

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client SSLContext that trusts this cluster's CA."""
        return ssl.create_default_context(cadata=self._ca.pem)

    def add_token(self, token: str, user: str, groups: Iterable[str]) -> None:
        self.authenticator.add_token(token, user, tuple(groups))

    def issue_client_certificate(self, user: str = CHECKER_USER, groups: Iterable[str] = ("cpwatch",),
                                 valid_days: float = 365) -> tuple[str, str]:
        """(certificate PEM, key PEM) of a client certificate this cluster accepts: CN `user`,
        O `groups`, signed by its CA (kubeadm's admin.conf has CN=kubernetes-admin,
        O=system:masters or kubeadm:cluster-admins), valid for `valid_days` from now."""
        return self._client_ca.issue_client_certificate(user, tuple(groups), timedelta(days=valid_days))

    def client_certificate_user(self, user: str = CHECKER_USER, groups: Iterable[str] = ("cpwatch",),
                                valid_days: float = 365) -> dict:
        """A kubeconfig `user` section with client-certificate-data and client-key-data."""
        cert, key = self.issue_client_certificate(user, groups, valid_days)
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
        """Forget the request log, and with it the work counted so far."""
        self._log.clear()

    def work(self) -> Work:
        """What a real apiserver would have done for the requests since the last clear_requests()
        (work.py: objects read from etcd and from the watch cache, conversions, bytes)."""
        total = Work()
        for record in self._log.snapshot():
            total += record.work
        return total

    def freeze_watch_cache(self) -> None:
        """Cached reads (resourceVersion=0) keep seeing the cluster as it is now: a watch cache
        that stopped following etcd. Consistent reads still see every change."""
        self.store.freeze_watch_cache()

    def thaw_watch_cache(self) -> None:
        self.store.thaw_watch_cache()

    # --- time ---------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.simulation.check()
        self.simulation.advance(seconds)

    def advance_to_minute(self, multiple_of: int, within_s: float = 15.0) -> None:
        """Advance until the clock is less than `within_s` into a minute whose number (since the
        epoch) is a multiple of `multiple_of`. Simulating a large cluster takes real time, which
        the clock also counts, so the last step is a short one."""
        while True:
            minute, second = divmod(self.clock.now().timestamp(), 60)
            if int(minute) % multiple_of == 0 and second < within_s:
                return
            wait = (multiple_of - int(minute) % multiple_of) % multiple_of * 60 - second
            if wait <= 0:
                wait += multiple_of * 60
            self.advance(wait - 20 if wait > 25 else wait + 1)

    # --- faults -------------------------------------------------------------------------

    def set_apiserver(self, mode: str, delay: float = 2.0, *, index: int | None = None) -> None:
        """Every apiserver (index None) or apiserver `index` is up, down (refusing), hung or slow
        (each answer held back `delay` real seconds). Before start() it applies at start."""
        self._fault_changed()
        self.apiservers.set_mode(mode, delay, index)
        if self.apiservers.started:
            self.simulation.poke()

    @property
    def apiserver_mode(self) -> str:
        """The apiservers' mode, or "mixed" when they are not all in the same one."""
        modes = set(self.apiservers.modes)
        return modes.pop() if len(modes) == 1 else "mixed"

    @property
    def apiserver_modes(self) -> tuple[str, ...]:
        """Each apiserver's mode, by index."""
        return self.apiservers.modes

    def fail_health_checks(self, *names: str) -> None:
        """These health checks fail wherever kube-apiserver registers them (health.CHECKS), while
        every request is still served: `shutdown` fails /readyz only (graceful shutdown has begun:
        genericapiserver.go fails readiness at once and serves on for the shutdown delay),
        `informer-sync` /readyz only, a `poststarthook/...` /livez and /readyz (`not finished`).
        No names: every check passes again (etcd's follows quorum)."""
        self._fault_changed()
        self.api.failing_checks = frozenset(names)

    def when_requested(self, path: str, action: Callable[[], None]) -> None:
        """Run `action` once, when the first request for `path` (no query) arrives, before it is
        authenticated or answered: a fault that strikes between two requests of one probe, e.g.
        `fc.when_requested("/readyz", lambda: fc.set_apiserver("hung"))` (the process freezes
        after answering /livez) or `lambda: fc.remove_token(token)` (the token expires)."""
        self.api.request_hooks[path] = action

    def when_connecting(self, action: Callable[[], None], nth: int = 1) -> None:
        """Run `action` once, when the `nth` new TCP connection from now is accepted, before its TLS
        handshake: e.g. a certificate rotation that lands between two connections of one probe."""
        self.apiservers.when_connecting(ConnectionHook(nth, action))

    def remove_token(self, token: str) -> None:
        """The token no longer authenticates (expired or revoked): 401 from the next request."""
        self.authenticator.remove_token(token)

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

    def wedge_component(self, name: str, wedged: bool = True) -> None:
        """The leader keeps renewing its Lease but does no work: a deadlocked scheduling queue or
        controller, which leader election (its own goroutine in client-go) does not notice, so
        the Lease stays fresh and /healthz stays ok. wedged=False lets it work again."""
        self._fault_changed()
        component = self._component(name)
        with self.simulation.lock:
            component.wedged = wedged
            if not wedged and component is self.controller_manager:
                component.workqueues.unhang_all()
            self.simulation.tick()

    def fail_over(self, name: str) -> None:
        """The leader of `name` (controller-manager or scheduler) crashes without releasing its
        Lease; a standby instance with a new identity takes the Lease once it has expired as
        client-go judges it (leaseDurationSeconds after the standby last saw the record change,
        tried every retryPeriod 2 s), with leaseTransitions + 1, and then starts its work. Until
        then no controller (no scheduling) runs and the Lease is not renewed: the clock runs on
        in real time, so for about 15 s a check sees a Lease nobody renews."""
        self._fault_changed()
        component = self._component(name)
        with self.simulation.lock:
            component.fail_over(self.clock.now())
        self.simulation.poke()

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

    # --- faults between the components (issue 8) ------------------------------------------

    def add_failing_webhook(
        self,
        name: str = "image-policy.policy.example.org",
        *,
        configuration: str = "image-policy",
        kind: str = "validating",
        mode: str = "refused",
        resources: Sequence[str] = ("pods", "configmaps"),
        api_groups: Sequence[str] = ("",),
        api_versions: Sequence[str] = ("v1",),
        operations: Sequence[str] = ("CREATE", "UPDATE"),
        scope: str = "Namespaced",
        namespaces: Sequence[str] | None = ("default", "demo"),
        timeout_seconds: int = 10,
        failure_policy: str = "Fail",
        deny_code: int = 400,
        deny_message: str = "image not allowed",
        url: str | None = None,
        service: tuple[str, str, int] | None = None,
        object_selector: dict | None = None,
    ) -> dict:
        """Store a Validating/MutatingWebhookConfiguration `configuration` with webhook `name`
        (added to, or replacing its namesake in, an existing configuration) whose backend
        refuses connections, hangs (`timeout`), fails TLS verification (`tls`) or denies
        (`deny`); matching writes are answered as kube-apiserver does (webhooks.py).
        namespaces=None: every namespace. service=(namespace, name, port): the webhook is called
        through that Service (no EndpointSlice exists for it unless a test adds one), not `url`.
        object_selector: a label selector (matchLabels / matchExpressions) on the written
        object's labels. The simulated components' own writes meet it too. Returns the stored
        configuration."""
        if kind not in WEBHOOK_KINDS:
            raise ValueError(f"webhook kind must be one of {', '.join(WEBHOOK_KINDS)}, not {kind!r}")
        if failure_policy not in ("Fail", "Ignore"):
            raise ValueError(f"failure_policy must be Fail or Ignore, not {failure_policy!r}")
        if scope not in ("*", "Cluster", "Namespaced"):
            raise ValueError(f"scope must be *, Cluster or Namespaced, not {scope!r}")
        if not 1 <= timeout_seconds <= 30:
            # admissionregistration validation: timeoutSeconds must be between 1 and 30 seconds.
            raise ValueError(f"timeout_seconds must be between 1 and 30, not {timeout_seconds}")
        unknown = set(operations) - {"CREATE", "UPDATE", "DELETE", "CONNECT", "*"}
        if unknown:
            raise ValueError(f"unknown webhook operations {sorted(unknown)}")
        backend = Backend(mode, deny_code, deny_message)
        if url is None:
            # Port 7 (echo) has no listener: connection refused, as in the recording.
            url = "https://127.0.0.1:7/validate" if mode == "refused" else "https://127.0.0.1:9443/validate"
        built = configuration_object(kind, configuration, name, url=url, ca_pem=self.ca_pem,
                                     operations=tuple(operations), api_groups=tuple(api_groups),
                                     api_versions=tuple(api_versions), resources=tuple(resources), scope=scope,
                                     namespaces=tuple(namespaces) if namespaces is not None else None,
                                     timeout_seconds=timeout_seconds, failure_policy=failure_policy,
                                     service=service, object_selector=object_selector)
        plural = WEBHOOK_KINDS[kind]
        self._fault_changed()
        with self.simulation.lock, self.store.lock:
            self.webhooks.register(kind, configuration, name, backend)
            existing = self.store.get(plural, None, configuration)
            if existing is None:
                stored = self.store.create(plural, built)
            else:
                hooks = [hook for hook in existing.get("webhooks") or [] if hook.get("name") != name]
                existing["webhooks"] = hooks + built["webhooks"]
                existing["metadata"]["generation"] = existing["metadata"].get("generation", 1) + 1
                stored = self.store.update(plural, existing)
            self._webhook_configurations.add((plural, configuration))
        self.simulation.poke()
        return _copy(stored)

    def remove_webhooks(self) -> None:
        """Delete every configuration add_failing_webhook stored and forget their backends."""
        self._fault_changed()
        with self.simulation.lock:
            for plural, name in self._webhook_configurations:
                self.store.delete(plural, None, name)
            self._webhook_configurations.clear()
            self.webhooks.clear()
        self.simulation.poke()

    def serve_eks_metrics(self, on: bool = True) -> None:
        """The EKS control-plane metrics API (EKS 1.28+): its APIService v1.metrics.eks.amazonaws.com,
        Available, and the kcm and ksh metrics of the simulated components (eks_metrics.py).
        Off (the default): the group does not exist and its paths answer 404."""
        self._fault_changed()
        now = self.clock.now()
        with self.simulation.lock:
            if on:
                namespace, service, port = eks_metrics.SERVICE
                apiservice = aggregation.aggregated_apiservice(eks_metrics.APISERVICE, namespace, service, port, now)
                apiservice["status"] = aggregation.available_status(now)
                self.store.put("apiservices", apiservice)
            elif self.store.peek("apiservices", None, eks_metrics.APISERVICE) is not None:
                self.store.delete("apiservices", None, eks_metrics.APISERVICE)

    def rewrite_answers(self, method: str, path: str, edit: Callable[[dict], dict] | None) -> None:
        """A proxy between clients and the apiserver that edits the JSON of every 2xx answer to
        `method path` (query ignored), as a misbehaving API gateway or caching proxy can: what
        the client gets is then not what the apiserver said. edit=None removes it."""
        if edit is None:
            self.api.rewrites.pop((method, path), None)
        else:
            self.api.rewrites[(method, path)] = edit

    def fail_eks_metrics(self, component: str, status: int | None = 500, body: bytes | None = None,
                         content_type: str | None = None) -> None:
        """The EKS metrics backend of `component` (`kcm` or `ksh`) answers `status` with `body`,
        which the aggregator passes through (default: a Status InternalError, application/json; a
        200 is served as an exposition, gzipped when asked); status=None ends it."""
        if component not in ("kcm", "ksh"):
            raise ValueError(f"EKS metrics component must be kcm or ksh, not {component!r}")
        self._fault_changed()
        with self.simulation.lock:
            if status is None:
                self._eks_metrics_failures.pop(component, None)
                return
            if body is None:
                body = eks_metrics.internal_error(f"the {component} metrics could not be collected")
            kind = content_type or (eks_metrics.CONTENT_TYPE if status == 200 else
                                    eks_metrics.JSON if body.startswith(b"{") else eks_metrics.TEXT)
            self._eks_metrics_failures[component] = (status, body, kind)

    def stall_controller(self, queue: str = NODE_LIFECYCLE, mode: str | None = "hung") -> None:
        """One controller of the running controller-manager stops working while the process and
        its Lease live: `hung` (a worker holds one item: unfinished work and the longest running
        processor grow) or `idle` (no worker takes the ready items); None lets it work again."""
        self._fault_changed()
        with self.simulation.lock:
            self.controller_manager.workqueues.stall(queue, mode)
            self.simulation.tick()

    def register_unavailable_apiservice(self, name: str = "v1beta1.metrics.k8s.io", reason: str = "ServiceNotFound",
                                        message: str | None = None, *,
                                        service: tuple[str, str, int] = ("kube-system", "metrics-server", 443)) -> dict:
        """An aggregated APIService backed by `service` (namespace, name, port) that is not
        Available: `reason` (ServiceNotFound, MissingEndpoints, FailedDiscoveryCheck or any
        other with a message). Its group/version then answers 503 and HPAs that need it
        cannot scale (while the controller-manager runs)."""
        now = self.clock.now()
        apiservice = aggregation.aggregated_apiservice(name, service[0], service[1], service[2], now)
        apiservice["status"] = aggregation.unavailable_status(apiservice, reason, message, now)
        self._fault_changed()
        with self.simulation.lock:
            stored = self.store.put("apiservices", apiservice)
        self.simulation.poke()
        return _copy(stored)

    def restore_apiservice(self, name: str = "v1beta1.metrics.k8s.io") -> None:
        """The APIService's backend answers again: Available=True (reason Passed)."""
        self._fault_changed()
        now = self.clock.now()
        with self.simulation.lock:
            if self.store.mutate("apiservices", None, name,
                                 lambda obj: obj.update(status=aggregation.available_status(now))) is None:
                raise KeyError(f"no APIService {name!r}")
        self.simulation.poke()

    def seed_apiservices(self) -> None:
        """The local APIServices of the simulated version (those not already stored)."""
        now = self.clock.now()
        with self.simulation.lock:
            for group, version, group_priority, version_priority in aggregation.LOCAL_APISERVICES:
                if self.store.peek("apiservices", None, aggregation.apiservice_name(group, version)) is None:
                    self.store.create("apiservices", aggregation.local_apiservice(
                        group, version, group_priority, version_priority, now))

    def etcd_nospace(self, on: bool = True, *, quota_bytes: int | None = None) -> None:
        """etcd's NOSPACE alarm: creates, updates and patches (the components' own writes
        included) answer 500 `etcdserver: mvcc: database space exceeded`; reads, health checks
        and deletes that remove an object pass; every etcd member is unhealthy in
        componentstatuses. The database size grows past the quota (quota_bytes, default
        etcd's 2 GiB). on=False disarms the alarm."""
        if quota_bytes is not None:
            if quota_bytes <= 0:
                raise ValueError(f"quota_bytes must be positive, not {quota_bytes}")
            self.etcd.quota_bytes = quota_bytes
        self._fault_changed()
        with self.simulation.lock:
            self.etcd.set_nospace(on)
            if on:
                # The alarm is raised by the write that would grow the file past the quota.
                self._db_sizes = [max(size, self.etcd.quota_bytes + 4096) for size in self._db_sizes]
        self.simulation.poke()

    def fail_writes(self, message: str | None = "etcdserver: request timed out", status: int = 500,
                    reason: str = "") -> None:
        """Every write (deletes too) fails with this storage error while every health check
        passes, as with a flaky etcd member; fail_writes(None) ends it."""
        if message is not None and not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error code, not {status}")
        self._fault_changed()
        with self.simulation.lock:
            self.etcd.set_write_fault(None if message is None else WriteFault(message, status, reason))
        self.simulation.poke()

    def set_etcd_db_size(self, bytes_per_member: int | Sequence[int], metric: str | None = None) -> None:
        """The etcd database size /metrics reports, one number for every member or one per
        member, in the series `metric` (default: the one of the simulated version)."""
        sizes = [bytes_per_member] * 3 if isinstance(bytes_per_member, int) else list(bytes_per_member)
        if len(sizes) != 3 or any(not isinstance(size, int) or size < 0 for size in sizes):
            raise ValueError(f"give one size in bytes, or one for each of the 3 members, not {bytes_per_member!r}")
        if metric is not None and metric not in metrics.SIZE_METRICS:
            raise ValueError(f"size metric must be one of {', '.join(metrics.SIZE_METRICS)}, not {metric!r}")
        self._db_sizes = sizes
        self._size_metric = metric

    def serve_meta_versions(self, *versions: str) -> None:
        """The meta.k8s.io versions whose Table and PartialObjectMetadata(List) answers the
        apiserver serves (default v1 and v1beta1; Kubernetes 1.10-1.14 served only v1beta1). A
        request asking only for others gets the Accept header's plain JSON fallback, if any."""
        unknown = set(versions) - {"v1", "v1beta1"}
        if unknown:
            raise ValueError(f"meta.k8s.io versions are v1 and v1beta1, not {sorted(unknown)}")
        self.api.meta_versions = tuple(versions)

    def disable_size_metric(self, disabled: bool = True) -> None:
        """The apiserver runs with --disabled-metrics naming its database size series
        (k8s.io/component-base/metrics/options, the escape hatch for a metric by its full name):
        /metrics then has no size series at all. disabled=False brings it back."""
        self._size_metric_disabled = disabled

    def throttle(self, every: int | None = None, *, fraction: float | None = None, retry_after: int = 1,
                 paths: Sequence[str] | None = None) -> None:
        """API Priority and Fairness rejects every Nth (or a fraction of the) requests that are
        not exempt, with 429 and Retry-After (throttling.py); throttle(None) stops it."""
        if every is None and fraction is None:
            self.flow_control.set_throttle(None)
            return
        self.flow_control.set_throttle(Throttle(every, fraction, retry_after,
                                                tuple(paths) if paths is not None else None))

    def set_serving_certificate(self, state: str = "valid", *, expires_in_days: float | None = None) -> None:
        """The cluster CA issues the serving certificate again: valid (for a year, or expiring
        in `expires_in_days`), expired (yesterday) or not yet valid (from tomorrow); new TLS
        connections get it."""
        self._use_credentials(self._ca.issue_server(*validity(state, expires_in_days)))

    def set_serving_certificate_from_other_ca(self) -> None:
        """A valid serving certificate signed by a CA the cluster's kubeconfigs do not trust."""
        self._use_credentials(ClusterCA("other-ca").issue_server(*validity("valid")))

    def _use_credentials(self, credentials: ServerCredentials) -> None:
        self._fault_changed()
        self._credentials = credentials
        self.apiservers.set_tls(credentials.server_context(self._client_ca.pem))

    def _metrics_body(self) -> bytes:
        minor = metrics.minor_version(self.api.version)
        metric = self._size_metric or metrics.default_size_metric(minor)
        served = [(rt.group, rt.version, rt.plural, rt.namespaced) for rt in RESOURCES.values()]
        counts = {plural: self.store.count(plural) for plural in RESOURCES}
        return metrics.render(None if self._size_metric_disabled else metric, self._db_sizes, self.etcd.endpoints(),
                              minor, served, counts)

    def _eks_metrics_answer(self, component: str) -> tuple[int, bytes, str] | None:
        with self.simulation.lock:
            if component in self._eks_metrics_failures:
                return self._eks_metrics_failures[component]
            return eks_metrics.answer(component, self.controller_manager, self.scheduler, self.clock.now())

    def _component(self, name: str) -> ControllerManager | Scheduler:
        components = {"controller-manager": self.controller_manager, "kube-controller-manager": self.controller_manager,
                      "scheduler": self.scheduler, "kube-scheduler": self.scheduler}
        if name not in components:
            raise ValueError(f"unknown component {name!r}; expected controller-manager or scheduler")
        return components[name]

    def _fault_changed(self) -> None:
        # A replayed recording is served verbatim only while its own fault is in force.
        self.api.recorded = {target: answer for target, answer in self.api.recorded.items() if target == "/version"}

    def _handle(self, request: ApiRequest) -> ApiResponse | NoAnswer:
        return self.api.handle(request)

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
        self.seed_apiservices()
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
