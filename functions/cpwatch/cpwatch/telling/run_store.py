"""The store as one cluster's run uses it.

Called by pipeline.check_cluster, which wraps the deployment's Store in a RunStore per run: once
DynamoDB gave no answer, later calls of the run fail at once with that error, so a silent
endpoint costs the run one call's timeouts, not one per call, and the run still ends by logging
its result and writing its metrics.
"""

from __future__ import annotations

from typing import Callable

from .store import Store, StoreUnreachableError


class RunStore:
    def __init__(self, store: Store):
        self._store = store
        self._unreachable: StoreUnreachableError | None = None

    def _call(self, method: Callable, *args):
        if self._unreachable is not None:
            raise StoreUnreachableError(f"{self._unreachable}; not called again in this run")
        try:
            return method(*args)
        except StoreUnreachableError as error:
            self._unreachable = error
            raise

    def claim_execution(self, *args):
        return self._call(self._store.claim_execution, *args)

    def load_state(self, *args):
        return self._call(self._store.load_state, *args)

    def put_run(self, *args):
        return self._call(self._store.put_run, *args)

    def save_state(self, *args):
        return self._call(self._store.save_state, *args)
