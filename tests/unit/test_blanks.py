"""E0402 content: blank tails per track, merged, split at 10,000 items; rendered and XSD-checked."""

from __future__ import annotations

from test_mig_support import codes, invoice, needs_spec, schemas

from turnkey.blanks import MAX_ITEMS, blank_reports
from turnkey.mig import preflight, render
from turnkey.model import Party
from turnkey.numbers import TrackRange
from turnkey.period import Period

P = Period(2026, 12)


def rng(track: str, begin: int, end: int, invoice_type: str = "07", period: Period = P) -> TrackRange:
    return TrackRange(period, invoice_type, track, begin, end)


def test_tails_of_each_range_grouped_by_type_and_track() -> None:
    held = [
        (rng("AB", 1000, 1049), 1010),
        (rng("AB", 1050, 1099), None),
        (rng("AB", 1200, 1249), 1249),
        (rng("AC", 0, 49, invoice_type="08"), None),
        (rng("AD", 0, 49, period=P.next()), None),
    ]
    reports = blank_reports("12345676", "53538851", P, held)
    assert [(r.invoice_type, r.track, r.ranges) for r in reports] == [
        ("07", "AB", ((1011, 1099),)),
        ("08", "AC", ((0, 49),)),
    ]
    assert {(r.head_ban, r.branch_ban, r.period) for r in reports} == {("12345676", "53538851", P)}


def test_nothing_blank_means_no_message() -> None:
    assert blank_reports("12345676", "12345676", P, [(rng("AB", 0, 9), 9)]) == []


def test_separate_spans_stay_separate_and_more_than_the_limit_are_split() -> None:
    held = [(rng("AB", n * 3, n * 3 + 1), None) for n in range(MAX_ITEMS + 1)]
    reports = blank_reports("12345676", "12345676", P, held)
    assert [len(r.ranges) for r in reports] == [MAX_ITEMS, 1]
    assert reports[0].ranges[:2] == ((0, 1), (3, 4))


@needs_spec
def test_reports_render_to_valid_e0402() -> None:
    report = blank_reports("12345676", "12345676", P, [(rng("AB", 1000, 1049), 1020)])[0]
    xml = render(report)
    assert b"<YearMonth>11512</YearMonth>" in xml and b"<InvoiceBeginNo>00001021</InvoiceBeginNo>" in xml
    assert preflight(report, xml, schemas()) == []


def test_preflight_without_schemas_still_runs_the_local_checks() -> None:
    report = blank_reports("12345676", "12345676", P, [(rng("AB", 0, 9), None)])[0]
    assert preflight(report, render(report), None) == []
    bad = invoice(seller=Party("12345676", "賣方", " "))
    assert codes(preflight(bad, render(bad), None)) == ["mig.seller.address"]
