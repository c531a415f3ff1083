"""What every simulated component shares: the clock, the store, etcd, the apiserver gate and
admission (a fail-closed webhook can refuse the components' own writes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..clock import SimClock
from ..store import Store
from .etcd import Etcd


@dataclass(frozen=True)
class Context:
    clock: SimClock
    store: Store
    etcd: Etcd
    # False while the apiserver is down or hung: components talk to etcd only through it.
    apiserver_answers: Callable[[], bool]
    # admits(resource, subresource, namespace, operation): whether admission (webhooks) lets
    # such a write of a component through.
    admits: Callable[[str, str, str, str], bool] = lambda resource, subresource, namespace, operation: True

    def can_write(self) -> bool:
        """Whether writes land at all: the apiserver answers and etcd stores (quorum, no
        NOSPACE alarm, no write fault)."""
        return self.apiserver_answers() and self.etcd.writable
