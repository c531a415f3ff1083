"""Objects of every resource, one global resourceVersion, selectors, pagination and indexes.

Who calls it: the API layer (after admission.py), the simulated components, and tests
(`fc.store`). Storage only: no defaulting, admission or graceful deletion happens here.

Stored dicts are never changed in place; a write stores a new dict. That lets the JSON of each
object be serialized once and reused by every list (lists of 150,000 pods join cached bytes),
and lets readers inside the fake hold references without copying. Public reads (`get`, `list`)
return copies; `peek` and `scan` return the shared dicts, which callers must not modify.
Objects are stored without kind/apiVersion, as list items are served; `with_type` adds them
for single-object answers.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Callable

from . import errors
from .clock import SimClock, rfc3339
from .resources import RESOURCES
from .selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector

Key = tuple[str, str]  # (namespace or "", name): etcd key order


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Entry:
    """A stored object and its serializations, computed at most once."""

    __slots__ = ("obj", "_raw", "_meta_raw")

    def __init__(self, obj: dict) -> None:
        self.obj = obj
        self._raw: bytes | None = None
        self._meta_raw: bytes | None = None

    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = dumps(self.obj)
        return self._raw

    def meta_raw(self) -> bytes:
        """The object as a meta.k8s.io/v1 PartialObjectMetadata."""
        if self._meta_raw is None:
            self._meta_raw = (b'{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":'
                              + dumps(self.obj.get("metadata", {})) + b"}")
        return self._meta_raw


@dataclass(frozen=True)
class ListPage:
    entries: list[Entry]
    resource_version: str
    continue_token: str | None
    remaining_item_count: int | None
    examined: int = 0  # objects looked at: the candidates from the start key to the last one taken


class _Index:
    def __init__(self, key_fn: Callable[[dict], str | None]) -> None:
        self.key_fn = key_fn
        self.buckets: dict[str, set[Key]] = {}

    def add(self, key: Key, obj: dict) -> None:
        value = self.key_fn(obj)
        if value is not None:
            self.buckets.setdefault(value, set()).add(key)

    def copy(self) -> _Index:
        clone = _Index(self.key_fn)
        clone.buckets = {value: set(keys) for value, keys in self.buckets.items()}
        return clone

    def remove(self, key: Key, obj: dict) -> None:
        value = self.key_fn(obj)
        if value is not None:
            bucket = self.buckets.get(value)
            if bucket is not None:
                bucket.discard(key)
                if not bucket:
                    del self.buckets[value]


@dataclass(frozen=True)
class _View:
    objects: dict[str, dict[Key, Entry]]
    keys: dict[str, list[Key]]
    indexes: dict[str, dict[str, _Index]]
    rv: int


class Store:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self._objects: dict[str, dict[Key, Entry]] = {plural: {} for plural in RESOURCES}
        self._keys: dict[str, list[Key]] = {plural: [] for plural in RESOURCES}
        self._indexes: dict[str, dict[str, _Index]] = {plural: {} for plural in RESOURCES}
        self._rv = 0
        # A watch cache that stopped following etcd: what cached reads see while it is frozen.
        self._frozen: _View | None = None

    # --- resourceVersion --------------------------------------------------------------------

    def resource_version(self) -> str:
        with self.lock:
            return str(self._rv)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    # --- indexes ----------------------------------------------------------------------------

    def add_index(self, resource: str, name: str, key_fn: Callable[[dict], str | None]) -> None:
        """Index `resource` by key_fn(obj) (None: not indexed). A field-selector `name=value`
        uses the index named after that field label."""
        with self.lock:
            index = _Index(key_fn)
            for key, entry in self._objects[resource].items():
                index.add(key, entry.obj)
            self._indexes[resource][name] = index

    def indexed(self, resource: str, index: str, value: str) -> list[dict]:
        """Shared dicts whose index key is `value`, in key order. Do not modify them."""
        with self.lock:
            keys = sorted(self._indexes[resource][index].buckets.get(value, ()))
            objects = self._objects[resource]
            return [objects[key].obj for key in keys]

    def index_count(self, resource: str, index: str, value: str) -> int:
        return len(self._indexes[resource][index].buckets.get(value, ()))

    def index_values(self, resource: str, index: str) -> list[str]:
        with self.lock:
            return list(self._indexes[resource][index].buckets)

    # --- reads ------------------------------------------------------------------------------

    def peek(self, resource: str, namespace: str | None, name: str) -> dict | None:
        """The stored dict (shared: do not modify), or None."""
        entry = self._objects[resource].get((namespace or "", name))
        return entry.obj if entry else None

    def entry(self, resource: str, namespace: str | None, name: str, cached: bool = False) -> Entry | None:
        objects = self._frozen.objects if cached and self._frozen else self._objects
        return objects[resource].get((namespace or "", name))

    # --- the watch cache ----------------------------------------------------------------------

    def freeze_watch_cache(self) -> None:
        """From now on cached reads (resourceVersion=0) see the objects as they are now."""
        with self.lock:
            self._frozen = _View(
                {plural: dict(objects) for plural, objects in self._objects.items()},
                {plural: list(keys) for plural, keys in self._keys.items()},
                {plural: {name: index.copy() for name, index in indexes.items()}
                 for plural, indexes in self._indexes.items()},
                self._rv)

    def thaw_watch_cache(self) -> None:
        with self.lock:
            self._frozen = None

    def get(self, resource: str, namespace: str | None, name: str) -> dict | None:
        """A copy of the object, or None."""
        with self.lock:
            entry = self._objects[resource].get((namespace or "", name))
            return json.loads(entry.raw()) if entry else None

    def scan(self, resource: str, namespace: str | None = None) -> list[dict]:
        """Shared dicts in key order (do not modify them)."""
        with self.lock:
            objects = self._objects[resource]
            return [objects[key].obj for key in self._key_range(resource, namespace)]

    def count(self, resource: str) -> int:
        return len(self._objects[resource])

    def list(self, resource: str, namespace: str | None = None, label_selector: str = "",
             field_selector: str = "") -> list[dict]:
        """Copies of the matching objects, in key order."""
        page = self.page(resource, namespace, parse_label_selector(label_selector),
                         parse_field_selector(field_selector, resource))
        return [json.loads(entry.raw()) for entry in page.entries]

    def page(self, resource: str, namespace: str | None, labels: LabelSelector, fields: FieldSelector,
             limit: int | None = None, continue_token: str | None = None, *, indexed: bool = True,
             cached: bool = False) -> ListPage:
        """One page of matching entries. indexed=False: candidates are the whole key range, as
        etcd reads them; cached=True: read what the (possibly frozen) watch cache holds."""
        with self.lock:
            view = self._frozen if cached and self._frozen else self._view()
            rv = view.rv
            keys = self._candidate_keys(view, resource, namespace, fields, indexed)
            start = 0
            if continue_token:
                token_rv, after = _decode_continue(continue_token, RESOURCES[resource].namespaced)
                rv = token_rv or rv
                start = bisect.bisect_right(keys, after)
            objects = view.objects[resource]
            filtered = not (labels.empty and fields.empty)
            entries: list[Entry] = []
            position = start
            for position in range(start, len(keys)):
                entry = objects[keys[position]]
                obj = entry.obj
                if filtered and not (fields.matches(obj) and labels.matches(obj["metadata"].get("labels"))):
                    continue
                entries.append(entry)
                if limit and len(entries) >= limit:
                    break
            else:
                position = len(keys)
            more = bool(limit) and len(entries) >= limit and position + 1 < len(keys)
            token = remaining = None
            if more:
                token = _encode_continue(rv, keys[position], RESOURCES[resource].namespaced)
                if not filtered:
                    # Kubernetes counts what is left only when the list has no selector.
                    remaining = len(keys) - position - 1
            examined = min(position + 1, len(keys)) - start
            return ListPage(entries, str(rv), token, remaining, examined)

    def _view(self) -> _View:
        return _View(self._objects, self._keys, self._indexes, self._rv)

    def _key_range(self, resource: str, namespace: str | None, view: _View | None = None) -> list[Key]:
        keys = (view or self._view()).keys[resource]
        if not namespace:
            return keys
        low = bisect.bisect_left(keys, (namespace, ""))
        high = bisect.bisect_left(keys, (namespace + "\x00", ""))
        return keys[low:high]

    def _candidate_keys(self, view: _View, resource: str, namespace: str | None, fields: FieldSelector,
                        indexed: bool) -> list[Key]:
        pinned = fields.exact("metadata.namespace")
        if pinned is not None:
            if namespace and namespace != pinned:
                return []
            namespace = pinned
        for name, index in view.indexes[resource].items() if indexed else ():
            value = fields.exact(name)
            if value is not None:
                bucket = index.buckets.get(value, ())
                return sorted(key for key in bucket if not namespace or key[0] == namespace)
        return self._key_range(resource, namespace, view)

    # --- writes -----------------------------------------------------------------------------

    def create(self, resource: str, obj: dict) -> dict:
        """Store a new object; stamps uid, creationTimestamp (if absent) and resourceVersion."""
        with self.lock:
            key = _key(resource, obj)
            if key in self._objects[resource]:
                raise errors.already_exists(RESOURCES[resource], key[1])
            metadata = obj.setdefault("metadata", {})
            metadata.setdefault("uid", str(uuid.uuid4()))
            metadata.setdefault("creationTimestamp", rfc3339(self.clock.now()))
            metadata["resourceVersion"] = self._next_rv()
            self._insert(resource, key, obj)
            return obj

    def update(self, resource: str, obj: dict, expect_rv: str | None = None) -> dict:
        """Replace an existing object with `obj` (a new dict) and give it a new resourceVersion."""
        with self.lock:
            key = _key(resource, obj)
            old = self._objects[resource].get(key)
            if old is None:
                raise errors.not_found(RESOURCES[resource], key[1])
            if expect_rv and expect_rv != old.obj["metadata"].get("resourceVersion"):
                raise errors.conflict(RESOURCES[resource], key[1])
            metadata = obj["metadata"]
            for immutable in ("uid", "creationTimestamp"):
                if immutable in old.obj["metadata"]:
                    metadata[immutable] = old.obj["metadata"][immutable]
            metadata["resourceVersion"] = self._next_rv()
            self._replace(resource, key, old, obj)
            return obj

    def put(self, resource: str, obj: dict) -> dict:
        """Create or replace (test set-up)."""
        with self.lock:
            if _key(resource, obj) in self._objects[resource]:
                return self.update(resource, obj)
            return self.create(resource, obj)

    def mutate(self, resource: str, namespace: str | None, name: str,
               change: Callable[[dict], bool | None]) -> dict | None:
        """Apply `change` to a copy and store it, unless `change` returns False. None if absent."""
        with self.lock:
            entry = self._objects[resource].get((namespace or "", name))
            if entry is None:
                return None
            copy = json.loads(entry.raw())
            if change(copy) is False:
                return entry.obj
            return self.update(resource, copy)

    def delete(self, resource: str, namespace: str | None, name: str) -> dict | None:
        with self.lock:
            key = (namespace or "", name)
            entry = self._objects[resource].pop(key, None)
            if entry is None:
                return None
            keys = self._keys[resource]
            del keys[bisect.bisect_left(keys, key)]
            for index in self._indexes[resource].values():
                index.remove(key, entry.obj)
            self._rv += 1
            return entry.obj

    def seed(self, resource: str, obj: dict) -> None:
        """Store a recorded object as it is, keeping its resourceVersion."""
        with self.lock:
            key = _key(resource, obj)
            old = self._objects[resource].get(key)
            if old is None:
                self._insert(resource, key, obj)
            else:
                self._replace(resource, key, old, obj)
            recorded = obj.get("metadata", {}).get("resourceVersion", "0")
            self._rv = max(self._rv, int(recorded) if recorded.isdigit() else 0)

    def seed_resource_version(self, rv: int) -> None:
        with self.lock:
            self._rv = max(self._rv, rv)

    def _insert(self, resource: str, key: Key, obj: dict) -> None:
        _strip_type(obj)
        self._objects[resource][key] = Entry(obj)
        bisect.insort(self._keys[resource], key)
        for index in self._indexes[resource].values():
            index.add(key, obj)

    def _replace(self, resource: str, key: Key, old: Entry, obj: dict) -> None:
        _strip_type(obj)
        for index in self._indexes[resource].values():
            index.remove(key, old.obj)
            index.add(key, obj)
        self._objects[resource][key] = Entry(obj)


_METADATA_ORDER = ("name", "generateName", "namespace", "uid", "resourceVersion", "generation",
                   "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                   "annotations", "ownerReferences", "finalizers", "managedFields")


def _strip_type(obj: dict) -> None:
    # Items of a real list carry no kind/apiVersion; single answers add them back (with_type).
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    metadata = obj.get("metadata")
    if metadata:
        # ObjectMeta's field order, as the apiserver serializes it.
        ordered = {key: metadata[key] for key in _METADATA_ORDER if key in metadata}
        ordered.update((key, value) for key, value in metadata.items() if key not in ordered)
        obj["metadata"] = ordered


def with_type(kind: str, api_version: str, raw: bytes) -> bytes:
    head = b'{"kind":' + dumps(kind) + b',"apiVersion":' + dumps(api_version)
    return head + (b"," + raw[1:] if raw != b"{}" else b"}")


def _key(resource: str, obj: dict) -> Key:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace", "") if RESOURCES[resource].namespaced else ""
    return namespace, metadata["name"]


def _encode_continue(rv: int, last: Key, namespaced: bool) -> str:
    start = f"{last[0]}/{last[1]}\x00" if namespaced else f"{last[1]}\x00"
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str, namespaced: bool) -> tuple[int, Key]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        start = data["start"].rstrip("\x00")
        rv = int(data["rv"])
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise errors.bad_request("continue key is not valid: illegal base64 data at input byte 0") from None
    if namespaced:
        namespace, _, name = start.partition("/")
        return rv, (namespace, name)
    return rv, ("", start)
