"""A background clock for simulators: run callables at a time, in order."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Clock:
    def __init__(self) -> None:
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="simulator-clock")
        self._thread.start()

    def after(self, seconds: float, action: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._events, (time.monotonic() + seconds, next(self._counter), action))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (
                    not self._events or self._events[0][0] > time.monotonic()
                ):
                    timeout = self._events[0][0] - time.monotonic() if self._events else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, action = heapq.heappop(self._events)
            try:
                action()
            except Exception as error:  # noqa: BLE001 - a simulator keeps running
                print(f"simulator clock: {error!r}")  # noqa: T201
