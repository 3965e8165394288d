"""The ``print_jobs`` aggregate: one row per slip owed, and the invoice's ``print_status`` that follows its proof.

``adopt`` is set-based (one INSERT ... SELECT per kind) so a tick with many pending invoices stays one short
transaction; ``owed`` lets the common tick, with nothing pending, skip the write transaction (and its fsync).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

JOB_COLUMNS = "id, invoice_id, kind, copy, state, attempts, not_before, last_error, updated_at, note"


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    invoice_id: int
    kind: str
    copy: bool
    state: str
    attempts: int
    not_before: str
    last_error: str | None
    updated_at: str
    note: str | None = None  # what the last attempt printed differently (text outside a code page), or None


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7], row[8], row[9])


def owed(conn: sqlite3.Connection, since: str, info_slips: bool) -> bool:
    """Whether an invoice waits for its proof, or (with ``info_slips``) an unprinted one since ``since`` has no
    job yet."""
    if conn.execute("SELECT 1 FROM invoices WHERE print_status = 'pending' LIMIT 1").fetchall():
        return True
    return info_slips and bool(conn.execute(
        "SELECT 1 FROM invoices i WHERE i.print_requested = 0 AND i.created_at >= ? "
        "AND NOT EXISTS (SELECT 1 FROM print_jobs j WHERE j.invoice_id = i.id) LIMIT 1", (since,)).fetchall())


def adopt(tx: sqlite3.Connection, now: str, since: str, info_slips: bool) -> int:
    """A proof job for every pending invoice (now ``queued``), and with ``info_slips`` an information slip job
    for every unprinted invoice created since ``since`` without a job; how many jobs were added."""
    added: int = tx.execute(
        "INSERT INTO print_jobs (invoice_id, kind, not_before, created_at, updated_at) "
        "SELECT id, 'proof', :now, :now, :now FROM invoices WHERE print_status = 'pending' ORDER BY id",
        {"now": now}).rowcount
    tx.execute("UPDATE invoices SET print_status = 'queued' WHERE print_status = 'pending'")
    if info_slips:
        added += tx.execute(
            "INSERT INTO print_jobs (invoice_id, kind, not_before, created_at, updated_at) "
            "SELECT i.id, 'info', :now, :now, :now FROM invoices i WHERE i.print_requested = 0 "
            "AND i.created_at >= :since AND NOT EXISTS (SELECT 1 FROM print_jobs j WHERE j.invoice_id = i.id) "
            "ORDER BY i.id", {"now": now, "since": since}).rowcount
    return added


def insert(tx: sqlite3.Connection, invoice_id: int, kind: str, copy: bool, now: str) -> int:
    return tx.execute(
        "INSERT INTO print_jobs (invoice_id, kind, copy, not_before, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (invoice_id, kind, int(copy), now, now, now)).lastrowid or 0


def due(conn: sqlite3.Connection, at: str, limit: int) -> list[int]:
    """Queued jobs whose time has come at ``at``, oldest first, at most ``limit`` (index ``print_jobs_queue``:
    a printer out for hours leaves many jobs queued, and this runs every print tick)."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM print_jobs WHERE state = 'queued' AND not_before <= ? ORDER BY id LIMIT ?", (at, limit))]


def recover(tx: sqlite3.Connection, now: str) -> int:
    """Jobs a crash left ``printing`` are queued again as copies (they may be on paper already)."""
    return tx.execute("UPDATE print_jobs SET state = 'queued', copy = 1, updated_at = ? WHERE state = 'printing'",
                      (now,)).rowcount


def claim(tx: sqlite3.Connection, job_id: int, now: str) -> JobRecord | None:
    """The job, now ``printing``; None when it was not queued (another worker has it, or it is done)."""
    if not tx.execute("UPDATE print_jobs SET state = 'printing', updated_at = ? WHERE id = ? AND state = 'queued'",
                      (now, job_id)).rowcount:
        return None
    return _job(tx.execute(f"SELECT {JOB_COLUMNS} FROM print_jobs WHERE id = ?", (job_id,)).fetchone())


def printed(tx: sqlite3.Connection, job_id: int, now: str, note: str | None = None) -> None:
    tx.execute("UPDATE print_jobs SET state = 'printed', attempts = attempts + 1, last_error = NULL, note = ?, "
               "updated_at = ? WHERE id = ?", (note, now, job_id))


def failed(tx: sqlite3.Connection, job_id: int, state: str, attempts: int, copy: bool, not_before: str, error: str,
           now: str, note: str | None = None) -> None:
    tx.execute("UPDATE print_jobs SET state = ?, attempts = ?, copy = ?, not_before = ?, last_error = ?, note = ?, "
               "updated_at = ? WHERE id = ?", (state, attempts, int(copy), not_before, error, note, now, job_id))


def set_print_status(tx: sqlite3.Connection, invoice_id: int, status: str) -> None:
    """The invoice's ``print_status`` follows its proof; a proof printed once stays printed."""
    tx.execute("UPDATE invoices SET print_status = ? WHERE id = ? AND print_status != 'printed'",
               (status, invoice_id))


def state_of(conn: sqlite3.Connection, job_id: int) -> str | None:
    row = conn.execute("SELECT state FROM print_jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else str(row[0])


def jobs_of(conn: sqlite3.Connection, invoice_id: int) -> list[JobRecord]:
    """Every job of the invoice, oldest first."""
    return [_job(row) for row in conn.execute(f"SELECT {JOB_COLUMNS} FROM print_jobs WHERE invoice_id = ? "
                                              "ORDER BY id", (invoice_id,))]
