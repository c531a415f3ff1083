"""A simulated component's writes, as its client sends them: each passes the apiserver's write
path (Context.refusal: quorum, admission webhooks, etcd) with its real attributes before it
reaches the store, and a refused one leaves the store as it was.

Who calls it: the kubelets, the controller-manager's controllers, the scheduler, leader election,
the apiservers' identity Leases and the static pods. Every method returns the Refusal the
component's client got, or None when the write landed.
"""

from __future__ import annotations

import json
from typing import Callable

from ..resources import RESOURCES, ResourceType
from .context import Context, Refusal


class Writes:
    """`timeout`: the component's client ?timeout= (kubelet heartbeats, leader election)."""

    def __init__(self, context: Context, timeout: float | None = None) -> None:
        self.context = context
        self.timeout = timeout

    def create(self, resource: str, obj: dict, *, subresource: str = "", rt: ResourceType | None = None,
               store: bool = True) -> Refusal | None:
        """CREATE `obj` (a new dict); store=False for a subresource create that changes
        another object (pods/binding: the caller then changes the pod)."""
        metadata = obj.get("metadata") or {}
        refusal = self._refusal("CREATE", resource, subresource, metadata.get("namespace", ""), obj, None, rt=rt)
        if refusal is None and store:
            self.context.store.create(resource, obj)
        return refusal

    def update(self, resource: str, new: dict, *, subresource: str = "", rt: ResourceType | None = None
               ) -> Refusal | None:
        """UPDATE (or PATCH: the same operation for admission) of a stored object to `new`."""
        store = self.context.store
        metadata = new["metadata"]
        with store.lock:
            old = store.peek(resource, metadata.get("namespace"), metadata["name"])
            refusal = self._refusal("UPDATE", resource, subresource, metadata.get("namespace", ""), new, old, rt=rt)
            if refusal is None:
                store.update(resource, new)
        return refusal

    def mutate(self, resource: str, namespace: str | None, name: str, change: Callable[[dict], bool | None], *,
               subresource: str = "", rt: ResourceType | None = None) -> Refusal | None:
        """UPDATE by `change` applied to a copy of the stored object (no write if it returns False)."""
        store = self.context.store
        with store.lock:
            current = store.peek(resource, namespace, name)
            if current is None:
                return None
            new = json.loads(json.dumps(current))
            if change(new) is False:
                return None
            return self.update(resource, new, subresource=subresource, rt=rt)

    def delete(self, resource: str, namespace: str | None, name: str,
               mark: Callable[[dict], bool | None] | None = None, *, subresource: str = "",
               operation: str = "DELETE") -> Refusal | None:
        """DELETE: the object leaves storage, or with `mark` it stays marked (a graceful
        deletion or one waiting for finalizers: a put, as etcd sees it)."""
        store = self.context.store
        with store.lock:
            current = store.peek(resource, namespace, name)
            if current is None:
                return None
            new = None
            if mark is not None:
                new = json.loads(json.dumps(current))
                if mark(new) is False:
                    return None
            refusal = self._refusal(operation, resource, subresource, namespace or "", None, current,
                                    removes=mark is None)
            if refusal is None:
                if new is None:
                    store.delete(resource, namespace, name)
                else:
                    store.update(resource, new)
        return refusal

    def _refusal(self, operation: str, resource: str, subresource: str, namespace: str, obj: dict | None,
                 old: dict | None, *, removes: bool = False, rt: ResourceType | None = None) -> Refusal | None:
        scoped = namespace if (rt or RESOURCES[resource]).namespaced else ""
        return self.context.refusal(operation, resource, subresource, scoped, obj=obj, old=old, removes=removes,
                                    timeout=self.timeout, rt=rt)
