"""Invoice numbers, 字軌 ranges, taking numbers in order and the CSV import."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from turnkey.errors import TrackError
from turnkey.numbers import (
    MAX_NO,
    TrackRange,
    blank_tail,
    first_overlap,
    format_number,
    is_invoice_number,
    next_number,
    parse_eight,
    parse_ranges_csv,
    remaining,
    split_number,
)
from turnkey.period import Period

P = Period(2026, 12)


def rng(begin: int = 1000, end: int = 1049, track: str = "AB", invoice_type: str = "07",
        period: Period = P) -> TrackRange:
    return TrackRange(period, invoice_type, track, begin, end)


@pytest.mark.parametrize(("value", "valid"), [
    ("AB12345678", True),
    ("ZZ00000000", True),
    ("ab12345678", False),
    ("AB1234567", False),
    ("AB123456789", False),
    ("A112345678", False),
    ("AB1234567８", False),
    ("AB-12345678", False),
])
def test_is_invoice_number(value: str, valid: bool) -> None:
    assert is_invoice_number(value) is valid


def test_format_and_split() -> None:
    assert format_number("AB", 1234) == "AB00001234"
    assert split_number("AB00001234") == ("AB", 1234)
    assert split_number(format_number("ZZ", MAX_NO)) == ("ZZ", MAX_NO)
    with pytest.raises(ValueError, match="2 letters and 8 digits"):
        split_number("AB1234")


def test_parse_eight() -> None:
    assert parse_eight("00001000") == 1000
    for bad in ("1000", "000010000", "0000100a", "００００１０００", " 0001000"):
        with pytest.raises(ValueError, match="8 digits"):
            parse_eight(bad)


@pytest.mark.parametrize(("invoice_type", "track", "begin", "end", "message"), [
    ("09", "AB", 0, 49, "invoice type"),
    ("7", "AB", 0, 49, "invoice type"),
    ("07", "ab", 0, 49, "track"),
    ("07", "A1", 0, 49, "track"),
    ("07", "ABC", 0, 49, "track"),
    ("07", "AB", 50, 49, "begin <= end"),
    ("07", "AB", -1, 49, "begin <= end"),
    ("07", "AB", 0, MAX_NO + 1, "begin <= end"),
])
def test_track_range_refuses(invoice_type: str, track: str, begin: int, end: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackRange(P, invoice_type, track, begin, end)


def test_track_range_basics() -> None:
    r = rng()
    assert (r.size, r.label) == (50, "11512 07 AB00001000-00001049")
    assert rng(0, MAX_NO).size == 100_000_000
    assert r.contains(1000) and r.contains(1049)
    assert not r.contains(999) and not r.contains(1050)
    assert r.part(1010, 1019) == rng(1010, 1019)
    assert r.part(1000, 1049) == r
    for begin, end in ((999, 1010), (1010, 1050), (1020, 1010)):
        with pytest.raises(ValueError, match="is not inside"):
            r.part(begin, end)


def test_overlaps() -> None:
    r = rng()
    assert r.overlaps(rng(1049, 1100))
    assert r.overlaps(rng(1010, 1019))
    assert r.overlaps(rng(invoice_type="08"))  # same letters in the same period: one number space
    assert not r.overlaps(rng(1050, 1099))
    assert not r.overlaps(rng(900, 999))
    assert not r.overlaps(rng(track="AC"))
    assert not r.overlaps(rng(period=P.next()))
    assert first_overlap(rng(1040, 1060), [rng(track="AC"), rng(1050, 1099), r]) == rng(1050, 1099)
    assert first_overlap(rng(1100, 1149), [r, rng(1050, 1099)]) is None
    assert first_overlap(r, []) is None


def test_next_number_and_exhaustion() -> None:
    r = rng(1000, 1001)
    assert next_number(r, None) == 1000
    assert next_number(r, 1000) == 1001
    with pytest.raises(TrackError) as caught:
        next_number(r, 1001)
    (problem,) = caught.value.problems
    assert (problem.code, problem.field) == ("track.exhausted", "track")
    assert "11512" in problem.message and "AB00001000-00001001" in problem.message


def test_remaining_and_blank_tail() -> None:
    r = rng()
    assert (remaining(r, None), blank_tail(r, None)) == (50, (1000, 1049))
    assert (remaining(r, 1000), blank_tail(r, 1000)) == (49, (1001, 1049))
    assert (remaining(r, 1048), blank_tail(r, 1048)) == (1, (1049, 1049))
    assert (remaining(r, 1049), blank_tail(r, 1049)) == (0, None)


# --- properties ---------------------------------------------------------------------------------------------

TRACKS = st.sampled_from(["AB", "AC", "ZZ"])
PERIODS = st.sampled_from([P, P.next(), Period(2025, 2)])


@st.composite
def ranges(draw: st.DrawFn, max_size: int = 120) -> TrackRange:
    begin = draw(st.integers(0, MAX_NO - max_size))
    size = draw(st.integers(1, max_size))
    return TrackRange(draw(PERIODS), draw(st.sampled_from(["07", "08"])), draw(TRACKS), begin, begin + size - 1)


@given(ranges(), st.data())
def test_numbering_stays_in_range_never_repeats_and_blank_tail_is_the_rest(r: TrackRange, data: st.DataObject) -> None:
    stop = data.draw(st.integers(0, r.size), label="numbers to take")
    used: list[int] = []
    last = None
    for _ in range(stop):
        last = next_number(r, last)
        used.append(last)
    assert used == list(range(r.begin, r.begin + stop))  # ascending from the start, inside, no repeats
    assert all(r.contains(n) for n in used) and len(set(used)) == len(used)
    tail = blank_tail(r, last)
    blank = [] if tail is None else list(range(tail[0], tail[1] + 1))
    assert sorted(used + blank) == list(range(r.begin, r.end + 1))
    assert remaining(r, last) == len(blank)
    if stop == r.size:
        with pytest.raises(TrackError):
            next_number(r, last)


@given(ranges(), ranges())
def test_overlaps_is_symmetric(a: TrackRange, b: TrackRange) -> None:
    assert a.overlaps(b) == b.overlaps(a)
    assert a.overlaps(a)


@given(ranges(max_size=50), st.integers(-60, 60), st.integers(1, 50), st.data())
def test_overlaps_means_a_shared_number(a: TrackRange, shift: int, size: int, data: st.DataObject) -> None:
    begin = min(max(0, a.begin + shift), MAX_NO - size + 1)
    b = TrackRange(a.period, data.draw(st.sampled_from(["07", "08"])), a.track, begin, begin + size - 1)
    shared = set(range(a.begin, a.end + 1)) & set(range(b.begin, b.end + 1))
    assert a.overlaps(b) == bool(shared)


# --- CSV import ---------------------------------------------------------------------------------------------

def test_parse_ranges_csv() -> None:
    text = ("\ufeffperiod,invoice_type,track,begin,end\n"
            "11512,07,AB,00001000,00001049\n"
            " 11602 , 08 , ZZ ,00000000,00000049\n")
    assert parse_ranges_csv(text) == [rng(), TrackRange(Period(2027, 2), "08", "ZZ", 0, 49)]
    assert parse_ranges_csv("end,begin,track,invoice_type,period\n") == []


@pytest.mark.parametrize("text", ["", "period,invoice_type,track,begin\n11512,07,AB,00001000\n"])
def test_parse_ranges_csv_header(text: str) -> None:
    with pytest.raises(TrackError) as caught:
        parse_ranges_csv(text)
    (problem,) = caught.value.problems
    assert (problem.code, problem.field) == ("tracks.csv", "header")
    assert "end" in problem.message


@pytest.mark.parametrize(("row", "message"), [
    ("11513,07,AB,00001000,00001049", "period"),
    ("11512,09,AB,00001000,00001049", "invoice type"),
    ("11512,07,ab,00001000,00001049", "track"),
    ("11512,07,AB,1000,00001049", "8 digits"),
    ("11512,07,AB,00001049,00001000", "begin <= end"),
    ("11512,07,AB,00001000", "8 digits"),  # short row: end missing
])
def test_parse_ranges_csv_names_the_bad_line(row: str, message: str) -> None:
    text = f"period,invoice_type,track,begin,end\n11512,07,AB,00000000,00000049\n{row}\n"
    with pytest.raises(TrackError) as caught:
        parse_ranges_csv(text)
    (problem,) = caught.value.problems
    assert (problem.code, problem.field) == ("tracks.csv", "line 3")
    assert message in problem.message
