"""The ``mails`` table: the consumer's e-mail notices of invoices, one row per request (the issue, each resend),
READY -> SENT | FAILED, tried by ``daemon/mail.py``."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

_DUE = """
SELECT m.id, m.invoice_id, m.address, m.reason, m.attempts, i.number, i.document, i.random_number, i.issued_at,
       i.version
FROM mails m JOIN invoices i ON i.id = m.invoice_id
WHERE m.state = 'READY' AND m.not_before <= ? ORDER BY m.not_before, m.id LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class DueMail:
    """A READY notice whose time has come, with the stored invoice columns it is written from."""

    id: int
    invoice_id: int
    address: str
    reason: str
    attempts: int
    number: str
    document: str
    random_number: str
    issued_at: str
    version: int


@dataclass(frozen=True, slots=True)
class MailRecord:
    """A stored notice request, as listed for an invoice."""

    id: int
    invoice_id: int
    address: str
    reason: str
    state: str
    attempts: int
    not_before: str
    created_at: str
    sent_at: str | None
    last_error: str


def enqueue(tx: sqlite3.Connection, invoice_id: int, address: str, reason: str, now: str) -> int:
    """A notice to ``address`` about the invoice (version) ``invoice_id``, due at once; its id."""
    cursor = tx.execute(
        "INSERT INTO mails (invoice_id, address, reason, not_before, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (invoice_id, address, reason, now, now, now))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def any_due(conn: sqlite3.Connection, now: str) -> bool:
    return conn.execute("SELECT 1 FROM mails WHERE state = 'READY' AND not_before <= ? LIMIT 1",
                        (now,)).fetchone() is not None


def due(conn: sqlite3.Connection, now: str, limit: int = 20) -> list[DueMail]:
    """The READY notices due at ``now``, earliest first."""
    return [DueMail(*row) for row in conn.execute(_DUE, (now, limit))]


def sent(tx: sqlite3.Connection, mail_id: int, attempts: int, at: str) -> None:
    tx.execute("UPDATE mails SET state = 'SENT', attempts = ?, sent_at = ?, updated_at = ?, last_error = '' "
               "WHERE id = ?", (attempts, at, at, mail_id))


def retry(tx: sqlite3.Connection, mail_id: int, attempts: int, not_before: str, error: str, at: str) -> None:
    tx.execute("UPDATE mails SET attempts = ?, not_before = ?, last_error = ?, updated_at = ? WHERE id = ?",
               (attempts, not_before, error, at, mail_id))


def failed(tx: sqlite3.Connection, mail_id: int, attempts: int, error: str, at: str) -> None:
    tx.execute("UPDATE mails SET state = 'FAILED', attempts = ?, last_error = ?, updated_at = ? WHERE id = ?",
               (attempts, error, at, mail_id))


def of_invoice(conn: sqlite3.Connection, invoice_id: int) -> list[MailRecord]:
    """Every notice request of an invoice (version), first first."""
    return [MailRecord(*row) for row in conn.execute(
        "SELECT id, invoice_id, address, reason, state, attempts, not_before, created_at, sent_at, last_error "
        "FROM mails WHERE invoice_id = ? ORDER BY id", (invoice_id,))]

