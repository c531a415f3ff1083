"""What every simulated component shares: the clock, the store, etcd and the apiserver gate."""

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

    def can_write(self) -> bool:
        return self.apiserver_answers() and self.etcd.quorum
