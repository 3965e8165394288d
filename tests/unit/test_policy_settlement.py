"""Result settlement on plain data: Turnkey's folders, SummaryResult, ProcessResult and E0501."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from daemon.policy.delivery import ACCEPTED_LOCAL, CONFIRMED, REJECTED, REJECTED_LOCAL
from daemon.policy.settlement import (
    ErrFile,
    Verdict,
    booklet_problem,
    foreign_parties,
    original_name,
    outcome_target,
    place_ranges,
    process_numbers,
    process_verdicts,
    settle_dropped,
    summary_numbers,
    summary_verdicts,
)
from turnkey.mig.e0501 import Allocation
from turnkey.mig.results import (
    MessageInfo,
    ProcessResult,
    ResultDetail,
    ResultInfo,
    ResultInvoice,
    Routing,
    SummaryMessage,
    SummaryResult,
)
from turnkey.numbers import TrackRange
from turnkey.period import Period

OURS, OTHER = "12345676", "04595257"


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    file_name: str


def test_original_name_strips_turnkey_s_millis_and_folders() -> None:
    assert original_name("F0401/ERR/F0401_AB1_3_1733212345678.xml") == "F0401_AB1_3.xml"
    assert original_name("BAK/F0401_AB1_3.xml") == "F0401_AB1_3.xml"
    assert original_name("F0401_AB1_3_123.xml") == "F0401_AB1_3_123.xml"


def test_files_gone_from_src_are_accepted_those_in_err_refused() -> None:
    rows = [Row(1, "F0401_A_1.xml"), Row(2, "F0401_B_2.xml"), Row(3, "F0401_C_3.xml")]
    settled = settle_dropped(rows, {"F0401_C_3.xml"}, {"F0401/ERR/F0401_B_2_1733212345678.xml": "bad"})
    assert settled.err_files == [ErrFile("F0401/ERR/F0401_B_2_1733212345678.xml", "applied", "bad")]
    assert [(o.row.id, o.outcome, o.reason) for o in settled.outcomes] == [(2, REJECTED_LOCAL, "bad"),
                                                                          (1, ACCEPTED_LOCAL, "")]


def test_a_row_refused_twice_is_settled_once_and_strangers_are_unmatched() -> None:
    rows = [Row(1, "F0401_A_1.xml")]
    refusals = {"ERR/F0401_A_1.xml": "one", "ERR/F0401_A_1_1733212345678.xml": "two", "ERR/other.xml": "?"}
    settled = settle_dropped(rows, set(), refusals)
    assert [e.outcome for e in settled.err_files] == ["applied", "applied", "unmatched"]
    assert [(o.row.id, o.outcome) for o in settled.outcomes] == [(1, REJECTED_LOCAL)]


@given(st.lists(st.booleans(), max_size=20), st.lists(st.booleans(), max_size=20))
def test_each_row_is_settled_at_most_once(waiting_flags: list[bool], refused_flags: list[bool]) -> None:
    rows = [Row(i, f"F0401_X_{i}.xml") for i in range(len(waiting_flags))]
    waiting = {row.file_name for row, flag in zip(rows, waiting_flags, strict=True) if flag}
    refusals = {f"ERR/{row.file_name}": "r" for row, flag in zip(rows, refused_flags, strict=False) if flag}
    settled = settle_dropped(rows, waiting, refusals)
    settled_ids = [o.row.id for o in settled.outcomes]
    assert len(settled_ids) == len(set(settled_ids))
    for outcome in settled.outcomes:
        assert outcome.outcome == REJECTED_LOCAL or outcome.row.file_name not in waiting


def test_outcome_target() -> None:
    assert outcome_target("E0402", None) == "outbox"
    assert outcome_target("F0401", 7) == "status"
    assert outcome_target("F0501", 7) == "invoice"


def _summary() -> SummaryResult:
    good = ResultDetail(1, (ResultInvoice("AB00000001", date(2026, 11, 30)),))
    failed = ResultDetail(1, (ResultInvoice("AB00000002", None),))
    message = SummaryMessage(MessageInfo("m1", "F0401"), ResultDetail(2), good, failed)
    return SummaryResult(Routing(OURS, "R", "0", "0"), (message,))


def test_summary_verdicts() -> None:
    verdicts = summary_verdicts(_summary())
    assert verdicts == [
        Verdict("F0401", "AB00000001", date(2026, 11, 30), CONFIRMED, "", "SummaryResult m1"),
        Verdict("F0401", "AB00000002", None, REJECTED, "", "failed in SummaryResult m1"),
    ]
    assert verdicts[0].period == "11512" and verdicts[1].period is None
    assert all(v.moves_status for v in verdicts)
    assert summary_numbers(_summary()) == ["AB00000001", "AB00000002"]


def test_process_verdicts_name_the_first_invoice_number_of_failures() -> None:
    result = ProcessResult(Routing(OURS, "", "0", ""), MessageInfo("p", "F0501"), (
        ResultInfo("00000", "ok", ("AB00000003",)),
        ResultInfo("E0209", "out of order", ("x", " AB00000004 ", "AB00000005")),
        ResultInfo("E0100", "no number", ("x",)),
    ))
    assert process_verdicts(result) == [Verdict("F0501", "AB00000004", None, REJECTED, "E0209", "out of order")]
    assert not process_verdicts(result)[0].moves_status
    assert process_numbers(result) == ["AB00000003", "x", "AB00000004", "AB00000005", "x"]


def test_foreign_parties() -> None:
    assert foreign_parties(Routing(OTHER, "", "0", ""), OURS) == {OTHER}
    assert foreign_parties(Routing(OTHER, "", OURS, ""), OURS) == set()
    assert foreign_parties(Routing(OTHER, "", "0", ""), "") == set()
    assert foreign_parties(Routing("0", "", "", ""), OURS) == set()


def _allocation(begin: int, end: int, booklets: int) -> Allocation:
    return Allocation(OURS, TrackRange(Period(2026, 12), "07", "AB", begin, end), booklets)


def test_booklet_problem() -> None:
    assert booklet_problem([_allocation(0, 99, 2)]) == ""
    assert "are not 1 booklets of 50" in booklet_problem([_allocation(0, 99, 2), _allocation(100, 148, 1)])


def test_place_ranges_skips_overlaps_also_among_the_new() -> None:
    period = Period(2026, 12)
    held = TrackRange(period, "07", "AB", 0, 49)
    first, clashing, inside = (TrackRange(period, "07", "AB", 50, 99), TrackRange(period, "07", "AB", 0, 99),
                               TrackRange(period, "07", "AB", 60, 69))
    assert place_ranges([first, clashing, inside], [held]) == [(first, None), (clashing, held), (inside, first)]
