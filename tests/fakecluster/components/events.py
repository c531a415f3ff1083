"""The events library of k8s.io/client-go/tools/events (event_broadcaster.go), as kube-scheduler
records its events: through events.k8s.io/v1, with series for repeats.

Who calls it: the scheduler (Scheduled, FailedScheduling). An event is keyed by its action,
reason, reporting controller and the regarding object reference, resourceVersion included (so a
pod whose status changed in between gets a new event). The first occurrence is created
(CREATE events); the second turns it into a series with count 1 and is sent as a PATCH (UPDATE
for admission); later ones only count in the process's cache. Every 30 min the cached series
are written again (refreshExistingEventSeries); every 6 min a series not seen for 6 min is
written a last time and forgotten, a single event older than 6 min just forgotten
(finishSeries). A series patch whose event is gone creates it. The recorded webhook-on-binding
events show this: per pod a first event, then a second one with `series: {count: 1, ...}`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..clock import micro_time, parse_time
from ..objects import event
from ..resources import RESOURCES, ResourceType
from .context import Refusal
from .writes import Writes

# The scheduler writes events through events.k8s.io/v1 (the recorded events' managedFields say
# so); the fake stores them as core v1 events, which is how a core v1 read shows them.
EVENTS_V1 = ResourceType("events.k8s.io", "v1", "events", "Event", True, RESOURCES["events"].verbs)
FINISH_SECONDS = 6 * 60.0
REFRESH_SECONDS = 30 * 60.0


class EventRecorder:
    def __init__(self, writes: Writes, component: str = "default-scheduler",
                 instance: str = "default-scheduler-control-plane") -> None:
        self.writes = writes
        self.component = component
        self.instance = instance
        self._cache: dict[tuple, dict] = {}  # isomorphic key -> the event as the process knows it
        self._next_finish: datetime | None = None
        self._next_refresh: datetime | None = None

    def record(self, regarding: dict, event_type: str, reason: str, action: str, note: str,
               now: datetime) -> Refusal | None:
        new = event(regarding, reason, note, now, event_type=event_type, action=action, component=self.component,
                    instance=self.instance)
        key = _key(new)
        cached = self._cache.get(key)
        if cached is None:
            self._cache[key] = new
            return self.writes.create("events", _copy(new), rt=EVENTS_V1)
        if "series" in cached:
            cached["series"] = {"count": cached["series"]["count"] + 1, "lastObservedTime": micro_time(now)}
            return None
        cached["series"] = {"count": 1, "lastObservedTime": micro_time(now)}
        return self._write_series(cached)

    def adopt(self, events: list[dict]) -> None:
        """Continue the recorded process's cache from its stored events (replay)."""
        for recorded in events:
            if recorded.get("reportingComponent") == self.component and recorded.get("involvedObject"):
                self._cache[_key(recorded)] = _copy(recorded)

    def reset(self) -> None:
        """A new process: an empty cache."""
        self._cache.clear()
        self._next_finish = self._next_refresh = None

    def tick(self, now: datetime) -> None:
        if self._next_finish is None:
            self._next_finish = now + timedelta(seconds=FINISH_SECONDS)
            self._next_refresh = now + timedelta(seconds=REFRESH_SECONDS)
        if now >= self._next_refresh:
            self._next_refresh = now + timedelta(seconds=REFRESH_SECONDS)
            for cached in self._cache.values():
                if "series" in cached:
                    self._write_series(cached)
        if now >= self._next_finish:
            self._next_finish = now + timedelta(seconds=FINISH_SECONDS)
            horizon = now - timedelta(seconds=FINISH_SECONDS)
            for key, cached in list(self._cache.items()):
                if "series" in cached:
                    if (parse_time(cached["series"]["lastObservedTime"]) or now) < horizon \
                            and self._write_series(cached) is None:
                        del self._cache[key]
                elif (parse_time(cached.get("eventTime")) or now) < horizon:
                    del self._cache[key]

    def _write_series(self, cached: dict) -> Refusal | None:
        metadata = cached["metadata"]
        store = self.writes.context.store
        if store.peek("events", metadata["namespace"], metadata["name"]) is None:
            return self.writes.create("events", _copy(cached), rt=EVENTS_V1)
        series = dict(cached["series"])
        return self.writes.mutate("events", metadata["namespace"], metadata["name"],
                                  lambda stored: stored.update(series=series), rt=EVENTS_V1)


def _key(obj: dict) -> tuple:
    regarding = obj.get("involvedObject") or {}
    return (obj.get("action"), obj.get("reason"), obj.get("reportingComponent"),
            tuple(regarding.get(field) for field in ("kind", "namespace", "name", "uid", "apiVersion",
                                                     "resourceVersion", "fieldPath")))


def _copy(obj: dict) -> dict:
    return {**obj, "metadata": dict(obj["metadata"]), "involvedObject": dict(obj["involvedObject"])}
