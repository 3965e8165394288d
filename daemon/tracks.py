"""Number ranges this box holds: add, import (E0501 XML or CSV), list.

A box may own only part of an allocation (``part``), so several boxes share a track without overlap; any
overlap with a range already held (same period and letters, whatever the invoice type) is refused, and so is a
range of a period already closed for E0402 (its numbers would be issued but never reported).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from daemon.store import Store, event, stamp
from daemon.store import tracks as stored_tracks
from daemon.store.blanks import is_closed
from daemon.store.tracks import TrackRecord
from turnkey.errors import Problem, TrackError
from turnkey.numbers import TrackRange, first_overlap, format_number, remaining
from turnkey.period import Period


@dataclass(frozen=True)
class HeldRange:
    range: TrackRange
    last_no: int | None
    source: str
    numbered_by: str | None = None

    def as_dict(self) -> dict[str, object]:
        span, left = self.range, remaining(self.range, self.last_no)
        return {
            "period": span.period.code, "invoice_type": span.invoice_type, "track": span.track,
            "begin": f"{span.begin:08d}", "end": f"{span.end:08d}",
            "last_used": None if self.last_no is None else format_number(span.track, self.last_no),
            "next": format_number(span.track, span.end - left + 1) if left else None,
            "remaining": left, "source": self.source, "numbered_by": self.numbered_by,
        }


def track_range(record: TrackRecord, period: Period | None = None) -> TrackRange:
    """The pure core's range of a stored track (``period`` when the caller has it parsed already)."""
    return TrackRange(period or Period.parse(record.period), record.invoice_type, record.track, record.begin_no,
                      record.end_no)


def held(store: Store) -> list[HeldRange]:
    return [HeldRange(track_range(r), r.last_no, r.source, r.numbered_by)
            for r in stored_tracks.every_range(store.connection())]


def restrict(ranges: Sequence[TrackRange], part: tuple[int, int] | None) -> list[TrackRange]:
    """Keep only the part this box owns: the one range containing ``part``, cut to it."""
    if part is None:
        return list(ranges)
    begin, end = part
    for span in ranges:
        if span.contains(begin) and span.contains(end):
            return [span.part(begin, end)]
    raise TrackError(Problem("tracks.part", "part", f"{begin:08d}-{end:08d} lies in none of the imported ranges"))


def add(store: Store, ranges: Iterable[TrackRange], source: str, now: datetime,
        numbered_by: str | None = None) -> list[TrackRange]:
    """Add ranges in one transaction: all or nothing. ``numbered_by``: the POS that numbers them itself (e首發票's
    invoice mode); einvd's own allocation then never takes a number from them."""
    added: list[TrackRange] = []
    at = stamp(now)
    with store.write() as tx:
        current = [h.range for h in held(store)]
        for span in ranges:
            if is_closed(tx, span.period.code):
                raise TrackError(Problem("tracks.closed", "range", f"{span.label}: period {span.period.code} is "
                                         "closed (its blank numbers were reported, E0402); it takes no new range"))
            clash = first_overlap(span, [*current, *added])
            if clash is not None:
                raise TrackError(Problem("tracks.overlap", "range", f"{span.label} overlaps {clash.label}"))
            stored_tracks.insert(tx, span.period.code, span.invoice_type, span.track, span.begin, span.end, source, at,
                                 numbered_by)
            event(tx, at, "track", span.label, "added", source if numbered_by is None else
                  f"{source}, numbered by {numbered_by}")
            added.append(span)
    return added


