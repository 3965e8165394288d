"""E0402 content: the unused numbers of a finished period, one message per invoice type and track."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby

from turnkey.model import BlankReport
from turnkey.numbers import TrackRange, blank_tail
from turnkey.period import Period

MAX_ITEMS = 10_000


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent or touching blank spans joined: (0, 9) and (10, 19) -> (0, 19)."""
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def blank_reports(head_ban: str, branch_ban: str, period: Period,
                  held: Iterable[tuple[TrackRange, int | None]]) -> list[BlankReport]:
    """E0402 messages for ``period`` from the ranges held and their last used numbers.

    Fully used ranges report nothing; a track with nothing blank gets no message (E0402 needs >= 1 item);
    more than 10,000 blank spans are split over several messages.
    """
    tails = sorted(
        (span.invoice_type, span.track, tail)
        for span, last in held
        if span.period == period and (tail := blank_tail(span, last)) is not None
    )
    reports = []
    for (invoice_type, track), group in groupby(tails, key=lambda t: (t[0], t[1])):
        spans = _merged(tail for _, _, tail in group)
        for start in range(0, len(spans), MAX_ITEMS):
            chunk = tuple(spans[start:start + MAX_ITEMS])
            reports.append(BlankReport(head_ban, branch_ban, invoice_type, period, track, chunk))
    return reports
