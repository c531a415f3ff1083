"""API Priority and Fairness: which flow schema and priority level a request falls in (named by
UID in two headers on every answer), and the throttle fault that rejects some of them with 429.

Who calls it: the API layer, after authentication and before authorization, as the APF filter
sits in kube-apiserver's handler chain (k8s.io/apiserver pkg/server/filters/
priority-and-fairness.go). A rejection is `http.Error(w, "Too many requests, please try again
later.", 429)` with Retry-After and the X-Kubernetes-PF-* headers of the request's
classification.

Classification follows the default (bootstrap) configuration, pkg/apis/flowcontrol/bootstrap:
- flow schema `exempt` (priority level `exempt`): the group system:masters, every request;
- flow schema `probes` (priority level `exempt`): GET /healthz, /readyz and /livez exactly,
  for everyone (so /livez/etcd is not exempt, /livez?verbose is: the query is no part of the path);
- flow schema `service-accounts` (priority level `workload-low`): ServiceAccount users;
- flow schema `global-default` (priority level `global-default`): every other authenticated user.
Requests at the exempt priority level are never queued or rejected; the throttle picks from
the others.

The throttle is deterministic so tests repeat: every Nth candidate request (every=N), or a
fraction f spread evenly (request k is rejected when floor(k*f) passes an integer).
"""

from __future__ import annotations

import math
import threading
import uuid
from dataclasses import dataclass

TOO_MANY_REQUESTS = b"Too many requests, please try again later.\n"
TEXT = "text/plain; charset=utf-8"
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/livez"})
FLOW_SCHEMAS = {"exempt": "exempt", "probes": "exempt", "service-accounts": "workload-low",
                "global-default": "global-default"}


@dataclass(frozen=True)
class Classification:
    flow_schema: str
    priority_level: str
    flow_schema_uid: str
    priority_level_uid: str

    @property
    def exempt(self) -> bool:
        return self.priority_level == "exempt"

    def headers(self) -> tuple[tuple[str, str], ...]:
        # Go's net/http writes header names in canonical form.
        return (("X-Kubernetes-Pf-Flowschema-Uid", self.flow_schema_uid),
                ("X-Kubernetes-Pf-Prioritylevel-Uid", self.priority_level_uid))


@dataclass(frozen=True)
class Throttle:
    every: int | None = None
    fraction: float | None = None
    retry_after: int = 1
    paths: tuple[str, ...] | None = None  # path prefixes that can be throttled (None: every path)

    def __post_init__(self) -> None:
        if (self.every is None) == (self.fraction is None):
            raise ValueError("throttle takes exactly one of every=N or fraction=F")
        if self.every is not None and self.every < 1:
            raise ValueError(f"throttle every must be at least 1, not {self.every}")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValueError(f"throttle fraction must be in (0, 1], not {self.fraction}")
        if self.retry_after < 0:
            raise ValueError(f"Retry-After must not be negative, not {self.retry_after}")

    def covers(self, path: str) -> bool:
        return self.paths is None or any(path.startswith(prefix) for prefix in self.paths)

    def rejects(self, count: int) -> bool:
        """Whether the count-th candidate request (from 1) is rejected."""
        if self.every is not None:
            return count % self.every == 0
        return math.floor(count * self.fraction + 1e-9) > math.floor((count - 1) * self.fraction + 1e-9)


class PriorityAndFairness:
    def __init__(self) -> None:
        # `exempt` names both a flow schema and a priority level, each with its own UID.
        self.flow_schema_uids = {name: str(uuid.uuid4()) for name in FLOW_SCHEMAS}
        self.priority_level_uids = {name: str(uuid.uuid4()) for name in set(FLOW_SCHEMAS.values())}
        self._lock = threading.Lock()
        self._throttle: Throttle | None = None
        self._count = 0
        self.rejected = 0

    def classify(self, user: str, groups: tuple[str, ...], method: str, path: str) -> Classification:
        if "system:masters" in groups:
            schema = "exempt"
        elif method in ("GET", "HEAD") and path in PROBE_PATHS:
            schema = "probes"
        elif user.startswith("system:serviceaccount:"):
            schema = "service-accounts"
        else:
            schema = "global-default"
        level = FLOW_SCHEMAS[schema]
        return Classification(schema, level, self.flow_schema_uids[schema], self.priority_level_uids[level])

    def set_throttle(self, throttle: Throttle | None) -> None:
        with self._lock:
            self._throttle = throttle
            self._count = 0

    @property
    def throttle(self) -> Throttle | None:
        return self._throttle

    def reject(self, classification: Classification, path: str) -> Throttle | None:
        """The throttle in force when this request is rejected, else None."""
        with self._lock:
            throttle = self._throttle
            if throttle is None or classification.exempt or not throttle.covers(path):
                return None
            self._count += 1
            if not throttle.rejects(self._count):
                return None
            self.rejected += 1
            return throttle
