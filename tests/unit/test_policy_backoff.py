"""Backoff delays and the retry decision of alert deliveries."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from daemon.outbox import Backoff as ReExported
from daemon.policy.backoff import Backoff, after_failure, http_outcome


class Fixed:
    def __init__(self, value: int) -> None:
        self.value = value

    def randrange(self, stop: int) -> int:
        return min(self.value, stop - 1)


class Seeded:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def randrange(self, stop: int) -> int:
        return self.random.randrange(stop)


def test_the_class_is_importable_from_the_outbox() -> None:
    assert ReExported is Backoff


def test_first_try_waits_between_half_and_the_base() -> None:
    backoff = Backoff(timedelta(seconds=5), timedelta(minutes=10))
    assert backoff.delay(1, Fixed(0)) == timedelta(milliseconds=2500)
    assert backoff.delay(1, Fixed(10**9)) == timedelta(milliseconds=4999)


def test_the_delay_doubles_then_stops_at_the_cap() -> None:
    backoff = Backoff(timedelta(seconds=5), timedelta(minutes=10))
    assert backoff.delay(3, Fixed(0)) == timedelta(seconds=10)
    assert backoff.delay(40, Fixed(0)) == timedelta(minutes=5)


@given(st.integers(-5, 10_000), st.integers(0, 2**32))
def test_every_delay_is_in_half_cap_range(attempts: int, seed: int) -> None:
    backoff = Backoff(timedelta(seconds=30), timedelta(hours=1))
    delay = backoff.delay(attempts, Seeded(seed))
    assert timedelta(seconds=15) <= delay < timedelta(hours=1)


def test_tiny_delays_still_wait_a_millisecond() -> None:
    assert Backoff(timedelta(0), timedelta(0)).delay(1, Fixed(0)) == timedelta(milliseconds=1)


def test_http_outcome() -> None:
    assert http_outcome(200) == ("", False) and http_outcome(204) == ("", False)
    assert http_outcome(500) == ("HTTP 500", False)
    assert http_outcome(404) == ("HTTP 404", True)
    assert http_outcome(408) == ("HTTP 408", False) and http_outcome(429) == ("HTTP 429", False)
    assert http_outcome(301) == ("HTTP 301", False)


def test_after_failure() -> None:
    assert after_failure(1, 5, False) == "retry"
    assert after_failure(5, 5, False) == "failed"
    assert after_failure(1, 5, True) == "failed"
