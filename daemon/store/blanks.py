"""Closing a period for E0402: ``blank_periods`` (closed once), ``blank_reports`` (each message's spans, from
which the pump rebuilds its XML), the period's ranges in ``tracks`` (read, then exhausted), and what of a period
still needs a person before its void/cancel window closes."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HeldRange:
    """A range of the period being closed and the last number issued from it (None: none issued)."""

    invoice_type: str
    track: str
    begin_no: int
    end_no: int
    last_no: int | None


@dataclass(frozen=True, slots=True)
class StoredBlankReport:
    period: str
    invoice_type: str
    track: str
    part: int
    head_ban: str
    branch_ban: str
    spans: tuple[tuple[int, int], ...]
    outbox_id: int


def is_closed(conn: sqlite3.Connection, period: str) -> bool:
    return conn.execute("SELECT 1 FROM blank_periods WHERE period = ?", (period,)).fetchone() is not None


def held_ranges(conn: sqlite3.Connection, period: str) -> list[HeldRange]:
    """The ranges held for ``period``, by type, track and first number."""
    return [HeldRange(r["invoice_type"], r["track"], r["begin_no"], r["end_no"], r["last_no"]) for r in conn.execute(
        "SELECT invoice_type, track, begin_no, end_no, last_no FROM tracks WHERE period = ? "
        "ORDER BY invoice_type, track, begin_no", (period,))]


def used_ranges(conn: sqlite3.Connection, period: str) -> list[HeldRange]:
    """The ranges held for ``period`` with the last number really issued from each (after the period was closed
    too, when ``last_no`` reads ``end_no``): what a box that holds part of a shared track exports."""
    return [HeldRange(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(
        "SELECT invoice_type, track, begin_no, end_no, CASE WHEN closed_at IS NULL THEN last_no ELSE used_last_no END "
        "FROM tracks WHERE period = ? ORDER BY invoice_type, track, begin_no", (period,))]


def open_period_row(conn: sqlite3.Connection, period: str, at: str) -> None:
    """The ``blank_periods`` row of a period this box holds no range of (a head office that only merges)."""
    conn.execute("INSERT OR IGNORE INTO blank_periods (period, closed_at, messages) VALUES (?, ?, 0)", (period, at))


def count_messages(conn: sqlite3.Connection, period: str, added: int) -> None:
    conn.execute("UPDATE blank_periods SET messages = messages + ? WHERE period = ?", (added, period))


def close(conn: sqlite3.Connection, period: str, at: str, messages: int) -> None:
    """Mark ``period`` closed and exhaust its ranges (the real last number is kept in ``used_last_no``)."""
    conn.execute("INSERT INTO blank_periods (period, closed_at, messages) VALUES (?, ?, ?)", (period, at, messages))
    conn.execute("UPDATE tracks SET used_last_no = last_no, last_no = end_no, closed_at = ? "
                 "WHERE period = ? AND closed_at IS NULL", (at, period))


def add_report(conn: sqlite3.Connection, report: StoredBlankReport) -> None:
    conn.execute("INSERT INTO blank_reports (period, invoice_type, track, part, head_ban, branch_ban, spans, "
                 "outbox_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (report.period, report.invoice_type, report.track, report.part, report.head_ban, report.branch_ban,
                  json.dumps([list(span) for span in report.spans]), report.outbox_id))


def _report(row: sqlite3.Row) -> StoredBlankReport:
    return StoredBlankReport(row["period"], row["invoice_type"], row["track"], row["part"], row["head_ban"],
                             row["branch_ban"], tuple((begin, end) for begin, end in json.loads(row["spans"])),
                             row["outbox_id"])


def reports_of(conn: sqlite3.Connection, period: str) -> list[StoredBlankReport]:
    return [_report(r) for r in conn.execute("SELECT * FROM blank_reports WHERE period = ? ORDER BY id", (period,))]


def report_for(conn: sqlite3.Connection, outbox_id: int) -> StoredBlankReport | None:
    row = conn.execute("SELECT * FROM blank_reports WHERE outbox_id = ?", (outbox_id,)).fetchone()
    return _report(row) if row is not None else None


def open_periods(conn: sqlite3.Connection) -> list[str]:
    """Periods with ranges held and not closed yet, in order."""
    return [r[0] for r in conn.execute("SELECT DISTINCT period FROM tracks WHERE period NOT IN "
                                       "(SELECT period FROM blank_periods) ORDER BY period")]


def unsent_periods(conn: sqlite3.Connection) -> set[str]:
    """Periods with an E0402 row not DONE yet."""
    return {r[0] for r in conn.execute("SELECT DISTINCT b.period FROM blank_reports b JOIN outbox o "
                                       "ON o.id = b.outbox_id WHERE o.state <> 'DONE'")}


def open_invoices(conn: sqlite3.Connection, period: str, statuses: tuple[str, ...]) -> dict[str, int]:
    """Issued (not voided or cancelled) invoices of ``period`` in ``statuses``, counted per status."""
    marks = ", ".join("?" * len(statuses))
    return {r[0]: r[1] for r in conn.execute(
        f"SELECT status, count(*) FROM invoices WHERE period = ? AND lifecycle = 'issued' AND status IN ({marks}) "
        "GROUP BY status", (period, *statuses))}


def unaccepted_actions(conn: sqlite3.Connection, period: str, accepted: str) -> int:
    """Voids and cancels of ``period`` whose message Turnkey has not accepted (outcome ``accepted``) yet."""
    count: int = conn.execute(
        "SELECT count(*) FROM invoice_actions a JOIN invoices i ON i.id = a.invoice_id JOIN outbox o "
        "ON o.id = a.outbox_id WHERE i.period = ? AND a.kind IN ('void', 'cancel') "
        "AND (o.state <> 'DONE' OR o.outcome IS NOT ?)", (period, accepted)).fetchone()[0]
    return count
