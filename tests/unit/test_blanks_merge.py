"""E0402 for tracks shared between boxes (#15 item 9): each box exports its part, one box merges the exports into
one E0402 per (BranchBan, InvoiceType, YearMonth, InvoiceTrack), refusing overlapping and missing spans."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_mig_support import needs_spec, schemas

from turnkey.blanks import (
    EXPORT_FORMAT,
    MAX_ITEMS,
    TrackPart,
    blank_reports,
    booklets,
    export_document,
    merge_parts,
    parse_export,
    track_parts,
)
from turnkey.errors import Conflict, InvoiceInvalid, TurnkeyError
from turnkey.mig import preflight, render
from turnkey.numbers import TrackRange
from turnkey.period import Period

P = Period(2026, 12)
HEAD, BRANCH = "12345676", "12345676"


def rng(track: str, begin: int, end: int, invoice_type: str = "07", period: Period = P) -> TrackRange:
    return TrackRange(period, invoice_type, track, begin, end)


def export(source: str, *held: tuple[TrackRange, int | None], head: str = HEAD) -> list[TrackPart]:
    """What a box writes and what the merging box reads back: through JSON, as the files travel."""
    doc = export_document(head, BRANCH, P, track_parts(source, head, BRANCH, P, held))
    return parse_export(json.loads(json.dumps(doc)), source)


def problems(error: pytest.ExceptionInfo[TurnkeyError]) -> list[tuple[str, str]]:
    return [(p.code, p.message) for p in error.value.problems]


def test_export_of_a_part_names_the_box_the_track_what_it_held_and_left_unused() -> None:
    held = [(rng("AB", 1000, 1024), 1010), (rng("AB", 1025, 1049), None), (rng("AC", 0, 49, "08"), 49),
            (rng("AD", 0, 49, period=P.next()), None)]
    doc = export_document(HEAD, BRANCH, P, track_parts("box-a", HEAD, BRANCH, P, held))
    assert doc == {
        "format": EXPORT_FORMAT, "seller_ban": BRANCH, "head_ban": HEAD, "period": "11512",
        "tracks": [
            {"invoice_type": "07", "track": "AB", "held": [["00001000", "00001049"]],
             "unused": [["00001011", "00001049"]]},
            {"invoice_type": "08", "track": "AC", "held": [["00000000", "00000049"]], "unused": []},
        ],
    }
    parts = parse_export(doc, "box-a.json")
    assert parts[0].key == (BRANCH, "07", "11512", "AB") and parts[0].source == "box-a.json"


def test_two_boxes_sharing_a_track_make_one_e0402_per_key() -> None:
    a = export("box-a.json", (rng("AB", 1000, 1049), 1010), (rng("AC", 0, 49), None))
    b = export("box-b.json", (rng("AB", 1050, 1099), 1060))
    reports = merge_parts(a + b)
    assert [(r.track, r.ranges) for r in reports] == [("AB", ((1011, 1049), (1061, 1099))), ("AC", ((0, 49),))]
    # touching unused spans of two boxes are one span; a box that used all of its part adds nothing
    c = export("box-c.json", (rng("AB", 1100, 1149), None))
    d = export("box-d.json", (rng("AB", 1150, 1199), 1199))
    reports = merge_parts(export("box-b.json", (rng("AB", 1050, 1099), 1060)) + c + d)
    assert [r.ranges for r in reports] == [((1061, 1149),)]
    # nothing unused anywhere: no message (an E0402 needs at least one item)
    assert merge_parts(export("box-d.json", (rng("AB", 1150, 1199), 1199))) == []


@needs_spec
def test_the_merged_e0402_passes_the_xsd_and_turnkeys_rules() -> None:
    parts = export("box-a.json", (rng("AB", 1000, 1049), 1010)) + export("box-b.json", (rng("AB", 1050, 1099), None))
    (report,) = merge_parts(parts)
    xml = render(report)
    assert preflight(report, xml, schemas()) == []
    assert b"<InvoiceBeginNo>00001011</InvoiceBeginNo>" in xml and b"<InvoiceEndNo>00001099</InvoiceEndNo>" in xml


def test_overlapping_claims_are_refused_naming_the_numbers_and_both_files() -> None:
    a = export("box-a.json", (rng("AB", 1000, 1049), None))
    b = export("box-b.json", (rng("AB", 1040, 1099), None))
    with pytest.raises(Conflict) as error:
        merge_parts(a + b)
    assert problems(error) == [("blank_merge.overlap", "AB00001040-AB00001049 is claimed by both box-a.json and "
                                "box-b.json: two boxes cannot hold the same numbers (or one export was given twice)")]
    with pytest.raises(Conflict) as error:
        merge_parts(a + a)  # the same export twice
    assert [code for code, _ in problems(error)] == ["blank_merge.overlap"]
    inner = export("box-c.json", (rng("AB", 1010, 1019), None))
    with pytest.raises(Conflict) as error:  # a span inside a longer one, then one after both
        merge_parts(a + inner + export("box-d.json", (rng("AB", 1050, 1099), None)))
    assert [m for _, m in problems(error)] == [
        "AB00001010-AB00001019 is claimed by both box-a.json and box-c.json: two boxes cannot hold the same "
        "numbers (or one export was given twice)"]


def test_missing_spans_inside_the_booklets_are_refused_naming_the_numbers() -> None:
    a = export("box-a.json", (rng("AB", 1000, 1029), None))
    b = export("box-b.json", (rng("AB", 1040, 1049), None))
    with pytest.raises(Conflict) as error:
        merge_parts(a + b)
    ((code, message),) = problems(error)
    assert code == "blank_merge.missing" and message.startswith(
        "AB00001030-AB00001039 of the 50-number booklets the exports touch (AB00001000-AB00001049) is held by no "
        "export")
    assert booklets([(1000, 1029), (1040, 1049), (1060, 1060)]) == [(1000, 1099)]


def test_an_allocation_finds_whole_booklets_nobody_exported_and_numbers_outside_it() -> None:
    a = export("box-a.json", (rng("AB", 1000, 1049), None))
    b = export("box-b.json", (rng("AB", 1100, 1149), None))
    assert len(merge_parts(a + b)) == 1  # by booklets alone, 1050-1099 is not known to be allocated
    with pytest.raises(Conflict) as error:
        merge_parts(a + b, {"AB": [(1000, 1149)]})
    assert [(c, m.split(" of ")[0]) for c, m in problems(error)] == [("blank_merge.missing", "AB00001050-AB00001099")]
    with pytest.raises(Conflict) as error:
        merge_parts(a, {"AB": [(1000, 1024)], "ZZ": [(0, 49)]})
    assert problems(error) == [
        ("blank_merge.missing", "no export holds any number of track ZZ"),
        ("blank_merge.outside", "AB00001025-AB00001049 is held by an export but is not in the allocation given "
                                "for AB")]
    assert len(merge_parts(a + b, {"AB": [(1000, 1049), (1100, 1149)]})) == 1


def test_unused_numbers_a_box_did_not_hold_and_two_head_bans_are_refused() -> None:
    part = export("box-a.json", (rng("AB", 1000, 1049), None))[0]
    liar = TrackPart("box-b.json", "53538851", BRANCH, P, "07", "AB", ((1050, 1099),), ((1040, 1099),))
    with pytest.raises(Conflict) as error:
        merge_parts([part, liar])
    assert [c for c, _ in problems(error)] == ["blank_merge.unused_outside", "blank_merge.head_ban"]
    assert "box-b.json reports AB00001040-AB00001049 unused but did not hold it" in problems(error)[0][1]


def test_more_than_ten_thousand_merged_spans_are_split() -> None:
    held = tuple((n * 3, n * 3 + 1) for n in range(MAX_ITEMS + 1))
    whole = TrackPart("box-a.json", HEAD, BRANCH, P, "07", "AB", held, held)
    gaps = tuple((n * 3 + 2, n * 3 + 2) for n in range(MAX_ITEMS + 1))
    other = TrackPart("box-b.json", HEAD, BRANCH, P, "07", "AB", gaps, ())
    reports = merge_parts([whole, other], {"AB": [(0, 3 * MAX_ITEMS + 2)]})
    assert [len(r.ranges) for r in reports] == [MAX_ITEMS, 1]
    assert reports == blank_reports(HEAD, BRANCH, P, [(rng("AB", b, e), None) for b, e in held])


GOOD: dict[str, Any] = {"format": EXPORT_FORMAT, "seller_ban": BRANCH, "head_ban": HEAD, "period": "11512",
                        "tracks": [{"invoice_type": "07", "track": "AB", "held": [["00001000", "00001049"]],
                                    "unused": []}]}


@pytest.mark.parametrize(("change", "code", "field"), [
    (lambda d: [], "blank_export.format", "format"),
    (lambda d: {**d, "format": "other"}, "blank_export.format", "format"),
    (lambda d: {**d, "seller_ban": 12345676}, "blank_export.seller_ban", "seller_ban"),
    (lambda d: {**d, "head_ban": "1234567"}, "blank_export.head_ban", "head_ban"),
    (lambda d: {**d, "seller_ban": "1234567x"}, "blank_export.seller_ban", "seller_ban"),
    (lambda d: {**d, "period": "11513"}, "blank_export.period", "period"),
    (lambda d: {**d, "tracks": {}}, "blank_export.tracks", "tracks"),
    (lambda d: {**d, "tracks": ["AB"]}, "blank_export.tracks", "tracks[0]"),
    (lambda d: {**d, "tracks": [{**d["tracks"][0], "invoice_type": "09"}]}, "blank_export.invoice_type",
     "tracks[0].invoice_type"),
    (lambda d: {**d, "tracks": [{**d["tracks"][0], "track": "ab"}]}, "blank_export.track", "tracks[0].track"),
    (lambda d: {**d, "tracks": [{**d["tracks"][0], "track": "A1"}]}, "blank_export.track", "tracks[0].track"),
    (lambda d: {**d, "tracks": [{**d["tracks"][0], "held": "1000-1049"}]}, "blank_export.held", "tracks[0].held"),
    (lambda d: {**d, "tracks": [{**d["tracks"][0], "held": [["1000", "00001049"]]}]}, "blank_export.held",
     "tracks[0].held[0]"),
    (lambda d: {**d, "tracks": [{**d["tracks"][0], "unused": [["00001049", "00001000"]]}]}, "blank_export.unused",
     "tracks[0].unused[0]"),
    (lambda d: {**d, "tracks": [{**d["tracks"][0], "unused": [["00001000"]]}]}, "blank_export.unused",
     "tracks[0].unused[0]"),
])
def test_a_bad_export_is_refused_with_a_code_naming_the_file_and_field(change: Any, code: str, field: str) -> None:
    assert parse_export(GOOD, "x.json")[0].held == ((1000, 1049),)
    with pytest.raises(InvoiceInvalid) as error:
        parse_export(change(GOOD), "box-a.json")
    (problem,) = error.value.problems
    assert (problem.code, problem.field) == (code, f"box-a.json: {field}")
