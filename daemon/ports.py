"""Ports the daemon consumes; drivers and simulators satisfy them structurally."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class RandomSource(Protocol):
    def randrange(self, stop: int) -> int: ...
