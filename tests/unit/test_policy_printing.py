"""daemon.policy.printing on plain data: retries and give-up, copies (補印), print_status, events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from daemon.policy.printing import (
    MAX_DELAY,
    after_failure,
    event_of,
    job_kind,
    print_status,
    retry_delay,
)

AT = datetime(2026, 11, 21, 14, 3, tzinfo=timezone(timedelta(hours=8)))


def test_a_sale_that_asked_for_a_proof_gets_one_others_an_information_slip() -> None:
    assert job_kind(True) == "proof" and job_kind(False) == "info"


def test_the_delay_doubles_per_try_up_to_the_cap() -> None:
    assert [retry_delay(n, 10.0) for n in (1, 2, 3, 4)] == [10.0, 20.0, 40.0, 80.0]
    assert retry_delay(20, 10.0) == MAX_DELAY


def test_a_failure_is_retried_until_the_last_try_then_given_up() -> None:
    first = after_failure(0, False, False, False, AT, 3, 10.0)
    assert (first.state, first.attempts, first.copy) == ("queued", 1, False)
    assert first.not_before == AT + timedelta(seconds=10)
    second = after_failure(1, False, False, False, AT, 3, 10.0)
    assert (second.state, second.attempts, second.not_before) == ("queued", 2, AT + timedelta(seconds=20))
    assert after_failure(2, False, False, False, AT, 3, 10.0).state == "failed"


def test_a_layout_failure_is_final_at_once() -> None:
    assert after_failure(0, False, False, True, AT, 5, 10.0).state == "failed"


def test_bytes_sent_make_the_retry_a_copy_and_a_copy_stays_one() -> None:
    assert after_failure(0, False, True, False, AT, 5, 10.0).copy
    assert after_failure(0, True, False, False, AT, 5, 10.0).copy
    assert not after_failure(0, False, False, False, AT, 5, 10.0).copy


@given(st.integers(0, 50), st.booleans(), st.booleans(), st.booleans(), st.integers(1, 10),
       st.floats(0.1, 1000.0))
def test_a_failure_always_counts_a_try_and_never_waits_past_the_cap(
        attempts: int, copy: bool, sent: bool, final: bool, max_attempts: int, base: float) -> None:
    result = after_failure(attempts, copy, sent, final, AT, max_attempts, base)
    assert result.attempts == attempts + 1
    assert AT < result.not_before <= AT + timedelta(seconds=MAX_DELAY)
    assert result.copy == (copy or sent)
    assert (result.state == "failed") == (final or attempts + 1 >= max_attempts)


def test_the_invoice_follows_its_proof_not_its_information_slip() -> None:
    assert [print_status("proof", state) for state in ("queued", "printed", "failed")] == ["queued", "printed",
                                                                                          "failed"]
    assert print_status("info", "printed") is None


def test_events_say_printed_copy_retry_or_failed() -> None:
    assert event_of("proof", False, "printed") == ("printed", "proof")
    assert event_of("info", False, "printed") == ("printed", "info")
    assert event_of("proof", True, "printed") == ("printed", "補印")
    assert event_of("proof", False, "queued", "print.paper_out") == ("print_retry", "print.paper_out")
    assert event_of("proof", True, "failed", "print.layout") == ("print_failed", "print.layout")
