"""A clock that only moves when told to: ``FakeClock(start).advance(seconds=...)``."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class FakeClock:
    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time")
        self._now = start
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        with self._lock:
            self._now += step
            self._mono += step.total_seconds()
            return self._now

    def set(self, at: datetime) -> None:
        with self._lock:
            self._mono += max((at - self._now).total_seconds(), 0.0)
            self._now = at
