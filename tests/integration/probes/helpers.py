"""Helpers of the per-probe tests against the fake control plane: a probe's context, and what several share.

A probe is called on its own with the real client of the checker's kubeconfig for the fake, as
the runner calls it, so the finding a test pins is that probe's own.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.probes.context import ProbeContext
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline
from tests.fakecluster import FakeCluster

from ..conftest import FAST

REQUEST_TIMEOUT_S = 1.0
RUN_ID = "b0c1d2e3"
MANAGED = {"matchLabels": {"app.kubernetes.io/managed-by": "cpwatch"}}  # infra/ labels the namespace and ConfigMap


def context_of(fc: FakeCluster, tmp_path, settings: Settings = Settings(),
               token: str | None = None) -> tuple[ProbeContext, object]:
    """A context on a client with a short request timeout (REQUEST_TIMEOUT_S), and that client to close."""
    kubeconfig = fc.write_kubeconfig(tmp_path / "kubeconfig", token=token)
    api, _ = api_from_kubeconfig(str(kubeconfig), None, REQUEST_TIMEOUT_S, Deadline.after(20))
    return ProbeContext(api, settings, run_id="a"), api


@contextmanager
def probe_context(fc: FakeCluster, tmp_path: Path, settings: Settings = FAST):
    """A ProbeContext as the runner builds it, on the checker's kubeconfig for the fake."""
    kubeconfig = fc.write_kubeconfig(tmp_path / "kubeconfig")
    deadline = Deadline.after(settings.run_timeout_s)
    api, _ = api_from_kubeconfig(str(kubeconfig), None, settings.request_timeout_s, deadline)
    try:
        yield ProbeContext(api=api, settings=settings, run_id=RUN_ID)
    finally:
        api.close()


def table(observations) -> list[tuple[str, str, dict]]:
    return [(o.code, o.component.value, dict(o.evidence)) for o in observations]
