"""Invoice numbers and the merchant's 字軌 ranges.

A range is (period, invoice type, 2-letter track, begin, end). A box may hold only part of an allocated range,
so several boxes can share a track without overlapping; numbers are taken in ascending order and never reused.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from turnkey.errors import Problem, TrackError
from turnkey.period import Period

_NUMBER = re.compile(r"[A-Z]{2}[0-9]{8}", re.ASCII)
_TRACK = re.compile(r"[A-Z]{2}", re.ASCII)
_EIGHT = re.compile(r"[0-9]{8}", re.ASCII)
INVOICE_TYPES = ("07", "08")
MAX_NO = 99_999_999


def is_invoice_number(value: str) -> bool:
    return _NUMBER.fullmatch(value) is not None


def format_number(track: str, number: int) -> str:
    """``("AB", 1234)`` -> ``AB00001234``."""
    return f"{track}{number:08d}"


def split_number(value: str) -> tuple[str, int]:
    """``AB00001234`` -> ``("AB", 1234)``."""
    if not is_invoice_number(value):
        raise ValueError(f"invoice number must be 2 letters and 8 digits, got {value!r}")
    return value[:2], int(value[2:])


def parse_eight(value: str) -> int:
    """An 8-digit number as printed in E0501/E0402 (``00001000``)."""
    if not _EIGHT.fullmatch(value):
        raise ValueError(f"expected 8 digits, got {value!r}")
    return int(value)


@dataclass(frozen=True, order=True)
class TrackRange:
    """Numbers ``begin``..``end`` (inclusive) of ``track`` in ``period`` for ``invoice_type``."""

    period: Period
    invoice_type: str
    track: str
    begin: int
    end: int

    def __post_init__(self) -> None:
        if self.invoice_type not in INVOICE_TYPES:
            raise ValueError(f"invoice type must be 07 or 08, got {self.invoice_type!r}")
        if not _TRACK.fullmatch(self.track):
            raise ValueError(f"track must be 2 upper-case letters, got {self.track!r}")
        if not 0 <= self.begin <= self.end <= MAX_NO:
            raise ValueError(f"range must satisfy 0 <= begin <= end <= {MAX_NO}: {self.begin}-{self.end}")

    @property
    def size(self) -> int:
        return self.end - self.begin + 1

    @property
    def label(self) -> str:
        return f"{self.period.code} {self.invoice_type} {format_number(self.track, self.begin)}-{self.end:08d}"

    def contains(self, number: int) -> bool:
        return self.begin <= number <= self.end

    def overlaps(self, other: TrackRange) -> bool:
        """Same letters in the same period share one number space, whatever the invoice type."""
        same_space = self.period == other.period and self.track == other.track
        return same_space and self.begin <= other.end and other.begin <= self.end

    def part(self, begin: int, end: int) -> TrackRange:
        """The sub-range this box owns; it must lie inside the allocation."""
        if not (self.contains(begin) and self.contains(end) and begin <= end):
            raise ValueError(f"{begin:08d}-{end:08d} is not inside {self.label}")
        return TrackRange(self.period, self.invoice_type, self.track, begin, end)


def next_number(span: TrackRange, last: int | None) -> int:
    """The number after ``last`` (None: nothing used yet); TrackError ``track.exhausted`` past the end."""
    candidate = span.begin if last is None else last + 1
    if candidate > span.end:
        raise TrackError(
            Problem("track.exhausted", "track", f"range {span.label} is used up (period {span.period.code})")
        )
    return candidate


def remaining(span: TrackRange, last: int | None) -> int:
    return span.size if last is None else span.end - last


def blank_tail(span: TrackRange, last: int | None) -> tuple[int, int] | None:
    """The unused numbers at the end of a range, for E0402 (None when the range was used up)."""
    first = span.begin if last is None else last + 1
    return (first, span.end) if first <= span.end else None


def first_overlap(new: TrackRange, held: Iterable[TrackRange]) -> TrackRange | None:
    """The first held range that ``new`` overlaps, if any."""
    return next((r for r in held if r.overlaps(new)), None)


CSV_COLUMNS = ("period", "invoice_type", "track", "begin", "end")


def _csv_range(row: dict[str, str | None]) -> TrackRange:
    values = {key: (row.get(key) or "").strip() for key in CSV_COLUMNS}
    return TrackRange(
        Period.parse(values["period"]), values["invoice_type"], values["track"],
        parse_eight(values["begin"]), parse_eight(values["end"]),
    )


def parse_ranges_csv(text: str) -> list[TrackRange]:
    """Ranges from CSV with the header ``period,invoice_type,track,begin,end`` (e.g. ``11512,07,AB,00001000,00001049``).

    Raises TrackError ``tracks.csv`` naming the line of the first bad row.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise TrackError(Problem("tracks.csv", "header", f"the CSV header lacks {', '.join(missing)}"))
    ranges = []
    for row in reader:
        try:
            ranges.append(_csv_range(row))
        except ValueError as error:
            raise TrackError(Problem("tracks.csv", f"line {reader.line_num}", str(error))) from error
    return ranges
