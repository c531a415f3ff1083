"""Helpers of the webhook probes' unit tests: a run that has already read webhook configurations.

The refused-write rules and the admission webhook probe both read the run's webhook view
(interceptors.py); these give it to the run's cache as already read, so no client is needed.
"""

from __future__ import annotations

from cpwatch.probes.context import ProbeContext
from cpwatch.probes.interceptors import WebhookView
from cpwatch.settings import Settings
from cpwatch.probes.webhookrules import parse_configuration

SETTINGS = Settings(namespace="watcher")


def context(*configurations: tuple[str, dict]) -> ProbeContext:
    """A context whose run already read these (kind, configuration) pairs; it has no client."""
    ctx = ProbeContext(api=None, settings=SETTINGS, run_id="r")  # type: ignore[arg-type]
    found = tuple(w for kind, item in configurations for w in parse_configuration(item, kind))
    ctx.cache.get("webhooks", lambda: WebhookView(found))
    return ctx


def configuration(name: str, *hooks: dict) -> dict:
    return {"metadata": {"name": name}, "webhooks": list(hooks)}


def hook(name: str, resources=("configmaps",), operations=("CREATE", "UPDATE"), failure_policy="Fail",
         namespaces: tuple[str, ...] | None = None, timeout_s: int = 10) -> dict:
    selector = ({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                       "values": list(namespaces)}]} if namespaces else {})
    return {"name": name, "failurePolicy": failure_policy, "timeoutSeconds": timeout_s, "namespaceSelector": selector,
            "rules": [{"operations": list(operations), "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": list(resources), "scope": "*"}]}


def table(observations) -> list[tuple[str, str, dict]]:
    return [(o.code, o.component.value, dict(o.evidence)) for o in observations]
