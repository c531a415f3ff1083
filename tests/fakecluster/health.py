"""/livez, /readyz, /healthz and /version answers, in kube-apiserver's text format.

Who calls it: the API layer. The check names and their order are those of the recorded
apiserver; a failing check prints `[-]<name> failed: reason withheld` and the whole list is
written on failure even without `?verbose`, as the real handler does.
"""

from __future__ import annotations

from dataclasses import dataclass

_HOOKS = (
    "poststarthook/start-kube-apiserver-admission-initializer",
    "poststarthook/generic-apiserver-start-informers",
    "poststarthook/priority-and-fairness-config-consumer",
    "poststarthook/priority-and-fairness-filter",
    "poststarthook/start-apiextensions-informers",
    "poststarthook/start-apiextensions-controllers",
    "poststarthook/crd-informer-synced",
    "poststarthook/bootstrap-controller",
    "poststarthook/rbac/bootstrap-roles",
    "poststarthook/scheduling/bootstrap-system-priority-classes",
    "poststarthook/priority-and-fairness-config-producer",
    "poststarthook/start-cluster-authentication-info-controller",
    "poststarthook/start-kube-aggregator-informers",
    "poststarthook/apiservice-registration-controller",
    "poststarthook/apiservice-status-available-controller",
    "poststarthook/kube-apiserver-autoregistration",
    "autoregister-completion",
    "poststarthook/apiservice-openapi-controller",
)

CHECKS: dict[str, tuple[str, ...]] = {
    "livez": ("ping", "log", "etcd", *_HOOKS),
    "healthz": ("ping", "log", "etcd", *_HOOKS),
    "readyz": ("ping", "log", "etcd", "informer-sync", *_HOOKS, "shutdown"),
}

# What a single failing check answers (GET /livez/etcd, /readyz/shutdown); the etcd text is the
# recorded one, the others kube-apiserver's (healthz.go: shutdownCheck, hooks.go: errHookNotFinished).
CHECK_ERRORS = {"etcd": "error getting data from etcd: context deadline exceeded",
                "shutdown": "process is shutting down"}
HOOK_NOT_FINISHED = "not finished"

TEXT = "text/plain; charset=utf-8"

SIMULATED_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0",
    "gitCommit": "9edcffcde5595e8a5b1a35f88c421764e575afce",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T07:28:49Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class HealthAnswer:
    status: int
    text: str


def endpoint_answer(endpoint: str, failing: frozenset[str], verbose: bool,
                    exclude: frozenset[str] = frozenset()) -> HealthAnswer:
    """GET /livez, /readyz or /healthz."""
    lines = []
    failed = False
    for check in CHECKS[endpoint]:
        if check in exclude:
            lines.append(f"[+]{check} excluded: ok")
        elif check in failing:
            failed = True
            lines.append(f"[-]{check} failed: reason withheld")
        else:
            lines.append(f"[+]{check} ok")
    if failed:
        return HealthAnswer(500, "\n".join(lines) + f"\n{endpoint} check failed\n")
    if verbose:
        return HealthAnswer(200, "\n".join(lines) + f"\n{endpoint} check passed\n")
    return HealthAnswer(200, "ok")


def check_answer(endpoint: str, check: str, failing: frozenset[str]) -> HealthAnswer | None:
    """GET /livez/<check>; None when the endpoint has no such check."""
    if check not in CHECKS[endpoint]:
        return None
    if check in failing:
        default = HOOK_NOT_FINISHED if check.startswith("poststarthook/") else f"{check} check failed"
        reason = CHECK_ERRORS.get(check, default)
        return HealthAnswer(500, f"internal server error: {reason}\n")
    return HealthAnswer(200, "ok")
