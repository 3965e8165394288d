"""Bimonthly periods in Taipei time, their boundaries and deadlines."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from turnkey.period import (
    TAIPEI,
    Period,
    roc_date,
    taipei,
    upload_deadline,
    void_window_open,
)

UTC = UTC
TICK = timedelta(microseconds=1)
FIRST, LAST = Period(1912, 2), Period(2910, 12)
ALL_PERIODS = [Period(year, month) for year in range(1912, 2911) for month in (2, 4, 6, 8, 10, 12)]
PERIODS = st.builds(Period, st.integers(1912, 2910), st.sampled_from([2, 4, 6, 8, 10, 12]))
OFFSETS = st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@pytest.mark.parametrize(("year", "end_month"), [(2026, 3), (2026, 1), (2026, 0), (2026, 14), (1911, 12),
                                                 (2911, 2)])
def test_no_such_period(year: int, end_month: int) -> None:
    with pytest.raises(ValueError, match="no such period"):
        Period(year, end_month)


def test_names() -> None:
    period = Period(2026, 12)
    assert (period.roc_year, period.code, period.label) == (115, "11512", "115年11-12月")
    assert (FIRST.code, FIRST.label) == ("00102", "1年01-02月")
    assert (LAST.code, LAST.label) == ("99912", "999年11-12月")
    assert Period(2015, 4).label == "104年03-04月"


@pytest.mark.parametrize("code", ["11511", "1151", "115120", "11500", "11514", "１１５１２", "115-12", "", "00002"])
def test_parse_refuses(code: str) -> None:
    with pytest.raises(ValueError):
        Period.parse(code)


def test_start_end_and_order() -> None:
    period = Period(2026, 12)
    assert period.start == datetime(2026, 11, 1, tzinfo=TAIPEI)
    assert period.end == datetime(2027, 1, 1, tzinfo=TAIPEI) == period.next().start
    assert Period(2026, 2).end == datetime(2026, 3, 1, tzinfo=TAIPEI)
    assert LAST.end == datetime(2911, 1, 1, tzinfo=TAIPEI)  # although there is no next Period
    assert Period(2026, 2) < Period(2026, 4) < Period(2027, 2)


def test_every_period_boundary() -> None:
    """Each period of ROC years 1-999 starts exactly where the previous one ends, in Taipei time."""
    for before, period in itertools.pairwise(ALL_PERIODS):
        start = period.start
        assert (start.hour, start.minute, start.day, start.month % 2, start.utcoffset()) == (
            0, 0, 1, 1, timedelta(hours=8))
        assert Period.of(start) == period
        assert Period.of(start - TICK) == before
        assert before.end == start
        assert before.next() == period and period.previous() == before
        assert Period.parse(period.code) == period


@given(PERIODS, OFFSETS)
def test_of_at_the_start_in_any_offset(period: Period, offset: timezone) -> None:
    start = period.start
    assert Period.of(start.astimezone(offset)) == period
    assert Period.of(start.astimezone(UTC)) == period
    assert period.contains(start.astimezone(offset))
    assert not period.contains((period.end).astimezone(offset))
    assert period.contains((period.end - TICK).astimezone(offset))
    if period != FIRST:
        assert Period.of((start - TICK).astimezone(offset)) == period.previous()
        assert not period.contains(start - TICK)


@given(st.datetimes(datetime(1912, 1, 1), datetime(2910, 12, 31, 23, 59, 59, 999999)))
def test_of_any_instant(local: datetime) -> None:
    at = local.replace(tzinfo=TAIPEI)
    period = Period.of(at)
    assert period.start <= at < period.end
    assert period.end_month in (local.month, local.month + 1)
    assert period.contains(at)


@given(PERIODS)
def test_next_previous_and_parse(period: Period) -> None:
    assert Period.parse(period.code) == period
    if period != LAST:
        assert period.next().previous() == period
        assert period.next() > period
    if period != FIRST:
        assert period.previous().next() == period


def test_no_period_beyond_the_range() -> None:
    with pytest.raises(ValueError):
        LAST.next()
    with pytest.raises(ValueError):
        FIRST.previous()
    with pytest.raises(ValueError):
        Period.of(FIRST.start - TICK)


@given(PERIODS, st.integers(1, 15))
def test_deadlines(period: Period, cutoff_day: int) -> None:
    end = period.end
    odd_month = (end.year, end.month)
    deadline = period.void_deadline(cutoff_day)
    assert (deadline.year, deadline.month, deadline.day, deadline.hour) == (*odd_month, cutoff_day + 1, 0)
    blank = period.e0402_deadline()
    assert (blank.year, blank.month, blank.day, blank.hour) == (*odd_month, 11, 0)
    assert end.month % 2 == 1


def test_void_deadline_default_and_limits() -> None:
    period = Period(2026, 12)
    assert period.void_deadline() == datetime(2027, 1, 14, tzinfo=TAIPEI)  # end of the 13th
    assert period.void_deadline(15) == datetime(2027, 1, 16, tzinfo=TAIPEI)  # the legal 15th
    assert period.e0402_deadline() == datetime(2027, 1, 11, tzinfo=TAIPEI)
    for day in (0, 16, -1):
        with pytest.raises(ValueError, match="cut-off day"):
            period.void_deadline(day)


def test_void_window_open() -> None:
    invoice_at = datetime(2026, 12, 31, 23, 59, tzinfo=TAIPEI)
    assert void_window_open(invoice_at, datetime(2027, 1, 13, 23, 59, 59, 999999, tzinfo=TAIPEI))
    assert not void_window_open(invoice_at, datetime(2027, 1, 14, tzinfo=TAIPEI))
    assert not void_window_open(invoice_at, datetime(2027, 1, 13, 16, tzinfo=UTC))  # 14th 00:00 in Taipei
    assert void_window_open(invoice_at, datetime(2027, 1, 15, 23, 59, tzinfo=TAIPEI), cutoff_day=15)
    assert not void_window_open(invoice_at, datetime(2027, 1, 16, tzinfo=TAIPEI), cutoff_day=15)
    # an instant of 1 November in Taipei is still 31 October in UTC: the period is taken in Taipei time
    assert void_window_open(datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2027, 1, 13, tzinfo=TAIPEI))


def test_upload_deadline() -> None:
    at = datetime(2026, 11, 21, 6, 3, tzinfo=UTC)
    assert upload_deadline(at, business_buyer=False) == at + timedelta(hours=48)
    assert upload_deadline(at, business_buyer=True) == at + timedelta(days=7)
    assert upload_deadline(at, business_buyer=False).utcoffset() == timedelta(hours=8)


def test_roc_date() -> None:
    assert roc_date(datetime(2013, 5, 23, 23, 59, tzinfo=TAIPEI)) == "1020523"
    assert roc_date(datetime(2013, 5, 22, 16, tzinfo=UTC)) == "1020523"  # already the 23rd in Taipei
    assert roc_date(datetime(1912, 1, 1, tzinfo=TAIPEI)) == "0010101"


class NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> None:
        return None


def test_taipei_needs_an_aware_datetime() -> None:
    assert taipei(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 1, 8, tzinfo=TAIPEI)
    assert taipei(datetime(2026, 1, 1, tzinfo=UTC)).tzinfo is TAIPEI
    for naive in (datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=NoOffset())):
        with pytest.raises(ValueError, match="timezone-aware"):
            taipei(naive)
    with pytest.raises(ValueError):
        Period.of(datetime(2026, 1, 1))
