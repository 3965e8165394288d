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


class DuplicateOrder(Exception):
    """An invoice with this ``order_id`` is stored already (the transaction is still usable: read it)."""


COLUMNS = (
    "id, number, period, order_id, document, issued_at, random_number, invoice_type, buyer_ban, total, "
    "print_requested, print_status, status, track_id, created_at, status_at, result_code, result_reason, "
    "lifecycle, lifecycle_at, version, replaces"
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
    version: int = 1
    """1 for an invoice as first issued; a re-issue under a cancelled number is the next version of it."""
    replaces: int | None = None
    """The id of the cancelled version a re-issue replaces (None for version 1)."""


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
    version: int = 1
    replaces: int | None = None


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
    """Store an invoice (or a new version of a cancelled one) with its lines and its F0401 outbox row; the invoice's
    id. ``DuplicateOrder`` when its order id is taken (the caller answers with the stored invoice or a conflict)."""
    try:
        invoice_id = tx.execute(
            "INSERT INTO invoices (number, period, order_id, document, issued_at, random_number, "
            "invoice_type, buyer_ban, total, print_requested, print_status, status, track_id, created_at, version, "
            "replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new.number, new.period, new.order_id, new.document, new.issued_at, new.random_number, new.invoice_type,
             new.buyer_ban, new.total, int(new.print_requested), new.print_status, new.status, new.track_id,
             new.created_at, new.version, new.replaces),
        ).lastrowid
    except sqlite3.IntegrityError as error:
        if "invoices.order_id" not in str(error):
            raise
        raise DuplicateOrder(new.order_id) from error
    assert invoice_id is not None
    insert_lines(tx, invoice_id, lines)
    enqueue_message(tx, "F0401", new.number, invoice_id, new.created_at)
    return invoice_id


def f0401_of(conn: sqlite3.Connection, invoice_id: int) -> int:
    """The outbox id of the invoice's (version's) F0401."""
    outbox_id: int = conn.execute("SELECT id FROM outbox WHERE invoice_id = ? AND message_type = 'F0401' "
                                  "ORDER BY id LIMIT 1", (invoice_id,)).fetchone()[0]
    return outbox_id


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
    """The invoice issued for ``order_id``: the newest version when a re-issue kept the order id."""
    return _record(conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE order_id = ? ORDER BY id DESC LIMIT 1",
                                (order_id,)).fetchone())


def by_id(conn: sqlite3.Connection, invoice_id: int) -> InvoiceRecord | None:
    return _record(conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE id = ?", (invoice_id,)).fetchone())


def by_number(conn: sqlite3.Connection, number: str) -> InvoiceRecord | None:
    """The invoice with ``number``, the latest period's when a track came back in another period; of a re-issued
    number, the newest version."""
    return _record(conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE number = ? ORDER BY period DESC, version DESC "
                                "LIMIT 1", (number,)).fetchone())


def versions_of(conn: sqlite3.Connection, number: str, period: str) -> list[InvoiceRecord]:
    """Every version of invoice ``number`` of ``period``, first issued first (one unless it was cancelled and
    issued again)."""
    rows = conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE number = ? AND period = ? ORDER BY version",
                        (number, period)).fetchall()
    return [record for row in rows if (record := _record(row)) is not None]


def newest_by_number(conn: sqlite3.Connection, number: str) -> InvoiceRecord | None:
    """The invoice with ``number`` stored last (the print queue's lookup)."""
    return _record(conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE number = ? ORDER BY id DESC LIMIT 1",
                                (number,)).fetchone())


def search(conn: sqlite3.Connection, *, before_id: int, limit: int, order_id: str | None = None,
           period: str | None = None, status: str | None = None, lifecycle: str | None = None) -> list[InvoiceRecord]:
    """Up to ``limit`` invoices with ids below ``before_id``, newest first, matching every filter given."""
    where: list[str] = ["id < ?"]
    params: list[object] = [before_id]
    for column, value in (("order_id", order_id), ("period", period), ("status", status), ("lifecycle", lifecycle)):
        if value is not None:
            where.append(f"{column} = ?")  # column names from the tuple above, never from the caller
            params.append(value)
    rows = conn.execute(f"SELECT {COLUMNS} FROM invoices WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                        (*params, limit)).fetchall()
    return [record for row in rows if (record := _record(row)) is not None]


def lines_of(conn: sqlite3.Connection, invoice_id: int) -> list[LineRecord]:
    rows = conn.execute("SELECT sequence, description, quantity, unit, unit_price, amount, tax_type, remark "
                        "FROM invoice_lines WHERE invoice_id = ? ORDER BY sequence", (invoice_id,))
    return [LineRecord(*row) for row in rows]


# --- the lifecycle after issue: void, cancel, re-issue, reprint ------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionMessage:
    """What an F0501 (void) or F0701 (cancel) is built from: the action and its invoice's number and time."""

    kind: str
    at: str
    reason: str
    number: str
    issued_at: str
    buyer_ban: str | None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """An outbox row of the invoice, as its view shows it."""

    message_type: str
    reference: str
    state: str
    attempts: int
    last_error: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    at: str
    kind: str
    reason: str


def record_action(tx: sqlite3.Connection, invoice_id: int, kind: str, at: str, reason: str,
                  outbox_id: int | None = None, document: str | None = None) -> None:
    """An ``invoice_actions`` row: a void, cancel, re-issue (with the document it replaced) or reprint."""
    tx.execute("INSERT INTO invoice_actions (invoice_id, kind, at, reason, document, outbox_id) "
               "VALUES (?, ?, ?, ?, ?, ?)", (invoice_id, kind, at, reason, document, outbox_id))


def count_actions(conn: sqlite3.Connection, invoice_id: int, kind: str) -> int:
    count: int = conn.execute("SELECT count(*) FROM invoice_actions WHERE invoice_id = ? AND kind = ?",
                              (invoice_id, kind)).fetchone()[0]
    return count


def has_action(conn: sqlite3.Connection, invoice_id: int, kind: str) -> bool:
    return conn.execute("SELECT 1 FROM invoice_actions WHERE invoice_id = ? AND kind = ?",
                        (invoice_id, kind)).fetchone() is not None


def set_lifecycle(tx: sqlite3.Connection, invoice_id: int, lifecycle: str, at: str | None) -> None:
    """The invoice's lifecycle state; ``at`` None leaves ``lifecycle_at`` as it is (a re-issue's return to
    issued keeps the time of the cancel)."""
    if at is None:
        tx.execute("UPDATE invoices SET lifecycle = ? WHERE id = ?", (lifecycle, invoice_id))
    else:
        tx.execute("UPDATE invoices SET lifecycle = ?, lifecycle_at = ? WHERE id = ?", (lifecycle, at, invoice_id))


def action_message(conn: sqlite3.Connection, outbox_id: int) -> ActionMessage | None:
    """The void or cancel whose message is the outbox row ``outbox_id``."""
    row = conn.execute(
        "SELECT a.kind, a.at, a.reason, i.number, i.issued_at, i.buyer_ban FROM invoice_actions a "
        "JOIN invoices i ON i.id = a.invoice_id WHERE a.outbox_id = ? AND a.kind IN ('void', 'cancel')",
        (outbox_id,)).fetchone()
    return None if row is None else ActionMessage(*row)


def replaced_document(conn: sqlite3.Connection, invoice_id: int, after_outbox_id: int) -> str | None:
    """The document a re-issue after outbox row ``after_outbox_id`` replaced (the first such), if any."""
    row = conn.execute("SELECT document FROM invoice_actions WHERE invoice_id = ? AND kind = 'reissue' "
                       "AND outbox_id > ? ORDER BY outbox_id LIMIT 1", (invoice_id, after_outbox_id)).fetchone()
    return None if row is None else row[0]


def messages_of(conn: sqlite3.Connection, *invoice_ids: int) -> list[MessageRecord]:
    """The outbox rows of the invoice (of every version given), in the order they were queued."""
    marks = ", ".join("?" * len(invoice_ids))
    return [MessageRecord(*row) for row in conn.execute(
        "SELECT message_type, reference, state, attempts, last_error, created_at FROM outbox "
        f"WHERE invoice_id IN ({marks}) ORDER BY id", invoice_ids)]


def events_of(conn: sqlite3.Connection, number: str, since: str) -> list[EventRecord]:
    """The invoice's events logged at or after ``since`` (a stamp, or a prefix of one)."""
    return [EventRecord(*row) for row in conn.execute(
        "SELECT at, kind, reason FROM events WHERE entity = 'invoice' AND entity_id = ? AND at >= ? ORDER BY id",
        (number, since))]


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


# --- the delivery status of invoices ---------------------------------------------------------------------


def status_of(conn: sqlite3.Connection, invoice_id: int) -> InvoiceStatus | None:
    row = conn.execute("SELECT number, status FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
    return InvoiceStatus(row[0], row[1]) if row is not None else None


def set_status(conn: sqlite3.Connection, invoice_id: int, status: str, at: str, code: str, reason: str) -> None:
    conn.execute("UPDATE invoices SET status = ?, status_at = ?, result_code = ?, result_reason = ? WHERE id = ?",
                 (status, at, code, reason, invoice_id))


def find_invoice(conn: sqlite3.Connection, number: str, period: str | None) -> int | None:
    """The id of invoice ``number`` of ``period`` (its newest version); without a period, the latest with that
    number."""
    if period is not None:
        row = conn.execute("SELECT id FROM invoices WHERE number = ? AND period = ? ORDER BY version DESC LIMIT 1",
                           (number, period)).fetchone()
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
