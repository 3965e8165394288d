"""Delivery facts: ``results_seen`` (each ERR and result file applied once), the delivery status of invoices
(``invoices.status``, ``result_code``, ``result_reason``) and the number ranges an E0501 adds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InvoiceStatus:
    number: str
    status: str


@dataclass(frozen=True, slots=True)
class Unsettled:
    """An invoice not settled yet, for the deadline check."""

    id: int
    number: str
    issued_at: str
    buyer_ban: str | None
    status: str


# --- results_seen ----------------------------------------------------------------------------------------


def seen(conn: sqlite3.Connection, kind: str) -> set[str]:
    """The paths of ``kind`` (``ERR``, ``SummaryResult`` ...) recorded already."""
    return {r[0] for r in conn.execute("SELECT path FROM results_seen WHERE kind = ?", (kind,))}


def record_seen(conn: sqlite3.Connection, path: str, kind: str, size: int, at: str, outcome: str,
                detail: str = "") -> None:
    conn.execute("INSERT INTO results_seen (path, kind, size, seen_at, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)",
                 (path, kind, size, at, outcome, detail))


# --- the delivery status of invoices ---------------------------------------------------------------------


def status_of(conn: sqlite3.Connection, invoice_id: int) -> InvoiceStatus | None:
    row = conn.execute("SELECT number, status FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
    return InvoiceStatus(row[0], row[1]) if row is not None else None


def set_status(conn: sqlite3.Connection, invoice_id: int, status: str, at: str, code: str, reason: str) -> None:
    conn.execute("UPDATE invoices SET status = ?, status_at = ?, result_code = ?, result_reason = ? WHERE id = ?",
                 (status, at, code, reason, invoice_id))


def find_invoice(conn: sqlite3.Connection, number: str, period: str | None) -> int | None:
    """The id of invoice ``number`` of ``period``; without a period, the latest with that number."""
    if period is not None:
        row = conn.execute("SELECT id FROM invoices WHERE number = ? AND period = ?", (number, period)).fetchone()
    else:
        row = conn.execute("SELECT id FROM invoices WHERE number = ? ORDER BY id DESC LIMIT 1", (number,)).fetchone()
    return int(row[0]) if row is not None else None


def any_numbered(conn: sqlite3.Connection, numbers: Iterable[str]) -> bool:
    """Whether any of ``numbers`` is an invoice of this box."""
    return any(conn.execute("SELECT 1 FROM invoices WHERE number = ?", (n,)).fetchone() for n in set(numbers))


def status_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: r[1] for r in conn.execute("SELECT status, count(*) FROM invoices GROUP BY status")}


def unsettled(conn: sqlite3.Connection, statuses: tuple[str, ...], issued_until: str) -> list[Unsettled]:
    """Invoices in ``statuses`` issued at or before ``issued_until``, in id order."""
    marks = ", ".join("?" * len(statuses))
    return [Unsettled(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(
        f"SELECT id, number, issued_at, buyer_ban, status FROM invoices WHERE status IN ({marks}) "
        "AND issued_at <= ? ORDER BY id", (*statuses, issued_until))]


# --- E0501 -----------------------------------------------------------------------------------------------


def add_allocated_range(conn: sqlite3.Connection, period: str, invoice_type: str, track: str, begin: int, end: int,
                        at: str) -> None:
    """A range an E0501 allocated (``source`` E0501)."""
    conn.execute("INSERT INTO tracks (period, invoice_type, track, begin_no, end_no, source, created_at) "
                 "VALUES (?, ?, ?, ?, ?, 'E0501', ?)", (period, invoice_type, track, begin, end, at))
