"""The ``allowances`` aggregate: allowances (折讓) on invoices, their lines, and their voids.

``AllowanceRecord`` carries the number of its invoice (every read joins it): callers show and send both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_COLUMNS = ("a.id, a.number, a.sequence, a.invoice_id, a.request_id, a.request, a.allowance_at, a.state, "
            "a.tax_amount, a.total_amount, a.outbox_id, a.voided_at, a.void_reason, a.void_outbox_id, a.created_at, "
            "i.number")
_LINE_COLUMNS = "sequence, original_sequence, description, quantity, unit, unit_price, amount, tax, gross, tax_type"


@dataclass(frozen=True, slots=True)
class AllowanceRecord:
    id: int
    number: str
    sequence: int
    invoice_id: int
    request_id: str | None
    request: str
    allowance_at: str
    state: str
    tax_amount: int
    total_amount: str
    outbox_id: int | None
    voided_at: str | None
    void_reason: str | None
    void_outbox_id: int | None
    created_at: str
    invoice_number: str


@dataclass(frozen=True, slots=True)
class AllowanceLineRecord:
    """An ``allowance_lines`` row; decimals are the exact strings stored, ``tax`` whole dollars."""

    sequence: str
    original_sequence: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str
    tax: int
    gross: str
    tax_type: str


@dataclass(frozen=True, slots=True)
class MessageSource:
    """What a G0401/G0501 is built from: the allowance and the document and issue time of its invoice."""

    allowance: AllowanceRecord
    document: str
    issued_at: str


LineValues = tuple[str, str, str, str, str, str, str, int, str, str]
"""sequence, original_sequence, description, quantity, unit, unit_price, amount, tax, gross, tax_type."""


def _record(row: Any) -> AllowanceRecord:
    return AllowanceRecord(*row[:16])


def by_number(conn: sqlite3.Connection, number: str) -> AllowanceRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM allowances a JOIN invoices i ON i.id = a.invoice_id "
                       "WHERE a.number = ?", (number,)).fetchone()
    return None if row is None else _record(row)


def by_request_id(conn: sqlite3.Connection, request_id: str) -> AllowanceRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM allowances a JOIN invoices i ON i.id = a.invoice_id "
                       "WHERE a.request_id = ?", (request_id,)).fetchone()
    return None if row is None else _record(row)


def of_invoice(conn: sqlite3.Connection, invoice_id: int) -> list[AllowanceRecord]:
    """Every allowance of the invoice, oldest first."""
    return [_record(row) for row in conn.execute(
        f"SELECT {_COLUMNS} FROM allowances a JOIN invoices i ON i.id = a.invoice_id WHERE a.invoice_id = ? "
        "ORDER BY a.id", (invoice_id,))]


def by_message(conn: sqlite3.Connection, outbox_id: int) -> MessageSource | None:
    """The allowance whose G0401 (or whose void's G0501) is the outbox row ``outbox_id``."""
    row = conn.execute(f"SELECT {_COLUMNS}, i.document, i.issued_at FROM allowances a JOIN invoices i "
                       "ON i.id = a.invoice_id WHERE a.outbox_id = ? OR a.void_outbox_id = ?",
                       (outbox_id, outbox_id)).fetchone()
    return None if row is None else MessageSource(_record(row), row[16], row[17])


def live_numbers(conn: sqlite3.Connection, invoice_id: int) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT number FROM allowances WHERE invoice_id = ? AND state = 'live' ORDER BY id", (invoice_id,))]


def live_tax(conn: sqlite3.Connection, invoice_id: int) -> int:
    """The tax the invoice's live allowances took back."""
    used: int = conn.execute("SELECT coalesce(sum(tax_amount), 0) FROM allowances WHERE invoice_id = ? "
                             "AND state = 'live'", (invoice_id,)).fetchone()[0]
    return used


def taken_by_live(conn: sqlite3.Connection, invoice_id: int) -> dict[str, tuple[Decimal, Decimal]]:
    """Per original line sequence: (quantity, gross amount) taken by the invoice's live allowances."""
    zero = Decimal(0)
    taken: dict[str, tuple[Decimal, Decimal]] = {}
    for sequence, quantity, gross in conn.execute(
            "SELECT l.original_sequence, l.quantity, l.gross FROM allowance_lines l JOIN allowances a "
            "ON a.id = l.allowance_id WHERE a.invoice_id = ? AND a.state = 'live'", (invoice_id,)):
        before_quantity, before_gross = taken.get(sequence, (zero, zero))
        taken[sequence] = (before_quantity + Decimal(quantity), before_gross + Decimal(gross))
    return taken


def lines_of(conn: sqlite3.Connection, allowance_id: int) -> list[AllowanceLineRecord]:
    return [AllowanceLineRecord(*row) for row in conn.execute(
        f"SELECT {_LINE_COLUMNS} FROM allowance_lines WHERE allowance_id = ? ORDER BY CAST(sequence AS INTEGER)",
        (allowance_id,))]


def next_sequence(tx: sqlite3.Connection) -> int:
    sequence: int = tx.execute("SELECT coalesce(max(sequence), 0) + 1 FROM allowances").fetchone()[0]
    return sequence


def insert(tx: sqlite3.Connection, number: str, sequence: int, invoice_id: int, request_id: str | None,
           request: str, at: str, tax: int, total: str, outbox_id: int, lines: Iterable[LineValues]) -> int:
    """Store an allowance and its lines; its id."""
    allowance_id = tx.execute(
        "INSERT INTO allowances (number, sequence, invoice_id, request_id, request, allowance_at, tax_amount, "
        "total_amount, outbox_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (number, sequence, invoice_id, request_id, request, at, tax, total, outbox_id, at),
    ).lastrowid
    assert allowance_id is not None
    tx.executemany(
        "INSERT INTO allowance_lines (allowance_id, sequence, original_sequence, description, quantity, unit, "
        "unit_price, amount, tax, gross, tax_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(allowance_id, *line) for line in lines])
    return allowance_id


def void(tx: sqlite3.Connection, allowance_id: int, at: str, reason: str, outbox_id: int) -> None:
    tx.execute("UPDATE allowances SET state = 'voided', voided_at = ?, void_reason = ?, void_outbox_id = ? "
               "WHERE id = ?", (at, reason, outbox_id, allowance_id))
