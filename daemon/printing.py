"""Print jobs: every slip owed is a ``print_jobs`` row, printed by ``tick(now)`` with retries.

Issuing never waits for paper: ``services.issue`` commits the invoice with ``print_status = 'pending'`` and
returns; ``adopt`` (run by every tick) turns each pending invoice into a queued job and marks it ``queued``.
The printer is only called outside any database transaction. A job goes queued -> printed, or stays queued
with a growing delay after a failure (paper out, cover open, offline, timeout) until ``max_attempts``, then
failed; the invoice stays issued in every case and a reprint can be asked for at any time.

A failure after bytes went out may have left paper with the original on it: the retry is then a copy (補印),
as is every reprint. ``invoices.print_status`` follows the proof: pending, queued, printed or failed.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from daemon.ports import Clock
from daemon.services import ThreadCiphers, stored_invoice
from daemon.store import Store, event
from drivers.printer.device import PrintFailed
from drivers.printer.encode import PrinterProfile, encode
from turnkey.errors import Problem, TurnkeyError
from turnkey.model import Invoice, Party
from turnkey.period import taipei
from turnkey.proof import proof_payloads
from turnkey.proof_layout import ProofDoc, ProofOptions, proof_doc

MAX_DELAY = 600.0
JOB_COLUMNS = "j.id, j.invoice_id, j.kind, j.copy, j.state, j.attempts, j.not_before, j.last_error"


class Printer(Protocol):
    def print_job(self, data: bytes) -> object: ...


class PrintUnknown(TurnkeyError):
    """No invoice with that number (HTTP 404)."""


@dataclass(frozen=True)
class PrintPolicy:
    max_attempts: int = 5
    retry_delay: float = 10.0
    details: bool = False
    info_slips: bool = True
    info_slip_window: int = 300
    test_mode: bool = False


class ProofBuilder:
    """A stored invoice row (number, document, issued_at, random_number) -> its slips and their bytes."""

    def __init__(self, seller: Party, qr_key: bytes, qr_encoding: str, profile: PrinterProfile,
                 policy: PrintPolicy) -> None:
        self.seller, self.ciphers, self.qr_encoding = seller, ThreadCiphers(qr_key), qr_encoding
        self.profile, self.policy = profile, policy

    def invoice(self, row: Any) -> Invoice:
        return stored_invoice(row, self.seller)

    def doc(self, invoice: Invoice, copy: bool) -> ProofDoc:
        options = ProofOptions(reprint=copy, test_mode=self.policy.test_mode, details=self.policy.details)
        return proof_doc(invoice, proof_payloads(invoice, self.ciphers.get(), self.qr_encoding), options)

    def job_bytes(self, row: Any, copy: bool) -> bytes:
        return encode(self.doc(self.invoice(row), copy), self.profile)


def _row(conn: sqlite3.Connection, number: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM invoices WHERE number = ? ORDER BY id DESC LIMIT 1", (number,)).fetchone()
    if row is None:
        raise PrintUnknown(Problem("invoice.not_found", "number", f"no invoice {number} in this box"))
    return row


class PrintQueue:
    def __init__(self, store: Store, builder: ProofBuilder, printer: Printer, clock: Clock,
                 policy: PrintPolicy | None = None) -> None:
        self.store, self.builder, self.printer, self.clock = store, builder, printer, clock
        self.policy = policy or builder.policy
        self._printing = threading.Lock()

    def _now(self, now: datetime | None) -> str:
        return taipei(now or self.clock.now()).isoformat()

    def adopt(self, now: datetime | None = None) -> int:
        """Queue a proof for every pending invoice, and an information slip for recent unprinted ones."""
        stamp = self._now(now)
        since = (datetime.fromisoformat(stamp) - timedelta(seconds=self.policy.info_slip_window)).isoformat()
        if not self._owed(since):
            return 0  # the common case: no write transaction (and no fsync) per tick
        with self.store.write() as tx:
            added = tx.execute(
                "INSERT INTO print_jobs (invoice_id, kind, not_before, created_at, updated_at) "
                "SELECT id, 'proof', :now, :now, :now FROM invoices WHERE print_status = 'pending' ORDER BY id",
                {"now": stamp}).rowcount
            tx.execute("UPDATE invoices SET print_status = 'queued' WHERE print_status = 'pending'")
            if self.policy.info_slips:
                added += tx.execute(
                    "INSERT INTO print_jobs (invoice_id, kind, not_before, created_at, updated_at) "
                    "SELECT i.id, 'info', :now, :now, :now FROM invoices i WHERE i.print_requested = 0 "
                    "AND i.created_at >= :since AND NOT EXISTS (SELECT 1 FROM print_jobs j WHERE j.invoice_id = i.id) "
                    "ORDER BY i.id", {"now": stamp, "since": since}).rowcount
        return added

    def _owed(self, since: str) -> bool:
        pending = self.store.read("SELECT 1 FROM invoices WHERE print_status = 'pending' LIMIT 1")
        info = self.policy.info_slips and self.store.read(
            "SELECT 1 FROM invoices i WHERE i.print_requested = 0 AND i.created_at >= ? "
            "AND NOT EXISTS (SELECT 1 FROM print_jobs j WHERE j.invoice_id = i.id) LIMIT 1", (since,))
        return bool(pending or info)

    def enqueue(self, number: str, copy: bool = True, now: datetime | None = None) -> int:
        """A job for ``number`` now (a proof, or the information slip of an invoice without one)."""
        stamp = self._now(now)
        with self.store.write() as tx:
            row = _row(tx, number)
            kind = "proof" if row["print_requested"] else "info"
            job_id: int = tx.execute(
                "INSERT INTO print_jobs (invoice_id, kind, copy, not_before, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (row["id"], kind, int(copy), stamp, stamp, stamp)).lastrowid or 0
        return job_id

    def request(self, number: str, copy: bool = True) -> str:
        """Print ``number`` now (a copy says 補印) and return the job's state: printed, queued or failed."""
        job_id = self.enqueue(number, copy)
        return self._run(job_id, taipei(self.clock.now()))

    def tick(self, now: datetime | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Adopt pending invoices, then try every due job (oldest first); returns what each job became."""
        at = taipei(now or self.clock.now())
        self.adopt(at)
        due = self.store.read("SELECT id FROM print_jobs WHERE state = 'queued' AND not_before <= ? "
                              "ORDER BY id LIMIT ?", (at.isoformat(), limit))
        return [{"job": row["id"], "state": self._run(row["id"], at)} for row in due]

    def recover(self, now: datetime | None = None) -> int:
        """At start-up: a job left ``printing`` by a crash may be on paper already, so it is retried as a copy."""
        stamp = self._now(now)
        with self.store.write() as tx:
            return tx.execute("UPDATE print_jobs SET state = 'queued', copy = 1, updated_at = ? "
                              "WHERE state = 'printing'", (stamp,)).rowcount

    def _claim(self, job_id: int, stamp: str) -> tuple[sqlite3.Row, sqlite3.Row] | None:
        with self.store.write() as tx:
            claimed = tx.execute("UPDATE print_jobs SET state = 'printing', updated_at = ? "
                                 "WHERE id = ? AND state = 'queued'", (stamp, job_id)).rowcount
            if not claimed:
                return None
            job = tx.execute(f"SELECT {JOB_COLUMNS} FROM print_jobs j WHERE j.id = ?", (job_id,)).fetchone()
            invoice = tx.execute("SELECT * FROM invoices WHERE id = ?", (job["invoice_id"],)).fetchone()
        return job, invoice

    def _run(self, job_id: int, at: datetime) -> str:
        with self._printing:
            claimed = self._claim(job_id, at.isoformat())
            if claimed is None:
                return self.state(job_id)
            job, invoice = claimed
            try:
                data = self.builder.job_bytes(invoice, bool(job["copy"]))
                self.printer.print_job(data)
            except PrintFailed as failure:
                return self._failed(job, invoice, at, failure.code, str(failure), failure.sent)
            except (TurnkeyError, ValueError) as error:  # the stored invoice cannot be laid out: no retry helps
                return self._failed(job, invoice, at, "print.layout", str(error), False, final=True)
            return self._printed(job, invoice, at)

    def _printed(self, job: sqlite3.Row, invoice: sqlite3.Row, at: datetime) -> str:
        stamp = at.isoformat()
        with self.store.write() as tx:
            tx.execute("UPDATE print_jobs SET state = 'printed', attempts = attempts + 1, last_error = NULL, "
                       "updated_at = ? WHERE id = ?", (stamp, job["id"]))
            if job["kind"] == "proof":
                tx.execute("UPDATE invoices SET print_status = 'printed' WHERE id = ?", (invoice["id"],))
            event(tx, stamp, "invoice", invoice["number"], "printed", "補印" if job["copy"] else job["kind"])
        return "printed"

    def _failed(self, job: sqlite3.Row, invoice: sqlite3.Row, at: datetime, code: str, message: str, sent: bool,
                final: bool = False) -> str:
        attempts = job["attempts"] + 1
        state = "failed" if final or attempts >= self.policy.max_attempts else "queued"
        delay = min(self.policy.retry_delay * 2 ** (attempts - 1), MAX_DELAY)
        stamp = at.isoformat()
        with self.store.write() as tx:
            tx.execute("UPDATE print_jobs SET state = ?, attempts = ?, copy = copy | ?, not_before = ?, "
                       "last_error = ?, updated_at = ? WHERE id = ?",
                       (state, attempts, int(sent), (at + timedelta(seconds=delay)).isoformat(),
                        f"{code}: {message}", stamp, job["id"]))
            if job["kind"] == "proof":
                tx.execute("UPDATE invoices SET print_status = ? WHERE id = ? AND print_status != 'printed'",
                           (state, invoice["id"]))
            event(tx, stamp, "invoice", invoice["number"], "print_failed" if state == "failed" else "print_retry",
                  code)
        return state

    def state(self, job_id: int) -> str:
        rows = self.store.read("SELECT state FROM print_jobs WHERE id = ?", (job_id,))
        return str(rows[0]["state"]) if rows else "unknown"

    def jobs(self, number: str) -> list[dict[str, Any]]:
        """Every print job of ``number``, oldest first (for the API's invoice view and for people)."""
        row = _row(self.store.connection(), number)
        rows = self.store.read(f"SELECT {JOB_COLUMNS}, j.updated_at FROM print_jobs j WHERE j.invoice_id = ? "
                               "ORDER BY j.id", (row["id"],))
        return [{"job": r["id"], "kind": r["kind"], "copy": bool(r["copy"]), "state": r["state"],
                 "attempts": r["attempts"], "last_error": r["last_error"], "updated_at": r["updated_at"]}
                for r in rows]
