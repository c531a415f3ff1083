"""Helpers of the per-probe tests against the fake control plane: a probe's context, and what several share.

A probe is called on its own with the real client of the checker's kubeconfig for the fake, as
the runner calls it, so the finding a test pins is that probe's own. The fake runs in real time:
a change "during" a probe's wait is made by a thread that waits for the probe's own request in
the fake's request log (after_read).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.probes.context import ProbeContext
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline
from tests.fakecluster import FakeCluster

from ..conftest import FAST

REQUEST_TIMEOUT_S = 1.0
RUN_ID = "c0ffee"
GAP = 1.0
SETTINGS = FAST.with_overrides(eks_metrics_second_look_s=GAP)
# The active canaries: a short wait for the controller's or scheduler's reaction.
CANARY = SETTINGS.with_overrides(canary_wait_s=1.5, canary_poll_s=0.2)
NS = CANARY.namespace
PODS = f"/api/v1/namespaces/{NS}/pods"
MANAGED = {"matchLabels": {"app.kubernetes.io/managed-by": "cpwatch"}}  # infra/ labels the namespace and ConfigMap


def context_of(fc: FakeCluster, tmp_path, settings: Settings = Settings(),
               token: str | None = None) -> tuple[ProbeContext, object]:
    """A context on a client with a short request timeout (REQUEST_TIMEOUT_S), and that client to close."""
    kubeconfig = fc.write_kubeconfig(tmp_path / "kubeconfig", token=token)
    api, _ = api_from_kubeconfig(str(kubeconfig), None, REQUEST_TIMEOUT_S, Deadline.after(20))
    return ProbeContext(api, settings, run_id="a"), api


@contextmanager
def probe_context(fc: FakeCluster, tmp_path: Path, settings: Settings = FAST, deadline_s: float | None = None):
    """A ProbeContext as the runner builds it, on the checker's kubeconfig for the fake; the run's
    deadline is the settings' run timeout unless `deadline_s` is given."""
    kubeconfig = fc.write_kubeconfig(tmp_path / "kubeconfig")
    deadline = Deadline.after(settings.run_timeout_s if deadline_s is None else deadline_s)
    api, target = api_from_kubeconfig(str(kubeconfig), None, settings.request_timeout_s, deadline)
    try:
        yield ProbeContext(api, settings, run_id=RUN_ID, cluster=target.name)
    finally:
        api.close()


def table(observations) -> list[tuple[str, str, dict]]:
    return [(o.code, o.component.value, dict(o.evidence)) for o in observations]


def one(found: list, code: str):
    assert [o.code for o in found] == [code], [o.code for o in found]
    return found[0]


def reads(fc: FakeCluster, path: str) -> list:
    return [r for r in fc.requests if r.path == path]


@contextmanager
def after_read(fc: FakeCluster, path: str, action):
    """Runs `action` once the fake has answered the first GET of `path` (the probe is then in
    its gap before the second look)."""
    def wait_then_act():
        limit = time.monotonic() + 10
        while not reads(fc, path) and time.monotonic() < limit:
            time.sleep(0.02)
        action()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=15)


def deny_webhook(fc: FakeCluster, resources: tuple[str, ...], api_groups: tuple[str, ...], operations: tuple[str, ...],
                 mode: str = "deny") -> None:
    fc.add_failing_webhook("guard.policy.example.org", configuration="guard", mode=mode, resources=resources,
                           api_groups=api_groups, operations=operations, namespaces=(NS,),
                           deny_message="writes to the checker's namespace are reviewed")


def select_by(fc: FakeCluster, selector: str) -> None:
    """The guard webhook picks its writes by label instead of by namespace name, as policy engines
    often do: the checker's namespace and the objects of infra/ carry managed-by=cpwatch."""
    def change(configuration):
        configuration["webhooks"][0]["namespaceSelector"] = MANAGED if selector == "namespaceSelector" else {}
        configuration["webhooks"][0]["objectSelector"] = MANAGED if selector == "objectSelector" else {}
    fc.store.mutate("validatingwebhookconfigurations", None, "guard", change)


def renamed(obj: dict) -> dict:
    """An answer about another object: what a proxy in front of the apiserver might send."""
    return {**obj, "metadata": {**obj["metadata"], "name": "login-page"}}
