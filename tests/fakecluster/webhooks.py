"""Admission webhooks: which writes a stored Validating/MutatingWebhookConfiguration intercepts,
and what the apiserver answers when the webhook's backend refuses, hangs, fails TLS or denies.

Who calls it: the API layer, for every create, update, patch and delete, after the built-in
admission checks and before storage (mutating webhooks first, then validating ones, as in
kube-apiserver's admission chain), and components/context.py for the simulated components' own
writes. The configurations are ordinary stored objects, so they are
listed and read like any other; FakeCluster.add_failing_webhook stores one and registers how
its backend behaves. A webhook without a registered backend admits (a working backend).

Matching and answers follow k8s.io/apiserver pkg/admission/plugin/webhook:
- rules (predicates/rules): operation (PATCH is UPDATE), apiGroup, resource with the
  "*", "res/sub", "*/sub" and "res/*" forms, scope ("Namespaced" never matches a Namespace
  object or a cluster-scoped one, "Cluster" only those). matchPolicy Equivalent: the version
  does not matter (every resource the fake serves has one version).
- namespaceSelector (predicates/namespace): on the labels of the object's namespace (of the
  Namespace itself for namespaces); cluster-scoped objects other than namespaces always match.
  objectSelector: on the new or the old object's labels.
- Validating/MutatingWebhookConfiguration objects are never sent to webhooks
  (IsExemptAdmissionConfigurationResource).
- A call failure (refused, timeout, TLS) with failurePolicy Fail is HTTP 500 InternalError
  `failed calling webhook "<name>": failed to call webhook: Post "<url>?timeout=<N>s": <cause>`
  (util/webhook/error.go, dispatcher.go); with Ignore the write goes on. N is the call's
  deadline, min(timeoutSeconds, the request's remaining time), rounded up to whole seconds. A
  denial is `admission webhook "<name>" denied the request: <message>` with the webhook's code
  (errors/statuserror.go), whatever the failurePolicy.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import errors
from .resources import ResourceType
from .selectors import selector_from_manifest
from .store import Store

MODES = ("refused", "timeout", "deny", "tls")
KINDS = {"validating": "validatingwebhookconfigurations", "mutating": "mutatingwebhookconfigurations"}
# kube-apiserver's default --request-timeout bounds a request without ?timeout=.
DEFAULT_REQUEST_TIMEOUT = 60.0
DEFAULT_WEBHOOK_TIMEOUT = 10


@dataclass(frozen=True)
class Backend:
    """How a webhook's backend behaves when called."""

    mode: str  # one of MODES
    deny_code: int = 400
    deny_message: str = "image not allowed"


@dataclass(frozen=True)
class WriteAttributes:
    """What admission knows about one write."""

    operation: str  # CREATE, UPDATE or DELETE
    rt: ResourceType
    subresource: str
    namespace: str  # "" for cluster-scoped objects
    obj: dict | None  # the object as it would be stored (None for DELETE)
    old: dict | None  # the stored object (None for CREATE)
    request_timeout: float | None  # the request's ?timeout=, seconds


@dataclass(frozen=True)
class Call:
    """Calling the matching webhooks: `seconds` pass (real time), then `error` is the answer
    (None: the write goes on, after an ignored timeout)."""

    seconds: float
    error: errors.ApiError | None


def configuration_object(kind: str, configuration: str, webhook: str, *, url: str, ca_pem: str,
                         operations: tuple[str, ...], api_groups: tuple[str, ...], api_versions: tuple[str, ...],
                         resources: tuple[str, ...], scope: str, namespaces: tuple[str, ...] | None,
                         timeout_seconds: int, failure_policy: str,
                         service: tuple[str, str, int] | None = None, object_selector: dict | None = None) -> dict:
    """A webhook configuration shaped like the recorded ones (one webhook, one rule); with
    `service` (namespace, name, port) its clientConfig names that Service instead of a URL."""
    namespace_selector: dict = {}
    if namespaces is not None:
        namespace_selector = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                                    "values": list(namespaces)}]}
    hook = {
        "name": webhook,
        "clientConfig": {**({"service": {"namespace": service[0], "name": service[1], "port": service[2],
                                         "path": "/validate"}} if service else {"url": url}),
                         "caBundle": base64.b64encode(ca_pem.encode()).decode()},
        "rules": [{"operations": list(operations), "apiGroups": list(api_groups), "apiVersions": list(api_versions),
                   "resources": list(resources), "scope": scope}],
        "failurePolicy": failure_policy,
        "matchPolicy": "Equivalent",
        "namespaceSelector": namespace_selector,
        "objectSelector": dict(object_selector or {}),
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
        "admissionReviewVersions": ["v1"],
    }
    if kind == "mutating":
        hook["reinvocationPolicy"] = "Never"
    return {"metadata": {"name": configuration, "generation": 1}, "webhooks": [hook]}


class Webhooks:
    def __init__(self, store: Store) -> None:
        self.store = store
        # (configuration resource, configuration name, webhook name) -> backend
        self._backends: dict[tuple[str, str, str], Backend] = {}

    def register(self, kind: str, configuration: str, webhook: str, backend: Backend) -> None:
        if backend.mode not in MODES:
            raise ValueError(f"webhook mode must be one of {', '.join(MODES)}, not {backend.mode!r}")
        self._backends[(KINDS[kind], configuration, webhook)] = backend

    def clear(self) -> None:
        self._backends.clear()

    def call(self, attributes: WriteAttributes) -> Call | None:
        """What the matching webhooks do to this write (None: nothing, at once). Calls are
        taken one after another (the real validating ones run in parallel; the fake's
        scenarios have one webhook)."""
        if attributes.rt.plural in KINDS.values():
            return None
        waited = 0.0
        for resource in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
            for configuration in self.store.scan(resource):
                for hook in configuration.get("webhooks") or []:
                    backend = self._backends.get((resource, configuration["metadata"]["name"], hook.get("name")))
                    if backend is None or not self._matches(hook, attributes):
                        continue
                    call = _call(hook, backend, attributes)
                    waited += call.seconds
                    if call.error is not None:
                        return Call(waited, call.error)
        return Call(waited, None) if waited else None

    def _matches(self, hook: dict, attributes: WriteAttributes) -> bool:
        if not any(_rule_matches(rule, attributes) for rule in hook.get("rules") or []):
            return False
        if not self._namespace_matches(hook, attributes):
            return False
        selector = selector_from_manifest(hook.get("objectSelector"))
        objects = [obj for obj in (attributes.obj, attributes.old) if obj is not None] or [{}]
        return any(selector.matches((obj.get("metadata") or {}).get("labels")) for obj in objects)

    def _namespace_matches(self, hook: dict, attributes: WriteAttributes) -> bool:
        is_namespace = attributes.rt.plural == "namespaces"
        if not attributes.namespace and not is_namespace:
            return True
        selector = selector_from_manifest(hook.get("namespaceSelector"))
        if selector.empty:
            return True
        if is_namespace:
            namespace = attributes.obj or attributes.old or {}
        else:
            namespace = self.store.peek("namespaces", None, attributes.namespace) or {}
        return selector.matches((namespace.get("metadata") or {}).get("labels"))


def _rule_matches(rule: dict, attributes: WriteAttributes) -> bool:
    operations = rule.get("operations") or []
    if "*" not in operations and attributes.operation not in operations:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attributes.rt.group not in groups:
        return False
    if not any(_resource_matches(entry, attributes.rt.plural, attributes.subresource)
               for entry in rule.get("resources") or []):
        return False
    scope = rule.get("scope") or "*"
    is_namespace = attributes.rt.plural == "namespaces"
    cluster_scoped = is_namespace or not attributes.rt.namespaced
    if scope == "Namespaced":
        return not cluster_scoped
    if scope == "Cluster":
        return cluster_scoped
    return True


def _resource_matches(entry: str, resource: str, subresource: str) -> bool:
    wanted, _, wanted_sub = entry.partition("/")
    return wanted in ("*", resource) and (wanted_sub == "*" or wanted_sub == subresource)


def _call(hook: dict, backend: Backend, attributes: WriteAttributes) -> Call:
    name = hook.get("name", "")
    if backend.mode == "deny":
        code = max(backend.deny_code, 400)
        message = f'admission webhook "{name}" denied the request'
        message += f": {backend.deny_message}" if backend.deny_message else " without explanation"
        return Call(0.0, errors.ApiError(code, "", message))
    request_timeout = attributes.request_timeout if attributes.request_timeout is not None else DEFAULT_REQUEST_TIMEOUT
    deadline = min(float(hook.get("timeoutSeconds") or DEFAULT_WEBHOOK_TIMEOUT), request_timeout)
    url = webhook_url(hook)
    target = f"{url}{'&' if '?' in url else '?'}timeout={math.ceil(deadline)}s"
    causes = {
        "refused": f"dial tcp {_host_port(url)}: connect: connection refused",
        "timeout": "context deadline exceeded",
        "tls": "tls: failed to verify certificate: x509: certificate signed by unknown authority",
    }
    seconds = deadline if backend.mode == "timeout" else 0.0
    if hook.get("failurePolicy", "Fail") == "Ignore":
        return Call(seconds, None)
    reason = f'failed calling webhook "{name}": failed to call webhook: Post "{target}": {causes[backend.mode]}'
    return Call(seconds, errors.internal(reason))


def webhook_url(hook: dict) -> str:
    config = hook.get("clientConfig") or {}
    if config.get("url"):
        return config["url"]
    service = config.get("service") or {}
    return (f"https://{service.get('name')}.{service.get('namespace')}.svc:{service.get('port', 443)}"
            f"{service.get('path') or ''}")


def _host_port(url: str) -> str:
    split = urlsplit(url)
    return f"{split.hostname}:{split.port or 443}"
