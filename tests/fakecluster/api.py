"""The Kubernetes REST API over the store: authentication, API Priority and Fairness, RBAC,
etcd availability, and the verbs get, list, create, update, patch, delete and
deletecollection, with admission webhooks and storage faults on writes, plus the health,
version, discovery, /metrics, aggregated-API and componentstatuses endpoints.

Who calls it: the HTTP server (server.py), once per request, with the raw request; it answers
with an ApiResponse or NoAnswer (close the connection without an HTTP answer, as the recorded
apiserver did for a write with `?timeout=` while etcd had no quorum). Everything here runs on
the server's request thread; waits for etcd end early when the client goes away.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping, TypeVar
from urllib.parse import parse_qs, urlsplit

from . import admission, aggregation, eks_metrics, errors, health, metrics, rbac, tables, throttling
from .auth import Authenticator, Identity
from .clock import SimClock
from .components.etcd import Etcd
from .patch import apply_patch
from .resources import GROUP_VERSIONS, RESOURCES, ResourceType
from .routing import META_VERSIONS, Route, negotiate, parse_go_duration, parse_route
from .selectors import parse_field_selector, parse_label_selector
from .store import Entry, Store, dumps, with_type
from .webhooks import Call, Webhooks, WriteAttributes
from .work import CACHE, Work, get_source, list_source, read_work

JSON = "application/json"
_READS = frozenset({"get", "list", "watch"})
_T = TypeVar("_T")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    target: str  # path and query as sent
    headers: Mapping[str, str]
    body: bytes = b""
    client_gone: Callable[[], bool] = lambda: False
    # (user, groups) of the verified client certificate of the connection, if one was given.
    client_certificate: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: bytes
    content_type: str = JSON
    user: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # beyond Content-Type, Content-Length and Date
    work: Work = Work()  # what a real apiserver would have done for it (work.py)


@dataclass(frozen=True)
class NoAnswer:
    user: str | None = None


@dataclass(frozen=True)
class ApiSettings:
    # With etcd quorum lost: health checks fail after this long (the recorded apiserver: 2 s) ...
    etcd_health_delay: float = 2.0
    # ... a write without ?timeout= answers 500 after this long (recorded: 10 s) ...
    etcd_write_fail_delay: float = 10.0
    # ... and reads hang until the client gives up, at most this long.
    read_hang_cap: float = 120.0


@dataclass(frozen=True)
class RecordedAnswer:
    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    healthy: bool
    message: str


class Api:
    def __init__(self, *, store: Store, clock: SimClock, authenticator: Authenticator,
                 authorizer: rbac.Authorizer, etcd: Etcd, component_health: Callable[[], list[ComponentHealth]],
                 poke: Callable[[], None], settings: ApiSettings, stopping: threading.Event,
                 version: dict, webhooks: Webhooks, flow_control: throttling.PriorityAndFairness,
                 metrics_body: Callable[[], bytes],
                 eks_metrics: Callable[[str], tuple[int, bytes, str] | None] = lambda component: None) -> None:
        self.store = store
        self.clock = clock
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.etcd = etcd
        self.component_health = component_health
        self.poke = poke
        self.settings = settings
        self.stopping = stopping
        self.version = version
        self.webhooks = webhooks
        self.flow_control = flow_control
        self.metrics_body = metrics_body
        self.eks_metrics = eks_metrics
        # Replay: answers served verbatim, by request target ("/livez?verbose").
        self.recorded: dict[str, RecordedAnswer] = {}
        # A proxy in front of the apiserver editing JSON answers, by (method, path) (FakeCluster.rewrite_answers).
        self.rewrites: dict[tuple[str, str], Callable[[dict], dict]] = {}
        self.meta_versions = META_VERSIONS  # meta.k8s.io versions served as Table / metadata
        # Health checks failing apart from etcd's (FakeCluster.fail_health_checks).
        self.failing_checks: frozenset[str] = frozenset()
        # Run once when the first request for a path arrives, before it is authenticated
        # (FakeCluster.when_requested).
        self.request_hooks: dict[str, Callable[[], None]] = {}

    # --- entry point --------------------------------------------------------------------

    def handle(self, request: ApiRequest) -> ApiResponse | NoAnswer:
        hook = self.request_hooks.pop(urlsplit(request.target).path, None)
        if hook is not None:
            hook()
        identity = self.authenticator.authenticate(request.headers.get("Authorization"), request.client_certificate)
        if identity is None:
            return _error(errors.unauthorized(), None)
        path = urlsplit(request.target).path
        classification = self.flow_control.classify(identity.user, identity.groups, request.method, path)
        throttle = self.flow_control.reject(classification, path)
        if throttle is not None:
            return ApiResponse(429, throttling.TOO_MANY_REQUESTS, throttling.TEXT, identity.user,
                               (("Retry-After", str(throttle.retry_after)), ("X-Content-Type-Options", "nosniff"),
                                *classification.headers()))
        try:
            outcome = self._handle(request, identity)
        except errors.ApiError as error:
            outcome = _error(error, identity.user)
        if isinstance(outcome, ApiResponse):
            outcome = dataclasses.replace(outcome, headers=outcome.headers + classification.headers())
            edit = self.rewrites.get((request.method, path))
            if edit is not None and 200 <= outcome.status < 300 and outcome.content_type == JSON:
                outcome = dataclasses.replace(outcome, body=dumps(edit(json.loads(outcome.body))))
        return outcome

    def _handle(self, request: ApiRequest, identity: Identity) -> ApiResponse | NoAnswer:
        split = urlsplit(request.target)
        query_all = parse_qs(split.query, keep_blank_values=True)
        query = {key: values[0] for key, values in query_all.items()}
        route = parse_route(request.method, split.path, query)
        attributes = rbac.Request(identity.user, identity.groups, route.verb, route.is_resource,
                                  path=split.path, api_group=route.group, resource=route.resource,
                                  subresource=route.subresource, namespace=route.namespace, name=route.name)
        if not self.authorizer.allows(attributes):
            raise attributes.denial()
        if not route.is_resource:
            return self._non_resource(request, split.path, query, query_all, identity)
        unavailable = self._unavailable_aggregated(route.group, route.version, identity.user)
        if unavailable is not None:
            return unavailable
        if route.group == eks_metrics.GROUP and self._aggregated(route.group, route.version) is not None:
            return self._eks_metrics(route, request, identity.user)
        rt = self._resource_type(route)
        if not self._etcd_ready(route, query, request):
            return NoAnswer(identity.user)
        handler = getattr(self, f"_{route.verb}")
        answer = handler(rt, route, query, request, identity)
        if route.verb not in _READS and isinstance(answer, ApiResponse):
            answer = replace(answer, work=Work(writes=1))
        return answer

    def _resource_type(self, route: Route) -> ResourceType:
        rt = route.rt
        if rt is None:
            raise errors.path_not_found()
        # Namespaces are the one cluster-scoped resource whose paths carry a namespace (their own).
        scoped_namespace = "" if rt.plural == "namespaces" else route.namespace
        if (rt.namespaced and not route.namespace and route.name) or (not rt.namespaced and scoped_namespace):
            raise errors.path_not_found()
        if route.subresource and route.subresource not in rt.subresources:
            raise errors.path_not_found()
        if route.verb not in rt.verbs or route.verb == "watch":
            raise errors.method_not_allowed()
        if route.verb == "create" and route.name and rt.plural != "namespaces":
            raise errors.method_not_allowed()
        return rt

    # --- etcd ---------------------------------------------------------------------------

    def _cancelled(self, request: ApiRequest) -> Callable[[], bool]:
        return lambda: self.stopping.is_set() or request.client_gone()

    def _etcd_ready(self, route: Route, query: dict[str, str], request: ApiRequest) -> bool:
        """Wait for quorum as the recorded apiserver did; False means: answer nothing."""
        if self.etcd.quorum:
            return True
        cancelled = self._cancelled(request)
        if route.verb in _READS:
            return self.etcd.wait_for_quorum(self.settings.read_hang_cap, cancelled)
        timeout = parse_go_duration(query.get("timeout"))
        if timeout is not None:
            return self.etcd.wait_for_quorum(timeout, cancelled)
        if self.etcd.wait_for_quorum(self.settings.etcd_write_fail_delay, cancelled):
            return True
        if cancelled():
            return False
        # The recorded apiserver: the ResourceQuota admission plugin times out first.
        raise errors.internal("resource quota evaluation timed out")

    def _pause(self, seconds: float, request: ApiRequest) -> None:
        deadline = time.monotonic() + seconds
        cancelled = self._cancelled(request)
        while not cancelled() and (remaining := deadline - time.monotonic()) > 0:
            self.stopping.wait(min(remaining, 0.05))

    # --- non-resource paths -------------------------------------------------------------

    def _non_resource(self, request: ApiRequest, path: str, query: dict[str, str],
                      query_all: dict[str, list[str]], identity: Identity) -> ApiResponse:
        user = identity.user
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed()
        endpoint = path.strip("/").split("/", 1)[0]
        if endpoint in health.CHECKS:
            return self._health(request, path, query, query_all, user)
        if path.rstrip("/") == "/version":
            recorded = self.recorded.get("/version")
            if recorded:
                return ApiResponse(recorded.status, recorded.body, recorded.content_type, user)
            return ApiResponse(200, dumps(self.version), JSON, user)
        if path == "/metrics":
            return self._metrics(request, user)
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 3:
            aggregated = self._aggregated_discovery(parts[1], parts[2], user)
            if aggregated is not None:
                return aggregated
        discovery = _discovery(path.rstrip("/"))
        if discovery is None:
            raise errors.path_not_found()
        if path.rstrip("/") == "/apis":
            discovery["groups"] += self._aggregated_groups({group["name"] for group in discovery["groups"]})
        return ApiResponse(200, dumps(discovery), JSON, user)

    def _metrics(self, request: ApiRequest, user: str) -> ApiResponse:
        body = self.metrics_body()
        if "gzip" in (request.headers.get("Accept-Encoding") or ""):
            return ApiResponse(200, metrics.compress(body), metrics.CONTENT_TYPE, user,
                               (("Content-Encoding", "gzip"),))
        return ApiResponse(200, body, metrics.CONTENT_TYPE, user)

    # --- aggregated APIs ----------------------------------------------------------------

    def _aggregated(self, group: str, version: str) -> dict | None:
        if not group:
            return None
        apiservice = self.store.peek("apiservices", None, aggregation.apiservice_name(group, version))
        return apiservice if apiservice is not None and aggregation.is_aggregated(apiservice) else None

    def _unavailable_aggregated(self, group: str, version: str, user: str) -> ApiResponse | None:
        """The proxy's answer for a group/version whose APIService is not Available."""
        apiservice = self._aggregated(group, version)
        if apiservice is None or aggregation.is_available(apiservice):
            return None
        return ApiResponse(503, aggregation.UNAVAILABLE_BODY, health.TEXT, user,
                           (("X-Content-Type-Options", "nosniff"),))

    def _aggregated_discovery(self, group: str, version: str, user: str) -> ApiResponse | None:
        apiservice = self._aggregated(group, version)
        if apiservice is None:
            return None
        unavailable = self._unavailable_aggregated(group, version, user)
        return unavailable or ApiResponse(200, dumps(aggregation.discovery(apiservice)), JSON, user)

    def _eks_metrics(self, route: Route, request: ApiRequest, user: str) -> ApiResponse:
        """GET /apis/metrics.eks.amazonaws.com/v1/{kcm,ksh}/container/metrics (eks_metrics.py);
        gzipped when the client accepts it, as promhttp does."""
        if route.verb != "get" or route.version != "v1" or route.name != "container" or route.subresource != "metrics":
            raise errors.path_not_found()
        answer = self.eks_metrics(route.resource)
        if answer is None:
            raise errors.path_not_found()
        status, body, content_type = answer
        if status != 200:
            return ApiResponse(status, body, content_type, user, (("X-Content-Type-Options", "nosniff"),))
        if "gzip" in (request.headers.get("Accept-Encoding") or ""):
            return ApiResponse(200, metrics.compress(body), content_type, user, (("Content-Encoding", "gzip"),))
        return ApiResponse(200, body, content_type, user)

    def _aggregated_groups(self, served: set[str]) -> list[dict]:
        groups: dict[str, list[str]] = {}
        for apiservice in self.store.scan("apiservices"):
            spec = apiservice.get("spec") or {}
            if aggregation.is_aggregated(apiservice) and spec.get("group") not in served:
                groups.setdefault(spec["group"], []).append(spec["version"])
        return [{"name": group, "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                 "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]}}
                for group, versions in sorted(groups.items())]

    def _health(self, request: ApiRequest, path: str, query: dict[str, str], query_all: dict[str, list[str]],
                user: str) -> ApiResponse:
        endpoint, _, check = path.strip("/").partition("/")
        exclude = frozenset(name for value in query_all.get("exclude", []) for name in value.split(","))
        needs_etcd = check == "etcd" if check else "etcd" not in exclude
        if needs_etcd and not self.etcd.quorum:
            self._pause(self.settings.etcd_health_delay, request)
        failing = self.failing_checks | (frozenset() if self.etcd.quorum else frozenset({"etcd"}))
        if check:
            answer = health.check_answer(endpoint, check, failing)
        else:
            answer = health.endpoint_answer(endpoint, failing, "verbose" in query, exclude)
        if answer is None:
            raise errors.path_not_found()
        recorded = self.recorded.get(request.target)
        if recorded:
            return ApiResponse(recorded.status, recorded.body, recorded.content_type, user)
        return ApiResponse(answer.status, answer.text.encode(), health.TEXT, user)

    # --- reads --------------------------------------------------------------------------

    def _list(self, rt: ResourceType, route: Route, query: dict[str, str], request: ApiRequest,
              identity: Identity) -> ApiResponse:
        rendering = negotiate(request.headers.get("Accept"), is_list=True, meta_versions=self.meta_versions)
        if rt.plural == "componentstatuses":
            return self._component_statuses(request, identity.user)
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rt.plural)
        limit = _non_negative_int(query.get("limit"), "limit")
        source = list_source(query)
        if source == CACHE and query.get("resourceVersion") == "0":
            limit = None  # the watch cache ignores limit for resourceVersion=0 (cacher.go computeListLimit)
        page = self.store.page(rt.plural, route.namespace or None, labels, fields, limit, query.get("continue"),
                               indexed=source == CACHE, cached=source == CACHE)
        metadata: dict = {"resourceVersion": page.resource_version}
        if page.continue_token:
            metadata["continue"] = page.continue_token
        if page.remaining_item_count is not None:
            metadata["remainingItemCount"] = page.remaining_item_count
        if rendering.shape == "table":
            body = dumps(tables.table(rt.plural, page.entries, self.clock.now(), query.get("includeObject", "Metadata"),
                                      metadata, rendering.api_version, rt))
        elif rendering.shape == "metadata":
            body = _list_body("PartialObjectMetadataList", rendering.api_version, metadata,
                              (entry.meta_raw() for entry in page.entries))
        else:
            body = _list_body(rt.list_kind, rt.api_version, metadata, (entry.raw() for entry in page.entries))
        single = fields.exact("metadata.name") is not None and bool(route.namespace or fields.exact("metadata.namespace")
                                                                   or not rt.namespaced)
        examined = min(page.examined, 1) if single else page.examined
        converted = len(page.entries) if rendering.shape != "object" else 0
        work = read_work(source, examined, len(page.entries), converted, len(body))
        return ApiResponse(200, body, rendering.content_type, identity.user, work=work)

    def _get(self, rt: ResourceType, route: Route, query: dict[str, str], request: ApiRequest,
             identity: Identity) -> ApiResponse:
        rendering = negotiate(request.headers.get("Accept"), is_list=False, meta_versions=self.meta_versions)
        if rt.plural == "componentstatuses":
            return self._component_status(route.name, identity.user)
        source = get_source(query)
        entry = self._entry(rt, route, cached=source == CACHE)
        if rendering.shape == "table":
            metadata = {"resourceVersion": entry.obj["metadata"].get("resourceVersion", "")}
            body = dumps(tables.table(rt.plural, [entry], self.clock.now(), query.get("includeObject", "Metadata"),
                                      metadata, rendering.api_version, rt))
        elif rendering.shape == "metadata":
            body = entry.meta_raw()
        else:
            body = with_type(rt.kind, rt.api_version, entry.raw())
        work = read_work(source, 1, 1, 1 if rendering.shape != "object" else 0, len(body))
        return ApiResponse(200, body, rendering.content_type, identity.user, work=work)

    def _entry(self, rt: ResourceType, route: Route, cached: bool = False) -> Entry:
        entry = self.store.entry(rt.plural, route.namespace if rt.namespaced else None, route.name, cached)
        if entry is None:
            raise errors.not_found(rt, route.name)
        return entry

    def _component_health_items(self) -> list[dict]:
        return [{"metadata": {"name": item.name, "creationTimestamp": None},
                 "conditions": [{"type": "Healthy", "status": "True" if item.healthy else "False",
                                 "message": item.message}]}
                for item in self.component_health()]

    def _component_statuses(self, request: ApiRequest, user: str) -> ApiResponse:
        recorded = self.recorded.get(request.target)
        if recorded:
            return ApiResponse(recorded.status, recorded.body, recorded.content_type, user)
        body = {"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {},
                "items": self._component_health_items()}
        return ApiResponse(200, dumps(body), JSON, user)

    def _component_status(self, name: str, user: str) -> ApiResponse:
        for item in self._component_health_items():
            if item["metadata"]["name"] == name:
                return ApiResponse(200, dumps({"kind": "ComponentStatus", "apiVersion": "v1", **item}), JSON, user)
        raise errors.not_found(RESOURCES["componentstatuses"], name)

    # --- writes -------------------------------------------------------------------------

    def _admitted(self, attempt: Callable[[bool], _T], request: ApiRequest) -> _T:
        """Run attempt(True) under the store lock. When a webhook call has to wait, the wait
        happens outside the lock (attempt returns the Call), then the call's error is the
        answer, or the write is attempted again without webhooks (failurePolicy Ignore)."""
        with self.store.lock:
            outcome = attempt(True)
        if not isinstance(outcome, Call):
            return outcome
        self._pause(outcome.seconds, request)
        if outcome.error is not None:
            raise outcome.error
        with self.store.lock:
            return attempt(False)

    def _webhooks(self, attributes: WriteAttributes) -> Call | None:
        """None when the write may go on now; a Call to wait for outside the store lock."""
        call = self.webhooks.call(attributes)
        if call is None:
            return None
        if call.seconds > 0:
            return call
        if call.error is not None:
            raise call.error
        return None

    def _storage(self, is_delete: bool) -> None:
        fault = self.etcd.refusal(is_delete)
        if fault is not None:
            raise errors.storage(fault.message, fault.status, fault.reason)

    def _create(self, rt: ResourceType, route: Route, query: dict[str, str], request: ApiRequest,
                identity: Identity) -> ApiResponse:
        body = _json_body(request.body)
        _check_type(rt, body)
        dry_run = "dryRun" in query

        def attempt(check_webhooks: bool) -> dict | Call:
            obj = admission.prepare_create(self.store, rt, route.namespace, _copy(body), self.clock.now())
            if check_webhooks:
                attributes = WriteAttributes("CREATE", rt, "", route.namespace if rt.namespaced else "", obj, None,
                                             parse_go_duration(query.get("timeout")))
                call = self._webhooks(attributes)
                if call is not None:
                    return call
            if not dry_run:
                self._storage(is_delete=False)
                self.store.create(rt.plural, obj)
            return obj

        obj = self._admitted(attempt, request)
        self.poke()
        return ApiResponse(201, dumps(_typed(rt, obj)), JSON, identity.user)

    def _update(self, rt: ResourceType, route: Route, query: dict[str, str], request: ApiRequest,
                identity: Identity) -> ApiResponse:
        new = _json_body(request.body)
        return self._write(rt, route, query, request, identity, lambda current: _copy(new))

    def _patch(self, rt: ResourceType, route: Route, query: dict[str, str], request: ApiRequest,
               identity: Identity) -> ApiResponse:
        patch = _json_body(request.body)
        content_type = request.headers.get("Content-Type") or ""
        return self._write(rt, route, query, request, identity,
                           lambda current: apply_patch(current, patch, content_type))

    def _write(self, rt: ResourceType, route: Route, query: dict[str, str], request: ApiRequest,
               identity: Identity, change: Callable[[dict], object]) -> ApiResponse:
        namespace = route.namespace if rt.namespaced else None
        dry_run = "dryRun" in query

        def attempt(check_webhooks: bool) -> dict | Call:
            current = self.store.get(rt.plural, namespace, route.name)
            if current is None:
                raise errors.not_found(rt, route.name)
            expected_rv = current["metadata"].get("resourceVersion")
            new = admission.prepare_update(rt, current, change(_copy(current)), route.subresource)
            if check_webhooks:
                attributes = WriteAttributes("UPDATE", rt, route.subresource, namespace or "", new, current,
                                             parse_go_duration(query.get("timeout")))
                call = self._webhooks(attributes)
                if call is not None:
                    return call
            if not dry_run:
                gone = admission.finalized(rt, new)
                self._storage(is_delete=gone)
                if gone:
                    self.store.delete(rt.plural, namespace, route.name)
                else:
                    self.store.update(rt.plural, new, expect_rv=expected_rv)
            return new

        new = self._admitted(attempt, request)
        self.poke()
        return ApiResponse(200, dumps(_typed(rt, new)), JSON, identity.user)

    def _delete(self, rt: ResourceType, route: Route, query: dict[str, str], request: ApiRequest,
                identity: Identity) -> ApiResponse:
        options = admission.delete_options(request.body, query)
        namespace = route.namespace if rt.namespaced else None

        def attempt(check_webhooks: bool) -> dict | Call:
            current = self.store.peek(rt.plural, namespace, route.name)
            if current is None:
                raise errors.not_found(rt, route.name)
            if check_webhooks:
                attributes = WriteAttributes("DELETE", rt, "", namespace or "", None, current,
                                             parse_go_duration(query.get("timeout")))
                call = self._webhooks(attributes)
                if call is not None:
                    return call
            return self._delete_one(rt, current, options, "dryRun" in query)

        result = self._admitted(attempt, request)
        self.poke()
        return ApiResponse(200, dumps(result), JSON, identity.user)

    def _delete_one(self, rt: ResourceType, current: dict, options: dict, dry_run: bool) -> dict:
        admission.check_preconditions(rt, current, options)
        metadata = current["metadata"]
        namespace = metadata.get("namespace") if rt.namespaced else None
        marked = admission.mark_deleted(rt, current, options, self.clock.now())
        gone = admission.finalized(rt, marked) or (not rt.returns_deleted_object and not metadata.get("finalizers"))
        if not dry_run:
            if gone:
                self._storage(is_delete=True)
                self.store.delete(rt.plural, namespace, metadata["name"])
            elif marked != current:
                # Marking an object deleted is a write that keeps it: etcd stores a new value.
                self._storage(is_delete=False)
                self.store.update(rt.plural, marked)
        if gone and not rt.returns_deleted_object:
            details: dict = {"name": metadata["name"]}
            if rt.group:
                details["group"] = rt.group
            details.update(kind=rt.plural, uid=metadata.get("uid"))
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
        return _typed(rt, marked)

    def _deletecollection(self, rt: ResourceType, route: Route, query: dict[str, str], request: ApiRequest,
                          identity: Identity) -> ApiResponse:
        options = admission.delete_options(request.body, query)
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rt.plural)
        with self.store.lock:
            page = self.store.page(rt.plural, route.namespace or None, labels, fields)
            for entry in page.entries:
                # Each object is admitted as a DELETE; a webhook's wait is not modelled here.
                call = self.webhooks.call(WriteAttributes("DELETE", rt, "", route.namespace or "", None, entry.obj,
                                                          parse_go_duration(query.get("timeout"))))
                if call is not None and call.error is not None:
                    raise call.error
                self._delete_one(rt, entry.obj, options, "dryRun" in query)
        self.poke()
        body = _list_body(rt.list_kind, rt.api_version, {"resourceVersion": self.store.resource_version()},
                          (entry.raw() for entry in page.entries))
        return ApiResponse(200, body, JSON, identity.user)


# --- helpers ------------------------------------------------------------------------------

def _error(error: errors.ApiError, user: str | None) -> ApiResponse:
    return ApiResponse(error.code, error.body_bytes(), JSON, user)


def _copy(obj: object) -> object:
    return json.loads(json.dumps(obj))


def _check_type(rt: ResourceType, body: object) -> None:
    """As the create handler decodes the body (apiserver pkg/endpoints/handlers/create.go): the
    body's apiVersion must be the path's group/version, and its kind one the scheme has for it
    (an absent apiVersion or kind defaults to the path's)."""
    if not isinstance(body, dict):
        return
    version, kind = body.get("apiVersion"), body.get("kind")
    if version and version != rt.api_version:
        raise errors.bad_request(f"the API version in the data ({version}) does not match the expected API version "
                                 f"({rt.api_version})")
    if kind and kind != rt.kind:
        raise errors.bad_request(f'no kind "{kind}" is registered for version "{rt.api_version}" in scheme '
                                 f'"pkg/api/legacyscheme/scheme.go:30"')


def _json_body(body: bytes) -> object:
    try:
        return json.loads(body or b"null")
    except ValueError as error:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {error}") from None


def _non_negative_int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(f"invalid {name} {value!r}: must be an integer") from None
    if number < 0:
        raise errors.bad_request(f"invalid {name} {value!r}: must not be negative")
    return number or None


def _typed(rt: ResourceType, obj: dict) -> dict:
    return {"kind": rt.kind, "apiVersion": rt.api_version, **obj}


def _list_body(kind: str, api_version: str, metadata: dict, items) -> bytes:
    return (b'{"kind":' + dumps(kind) + b',"apiVersion":' + dumps(api_version) + b',"metadata":' + dumps(metadata)
            + b',"items":[' + b",".join(items) + b"]}")


def _discovery(path: str) -> dict | None:
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}]}
    if path == "/apis":
        groups: dict[str, list[str]] = {}
        for group, version in GROUP_VERSIONS:
            if group:
                groups.setdefault(group, []).append(version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": group, "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
             "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]}}
            for group, versions in sorted(groups.items())]}
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        key = ("", parts[1])
    elif parts[0] == "apis" and len(parts) == 3:
        key = (parts[1], parts[2])
    else:
        return None
    if key not in GROUP_VERSIONS:
        return None
    group_version = f"{key[0]}/{key[1]}" if key[0] else key[1]
    resources = []
    for plural in sorted(GROUP_VERSIONS[key]):
        rt = RESOURCES[plural]
        resources.append({"name": plural, "singularName": rt.kind.lower(), "namespaced": rt.namespaced,
                          "kind": rt.kind, "verbs": sorted(rt.verbs)})
        resources += [{"name": f"{plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                       "kind": rt.kind, "verbs": ["get", "patch", "update"]} for sub in sorted(rt.subresources)]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
