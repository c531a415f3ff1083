"""Several kubeconfig contexts checked at once, under one deadline (`cpwatch check --all-contexts`).

Called by the CLI. Each context is connected and checked in a thread of its own, so the whole
answers in about the time of the slowest cluster, and never after the shared deadline. A context
that cannot be used (its kubeconfig entry is wrong, its credentials cannot be obtained) becomes a
diagnosis of its own with the reason as its one finding; it never stops the other checks.
"""

from __future__ import annotations

import logging
import threading
import time

from ..cluster import clientcert
from ..judging.check import ContextResult, blind_diagnosis, run_check
from ..cluster.connect import api_for_context
from ..errors import ConfigError, CredentialsError
from ..cluster.exec_credentials import credentials_observation
from ..findings import Component, observe
from ..settings import Settings
from ..timeutil import Deadline

log = logging.getLogger(__name__)

# A context's thread still running this long after the deadline is reported as timed out.
_JOIN_GRACE_S = 0.2


def check_context(kubeconfig, name: str, settings: Settings, deadline: Deadline, read_only: bool) -> ContextResult:
    """One context, connected and checked. Raises nothing for anything the context or its
    cluster does (configuration and credential problems become the diagnosis' finding)."""
    started = time.monotonic()
    try:
        api, target = api_for_context(kubeconfig.context(name), settings.request_timeout_s, deadline)
    except CredentialsError as error:
        diagnosis = blind_diagnosis(name, (credentials_observation(error),), read_only)
        return ContextResult(name, diagnosis, time.monotonic() - started, usable=False)
    except ConfigError as error:
        finding = observe("CHECKER_KUBECONFIG", Component.CHECKER, context=name, detail=str(error))
        return ContextResult(name, blind_diagnosis(name, (finding,), read_only), time.monotonic() - started, usable=False)
    try:
        diagnosis = run_check(api, target.name, settings, read_only=read_only,
                              extra=clientcert.observations(target.client_certificate, settings.cert_expiry_warn_days))
    finally:
        api.close()
    return ContextResult(name, diagnosis, time.monotonic() - started)


def check_contexts(kubeconfig, names: list[str], settings: Settings, deadline: Deadline,
                   read_only: bool = False) -> list[ContextResult]:
    """Every named context at once; results in the order of `names`."""
    results: dict[str, ContextResult] = {}
    lock = threading.Lock()

    def work(name: str) -> None:
        started = time.monotonic()
        try:
            result = check_context(kubeconfig, name, settings, deadline, read_only)
        except Exception as error:  # a bug in cpwatch: reported as one, never as a context that timed out
            log.exception("check of context %s crashed", name)
            crashed = observe("PROBE_CRASHED", Component.CHECKER, probe=f"check of context {name}",
                              error=type(error).__name__)
            result = ContextResult(name, blind_diagnosis(name, (crashed,), read_only), time.monotonic() - started)
        with lock:
            results[name] = result

    threads = [threading.Thread(target=work, args=(name,), name=f"context-{name}", daemon=True) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(deadline.remaining() + _JOIN_GRACE_S, 0.0))
    ordered = []
    with lock:
        for name in names:
            result = results.get(name)
            if result is None:
                late = observe("PROBE_TIMED_OUT", Component.CHECKER, probe=f"check of context {name}")
                result = ContextResult(name, blind_diagnosis(name, (late,), read_only), 0.0)
            ordered.append(result)
    return ordered
