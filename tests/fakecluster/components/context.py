"""What every simulated component shares: the clock, the store, etcd, the apiserver gate and
the apiserver's write path (a fail-closed webhook or a storage fault refuses the components'
own writes as it refuses any client's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .. import errors
from ..clock import SimClock
from ..resources import RESOURCES, ResourceType
from ..store import Store
from ..webhooks import Webhooks, WriteAttributes
from .etcd import Etcd


@dataclass(frozen=True)
class Refusal:
    """The apiserver's answer to a component's write that did not land: `error` is what the
    component's client sees (its message), `seconds` how long the apiserver took to give it (a
    hanging webhook's deadline), in simulated time."""

    error: errors.ApiError
    seconds: float = 0.0

    @property
    def message(self) -> str:
        return self.error.message


@dataclass(frozen=True)
class Context:
    clock: SimClock
    store: Store
    etcd: Etcd
    # False while no apiserver answers (down or hung): components talk to etcd only through one.
    apiserver_answers: Callable[[], bool]
    webhooks: Webhooks | None = None

    def can_write(self) -> bool:
        """Whether writes land at all: the apiserver answers and etcd stores (quorum, no
        NOSPACE alarm, no write fault)."""
        return self.apiserver_answers() and self.etcd.writable

    def refusal(self, operation: str, resource: str, subresource: str = "", namespace: str = "", *,
                obj: dict | None = None, old: dict | None = None, removes: bool = False,
                timeout: float | None = None, rt: ResourceType | None = None) -> Refusal | None:
        """How the apiserver answers a component's write, in the order of api.py: etcd quorum,
        then the admission webhooks (mutating, then validating, webhooks.py) with the write's
        attributes, then etcd's storage faults. None: the write lands. `removes`: a DELETE that
        takes the key out of etcd (marking an object deleted is a put); `timeout`: the client's
        ?timeout= (it bounds a webhook's deadline); `rt`: the API the component writes through
        when it is not the one the fake stores it under (events.k8s.io events)."""
        if not self.etcd.quorum:
            # The recorded apiserver without quorum: ResourceQuota admission times out first.
            return Refusal(errors.internal("resource quota evaluation timed out"))
        if self.webhooks is not None:
            call = self.webhooks.call(WriteAttributes(operation, rt or RESOURCES[resource], subresource, namespace,
                                                      obj, old, timeout))
            if call is not None and call.error is not None:
                return Refusal(call.error, call.seconds)
        fault = self.etcd.refusal(is_delete=removes)
        if fault is not None:
            return Refusal(errors.storage(fault.message, fault.status, fault.reason))
        return None
