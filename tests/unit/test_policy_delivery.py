"""The delivery state table: which invoice status may follow which."""

from __future__ import annotations

from itertools import product

from daemon.policy.delivery import (
    ACCEPTED_LOCAL,
    ALLOWED,
    CONFIRMED,
    DROPPED,
    QUEUED,
    REJECTED,
    REJECTED_LOCAL,
    UNKNOWN,
    allowed,
    event_reason,
    moves,
)

STATES = (QUEUED, DROPPED, ACCEPTED_LOCAL, REJECTED_LOCAL, CONFIRMED, REJECTED, UNKNOWN)
ORDER = {QUEUED: 0, DROPPED: 1, ACCEPTED_LOCAL: 2, REJECTED_LOCAL: 2, UNKNOWN: 3, CONFIRMED: 4, REJECTED: 4}


def test_the_happy_path() -> None:
    assert allowed(QUEUED, DROPPED) and allowed(DROPPED, ACCEPTED_LOCAL) and allowed(ACCEPTED_LOCAL, CONFIRMED)


def test_final_states() -> None:
    assert ALLOWED[CONFIRMED] == frozenset() and ALLOWED[REJECTED_LOCAL] == frozenset()
    assert ALLOWED[REJECTED] == frozenset({REJECTED})


def test_nothing_goes_back_except_unknown_settling() -> None:
    for current, new in product(STATES, STATES):
        if allowed(current, new) and current != UNKNOWN and current != new:
            assert ORDER[new] > ORDER[current], (current, new)


def test_a_later_fact_may_skip_steps() -> None:
    assert allowed(QUEUED, CONFIRMED) and allowed(DROPPED, REJECTED) and allowed(UNKNOWN, CONFIRMED)
    assert not allowed(QUEUED, UNKNOWN) and not allowed(CONFIRMED, REJECTED)


def test_unknown_states_allow_nothing() -> None:
    assert not allowed("made-up", QUEUED) and not allowed(QUEUED, "made-up")


def test_a_repeat_moves_only_with_a_code() -> None:
    assert not moves(REJECTED, REJECTED) and moves(REJECTED, REJECTED, "E0209")
    assert moves(DROPPED, ACCEPTED_LOCAL) and not moves(CONFIRMED, REJECTED, "E0209")


def test_event_reason_puts_the_code_first() -> None:
    assert event_reason("", "re-issue") == "re-issue"
    assert event_reason("E0209", "out of order") == "E0209 out of order"
    assert event_reason("E0209", "") == "E0209"
