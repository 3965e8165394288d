"""The ``invoices`` aggregate: invoices, their lines, their actions (void, cancel, re-issue, reprint) and the
outbox row of each of their messages.

``insert`` is the issuing hot path: the same three statements as always (invoice, lines, F0401 outbox row), no
read-back. Reads return ``InvoiceRecord`` (every column of the row, typed as stored).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Connection = sqlite3.Connection
"""The connection or transaction callers pass in, named here so they need not import sqlite3 themselves."""


class DuplicateOrder(Exception):
    """An invoice with this ``order_id`` is stored already (the transaction is still usable: read it)."""


COLUMNS = (
    "id, number, period, order_id, document, issued_at, random_number, invoice_type, buyer_ban, total, "
    "print_requested, print_status, status, track_id, created_at, status_at, result_code, result_reason, "
    "lifecycle, lifecycle_at"
)


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    """A stored invoice row. ``document`` is the canonical JSON it was issued from; times are stored stamps."""

    id: int
    number: str
    period: str
    order_id: str
    document: str
    issued_at: str
    random_number: str
    invoice_type: str
    buyer_ban: str | None
    total: int
    print_requested: bool
    print_status: str
    status: str
    track_id: int
    created_at: str
    status_at: str | None
    result_code: str
    result_reason: str
    lifecycle: str
    lifecycle_at: str | None


@dataclass(frozen=True, slots=True)
class NewInvoice:
    """What ``insert`` writes for a new invoice (the answer of an issue is built from it, not read back)."""

    number: str
    period: str
    order_id: str
    document: str
    issued_at: str
    random_number: str
    invoice_type: str
    buyer_ban: str | None
    total: int
    print_requested: bool
    print_status: str
    status: str
    track_id: int
    created_at: str


@dataclass(frozen=True, slots=True)
class LineRecord:
    """An ``invoice_lines`` row (amounts as the exact decimal strings stored)."""

    sequence: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str
    tax_type: str
    remark: str


LineValues = tuple[str, str, str, str, str, str, str, str]
"""sequence, description, quantity, unit, unit_price, amount, tax_type, remark: a line as ``insert`` stores it."""


def _record(row: sqlite3.Row | None) -> InvoiceRecord | None:
    """The columns of ``COLUMNS``, in order (``print_requested`` is stored as 0/1)."""
    if row is None:
        return None
    values: tuple[Any, ...] = (*row[:10], bool(row[10]), *row[11:])  # untyped in sqlite3: the schema types them
    return InvoiceRecord(*values)


def insert(tx: sqlite3.Connection, new: NewInvoice, lines: Iterable[LineValues]) -> int:
    """Store an invoice with its lines and its F0401 outbox row; the invoice's id. ``DuplicateOrder`` when its
    order id is taken (the caller answers with the stored invoice or a conflict)."""
    try:
        invoice_id = tx.execute(
            "INSERT INTO invoices (number, period, order_id, document, issued_at, random_number, "
            "invoice_type, buyer_ban, total, print_requested, print_status, status, track_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new.number, new.period, new.order_id, new.document, new.issued_at, new.random_number, new.invoice_type,
             new.buyer_ban, new.total, int(new.print_requested), new.print_status, new.status, new.track_id,
             new.created_at),
        ).lastrowid
    except sqlite3.IntegrityError as error:
        if "invoices.order_id" not in str(error):
            raise
        raise DuplicateOrder(new.order_id) from error
    assert invoice_id is not None
    insert_lines(tx, invoice_id, lines)
    enqueue_message(tx, "F0401", new.number, invoice_id, new.created_at)
    return invoice_id


def insert_lines(tx: sqlite3.Connection, invoice_id: int, lines: Iterable[LineValues]) -> None:
    tx.executemany(
        "INSERT INTO invoice_lines (invoice_id, sequence, description, quantity, unit, unit_price, amount, "
        "tax_type, remark) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(invoice_id, *line) for line in lines],
    )


def enqueue_message(conn: sqlite3.Connection, message_type: str, reference: str, invoice_id: int, now: str) -> int:
    """The outbox row of one message about an invoice (F0401, F0501, F0701, G0401, G0501), due at once."""
    cursor = conn.execute(
        "INSERT INTO outbox (message_type, reference, invoice_id, not_before, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (message_type, reference, invoice_id, now, now, now))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def by_order_id(conn: sqlite3.Connection, order_id: str) -> InvoiceRecord | None:
    return _record(conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE order_id = ?", (order_id,)).fetchone())


def by_id(conn: sqlite3.Connection, invoice_id: int) -> InvoiceRecord | None:
    return _record(conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE id = ?", (invoice_id,)).fetchone())


def by_number(conn: sqlite3.Connection, number: str) -> InvoiceRecord | None:
    """The invoice with ``number``, the latest period's when a track came back in another period."""
    return _record(conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE number = ? ORDER BY period DESC LIMIT 1",
                                (number,)).fetchone())


def newest_by_number(conn: sqlite3.Connection, number: str) -> InvoiceRecord | None:
    """The invoice with ``number`` stored last (the print queue's lookup)."""
    return _record(conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE number = ? ORDER BY id DESC LIMIT 1",
                                (number,)).fetchone())


def lines_of(conn: sqlite3.Connection, invoice_id: int) -> list[LineRecord]:
    rows = conn.execute("SELECT sequence, description, quantity, unit, unit_price, amount, tax_type, remark "
                        "FROM invoice_lines WHERE invoice_id = ? ORDER BY sequence", (invoice_id,))
    return [LineRecord(*row) for row in rows]
