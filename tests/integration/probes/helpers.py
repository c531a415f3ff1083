"""Helpers of the per-probe tests against the fake control plane: a probe's context, and what several share.

A probe is called on its own with the real client of the checker's kubeconfig for the fake, as
the runner calls it, so the finding a test pins is that probe's own.
"""

from __future__ import annotations

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.probes.context import ProbeContext
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline
from tests.fakecluster import FakeCluster

REQUEST_TIMEOUT_S = 1.0


def context_of(fc: FakeCluster, tmp_path, settings: Settings = Settings(),
               token: str | None = None) -> tuple[ProbeContext, object]:
    """A context on a client with a short request timeout (REQUEST_TIMEOUT_S), and that client to close."""
    kubeconfig = fc.write_kubeconfig(tmp_path / "kubeconfig", token=token)
    api, _ = api_from_kubeconfig(str(kubeconfig), None, REQUEST_TIMEOUT_S, Deadline.after(20))
    return ProbeContext(api, settings, run_id="a"), api
