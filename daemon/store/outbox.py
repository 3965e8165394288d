"""The ``outbox`` table: each message to hand to Turnkey, READY -> LOCKED -> DONE | FAILED."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

_CANDIDATES = """
SELECT o.id, o.message_type, o.reference, o.invoice_id, o.attempts, o.not_before, o.uncertain, o.file_name,
       i.document, i.number, i.random_number, i.issued_at,
       EXISTS (SELECT 1 FROM outbox p WHERE p.invoice_id IN (o.invoice_id, i.replaces) AND p.id < o.id
               AND (p.state <> 'DONE' OR p.outcome IS NOT 'accepted_local')) AS blocked
FROM outbox o LEFT JOIN invoices i ON i.id = o.invoice_id
WHERE o.state = 'READY' AND o.message_type = ? ORDER BY o.id LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class InvoiceColumns:
    """The stored invoice columns an F0401 is built from (document JSON, number, random code, issue stamp)."""

    document: str
    number: str
    random_number: str
    issued_at: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A READY row in id order, with whether an earlier message of its invoice, or of the cancelled version its
    invoice re-issues (the F0701 first of all), is still unaccepted."""

    id: int
    message_type: str
    reference: str
    invoice_id: int | None
    attempts: int
    not_before: str
    uncertain: bool
    file_name: str | None
    blocked: bool
    invoice: InvoiceColumns | None


@dataclass(frozen=True, slots=True)
class Dropped:
    """A DONE row whose file Turnkey has not been seen taking yet (``outcome`` is NULL)."""

    id: int
    message_type: str
    reference: str
    invoice_id: int | None
    file_name: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """READY and LOCKED rows of one message type: how many and the oldest ``created_at``."""

    message_type: str
    count: int
    oldest: str


@dataclass(frozen=True, slots=True)
class HeadError:
    last_error: str
    not_before: str


def _invoice(row: sqlite3.Row) -> InvoiceColumns | None:
    if row["document"] is None:
        return None
    return InvoiceColumns(row["document"], row["number"], row["random_number"], row["issued_at"])


def ready_types(conn: sqlite3.Connection) -> list[str]:
    """The message types with READY rows, sorted."""
    return sorted(r[0] for r in conn.execute("SELECT DISTINCT message_type FROM outbox WHERE state = 'READY'"))


def candidates(conn: sqlite3.Connection, message_type: str, limit: int) -> list[Candidate]:
    """The first ``limit`` READY rows of ``message_type`` in id order."""
    return [Candidate(r["id"], r["message_type"], r["reference"], r["invoice_id"], r["attempts"], r["not_before"],
                      bool(r["uncertain"]), r["file_name"], bool(r["blocked"]), _invoice(r))
            for r in conn.execute(_CANDIDATES, (message_type, limit)).fetchall()]


def lock(conn: sqlite3.Connection, names: Iterable[tuple[int, str]], at: str) -> None:
    """LOCKED, with the file name each row is dropped under (``(id, file name)`` pairs)."""
    conn.executemany("UPDATE outbox SET state = 'LOCKED', file_name = ?, updated_at = ? WHERE id = ?",
                     [(name, at, outbox_id) for outbox_id, name in names])


def recover_locked(conn: sqlite3.Connection, at: str) -> int:
    """Every LOCKED row back to READY, uncertain; the number of rows."""
    return conn.execute("UPDATE outbox SET state = 'READY', uncertain = 1, updated_at = ? WHERE state = 'LOCKED'",
                        (at,)).rowcount


def release(conn: sqlite3.Connection, ids: Iterable[int], at: str) -> None:
    conn.executemany("UPDATE outbox SET state = 'READY', updated_at = ? WHERE id = ?", [(at, i) for i in ids])


def requeue(conn: sqlite3.Connection, ids: Iterable[int], at: str) -> None:
    conn.executemany("UPDATE outbox SET state = 'READY', uncertain = 1, updated_at = ? WHERE id = ? "
                     "AND state = 'LOCKED'", [(at, i) for i in ids])


def mark_done(conn: sqlite3.Connection, outbox_id: int, at: str, outcome: str | None) -> None:
    conn.execute("UPDATE outbox SET state = 'DONE', attempts = attempts + 1, dropped_at = ?, last_error = NULL, "
                 "uncertain = 0, outcome = ?, outcome_at = ?, updated_at = ? WHERE id = ?",
                 (at, outcome, at if outcome else None, at, outbox_id))


def has_earlier_f0401(conn: sqlite3.Connection, invoice_id: int, outbox_id: int) -> bool:
    """Whether an F0401 row of the invoice precedes ``outbox_id`` (a re-issue of a cancelled number)."""
    return conn.execute("SELECT 1 FROM outbox WHERE invoice_id = ? AND message_type = 'F0401' AND id < ? LIMIT 1",
                        (invoice_id, outbox_id)).fetchone() is not None


def retry_later(conn: sqlite3.Connection, outbox_id: int, at: str, due: str, error: str) -> None:
    conn.execute("UPDATE outbox SET state = 'READY', attempts = attempts + 1, not_before = ?, last_error = ?, "
                 "updated_at = ? WHERE id = ?", (due, error, at, outbox_id))


def fail(conn: sqlite3.Connection, outbox_id: int, at: str, error: str) -> None:
    conn.execute("UPDATE outbox SET state = 'FAILED', attempts = attempts + 1, last_error = ?, updated_at = ? "
                 "WHERE id = ?", (error, at, outbox_id))


def set_outcome(conn: sqlite3.Connection, outbox_id: int, outcome: str, at: str, error: str | None) -> None:
    """What Turnkey did with a dropped file (accepted_local or rejected_local)."""
    conn.execute("UPDATE outbox SET outcome = ?, outcome_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
                 (outcome, at, error, at, outbox_id))


def dropped_unsettled(conn: sqlite3.Connection) -> list[Dropped]:
    """DONE rows without an outcome, in id order."""
    return [Dropped(r["id"], r["message_type"], r["reference"], r["invoice_id"], r["file_name"])
            for r in conn.execute("SELECT id, message_type, reference, invoice_id, file_name FROM outbox "
                                  "WHERE state = 'DONE' AND outcome IS NULL")]


def waiting(conn: sqlite3.Connection) -> list[Waiting]:
    return [Waiting(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT message_type, count(*), min(created_at) FROM outbox WHERE state IN ('READY', 'LOCKED') "
        "GROUP BY message_type")]


def head_error(conn: sqlite3.Connection) -> HeadError | None:
    """The first READY row that failed before: its error and when it is tried again."""
    row = conn.execute("SELECT last_error, not_before FROM outbox WHERE state = 'READY' AND last_error IS NOT NULL "
                       "ORDER BY id LIMIT 1").fetchone()
    return HeadError(row[0], row[1]) if row is not None else None


def failed_count(conn: sqlite3.Connection) -> int:
    count: int = conn.execute("SELECT count(*) FROM outbox WHERE state = 'FAILED'").fetchone()[0]
    return count


def enqueue_unlinked(conn: sqlite3.Connection, message_type: str, reference: str, at: str) -> int:
    """A new READY row that belongs to no invoice (an E0402), due at once; its id."""
    outbox_id = conn.execute(
        "INSERT INTO outbox (message_type, reference, invoice_id, not_before, created_at, updated_at) "
        "VALUES (?, ?, NULL, ?, ?, ?)", (message_type, reference, at, at, at)).lastrowid
    assert outbox_id is not None
    return outbox_id
