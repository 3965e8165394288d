"""Use cases after issue: void (F0501), cancel (F0701) with an optional re-issue of the number, reprint, reads.

Each change is one ``BEGIN IMMEDIATE`` transaction: the pure rules of ``turnkey.lifecycle`` decide with the time
read under the write lock, then the invoice's ``lifecycle`` column, an ``invoice_actions`` row, the outbox row
of the message and an event are written together. The Turnkey pump builds the messages with ``action_message``.

A 註銷重開 (cancel with a re-issue) never touches the cancelled invoice's facts: its F0701 names the date and buyer
it was issued with (as the official sample F0701-KZ10000012 does). The re-issue is the next *version* of the
number: its own invoices row, lines, F0401 and delivery status, which the pump holds back until Turnkey has taken
the F0701 (``store.outbox``'s ``blocked``: the messages of the version it replaces come first).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from daemon.deliveries import deliveries
from daemon.services import InvoiceService, canonical, line_values
from daemon.store import Connection, allowances, event, invoices, mails, stamp
from daemon.store.invoices import InvoiceRecord, NewInvoice
from turnkey import lifecycle as rules
from turnkey.errors import Conflict, InvoiceInvalid, Problem, TurnkeyError
from turnkey.model import CONSUMER_ID, Cancel, InvoiceDraft, Party, Void
from turnkey.money import plain
from turnkey.numbers import is_invoice_number
from turnkey.period import taipei
from turnkey.validate import parse_document

ZERO = Decimal(0)
ProofPrinter = Callable[[str, bool], str]
"""Prints the proof of an invoice number (True: a copy, 補印) and returns the job's status."""


class NotFound(TurnkeyError):
    """No invoice or allowance with that number (HTTP 404)."""


def not_found(what: str, number: str) -> NotFound:
    return NotFound(Problem(f"{what}.not_found", "number", f"no {what} {number} in this box"))


def invoice_row(conn: Connection, number: str) -> InvoiceRecord:
    """The invoice with ``number``, the latest period's when a track came back in another period."""
    row = invoices.by_number(conn, number) if is_invoice_number(number) else None
    if row is None:
        raise not_found("invoice", number)
    return row


def invoice_state(conn: Connection, row: InvoiceRecord) -> rules.InvoiceState:
    return rules.InvoiceState(row.number, row.lifecycle, datetime.fromisoformat(row.issued_at),
                              tuple(allowances.live_numbers(conn, row.id)))


def _record(conn: Connection, row: InvoiceRecord, kind: str, at: str, reason: str,
            outbox_id: int | None = None, document: str | None = None) -> None:
    invoices.record_action(conn, row.id, kind, at, reason, outbox_id, document)


class LifecycleService:
    def __init__(self, invoices: InvoiceService, cutoff_day: int, printer: ProofPrinter | None = None) -> None:
        self.invoices, self.store, self.clock = invoices, invoices.store, invoices.clock
        self.cutoff_day, self.printer = cutoff_day, printer

    def _now(self) -> datetime:
        return taipei(self.clock.now()).replace(microsecond=0)

    def void(self, number: str, reason: str) -> dict[str, Any]:
        """作廢 (F0501): the number is dead; a corrected sale is a new invoice with a new number."""
        return self._change(number, reason, rules.VOID, "F0501")

    def cancel(self, number: str, reason: str, reissue: Any = None) -> dict[str, Any]:
        """註銷 (F0701); with ``reissue`` (an invoice document) the number is issued again in the same transaction."""
        if reissue is None:
            return self._change(number, reason, rules.CANCEL, "F0701")
        draft = parse_document(reissue)
        text, document = rules.check_reason(reason), canonical(reissue)
        with self.store.write() as tx:
            now = self._now()
            row = invoice_row(tx, number)
            if _reissued_as(tx, row, document):
                return self.view(number, tx)  # the same cancel and re-issue again: already done
            state = invoice_state(tx, row)
            rules.check_cancel(state, now, self.cutoff_day)
            issued_at = (draft.issued_at or state.issued_at).replace(microsecond=0)
            rules.check_reissue(rules.InvoiceState(number, rules.CANCELLED, state.issued_at), issued_at, now,
                                self.cutoff_day)
            self._apply(tx, row, rules.CANCEL, "F0701", now, text)
            new_id, outbox_id = _reissue(tx, row, draft, issued_at, document, stamp(now))
            invoices.record_action(tx, new_id, rules.REISSUE, stamp(now), text, outbox_id)
            event(tx, stamp(now), "invoice", number, "reissued", text,
                  json.dumps({"order_id": draft.order_id, "replaced_order_id": row.order_id,
                              "version": row.version + 1}))
        return self.view(number)

    def _change(self, number: str, reason: str, action: str, message: str) -> dict[str, Any]:
        text = rules.check_reason(reason)
        with self.store.write() as tx:
            now = self._now()
            row = invoice_row(tx, number)
            state = invoice_state(tx, row)
            check = rules.check_void if action == rules.VOID else rules.check_cancel
            check(state, now, self.cutoff_day)
            self._apply(tx, row, action, message, now, text)
        return self.view(number)

    def _apply(self, tx: Connection, row: InvoiceRecord, action: str, message: str, now: datetime,
               reason: str) -> None:
        after = rules.TRANSITIONS[(row.lifecycle, action)]
        outbox_id = invoices.enqueue_message(tx, message, row.number, row.id, stamp(now))
        invoices.set_lifecycle(tx, row.id, after, stamp(now))
        _record(tx, row, action, stamp(now), reason, outbox_id)
        event(tx, stamp(now), "invoice", row.number, after, reason)

    def reprint(self, number: str) -> dict[str, Any]:
        """Print the proof again: always a copy (補印); the original was printed once, at issue."""
        with self.store.write() as tx:
            now = stamp(self._now())
            row = invoice_row(tx, number)
            rules.check_reprint(invoice_state(tx, row), bool(row.print_requested))
            _record(tx, row, "reprint", now, "")
            event(tx, now, "invoice", number, "reprint_requested", "補印")
            copies = invoices.count_actions(tx, row.id, "reprint")
        status = self.printer(number, True) if self.printer is not None else "queued"
        return {"invoice_number": number, "copy": True, "copies": copies, "status": status}

    def view(self, number: str, conn: Connection | None = None) -> dict[str, Any]:
        """``GET /v1/invoices/{number}``: the issued-invoice JSON (of the newest version) plus state, lines left,
        allowances, every version, the messages and events of every version."""
        conn = conn or self.store.connection()
        row = invoice_row(conn, number)
        history = invoices.versions_of(conn, row.number, row.period)
        body = self.invoices.stored_body(row)
        body["state"] = row.lifecycle
        body["state_at"] = row.lifecycle_at
        body["lines"] = _lines(conn, row.id)
        body["allowances"] = [
            {"number": a.number, "state": a.state, "date": a.allowance_at[:10], "tax_amount": a.tax_amount,
             "total_amount": a.total_amount}
            for a in allowances.of_invoice(conn, row.id)
        ]
        body["messages"] = [
            {"type": m.message_type, "reference": m.reference, "state": m.state, "attempts": m.attempts,
             "last_error": m.last_error, "created_at": m.created_at}
            for m in invoices.messages_of(conn, *(v.id for v in history))
        ]
        # every message of every version of the number, with its delivery state
        body["deliveries"] = [d for version in history for d in deliveries(conn, version.id)]
        body["versions"] = [_version(v) for v in history]
        body["events"] = [{"at": history[0].created_at, "kind": "issued", "reason": ""}] + [
            {"at": e.at, "kind": e.kind, "reason": e.reason}
            for e in invoices.events_of(conn, number, history[0].created_at[:19])
        ]
        return body


def _version(row: InvoiceRecord) -> dict[str, Any]:
    """One version of a number as the history shows it: the facts it was issued with and where it stands."""
    return {"version": row.version, "order_id": row.order_id, "issued_at": row.issued_at,
            "buyer_ban": row.buyer_ban, "total": row.total, "state": row.lifecycle, "state_at": row.lifecycle_at,
            "status": row.status}


def _lines(conn: Connection, invoice_id: int) -> list[dict[str, str]]:
    taken = allowances.taken_by_live(conn, invoice_id)
    lines = []
    for line in invoices.lines_of(conn, invoice_id):
        quantity, amount = taken.get(line.sequence, (ZERO, ZERO))
        lines.append({
            "sequence": line.sequence, "description": line.description, "quantity": line.quantity,
            "unit": line.unit, "unit_price": line.unit_price, "amount": line.amount, "tax_type": line.tax_type,
            "allowed_quantity": plain(quantity), "allowed_amount": plain(amount),
        })
    return lines


def _reissued_as(conn: Connection, row: InvoiceRecord, document: str) -> bool:
    if row.lifecycle != rules.ISSUED or row.document != document:
        return False
    return invoices.has_action(conn, row.id, "reissue")


def _reissue(tx: Connection, row: InvoiceRecord, draft: InvoiceDraft, issued_at: datetime, document: str,
             now: str) -> tuple[int, int]:
    """The next version of the cancelled ``row``'s number, with its lines and F0401 row: (its id, the F0401's outbox
    id). The cancelled row keeps every fact it was issued with."""
    if draft.invoice_type != row.invoice_type:
        raise InvoiceInvalid(Problem("reissue.invoice_type.number", "reissue.invoice_type",
                                     f"number {row.number} is from a type {row.invoice_type} range"))
    new = NewInvoice(
        number=row.number, period=row.period, order_id=draft.order_id, document=document, issued_at=stamp(issued_at),
        random_number=row.random_number, invoice_type=row.invoice_type,
        buyer_ban=draft.buyer.ban if draft.buyer else None, total=draft.amounts.total,
        print_requested=draft.print_proof, print_status="pending" if draft.print_proof else "not_requested",
        status="queued", track_id=row.track_id, created_at=now, version=row.version + 1, replaces=row.id)
    try:
        invoice_id = invoices.insert(tx, new, line_values(draft))
    except invoices.DuplicateOrder as error:
        raise Conflict(Problem("order_id.conflict", "reissue.order_id",
                               f"order_id {draft.order_id} belongs to another invoice")) from error
    if draft.buyer is not None and draft.buyer.email:  # the re-issue is mailed like a sale
        mails.enqueue(tx, invoice_id, draft.buyer.email, "issue", now)
    return invoice_id, invoices.f0401_of(tx, invoice_id)


def action_message(conn: Connection, outbox_id: int, seller: Party) -> Void | Cancel:
    """The F0501 or F0701 an outbox row stands for, for the pump to render."""
    found = invoices.action_message(conn, outbox_id)
    if found is None:
        raise not_found("message", str(outbox_id))
    kind = Void if found.kind == rules.VOID else Cancel
    return kind(found.number, datetime.fromisoformat(found.issued_at).date(), found.buyer_ban or CONSUMER_ID,
                seller.identifier, datetime.fromisoformat(found.at), found.reason)
