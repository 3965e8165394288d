"""The real clock (the only place the daemon reads the time of day)."""

from __future__ import annotations

from datetime import datetime

from turnkey.period import TAIPEI


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(TAIPEI)
