"""The aggregation layer: APIService objects and what the apiserver answers for an aggregated
group/version whose backend is not available.

Who calls it: FakeCluster (seeds the local APIServices, registers and restores aggregated ones),
the API layer (discovery and every request under /apis/<group>/<version> of an aggregated
APIService) and the HPA controller (components/autoscaler.py reads whether metrics APIs work).

What kube-apiserver does (k8s.io/kube-aggregator): every built-in group/version is an APIService
labelled `kube-aggregator.kubernetes.io/automanaged: onstart`, Available=True with reason Local.
An APIService backed by a Service is checked by the availability controller; without a working
backend it is Available=False with reason ServiceNotFound, MissingEndpoints or
FailedDiscoveryCheck, and the proxy answers every request for that group/version, discovery
included, with 503 text/plain `service unavailable\n`.
"""

from __future__ import annotations

from datetime import datetime

from .clock import rfc3339

AUTOMANAGED = {"kube-aggregator.kubernetes.io/automanaged": "onstart"}
LOCAL_MESSAGE = "Local APIServices are always available"
UNAVAILABLE_BODY = b"service unavailable\n"

# Built-in group/versions of a 1.31 kube-apiserver: (group, version, groupPriorityMinimum,
# versionPriority), as kube-apiserver registers them.
LOCAL_APISERVICES = (
    ("", "v1", 18000, 1),
    ("admissionregistration.k8s.io", "v1", 16700, 15),
    ("apiextensions.k8s.io", "v1", 16700, 15),
    ("apps", "v1", 17800, 15),
    ("authentication.k8s.io", "v1", 17700, 15),
    ("authorization.k8s.io", "v1", 17600, 15),
    ("autoscaling", "v1", 17500, 15),
    ("autoscaling", "v2", 17500, 30),
    ("batch", "v1", 17400, 15),
    ("certificates.k8s.io", "v1", 17300, 15),
    ("coordination.k8s.io", "v1", 16500, 15),
    ("discovery.k8s.io", "v1", 16200, 15),
    ("events.k8s.io", "v1", 17750, 15),
    ("flowcontrol.apiserver.k8s.io", "v1", 16100, 21),
    ("flowcontrol.apiserver.k8s.io", "v1beta3", 16100, 18),
    ("networking.k8s.io", "v1", 17200, 15),
    ("node.k8s.io", "v1", 16300, 15),
    ("policy", "v1", 17100, 15),
    ("rbac.authorization.k8s.io", "v1", 17000, 15),
    ("scheduling.k8s.io", "v1", 16600, 15),
    ("storage.k8s.io", "v1", 16800, 15),
)

# Available=False reasons of kube-aggregator's availability controller and their messages.
REASONS = {
    "ServiceNotFound": 'service/{name} in "{namespace}" is not present',
    "MissingEndpoints": 'endpoints for service/{name} in "{namespace}" have no addresses with port name "https"',
    "FailedDiscoveryCheck": ('failing or missing response from https://10.96.0.42:{port}/apis/{group}/{version}: '
                             'Get "https://10.96.0.42:{port}/apis/{group}/{version}": dial tcp 10.96.0.42:{port}: '
                             "connect: connection refused"),
}

# What an available metrics API serves, for discovery after restore_apiservice.
_KNOWN_RESOURCES = {
    ("metrics.k8s.io", "v1beta1"): [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
    ],
}


def apiservice_name(group: str, version: str) -> str:
    return f"{version}.{group}"


def split_name(name: str) -> tuple[str, str]:
    """`v1beta1.metrics.k8s.io` -> ("metrics.k8s.io", "v1beta1")."""
    version, dot, group = name.partition(".")
    if not dot or not group or not version:
        raise ValueError(f"an APIService is named <version>.<group>, not {name!r}")
    return group, version


def local_apiservice(group: str, version: str, group_priority: int, version_priority: int,
                     now: datetime) -> dict:
    spec: dict = {"version": version, "groupPriorityMinimum": group_priority, "versionPriority": version_priority}
    if group:
        spec = {"group": group, **spec}
    return {"metadata": {"name": apiservice_name(group, version), "labels": dict(AUTOMANAGED)},
            "spec": spec, "status": {"conditions": [_available("True", "Local", LOCAL_MESSAGE, now)]}}


def aggregated_apiservice(name: str, namespace: str, service: str, port: int, now: datetime) -> dict:
    group, version = split_name(name)
    return {"metadata": {"name": name},
            "spec": {"service": {"namespace": namespace, "name": service, "port": port}, "group": group,
                     "version": version, "insecureSkipTLSVerify": True, "groupPriorityMinimum": 100,
                     "versionPriority": 100},
            "status": {}}


def unavailable_status(apiservice: dict, reason: str, message: str | None, now: datetime) -> dict:
    if message is None:
        if reason not in REASONS:
            raise ValueError(f"no default message for APIService reason {reason!r}; give one, or use one of "
                             f"{', '.join(REASONS)}")
        spec = apiservice["spec"]
        service = spec.get("service") or {}
        message = REASONS[reason].format(name=service.get("name"), namespace=service.get("namespace"),
                                         port=service.get("port", 443), group=spec.get("group"),
                                         version=spec.get("version"))
    return {"conditions": [_available("False", reason, message, now)]}


def available_status(now: datetime) -> dict:
    return {"conditions": [_available("True", "Passed", "all checks passed", now)]}


def _available(status: str, reason: str, message: str, now: datetime) -> dict:
    return {"type": "Available", "status": status, "lastTransitionTime": rfc3339(now), "reason": reason,
            "message": message}


def is_available(apiservice: dict) -> bool:
    return any(condition.get("type") == "Available" and condition.get("status") == "True"
               for condition in (apiservice.get("status") or {}).get("conditions") or [])


def is_aggregated(apiservice: dict) -> bool:
    return bool((apiservice.get("spec") or {}).get("service"))


def discovery(apiservice: dict) -> dict:
    """The APIResourceList an available aggregated group/version serves."""
    spec = apiservice["spec"]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{spec['group']}/{spec['version']}",
            "resources": _KNOWN_RESOURCES.get((spec["group"], spec["version"]), [])}
