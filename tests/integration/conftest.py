"""Helpers for running the real check against the fake control plane."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpwatch.judging.check import Diagnosis, run_check
from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.settings import Settings
from cpwatch.timeutil import Deadline

# Short waits keep the suite fast; the rules under test do not depend on them.
FAST = Settings(run_timeout_s=12.0, request_timeout_s=3.0, write_timeout_s=3.0, canary_wait_s=4.0, canary_poll_s=0.2)


def check(fc, tmp_path: Path, settings: Settings = FAST, read_only: bool = False, token: str | None = None) -> Diagnosis:
    kubeconfig = fc.write_kubeconfig(tmp_path / "kubeconfig", token=token)
    deadline = Deadline.after(settings.run_timeout_s)
    api, target = api_from_kubeconfig(str(kubeconfig), None, settings.request_timeout_s, deadline)
    try:
        return run_check(api, target.name, settings, read_only=read_only)
    finally:
        api.close()


def verdicts(diagnosis: Diagnosis) -> dict[str, str]:
    return {component.value: verdict.verdict.value for component, verdict in diagnosis.components.items()}


def codes(diagnosis: Diagnosis, component: str | None = None) -> set[str]:
    return {o.code for o in diagnosis.observations if component is None or o.component.value == component}


@pytest.fixture
def run_check_on(tmp_path):
    def runner(fc, **kwargs) -> Diagnosis:
        return check(fc, tmp_path, **kwargs)
    return runner
