"""Due outbox heads, file names and the pump's batching, on plain records."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from daemon.policy.queue import HEAD_SLACK, after_put, batch_size, due_heads, file_name, read_limit

AT = "2026-12-03T12:00:00.000000+08:00"
EARLIER, LATER = "2026-12-03T11:00:00.000000+08:00", "2026-12-03T13:00:00.000000+08:00"


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    not_before: str = EARLIER
    blocked: bool = False


def ids(rows: list[Row]) -> list[int]:
    return [row.id for row in rows]


def test_due_rows_leave_in_order_up_to_the_room() -> None:
    rows = [Row(1), Row(2), Row(3)]
    assert ids(due_heads(rows, AT, 2)) == [1, 2]
    assert ids(due_heads(rows, AT, 5)) == [1, 2, 3]


def test_a_row_waiting_for_its_backoff_holds_back_the_rows_behind_it() -> None:
    assert ids(due_heads([Row(1), Row(2, LATER), Row(3)], AT, 10)) == [1]


def test_a_row_due_exactly_now_is_taken() -> None:
    assert ids(due_heads([Row(1, AT)], AT, 1)) == [1]


def test_blocked_rows_are_stepped_over_not_waited_on() -> None:
    assert ids(due_heads([Row(1, blocked=True), Row(2), Row(3, blocked=True), Row(4)], AT, 10)) == [2, 4]


def test_no_room_takes_nothing() -> None:
    assert due_heads([Row(1)], AT, 0) == [] and due_heads([Row(1)], AT, -3) == []


def test_read_limit_reads_beyond_the_room() -> None:
    assert read_limit(5) == 5 + HEAD_SLACK


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=30), st.integers(0, 40))
def test_heads_are_an_ordered_due_unblocked_prefix(flags: list[tuple[bool, bool]], room: int) -> None:
    rows = [Row(i, LATER if late else EARLIER, blocked) for i, (late, blocked) in enumerate(flags)]
    taken = due_heads(rows, AT, room)
    assert len(taken) <= max(room, 0)
    assert ids(taken) == sorted(ids(taken))
    assert all(not row.blocked and row.not_before <= AT for row in taken)
    first_late = next((row.id for row in rows if row.not_before > AT), len(rows))
    assert all(row.id < first_late for row in taken)


def test_file_names_are_ascii_and_stable() -> None:
    assert file_name("F0401", "AB00001000", 42) == "F0401_AB00001000_42.xml"
    assert file_name("E0402", "11510-07-AB", 7) == "E0402_11510-07-AB_7.xml"
    assert file_name("G0401", "折讓/1 a", 3) == "G0401_---1-a_3.xml"


def test_batch_size_is_the_batch_or_what_the_limit_leaves() -> None:
    assert batch_size(200, None, 1000) == 200
    assert batch_size(200, 50, 10) == 40
    assert batch_size(200, 500, 0) == 200


def test_after_put_all_went() -> None:
    outcome = after_put(["a", "b"], 2, None)
    assert outcome.done == ["a", "b"] and outcome.stopped is None and outcome.untried == []


def test_after_put_an_oserror_is_transient_and_the_rest_wait() -> None:
    error = ConnectionError("gone")
    outcome = after_put(["a", "b", "c", "d"], 1, error)
    assert (outcome.done, outcome.stopped, outcome.untried) == (["a"], "b", ["c", "d"])
    assert outcome.error is error and outcome.fault is None


def test_after_put_another_error_is_the_message_s_own_fault() -> None:
    fault = ValueError("bad name")
    outcome = after_put(["a", "b"], 0, fault)
    assert (outcome.done, outcome.stopped, outcome.untried) == ([], "a", ["b"])
    assert outcome.fault is fault and outcome.error is None
