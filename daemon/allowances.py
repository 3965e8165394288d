"""Allowances (折讓, G0401) on issued invoices and their voids (G0501).

An allowance names lines of the original invoice by sequence; ``turnkey.lifecycle.plan_allowance`` checks them
against what earlier live allowances left and prices them (untaxed amount + tax per line, as in the official
samples). Numbers are the configured prefix plus a sequence, unique per seller as long as every box of the
seller has its own prefix. ``request_id`` (optional) makes a retried request return the first allowance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from daemon.deliveries import of_allowance
from daemon.lifecycle import (
    LifecycleService,
    invoice_row,
    invoice_state,
    not_found,
)
from daemon.services import Issued, canonical, stored_draft
from daemon.store import Connection, event, invoices, stamp
from daemon.store import allowances as stored
from daemon.store.allowances import AllowanceLineRecord, AllowanceRecord
from daemon.store.invoices import InvoiceRecord
from turnkey import lifecycle as rules
from turnkey.errors import Conflict, Problem
from turnkey.model import Allowance, AllowanceLine, AllowanceVoid, Party
from turnkey.money import plain
from turnkey.period import taipei
from turnkey.stored import load_document
from turnkey.validate import buyer_party


@dataclass(frozen=True)
class AllowanceRequest:
    invoice_number: str
    lines: tuple[rules.Requested, ...]
    request_id: str | None = None

    def fingerprint(self) -> str:
        return canonical({"invoice_number": self.invoice_number, "request_id": self.request_id,
                          "lines": [[r.sequence, str(r.quantity), None if r.amount is None else str(r.amount)]
                                    for r in self.lines]})


def _originals(conn: Connection, invoice_id: int) -> dict[str, rules.OriginalLine]:
    taken = stored.taken_by_live(conn, invoice_id)
    originals = {}
    for line in invoices.lines_of(conn, invoice_id):
        quantity, gross = taken.get(line.sequence, (Decimal(0), Decimal(0)))
        originals[line.sequence] = rules.OriginalLine(
            line.sequence, line.description, Decimal(line.quantity), line.unit, Decimal(line.unit_price),
            Decimal(line.amount), line.tax_type, quantity, gross)
    return originals


def _terms(conn: Connection, row: InvoiceRecord) -> rules.Terms:
    draft = stored_draft(row)
    if not (draft.business and draft.invoice_type == "07"):
        return rules.Terms(True, draft.tax_rate)
    return rules.Terms(False, draft.tax_rate, draft.amounts.tax - stored.live_tax(conn, row.id))


class AllowanceService:
    def __init__(self, lifecycle: LifecycleService, prefix: str) -> None:
        if not rules.is_allowance_prefix(prefix):
            raise ValueError(f"allowance number prefix must be 1-8 capital letters or digits, got {prefix!r}")
        self.lifecycle, self.store, self.prefix = lifecycle, lifecycle.store, prefix

    def issue(self, request: AllowanceRequest) -> Issued:
        text = request.fingerprint()
        with self.store.write() as tx:
            now = taipei(self.lifecycle.clock.now()).replace(microsecond=0)
            replay = self._replay(tx, request.request_id, text)
            if replay is not None:
                return Issued(False, replay)
            row = invoice_row(tx, request.invoice_number)
            rules.check_allowance_target(invoice_state(tx, row))
            origin = rules.Origin(row.number, datetime.fromisoformat(row.issued_at).date())
            terms = _terms(tx, row)
            lines = rules.plan_allowance(origin, _originals(tx, row.id), request.lines, terms)
            number = self._insert(tx, row, request, text, lines, terms, now)
            body = self.view(number, tx)
        return Issued(True, body)

    def _replay(self, conn: Connection, request_id: str | None, text: str) -> dict[str, Any] | None:
        if request_id is None:
            return None
        found = stored.by_request_id(conn, request_id)
        if found is None:
            return None
        if found.request != text:
            raise Conflict(Problem("request_id.conflict", "request_id",
                                   f"request_id {request_id} was already used for allowance {found.number} "
                                   "with other lines"))
        return self.view(found.number, conn)

    def _insert(self, tx: Connection, row: InvoiceRecord, request: AllowanceRequest, text: str,
                lines: Sequence[AllowanceLine], terms: rules.Terms, now: datetime) -> str:
        sequence = stored.next_sequence(tx)
        number = rules.allowance_number(self.prefix, sequence)
        tax, total = rules.allowance_totals(lines)
        at = stamp(now)
        outbox_id = invoices.enqueue_message(tx, "G0401", number, row.id, at)
        stored.insert(tx, number, sequence, row.id, request.request_id, text, at, tax, plain(total), outbox_id,
                      [(line.sequence, line.original_sequence_number, line.original_description,
                        plain(line.quantity), line.unit, plain(line.unit_price), plain(line.amount), line.tax,
                        plain(line.amount + line.tax if terms.inclusive else line.amount), line.tax_type)
                       for line in lines])
        event(tx, at, "allowance", number, "issued", "", json.dumps({"invoice": row.number}))
        event(tx, at, "invoice", row.number, "allowance", number, json.dumps({"tax": tax, "total": plain(total)}))
        return number

    def void(self, number: str, reason: str) -> dict[str, Any]:
        """作廢折讓 (G0501): what the allowance took is available again."""
        text = rules.check_reason(reason)
        with self.store.write() as tx:
            now = stamp(taipei(self.lifecycle.clock.now()).replace(microsecond=0))
            found = self._row(tx, number)
            rules.check_allowance_void(number, found.state, datetime.fromisoformat(found.allowance_at),
                                       datetime.fromisoformat(now), self.lifecycle.cutoff_day)
            outbox_id = invoices.enqueue_message(tx, "G0501", number, found.invoice_id, now)
            stored.void(tx, found.id, now, text, outbox_id)
            event(tx, now, "allowance", number, "voided", text)
            event(tx, now, "invoice", found.invoice_number, "allowance_voided", text,
                  json.dumps({"allowance": number}))
        return self.view(number)

    def _row(self, conn: Connection, number: str) -> AllowanceRecord:
        found = stored.by_number(conn, number)
        if found is None:
            raise not_found("allowance", number)
        return found

    def view(self, number: str, conn: Connection | None = None) -> dict[str, Any]:
        conn = conn or self.store.connection()
        found = self._row(conn, number)
        return {
            "allowance_number": found.number, "invoice_number": found.invoice_number,
            "date": found.allowance_at[:10], "state": found.state, "request_id": found.request_id,
            "tax_amount": found.tax_amount, "total_amount": found.total_amount,
            "voided_at": found.voided_at, "void_reason": found.void_reason,
            **of_allowance(conn, found.outbox_id, found.void_outbox_id),
            "lines": [
                {"sequence": line.sequence, "original_sequence": line.original_sequence,
                 "description": line.description, "quantity": line.quantity, "unit": line.unit,
                 "unit_price": line.unit_price, "amount": line.amount, "tax": line.tax, "tax_type": line.tax_type}
                for line in stored.lines_of(conn, found.id)
            ],
        }


def allowance_message(conn: Connection, outbox_id: int, seller: Party) -> Allowance | AllowanceVoid:
    """The G0401 or G0501 an outbox row stands for, for the pump to render."""
    source = stored.by_message(conn, outbox_id)
    if source is None:
        raise not_found("message", str(outbox_id))
    found = source.allowance
    buyer = buyer_party(load_document(json.loads(source.document)))
    at = datetime.fromisoformat(found.allowance_at)
    if found.void_outbox_id == outbox_id:
        assert found.voided_at is not None and found.void_reason is not None
        return AllowanceVoid(found.number, at.date(), buyer.identifier, seller.identifier,
                             datetime.fromisoformat(found.voided_at), found.void_reason)
    issued = datetime.fromisoformat(source.issued_at).date()
    lines = tuple(_message_line(found.invoice_number, issued, line) for line in stored.lines_of(conn, found.id))
    return Allowance(found.number, at.date(), seller, buyer, lines, found.tax_amount, Decimal(found.total_amount))


def _message_line(invoice_number: str, issued: date, line: AllowanceLineRecord) -> AllowanceLine:
    return AllowanceLine(
        original_invoice_date=issued, original_invoice_number=invoice_number, original_description=line.description,
        quantity=Decimal(line.quantity), unit_price=Decimal(line.unit_price), amount=Decimal(line.amount),
        tax=line.tax, sequence=line.sequence, tax_type=line.tax_type, original_sequence_number=line.original_sequence,
        unit=line.unit,
    )
