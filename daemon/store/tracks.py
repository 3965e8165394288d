"""The ``tracks`` aggregate: number ranges this box holds, with the cursor of the last number issued.

``insert`` is the one way a range is added (by hand, from a file, or from an E0501 the platform sent).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

COLUMNS = ("id, period, invoice_type, track, begin_no, end_no, last_no, last_issued_at, source, created_at, "
           "closed_at, used_last_no, numbered_by")


@dataclass(frozen=True, slots=True)
class TrackRecord:
    id: int
    period: str
    invoice_type: str
    track: str
    begin_no: int
    end_no: int
    last_no: int | None
    last_issued_at: str | None
    source: str
    created_at: str
    closed_at: str | None
    used_last_no: int | None
    numbered_by: str | None = None
    """The POS that numbers this range itself (e首發票's invoice mode); None: einvd numbers it."""


def _records(rows: list[Any]) -> list[TrackRecord]:
    return [TrackRecord(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class OpenRange:
    """The range the next number comes from, and the latest issue time over every range of its track in the
    period: E0209 wants dates in number order across all of them, not only inside one range. (The MOF gives each
    invoice type its own letters in a period (domain.md §7.3), so the track is looked up with the type: the
    whole key of ``tracks_by_period``.)"""

    record: TrackRecord
    track_last_issued_at: str | None


def next_range(tx: sqlite3.Connection, period: str, invoice_type: str) -> OpenRange | None:
    """The first range of the period and type with numbers left (ranges are used in track/begin order), with its
    track's latest issue time: one statement, every part on ``tracks_by_period``.

    A range lying below a number of its track already issued is passed over: any number of it, issued now,
    would break the date order (E0209); its numbers stay unused and go into the period's E0402 as blank. That
    happens only when a lower range is imported after a higher one was used."""
    columns = ", ".join(f"t.{name.strip()}" for name in COLUMNS.split(","))
    row = tx.execute(
        f"SELECT {columns}, (SELECT max(o.last_issued_at) FROM tracks o WHERE o.period = t.period "
        "AND o.invoice_type = t.invoice_type AND o.track = t.track) "
        "FROM tracks t WHERE t.period = ? AND t.invoice_type = ? "
        "AND (t.last_no IS NULL OR t.last_no < t.end_no) AND t.numbered_by IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM tracks h "
        "WHERE h.period = t.period AND h.invoice_type = t.invoice_type AND h.track = t.track AND h.begin_no > t.end_no "
        "AND h.last_issued_at IS NOT NULL) "
        "ORDER BY t.track, t.begin_no LIMIT 1",
        (period, invoice_type),
    ).fetchone()
    return None if row is None else OpenRange(TrackRecord(*row[:-1]), row[-1])


def open_range(tx: sqlite3.Connection, period: str, invoice_type: str) -> TrackRecord | None:
    """The first range of the period and type with numbers left (ranges are used in track/begin order)."""
    found = next_range(tx, period, invoice_type)
    return None if found is None else found.record


def ranges_of(conn: sqlite3.Connection, period: str, invoice_type: str) -> list[TrackRecord]:
    return _records(conn.execute(f"SELECT {COLUMNS} FROM tracks WHERE period = ? AND invoice_type = ?",
                                 (period, invoice_type)).fetchall())


def every_range(conn: sqlite3.Connection) -> list[TrackRecord]:
    return _records(conn.execute(f"SELECT {COLUMNS} FROM tracks ORDER BY period, invoice_type, track, begin_no")
                    .fetchall())


def advance(tx: sqlite3.Connection, track_id: int, last_no: int, last_issued_at: str) -> None:
    """Move the range's cursor to the number just issued."""
    tx.execute("UPDATE tracks SET last_no = ?, last_issued_at = ? WHERE id = ?", (last_no, last_issued_at, track_id))


def insert(tx: sqlite3.Connection, period: str, invoice_type: str, track: str, begin: int, end: int, source: str,
           created_at: str, numbered_by: str | None = None) -> int:
    """Add a range (the caller has checked that it overlaps none held); its id. ``numbered_by``: the POS that
    numbers it itself (einvd's own allocation then never takes from it)."""
    cursor = tx.execute(
        "INSERT INTO tracks (period, invoice_type, track, begin_no, end_no, source, created_at, numbered_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (period, invoice_type, track, begin, end, source, created_at, numbered_by),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def holding(conn: sqlite3.Connection, period: str, track: str, number: int) -> TrackRecord | None:
    """The range of ``period`` and letters ``track`` that contains ``number`` (ranges never overlap), if any."""
    row = conn.execute(
        f"SELECT {COLUMNS} FROM tracks WHERE period = ? AND track = ? AND begin_no <= ? AND end_no >= ? LIMIT 1",
        (period, track, number, number),
    ).fetchone()
    return None if row is None else TrackRecord(*row)


def numbered_by(conn: sqlite3.Connection, pos: str) -> list[TrackRecord]:
    """The ranges POS ``pos`` numbers itself, by period, type, letters and first number."""
    return _records(conn.execute(f"SELECT {COLUMNS} FROM tracks WHERE numbered_by = ? "
                                 "ORDER BY period, invoice_type, track, begin_no", (pos,)).fetchall())


def raise_cursor(tx: sqlite3.Connection, track_id: int, number: int, issued_at: str) -> None:
    """A POS-numbered range: the cursor moves up to ``number`` (never down), the latest issue time likewise."""
    tx.execute("UPDATE tracks SET last_no = max(coalesce(last_no, -1), ?), "
               "last_issued_at = max(coalesce(last_issued_at, ''), ?) WHERE id = ?", (number, issued_at, track_id))


def track_dates(conn: sqlite3.Connection, period: str, track: str, number: int) -> tuple[str | None, str | None]:
    """The issue time of the nearest number of ``track`` below ``number`` and of the nearest above it, in
    ``period``: E0209 wants dates in number order over the whole track, and as issuing keeps that order, the
    nearest neighbours bound the date (two probes of the number index, however many invoices the track has)."""
    lowest, at, highest = f"{track}00000000", f"{track}{number:08d}", f"{track}99999999"
    row = conn.execute(
        "SELECT (SELECT issued_at FROM invoices WHERE number >= ? AND number < ? AND period = ? "
        "ORDER BY number DESC LIMIT 1), "
        "(SELECT issued_at FROM invoices WHERE number > ? AND number <= ? AND period = ? "
        "ORDER BY number LIMIT 1)",
        (lowest, at, period, at, highest, period),
    ).fetchone()
    return row[0], row[1]
