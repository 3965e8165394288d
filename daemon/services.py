"""Use cases: issue an invoice (validate, number, store, enqueue) and read it back.

``issue`` validates with the pure core first, then in one ``BEGIN IMMEDIATE`` transaction takes the next number
of the right range, stores the invoice and its lines, writes the F0401 outbox row, and commits (fsync) before
anything is printed or answered. Under that lock, with the time read there, the clock rules are applied
(``issued_at.future``, ``issued_at.too_old``: the back-dating limit) and the date order of the whole track in the
period (``issued_at.out_of_order``, E0209), read in the same query as the range. ``check`` applies the same
rules without numbering anything (``invoice validate``, ``POST /v1/validate``). Issuance itself is not written
to the event log: the invoice row (created_at, order id) already records it; events record what happens to an
invoice afterwards.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from daemon.ports import Clock, RandomSource
from daemon.store import Connection, Store, invoices, mails, stamp, tracks
from daemon.store.invoices import InvoiceRecord, LineValues, NewInvoice
from daemon.store.tracks import TrackRecord
from daemon.tracks import track_range
from turnkey.errors import Conflict, InvoiceInvalid, Problem, TrackError, TurnkeyError
from turnkey.model import CONSUMER_ID, Invoice, InvoiceDraft, Party
from turnkey.numbers import format_number, is_invoice_number, next_number
from turnkey.period import Period, taipei
from turnkey.proof import ProofFacts, QrCipher, payloads
from turnkey.stored import load_document
from turnkey.validate import build_invoice, draft_document, issue_time_problems, parse_document


@dataclass(frozen=True)
class Issued:
    """The issued invoice as the contract returns it; ``created`` is False for an idempotent replay."""

    created: bool
    body: dict[str, Any]


def canonical(doc: Any) -> str:
    """The document as stored: canonical JSON (sorted keys, decimals as exact strings).

    It is also the idempotency fingerprint: a retry must send the same JSON values (key order does not matter).
    """
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


class StoredDocument(Protocol):
    """What a stored invoice is loaded from: an ``InvoiceRecord``, or the invoice columns an outbox row joins."""

    @property
    def number(self) -> str: ...
    @property
    def document(self) -> str: ...
    @property
    def issued_at(self) -> str: ...
    @property
    def random_number(self) -> str: ...


def stored_draft(row: StoredDocument) -> InvoiceDraft:
    """The draft of a stored invoice, loaded from its canonical document: never validated again (a stored
    invoice is a fact; a rule tightened by a later release must not refuse what was issued under the old one)."""
    return load_document(json.loads(row.document))


def stored_invoice(row: StoredDocument, seller: Party) -> Invoice:
    """The F0401 model of a stored invoice: its document, number, random code and issue time."""
    return build_invoice(stored_draft(row), number=row.number, random_number=row.random_number,
                         issued_at=datetime.fromisoformat(row.issued_at), seller=seller)


class ThreadCiphers:
    """A ``QrCipher`` per thread for one key: a cipher keeps an AES context that two threads may not share."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._local = threading.local()

    def get(self) -> QrCipher:
        cipher: QrCipher | None = getattr(self._local, "cipher", None)
        if cipher is None:
            cipher = self._local.cipher = QrCipher(self.key)
        return cipher


class InvoiceService:
    def __init__(self, store: Store, clock: Clock, rng: RandomSource, seller: Party, qr_key: bytes,
                 qr_encoding: str = "1", backdate_limit: timedelta | None = None) -> None:
        """``backdate_limit``: how far back ``issued_at`` may be (None: until the upload deadline has passed)."""
        self.store, self.clock, self.rng = store, clock, rng
        self.seller, self.ciphers, self.qr_encoding = seller, ThreadCiphers(qr_key), qr_encoding
        self.backdate_limit = backdate_limit

    def issue(self, doc: Any) -> Issued:
        return self.prepare(doc)()

    def prepare(self, doc: Any) -> Callable[[], Issued]:
        """Validate, number and store the invoice; the callable builds the answer from the stored record.

        Outside a transaction the invoice is committed here and the answer built after the commit. Inside one (the
        API's group commit) the callable is pure, so the batch runs it while its commit syncs (``api/batch.py``).
        """
        draft = parse_document(doc)
        text = canonical(doc)
        found: InvoiceRecord | None = None
        with self.store.write() as tx:
            # The time is read under the write lock, so a default issue time can never go backwards
            # against an invoice committed by another thread or process while this one waited.
            now = taipei(self.clock.now())
            issued_at = (draft.issued_at or now).replace(microsecond=0)
            try:
                _check_time(draft, issued_at, now, self.backdate_limit)
                record: NewInvoice | None = self._insert(tx, draft, issued_at, stamp(now), text)
            except invoices.DuplicateOrder:
                found = invoices.by_order_id(tx, draft.order_id)
                record = None
            except TurnkeyError:
                # A retry of an order already issued is answered from the store, whatever the clock or the
                # ranges say now; looked up only on this path, so the hot path keeps its one range query.
                found = invoices.by_order_id(tx, draft.order_id)
                if found is None:
                    raise
                record = None
        if record is None:
            assert found is not None
            replayed = self._replay(found, text)
            return lambda: Issued(False, replayed)
        issued = record
        # The barcodes and QR texts are derived from the stored record: built after the commit (or while it syncs),
        # outside the write lock, so the next writer does not wait for AES and formatting.
        return lambda: Issued(True, self._body(issued, issued_at, draft))

    def _replay(self, found: InvoiceRecord, text: str) -> dict[str, Any]:
        """The same order again: the stored invoice if the document is the same, else ``order_id.conflict``."""
        if found.document != text:
            raise _order_conflict(found)
        return self.stored_body(found)

    def stored_body(self, found: InvoiceRecord) -> dict[str, Any]:
        """The contract's issued-invoice JSON of a stored invoice."""
        return self._body(found, datetime.fromisoformat(found.issued_at), stored_draft(found))

    def _insert(self, tx: Connection, draft: InvoiceDraft, issued_at: datetime, now: str, text: str) -> NewInvoice:
        period = Period.of(issued_at)
        track, number = plan(tx, draft.invoice_type, issued_at)
        at = stamp(issued_at)
        record = NewInvoice(
            number=format_number(track.track, number), period=period.code, order_id=draft.order_id, document=text,
            issued_at=at, random_number=f"{self.rng.randrange(10000):04d}",
            invoice_type=draft.invoice_type, buyer_ban=draft.buyer.ban if draft.buyer else None,
            total=draft.amounts.total, print_requested=draft.print_proof,
            print_status="pending" if draft.print_proof else "not_requested", status="queued", track_id=track.id,
            created_at=now,
        )
        invoice_id = invoices.insert(tx, record, line_values(draft))
        if draft.buyer is not None and draft.buyer.email:  # MAIL: the consumer's notice, queued with the sale
            mails.enqueue(tx, invoice_id, draft.buyer.email, "issue", now)
        tracks.advance(tx, track.id, number, at)
        return record

    def validate(self, doc: Any) -> dict[str, Any]:
        """What ``issue`` would say of ``doc`` now, without taking a number or storing anything: the normalised
        document, or the refusal issue would raise (``POST /v1/validate``)."""
        return check(self.store.connection(), doc, self.clock.now(), self.backdate_limit)
    def prepare_numbered(self, doc: Any, number: str, pos: str, random_number: str | None = None
                         ) -> Callable[[], Issued]:
        """Like ``prepare``, but the number is the client's (e首發票's invoice mode): it must lie in a range held
        for POS ``pos`` (``tracks add --numbered-by``), be the next number of that range, and keep the date order
        of its track; then the invoice is stored and queued exactly as ``prepare`` stores and queues one. The same
        number again with the same document answers the invoice issued; with another, ``invoice_number.conflict``.
        ``random_number``: the one the POS printed (default: drawn here).
        """
        draft = parse_document(doc)
        if random_number is not None and not (len(random_number) == 4 and random_number.isdigit()
                                              and random_number.isascii()):
            raise InvoiceInvalid(Problem("random_number.format", "random_number", "random_number is 4 digits"))
        text = canonical(doc)
        if draft.issued_at is None:
            raise InvoiceInvalid(Problem("issued_at.required", "issued_at",
                                         "issued_at is required when the client gives the number"))
        issued_at = draft.issued_at.replace(microsecond=0)
        period = Period.of(issued_at)
        with self.store.write() as tx:
            if issued_at > taipei(self.clock.now()):
                raise InvoiceInvalid(Problem("issued_at.future", "issued_at", "issued_at cannot be in the future"))
            found = invoices.by_number(tx, number)
            if found is not None and found.period == period.code:
                replayed = self._replay_number(found, text, random_number)
                return lambda: Issued(False, replayed)
            track = pos_range(tx, period, number, draft.invoice_type, pos)
            record = self._insert_numbered(tx, draft, track, number, issued_at, text, random_number)
        return lambda: Issued(True, self._body(record, issued_at, draft))

    def _replay_number(self, found: InvoiceRecord, text: str, random_number: str | None) -> dict[str, Any]:
        if found.document != text or random_number not in (None, found.random_number):
            raise Conflict(Problem("invoice_number.conflict", "invoice_number",
                                   f"invoice {found.number} was already issued with another document"))
        return self.stored_body(found)

    def _insert_numbered(self, tx: Connection, draft: InvoiceDraft, track: TrackRecord, number: str,
                         issued_at: datetime, text: str, random_number: str | None) -> NewInvoice:
        at = stamp(issued_at)
        below, above = tracks.track_dates(tx, track.period, track.track, int(number[2:]))
        if (below is not None and below > at) or (above is not None and above < at):
            raise Conflict(Problem("issued_at.out_of_order", "issued_at",
                                   f"issued_at {at} breaks the date order of track {track.track} (a lower number "
                                   f"was issued at {below}, a higher one at {above}); numbers must follow issue time"))
        record = NewInvoice(
            number=number, period=track.period, order_id=draft.order_id, document=text, issued_at=at,
            random_number=random_number or f"{self.rng.randrange(10000):04d}", invoice_type=draft.invoice_type,
            buyer_ban=draft.buyer.ban if draft.buyer else None, total=draft.amounts.total,
            # the POS that numbered it printed the proof itself (it had the number and random code before asking):
            # the box printing another original would make two lottery proofs of one invoice; a copy is a reprint
            print_requested=draft.print_proof, print_status="by_pos" if draft.print_proof else "not_requested",
            status="queued", track_id=track.id, created_at=stamp(taipei(self.clock.now())),
        )
        try:
            invoice_id = invoices.insert(tx, record, line_values(draft))
        except invoices.DuplicateOrder:
            used = invoices.by_order_id(tx, draft.order_id)
            raise Conflict(Problem("order_id.conflict", "order_id", f"order_id {draft.order_id} was already used "
                                   f"for invoice {used.number if used else '?'}")) from None
        if draft.buyer is not None and draft.buyer.email:  # the consumer's notice, as for einvd's own numbers
            mails.enqueue(tx, invoice_id, draft.buyer.email, "issue", record.created_at)
        tracks.raise_cursor(tx, track.id, int(number[2:]), at)
        return record

    def _body(self, row: InvoiceRecord | NewInvoice, issued_at: datetime, draft: InvoiceDraft) -> dict[str, Any]:
        facts = ProofFacts(row.number, issued_at, row.random_number, row.buyer_ban or CONSUMER_ID,
                           self.seller.identifier, draft.amounts, draft.tax_rate, draft.items)
        proof = payloads(facts, self.ciphers.get(), self.qr_encoding)
        return {
            "invoice_number": row.number, "period": row.period,
            "invoice_date": issued_at.date().isoformat(), "invoice_time": issued_at.time().isoformat(),
            "random_number": row.random_number, "order_id": row.order_id, "buyer_ban": row.buyer_ban,
            "amounts": draft.amounts.as_dict(), "barcode": proof.barcode, "qr_left": proof.qr_left,
            "qr_right": proof.qr_right, "status": row.status,
            "print": {"requested": row.print_requested, "status": row.print_status},
        }


def _order_conflict(found: InvoiceRecord) -> Conflict:
    return Conflict(Problem("order_id.conflict", "order_id",
                            f"order_id {found.order_id} was already used for invoice {found.number} with another "
                            "document"))


def _check_time(draft: InvoiceDraft, issued_at: datetime, now: datetime, backdate_limit: timedelta | None) -> None:
    refused = issue_time_problems(issued_at, now, business=draft.business, backdate_limit=backdate_limit)
    if refused:
        raise InvoiceInvalid(*refused)


def _no_range(conn: Connection, period: Period, invoice_type: str) -> TrackError | Conflict:
    """Why nothing can be numbered in ``period``: its ranges were closed for E0402 (``period.closed``), used up
    (``track.exhausted``), or never held (``track.missing``)."""
    held = tracks.ranges_of(conn, period.code, invoice_type)
    if any(r.closed_at is not None for r in held):
        return Conflict(Problem("period.closed", "issued_at",
                                f"period {period.code} is closed: its unused numbers were reported blank (E0402), "
                                "so nothing more can be issued into it"))
    labels = ", ".join(track_range(r, period).label for r in held)
    if labels:
        return TrackError(Problem("track.exhausted", "issued_at",
                                  f"every range for period {period.code} type {invoice_type} is used up (or lies "
                                  f"below numbers already issued, E0209): {labels}"))
    return TrackError(Problem("track.missing", "issued_at",
                              f"this box holds no number range for period {period.code} type {invoice_type}"))


def plan(conn: Connection, invoice_type: str, issued_at: datetime) -> tuple[TrackRecord, int]:
    """The range and number an invoice of ``invoice_type`` issued at ``issued_at`` takes (run under the issuing
    lock by ``issue``): the first range with numbers left, and the date order of its track (E0209
    發票日期及票號必須依序) across every range of it in the period, in one query."""
    period = Period.of(issued_at)
    found = tracks.next_range(conn, period.code, invoice_type)
    if found is None:
        raise _no_range(conn, period, invoice_type)
    track, at = found.record, stamp(issued_at)
    if found.track_last_issued_at is not None and found.track_last_issued_at > at:
        raise Conflict(Problem("issued_at.out_of_order", "issued_at",
                               f"issued_at {at} is before the last invoice of track {track.track} in period "
                               f"{period.code} ({found.track_last_issued_at}); numbers must follow issue time"))
    return track, next_number(track_range(track, period), track.last_no)


def check(conn: Connection | None, doc: Any, now: datetime, backdate_limit: timedelta | None = None) -> dict[str, Any]:
    """Every rule ``issue`` applies to ``doc`` at ``now``, the clock and the ranges included, read from ``conn``
    (None: no store yet, so no range is held); nothing is numbered or stored. The normalised document, or the
    refusal issue would raise. An order already issued with this document passes (issue would answer it again)."""
    draft = parse_document(doc)
    now = taipei(now)
    issued_at = (draft.issued_at or now).replace(microsecond=0)
    normalised = draft_document(draft)
    stored = invoices.by_order_id(conn, draft.order_id) if conn is not None else None
    if stored is not None:
        if stored.document != canonical(doc):
            raise _order_conflict(stored)
        return normalised
    _check_time(draft, issued_at, now, backdate_limit)
    if conn is None:
        raise TrackError(Problem("track.missing", "issued_at", "this box holds no number range (no store yet) for "
                                 f"period {Period.of(issued_at).code} type {draft.invoice_type}"))
    plan(conn, draft.invoice_type, issued_at)
    return normalised


def line_values(draft: InvoiceDraft) -> list[LineValues]:
    """The draft's lines as ``invoice_lines`` stores them (decimals as exact strings)."""
    return [
        (line.sequence, line.description, str(line.quantity), line.unit, str(line.unit_price), str(line.amount),
         line.tax_type, line.remark)
        for line in draft.items
    ]


def pos_range(tx: Connection, period: Period, number: str, invoice_type: str, pos: str) -> TrackRecord:
    """The range POS ``pos`` numbers from that holds ``number``, refusing a number of another range, one already
    used, and one that skips numbers: E0402 reports the unused tail of each range as blank, so a POS numbers its
    range in order (a skipped number would be a blank nobody reports)."""
    if not is_invoice_number(number):
        raise InvoiceInvalid(Problem("invoice_number.format", "invoice_number",
                                     f"{number!r} is not an invoice number (two letters, eight digits)"))
    value = int(number[2:])
    track = tracks.holding(tx, period.code, number[:2], value)
    if track is None or track.numbered_by != pos or track.invoice_type != invoice_type:
        raise TrackError(Problem("invoice_number.range", "invoice_number",
                                 f"{number} lies in no range of period {period.code} type {invoice_type} "
                                 f"numbered by {pos!r} (einvd tracks add ... --numbered-by {pos})"))
    if track.closed_at is not None:
        raise Conflict(Problem("period.closed", "issued_at", f"period {period.code} was closed for E0402 at "
                               f"{track.closed_at}: its unused numbers were reported blank"))
    following = track.begin_no if track.last_no is None else track.last_no + 1
    if value < following:
        raise Conflict(Problem("invoice_number.used", "invoice_number",
                               f"{number} was already used (the range's next number is "
                               f"{format_number(track.track, following) if following <= track.end_no else 'none'})"))
    if value > following:
        raise Conflict(Problem("invoice_number.skipped", "invoice_number",
                               f"{number} skips numbers: the range's next number is "
                               f"{format_number(track.track, following)}"))
    return track
