"""Applying one verdict (Turnkey's local word or the platform's) to what it concerns.

Split out of ``daemon.results`` so that reading result files (what the verdict *is*) and moving states and
raising alerts (what it *means* for the merchant) are owned separately.

A verdict is matched by its message type (``Verdict.message_type``; none named means F0401):

- F0401 names the invoice number: the invoice's ``status`` moves (``daemon/status.py``) and so does the delivery
  of its newest F0401 row;
- F0501 (void) / F0701 (cancel) name the invoice number: the delivery of the invoice's newest row of that type;
- G0401 (allowance) / G0501 (allowance void) name the *allowance* number: its G0401 / G0501 row;
- E0402 names ``<BranchBan>-<InvoiceTrack><InvoiceType>`` (Turnkey's identifier, domain.md §5.5a), the track
  alone, or einvd's reference ``11510-07-AB``: the newest blank report of that track not yet settled.

A rejection raises ``rejected.<type>`` saying what it means for the merchant and what to do
(``daemon/policy/rejections.py``). A verdict that matches nothing is *unmatched*: when its number lies in one of
this box's own ranges (or carries this box's allowance prefix) einvd never sent it, and ``verdict.stranger`` says
so; otherwise it belongs to another box sharing the Turnkey and is only counted (``foreign_verdicts``, shown in the
daily report).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from daemon import deliveries
from daemon.alerts import raise_alert
from daemon.policy import rejections
from daemon.policy.delivery import REJECTED
from daemon.policy.settlement import Verdict
from daemon.status import advance
from daemon.store import Connection, event, invoices, stamp
from daemon.store import deliveries as table
from turnkey.numbers import is_invoice_number
from turnkey.period import taipei

__all__ = ["Tally", "apply_verdict", "raise_rejection", "subject"]

E0402_IDENTIFIER = re.compile(r"(?:(?P<ban>\d{8})-)?(?P<track>[A-Z]{2})(?P<type>0[78])?")
E0402_REFERENCE = re.compile(r"\d{5}-0[78]-[A-Z]{2}(?:-\d+)?")
ALLOWANCE_DIGITS = 8  # turnkey.lifecycle.allowance_number: prefix + an 8-digit sequence


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] += n


@dataclass(frozen=True, slots=True)
class Target:
    """The outbox row a verdict concerns, the invoice it is about (None for E0402), and where its log goes."""

    outbox_id: int
    invoice_id: int | None
    entity: str
    entity_id: str


def apply_verdict(tx: Connection, verdict: Verdict, now: datetime, tally: Tally) -> None:
    """Apply a verdict to the message it names (see the module's rules); alert on a rejection."""
    kind = verdict.message_type or "F0401"
    finder = _FINDERS.get(kind)
    target = finder(tx, verdict) if finder is not None else None
    if target is None:
        _unmatched(tx, verdict, kind, now, tally)
        return
    moved = deliveries.move(tx, target.outbox_id, verdict.status, now, verdict.code, verdict.reason,
                            log=kind != "F0401")
    if kind == "F0401" and target.invoice_id is not None:
        if advance(tx, target.invoice_id, verdict.status, now, verdict.code, verdict.reason):
            tally.add(verdict.status)
            moved = True
    else:
        event(tx, stamp(now), target.entity, target.entity_id, f"{kind} {verdict.status}",
              f"{verdict.code} {verdict.reason}".strip())
        if moved:
            tally.add(f"{kind} {verdict.status}")
    if moved and verdict.status == REJECTED:
        raise_rejection(tx, kind, target.outbox_id, now, False, verdict.code, verdict.reason)


def raise_rejection(tx: Connection, message_type: str, outbox_id: int, now: datetime, local: bool, code: str,
                    reason: str) -> bool:
    """``rejected.<type>`` on one refused message (once per row), naming what it concerns; True when new."""
    found = table.of_row(tx, outbox_id)
    named = subject(tx, found) if found is not None else str(outbox_id)
    text = rejections.rejection_text(message_type, named, local, code, reason)
    kind = rejections.REJECTED_KINDS.get(message_type, f"rejected.{message_type}")
    return raise_alert(tx, kind, "message", str(outbox_id), now, text[:1000])


def subject(conn: Connection, found: table.Delivery) -> str:
    """How a person names a message: ``AB00001000`` for an invoice's, ``AL00000001 (on AB00001000)`` for an
    allowance's, the reference for an E0402."""
    if found.invoice_id is None or found.message_type not in ("G0401", "G0501"):
        return found.reference
    invoice = invoices.by_id(conn, found.invoice_id)
    return f"{found.reference} (on invoice {invoice.number})" if invoice is not None else found.reference


# --- finding what a verdict names --------------------------------------------------------------------------


def _invoice(tx: Connection, verdict: Verdict) -> int | None:
    """The invoice the number names: of the verdict's period when its date tells, else the newest (a void's date
    may fall in the period after the invoice's)."""
    if not is_invoice_number(verdict.number):
        return None
    found = invoices.find_invoice(tx, verdict.number, verdict.period)
    return found if found is not None or verdict.period is None else invoices.find_invoice(tx, verdict.number, None)


def _versions(tx: Connection, verdict: Verdict, message_type: str) -> list[int]:
    """The versions of the invoice the verdict may name, most likely first. A 註銷重開 leaves two versions under
    one number (the cancelled one carries the F0701, the re-issue its own F0401): an F0401 verdict whose date is
    one version's issue date names that version; otherwise the newest version that sent such a message."""
    invoice_id = _invoice(tx, verdict)
    if invoice_id is None:
        return []
    newest = invoices.by_id(tx, invoice_id)
    if newest is None:  # pragma: no cover - the id was just read in this transaction
        return [invoice_id]
    history = list(reversed(invoices.versions_of(tx, newest.number, newest.period)))
    if message_type == "F0401" and verdict.day is not None:
        day = verdict.day.isoformat()
        history.sort(key=lambda v: not v.issued_at.startswith(day))  # stable: newest first within each group
    return [v.id for v in history] or [invoice_id]


def _invoice_message(message_type: str) -> Callable[[Connection, Verdict], Target | None]:
    def find(tx: Connection, verdict: Verdict) -> Target | None:
        for invoice_id in _versions(tx, verdict, message_type):
            outbox_id = table.latest_of_invoice(tx, invoice_id, message_type)
            if outbox_id is not None:
                return Target(outbox_id, invoice_id, "invoice", verdict.number)
        return None
    return find


def _allowance_message(void: bool) -> Callable[[Connection, Verdict], Target | None]:
    def find(tx: Connection, verdict: Verdict) -> Target | None:
        rows = table.allowance_rows(tx, verdict.number.strip())
        outbox_id = None if rows is None else rows[1 if void else 0]
        if outbox_id is None:
            return None
        found = table.of_row(tx, outbox_id)
        return Target(outbox_id, found.invoice_id if found else None, "allowance", verdict.number.strip())
    return find


def _blank_report(tx: Connection, verdict: Verdict) -> Target | None:
    number = verdict.number.strip()
    if E0402_REFERENCE.fullmatch(number):
        outbox_id = table.blank_report_by_reference(tx, number)
    elif match := E0402_IDENTIFIER.fullmatch(number):
        outbox_id = table.blank_report_row(tx, match["ban"], match["track"], match["type"])
    else:
        return None
    return None if outbox_id is None else Target(outbox_id, None, "outbox", str(outbox_id))


_FINDERS: dict[str, Callable[[Connection, Verdict], Target | None]] = {
    "F0401": _invoice_message("F0401"),
    "F0501": _invoice_message("F0501"),
    "F0701": _invoice_message("F0701"),
    "G0401": _allowance_message(False),
    "G0501": _allowance_message(True),
    "E0402": _blank_report,
}


# --- verdicts on nothing einvd sent ------------------------------------------------------------------------


def _own_number(tx: Connection, verdict: Verdict, kind: str) -> bool:
    """Whether the number lies in this box's own ranges (invoice numbers) or carries its allowance prefix."""
    number = verdict.number.strip()
    if kind in ("G0401", "G0501"):
        prefix, digits = number[:-ALLOWANCE_DIGITS], number[-ALLOWANCE_DIGITS:]
        return bool(prefix) and digits.isdigit() and table.holds_allowance_prefix(tx, prefix)
    if kind in ("F0401", "F0501", "F0701") and is_invoice_number(number):
        return table.holds_number(tx, number[:2], int(number[2:]), verdict.period)
    return False  # an E0402 names a track that boxes may share: never a stranger


def _unmatched(tx: Connection, verdict: Verdict, kind: str, now: datetime, tally: Tally) -> None:
    tally.add("unmatched")
    if _own_number(tx, verdict, kind):
        raise_alert(tx, rejections.STRANGER, "number", f"{kind} {verdict.number.strip()}", now,
                    rejections.stranger_text(kind, verdict.number.strip(), verdict.status, verdict.code))
        tally.add("stranger")
        return
    table.count_foreign(tx, taipei(now).date().isoformat(), kind, verdict.status)
    tally.add("foreign")
