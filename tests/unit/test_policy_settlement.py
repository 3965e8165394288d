"""Result settlement on plain data: Turnkey's folders, SummaryResult, ProcessResult and E0501."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from daemon.policy.delivery import ACCEPTED_LOCAL, CONFIRMED, REJECTED, REJECTED_LOCAL
from daemon.policy.settlement import (
    BY_DOCUMENT,
    WHOLE_CONFIRMED,
    WHOLE_FAILED,
    ErrFile,
    ProcessReading,
    Verdict,
    booklet_problem,
    failure_verdicts,
    final_mismatches,
    foreign_parties,
    is_final,
    joined_verdicts,
    original_name,
    outcome_target,
    place_ranges,
    process_numbers,
    read_process,
    settle_dropped,
    summary_documents,
    summary_numbers,
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


def test_original_name_strips_turnkey_s_suffixes_and_folders() -> None:
    assert original_name("F0401/ERR/F0401_AB1_3_1733212345678.xml") == "F0401_AB1_3.xml"  # an older Turnkey
    assert original_name("BAK/20261121/14/F0401_AB1_3.xml") == "F0401_AB1_3.xml"
    assert original_name("BAK/20261121/14/F0401_AB1_3.xml.001") == "F0401_AB1_3.xml"  # 3.2.0's duplicate
    assert original_name("BAK/F0401_AB1_3.xml.012") == "F0401_AB1_3.xml"
    assert original_name("F0401_AB1_3_123.xml") == "F0401_AB1_3_123.xml"
    assert original_name("notes.001") == "notes.001"


def test_final_summaries_are_told_by_name() -> None:
    assert is_final("SummaryResult/20261121/2026112123/12345676-20261121-Final.SummaryResult")
    assert is_final("x/summary-Final.xml") and is_final("x/summary-Final")
    assert not is_final("SummaryResult/20261121/2026112114/v41-F0401-20261121-1-u.SummaryResult")


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


def test_summary_documents_and_numbers() -> None:
    (message,) = _summary().messages
    assert summary_documents(message) == (("AB00000001", "2026-11-30", True), ("AB00000002", "", False))
    assert summary_numbers(_summary()) == ["AB00000001", "AB00000002"]


def _process(*infos: ResultInfo, kind: str = "F0401") -> ProcessResult:
    return ProcessResult(Routing(OURS, "", "0", ""), MessageInfo("v41-m", kind), infos)


def test_a_first_00000_confirms_the_whole_message() -> None:
    reading = read_process(_process(ResultInfo("00000", "處理成功")))
    assert reading == ProcessReading("v41-m", "F0401", WHOLE_CONFIRMED)
    assert failure_verdicts(reading) == []


def test_a_single_info_without_a_position_fails_the_whole_message() -> None:
    reading = read_process(_process(ResultInfo("E0301", " 簽章驗證失敗 ", ("AB00000001",))))
    assert reading == ProcessReading("v41-m", "F0401", WHOLE_FAILED, "E0301", "簽章驗證失敗")
    assert read_process(_process(ResultInfo("E0301", "No. x", ()))).verdict == WHOLE_FAILED


def test_numbered_infos_name_one_failed_document_each() -> None:
    reading = read_process(_process(
        ResultInfo("E0107", "No. 2 發票年度字軌不符", ("AB00000002", "20261121")),
        ResultInfo("E1001", "No. 4 受贈統編錯誤", (" AB00000004 ", "bad date")),
        ResultInfo("E0100", "No. 5 no number", ()),
    ))
    assert reading.verdict == BY_DOCUMENT
    assert reading.failures == (("AB00000002", "2026-11-21", "E0107", "發票年度字軌不符"),
                                ("AB00000004", "", "E1001", "受贈統編錯誤"))
    assert failure_verdicts(reading) == [
        Verdict("F0401", "AB00000002", date(2026, 11, 21), REJECTED, "E0107", "發票年度字軌不符", "v41-m"),
        Verdict("F0401", "AB00000004", None, REJECTED, "E1001", "受贈統編錯誤", "v41-m")]
    unnamed = read_process(_process(ResultInfo("E0100", "No. 1 a", ()), ResultInfo("E0101", "No. 2 b", ())))
    assert (unnamed.verdict, unnamed.code) == (WHOLE_FAILED, "E0100")  # no Info names a document: all failed


def test_allowance_failures_name_the_allowance_number() -> None:
    reading = read_process(_process(ResultInfo("E0221", "No. 1 超過", ("AL00000001", "20261121")),
                                    ResultInfo("00000", "No. 2", ("AL00000002", "20261121")), kind="G0401"))
    (verdict,) = failure_verdicts(reading)
    assert (verdict.message_type, verdict.number, verdict.moves_status) == ("G0401", "AL00000001", False)


DOCS = (("AB00000001", "2026-11-21", True), ("AB00000002", "2026-11-21", False), ("AB00000003", "", True))


def test_joined_verdicts_follow_the_process_result() -> None:
    confirmed = joined_verdicts("m", "F0401", ProcessReading("m", "F0401", WHOLE_CONFIRMED), DOCS)
    assert [(v.number, v.status, v.reason) for v in confirmed] == [
        ("AB00000001", CONFIRMED, "ProcessResult m"), ("AB00000002", CONFIRMED, "ProcessResult m"),
        ("AB00000003", CONFIRMED, "ProcessResult m")]  # the ProcessResult wins over the summary's Failed
    failed = joined_verdicts("m", "F0401", ProcessReading("m", "F0401", WHOLE_FAILED, "E0301", "sig"), DOCS)
    assert {(v.status, v.code, v.reason, v.message_id) for v in failed} == {(REJECTED, "E0301", "sig", "m")}
    assert [v.day for v in failed] == [date(2026, 11, 21), date(2026, 11, 21), None]
    some = ProcessReading("m", "F0401", BY_DOCUMENT, failures=(("AB00000002", "", "E0107", "x"),))
    assert [(v.number, v.status) for v in joined_verdicts("m", "F0401", some, DOCS)] == [
        ("AB00000001", CONFIRMED), ("AB00000003", CONFIRMED)]


def test_as_many_failures_as_documents_fail_every_document() -> None:
    docs = DOCS[:2]
    every = ProcessReading("m", "F0401", BY_DOCUMENT, failures=(("AB00000001", "", "E0107", "x"),
                                                                 ("AB00000009", "", "E0108", "y")))
    assert [(v.number, v.status, v.code) for v in joined_verdicts("m", "F0401", every, docs)] == [
        ("AB00000002", REJECTED, "E0107")]  # AB00000001 was applied when the ProcessResult was read


def test_a_summary_alone_confirms_good_and_rejects_failed_without_a_code() -> None:
    alone = joined_verdicts("m", "F0401", None, DOCS[:2])
    assert alone == [
        Verdict("F0401", "AB00000001", date(2026, 11, 21), CONFIRMED, "", "SummaryResult m", "m"),
        Verdict("F0401", "AB00000002", date(2026, 11, 21), REJECTED, "", "failed in SummaryResult m", "m")]
    assert alone[0].period == "11512" and alone[0].moves_status


def test_process_numbers() -> None:
    result = _process(ResultInfo("E0209", "out of order", ("x", " AB00000004 ")))
    assert process_numbers(result) == ["x", "AB00000004"]


def test_final_mismatches() -> None:
    (message,) = _summary().messages
    assert final_mismatches(_summary(), {"m1": summary_documents(message)}) == []
    assert final_mismatches(_summary(), {}) == ["m1: in the Final summary only"]
    other = final_mismatches(_summary(), {"m1": (("AB00000001", "", True),)})
    assert len(other) == 1 and other[0].startswith("m1: 2 documents in the Final summary, 1 read before")


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
