"""Print jobs: every slip owed is a ``print_jobs`` row, printed by ``tick(now)`` with retries.

Issuing never waits for paper: ``services.issue`` commits the invoice with ``print_status = 'pending'`` and
returns; ``adopt`` (run by every tick) turns each pending invoice into a queued job and marks it ``queued``.
The printer is only called outside any database transaction. A job goes queued -> printed, or stays queued
with a growing delay after a failure (paper out, cover open, offline, timeout) until ``max_attempts``, then
failed; the invoice stays issued in every case and a reprint can be asked for at any time.

A failure after bytes went out may have left paper with the original on it: the retry is then a copy (補印),
as is every reprint. ``invoices.print_status`` follows the proof: pending, queued, printed or failed.

Text a code page cannot hold never fails a job (issue #15.7): the QR items of such an invoice are written in
UTF-8 with flag 1 (``turnkey.proof``), printed text the printer lacks is drawn or replaced (the encoder), and the
job's ``note`` says so, so whoever reads the job sees why the slip differs from the configured encoding.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from daemon.policy import printing as rules
from daemon.ports import Clock, Encoder, Printer, PrintFailed
from daemon.services import StoredDocument, ThreadCiphers, stored_invoice
from daemon.store import Connection, Store, event, invoices, print_jobs, stamp
from daemon.store.invoices import InvoiceRecord
from daemon.store.print_jobs import JobRecord
from turnkey.errors import Problem, TurnkeyError
from turnkey.model import Invoice, Party
from turnkey.period import taipei
from turnkey.proof import ENCODINGS, ProofPayloads, proof_payloads
from turnkey.proof_layout import ProofDoc, ProofOptions, proof_doc

QR_ENCODING_NAMES = {"0": "Big5", "1": "UTF-8", "2": "Base64"}


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


@runtime_checkable
class NotingEncoder(Protocol):
    """An ``Encoder`` that also says what it had to change (``drivers.printer.encode.SlipEncoder``)."""

    def __call__(self, doc: ProofDoc) -> bytes: ...

    def notes(self, doc: ProofDoc) -> tuple[str, ...]: ...


def qr_note(payloads: ProofPayloads, configured: str) -> tuple[str, ...]:
    """The note of a proof whose QR items left the configured encoding (empty when they did not)."""
    if not payloads.fallback:
        return ()
    return (f"QR items in {QR_ENCODING_NAMES[payloads.encoding]} (encoding flag {payloads.encoding}), not "
            f"{QR_ENCODING_NAMES[configured]}: {ENCODINGS[configured]} cannot hold {payloads.fallback}",)


@dataclass(frozen=True)
class Job:
    """The bytes of one print job and its note (empty: printed as configured)."""

    data: bytes
    note: str = ""


class ProofBuilder:
    """A stored invoice (number, document, issued_at, random_number) -> its slips and their bytes."""

    def __init__(self, seller: Party, qr_key: bytes, qr_encoding: str, encoder: Encoder,
                 policy: PrintPolicy) -> None:
        self.seller, self.ciphers, self.qr_encoding = seller, ThreadCiphers(qr_key), qr_encoding
        self.encoder, self.policy = encoder, policy

    def invoice(self, row: StoredDocument) -> Invoice:
        return stored_invoice(row, self.seller)

    def _payloads(self, invoice: Invoice) -> ProofPayloads:
        return proof_payloads(invoice, self.ciphers.get(), self.qr_encoding)

    def doc(self, invoice: Invoice, copy: bool, payloads: ProofPayloads | None = None) -> ProofDoc:
        options = ProofOptions(reprint=copy, test_mode=self.policy.test_mode, details=self.policy.details)
        return proof_doc(invoice, payloads or self._payloads(invoice), options)

    def job(self, row: StoredDocument, copy: bool) -> Job:
        """The job's bytes and its note: what was printed differently from the configuration, and why."""
        invoice = self.invoice(row)
        payloads = self._payloads(invoice)
        doc = self.doc(invoice, copy, payloads)
        notes = qr_note(payloads, self.qr_encoding) if invoice.print_mark else ()
        if isinstance(self.encoder, NotingEncoder):
            notes += self.encoder.notes(doc)
        return Job(self.encoder(doc), "; ".join(notes))

    def job_bytes(self, row: StoredDocument, copy: bool) -> bytes:
        return self.job(row, copy).data


def _invoice(conn: Connection, number: str) -> InvoiceRecord:
    found = invoices.newest_by_number(conn, number)
    if found is None:
        raise PrintUnknown(Problem("invoice.not_found", "number", f"no invoice {number} in this box"))
    return found


class PrintQueue:
    def __init__(self, store: Store, builder: ProofBuilder, printer: Printer, clock: Clock,
                 policy: PrintPolicy | None = None, drawer: Callable[[], None] | None = None) -> None:
        self.store, self.builder, self.printer, self.clock = store, builder, printer, clock
        self.policy = policy or builder.policy
        self.drawer = drawer  # kicks the cash drawer (ESC p through the printer); None: no drawer
        self._printing = threading.Lock()

    def _now(self, now: datetime | None) -> datetime:
        return taipei(now or self.clock.now())

    def adopt(self, now: datetime | None = None) -> int:
        """Queue a proof for every pending invoice, and an information slip for recent unprinted ones."""
        at = self._now(now)
        since = stamp(at - timedelta(seconds=self.policy.info_slip_window))
        if not print_jobs.owed(self.store.connection(), since, self.policy.info_slips):
            return 0  # the common case: no write transaction (and no fsync) per tick
        with self.store.write() as tx:
            added = print_jobs.adopt(tx, stamp(at), since, self.policy.info_slips)
        return added

    def enqueue(self, number: str, copy: bool = True, now: datetime | None = None) -> int:
        """A job for ``number`` now (a proof, or the information slip of an invoice without one)."""
        at = stamp(self._now(now))
        with self.store.write() as tx:
            found = _invoice(tx, number)
            job_id = print_jobs.insert(tx, found.id, rules.job_kind(found.print_requested), copy, at)
        return job_id

    def request(self, number: str, copy: bool = True) -> str:
        """Print ``number`` now (a copy says 補印) and return the job's state: printed, queued or failed."""
        job_id = self.enqueue(number, copy)
        return self._run(job_id, taipei(self.clock.now()))

    def tick(self, now: datetime | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Adopt pending invoices, then try every due job (oldest first); returns what each job became."""
        at = self._now(now)
        self.adopt(at)
        due = print_jobs.due(self.store.connection(), stamp(at), limit)
        return [{"job": job_id, "state": self._run(job_id, at)} for job_id in due]

    def recover(self, now: datetime | None = None) -> int:
        """At start-up: a job left ``printing`` by a crash may be on paper already, so it is retried as a copy."""
        with self.store.write() as tx:
            recovered = print_jobs.recover(tx, stamp(self._now(now)))
        return recovered

    def _claim(self, job_id: int, at: str) -> tuple[JobRecord, InvoiceRecord] | None:
        with self.store.write() as tx:
            job = print_jobs.claim(tx, job_id, at)
            found = None if job is None else invoices.by_id(tx, job.invoice_id)
        return None if job is None or found is None else (job, found)

    def _run(self, job_id: int, at: datetime) -> str:
        with self._printing:
            claimed = self._claim(job_id, stamp(at))
            if claimed is None:
                return self.state(job_id)
            job, invoice = claimed
            try:
                built = self.builder.job(invoice, job.copy)
            except (TurnkeyError, ValueError) as error:  # the stored invoice cannot be laid out: no retry helps
                return self._failed(job, invoice, at, "print.layout", str(error), False, final=True)
            try:
                self.printer.print_job(built.data)
            except PrintFailed as failure:
                return self._failed(job, invoice, at, failure.code, str(failure), failure.sent, note=built.note)
            return self._printed(job, invoice, at, built.note)

    def _printed(self, job: JobRecord, invoice: InvoiceRecord, at: datetime, note: str = "") -> str:
        when = stamp(at)
        with self.store.write() as tx:
            print_jobs.printed(tx, job.id, when, note or None)
            self._settle(tx, job, invoice, when, rules.PRINTED)
        self._open_drawer(job, invoice, when)
        return rules.PRINTED

    # --- cash drawer (#16) ---------------------------------------------------------------------------------------
    def _open_drawer(self, job: JobRecord, invoice: InvoiceRecord, when: str) -> None:
        """After the sale's first slip printed (never before, never on a reprint): kick the drawer if the document
        asked for it (``open_drawer``). A failed kick is an event on the invoice; it never fails the job."""
        if self.drawer is None or not wants_drawer(invoice.document):
            return
        printed = [j.id for j in print_jobs.jobs_of(self.store.connection(), invoice.id) if j.state == rules.PRINTED]
        if printed != [job.id]:
            return
        kind, reason = "drawer_opened", ""
        try:
            self.drawer()
        except (PrintFailed, OSError) as failure:
            kind, reason = "drawer_failed", str(failure)
        with self.store.write() as tx:
            event(tx, when, "invoice", invoice.number, kind, reason)

    def _failed(self, job: JobRecord, invoice: InvoiceRecord, at: datetime, code: str, message: str, sent: bool,
                final: bool = False, note: str = "") -> str:
        after = rules.after_failure(job.attempts, job.copy, sent, final, at, self.policy.max_attempts,
                                    self.policy.retry_delay)
        when = stamp(at)
        with self.store.write() as tx:
            print_jobs.failed(tx, job.id, after.state, after.attempts, after.copy, stamp(after.not_before),
                              f"{code}: {message}", when, note or None)
            self._settle(tx, job, invoice, when, after.state, code)
        return after.state

    @staticmethod
    def _settle(tx: Connection, job: JobRecord, invoice: InvoiceRecord, when: str, state: str,
                code: str = "") -> None:
        """The invoice's print status and its event, after an attempt of ``job``."""
        status = rules.print_status(job.kind, state)
        if status is not None:
            print_jobs.set_print_status(tx, invoice.id, status)
        kind, reason = rules.event_of(job.kind, job.copy, state, code)
        event(tx, when, "invoice", invoice.number, kind, reason)

    def state(self, job_id: int) -> str:
        return print_jobs.state_of(self.store.connection(), job_id) or "unknown"

    def jobs(self, number: str) -> list[dict[str, Any]]:
        """Every print job of ``number``, oldest first (for the API's invoice view and for people)."""
        found = _invoice(self.store.connection(), number)
        return [{"job": j.id, "kind": j.kind, "copy": j.copy, "state": j.state, "attempts": j.attempts,
                 "last_error": j.last_error, "note": j.note, "updated_at": j.updated_at}
                for j in print_jobs.jobs_of(self.store.connection(), found.id)]


def wants_drawer(document: str) -> bool:
    """Whether a stored invoice document asks for the cash drawer (``"open_drawer": true``)."""
    try:
        return json.loads(document).get("open_drawer") is True
    except (ValueError, AttributeError):
        return False
