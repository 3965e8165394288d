"""Retry and backoff: how long a failed hand-over waits, and whether a failed alert delivery is tried again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from daemon.ports import RandomSource


@dataclass(frozen=True)
class Backoff:
    """Exponential with equal jitter: try n waits a random time in [d/2, d), d = min(cap, base * 2**(n-1))."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int, rng: RandomSource) -> timedelta:
        # the exponent is capped before it multiplies: 2**44 seconds is past timedelta's range (a long outage)
        ceiling = min(self.cap, self.base * 2 ** min(max(attempts - 1, 0), 24))
        half_ms = max(int(ceiling.total_seconds() * 500), 1)
        return timedelta(milliseconds=half_ms + rng.randrange(half_ms))


def http_outcome(status: int) -> tuple[str, bool]:
    """A webhook's HTTP answer as (error, final): no error for 2xx; a 4xx other than 408/429 is final."""
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return error, 400 <= status < 500 and status not in (408, 429)


def after_failure(attempts: int, max_attempts: int, final: bool) -> Literal["failed", "retry"]:
    """A delivery that failed its ``attempts``-th try: given up (final answer or tries used up) or tried again."""
    return "failed" if final or attempts >= max_attempts else "retry"
