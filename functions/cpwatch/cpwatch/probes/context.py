"""What every probe receives, and small helpers probes share.

Probes are plain functions `probe(ctx) -> list[Observation]`, registered in probes/__init__.py.
They only observe: the runner owns deadlines, timing and turning errors into findings.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, TypeVar

from ..cluster.kubeapi import JSON, KubeApi
from ..settings import Settings
from ..timeutil import parse_k8s_time

T = TypeVar("T")


class RunCache:
    """Answers several probes of one run need, fetched once by whichever probe asks first
    (the others wait for it); an error is kept and raised to every asker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._values: dict[str, object] = {}

    def get(self, key: str, load: Callable[[], T]) -> T:
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._values:
                try:
                    self._values[key] = load()
                except Exception as error:  # kept, so every asker sees the same outcome
                    self._values[key] = error
            value = self._values[key]
        if isinstance(value, Exception):
            raise value
        return value  # type: ignore[return-value]


@dataclass(frozen=True)
class ProbeContext:
    api: KubeApi
    settings: Settings
    run_id: str  # short random id; names canary objects of this run
    cluster: str = ""
    ec2: Any = None  # an EC2 client when checking an EKS cluster from AWS; None from a kubeconfig
    cache: RunCache = dataclasses.field(default_factory=RunCache)

    def age_s(self, timestamp: object) -> float | None:
        """Seconds since a Kubernetes timestamp, on the apiserver's clock; None if unparsable."""
        moment = parse_k8s_time(timestamp)
        if moment is None:
            return None
        return (self.api.server_now() - moment).total_seconds()

    def now(self) -> datetime:
        return self.api.server_now()

    def wait_for(self, check: Callable[[], T | None]) -> tuple[T | None, float]:
        """Call `check` until it returns something, at most canary_wait_s; (result, seconds)."""
        started = time.monotonic()
        limit = started + min(self.settings.canary_wait_s, max(self.api.deadline.remaining() - 1.0, 0.0))
        while True:
            result = check()
            elapsed = time.monotonic() - started
            if result is not None or time.monotonic() + self.settings.canary_poll_s > limit:
                return result, elapsed
            time.sleep(self.settings.canary_poll_s)


def bounded_write(settings: Settings) -> tuple[dict[str, str], float]:
    """(query, client timeout) of a write: `?timeout=` makes the apiserver give up first and
    answer why (an admission webhook still waiting is then named in its error), and the client
    waits 2 s more for that answer."""
    return {"timeout": f"{int(settings.write_timeout_s)}s"}, settings.write_timeout_s + 2


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def whole(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds)


def examples(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# Answers are read through these, so a field of an unexpected type (a proxy's answer, a newer or
# broken apiserver) reads as absent instead of crashing the probe.


def field(obj: object, *path: str) -> dict:
    """The JSON object at obj[path[0]][path[1]]...; {} when a step is missing or not an object."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else {}


def entries(value: object) -> list[dict]:
    """The JSON objects in a list field ([] when it is not a list)."""
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def whole_number(value: object) -> int | None:
    """A JSON integer (generation, restartCount), None for anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def condition(obj: dict, kind: str) -> dict | None:
    for entry in entries(field(obj, "status").get("conditions")):
        if entry.get("type") == kind:
            return entry
    return None


def pod_consistently(ctx: ProbeContext, namespace: str, name: str, accept: str = JSON) -> dict | None:
    """One pod by a consistent read (None if it does not exist). A list selecting the name in its
    namespace is a single-key read for the apiserver (as a get) and needs only the `list` verb."""
    query = {"fieldSelector": f"metadata.name={name}"}
    items = ctx.api.get_json(f"/api/v1/namespaces/{namespace}/pods", query, accept=accept).get("items")
    pods = entries(items)
    return pods[0] if pods else None


def lease_path(namespace: str, name: str = "") -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


MANAGED_BY = {"app.kubernetes.io/managed-by": "cpwatch"}
