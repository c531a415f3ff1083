"""Drives the simulated components: a background tick every `interval` real seconds, an
immediate tick when poked (after a write that a controller reacts to), and `advance()`, which
moves simulated time in steps so that every component acts as if that time had passed.
"""

from __future__ import annotations

import sys
import threading
import traceback
from datetime import datetime
from typing import Protocol

from ..clock import SimClock


class Component(Protocol):
    def tick(self, now: datetime) -> None: ...


class Simulation:
    def __init__(self, clock: SimClock, components: list[Component], interval: float = 0.5,
                 step: float = 1.0) -> None:
        self.clock = clock
        self.components = components
        self.interval = interval
        self.step = step
        self.lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # A component bug in the background thread is kept here and raised by check().
        self.error: BaseException | None = None

    def check(self) -> None:
        if self.error is not None:
            raise RuntimeError("a simulated component failed in the background") from self.error

    def tick(self) -> None:
        with self.lock:
            now = self.clock.now()
            for component in self.components:
                component.tick(now)

    def advance(self, seconds: float) -> None:
        with self.lock:
            remaining = float(seconds)
            while remaining > 1e-9:
                step = min(self.step, remaining)
                self.clock.advance(step)
                remaining -= step
                self.tick()

    def poke(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="fakecluster-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.tick()
            except BaseException as error:  # noqa: BLE001 - kept and re-raised by check()
                self.error = error
                traceback.print_exc(file=sys.stderr)
                return
