"""The invoice lifecycle after issue: pure rules for void (作廢), cancel (註銷), allowances (折讓) and reprints.

States of an invoice number: ``issued`` -> ``voided`` (F0501, final) or ``cancelled`` (F0701); a cancelled number
may be issued again (F0401 with the same number) in its own period, which makes it ``issued`` once more.
Allowances are ``live`` until voided (G0501). Voids, cancels and allowance voids are accepted only inside the
period's window (the void cut-off day of the odd month after the period); afterwards the answer is an allowance.

These rules are apart from the Turnkey delivery status (queued, dropped, accepted, ...), which records where
the messages are, not what the seller did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from turnkey.errors import Conflict, InvoiceInvalid, Problem, WindowClosed
from turnkey.model import AllowanceLine
from turnkey.money import EXEMPT, ZERO_RATED, round_half_up, split_inclusive
from turnkey.period import Period, taipei

ISSUED, VOIDED, CANCELLED = "issued", "voided", "cancelled"
LIVE = "live"
VOID, CANCEL, REISSUE = "void", "cancel", "reissue"
TRANSITIONS: Mapping[tuple[str, str], str] = {
    (ISSUED, VOID): VOIDED,
    (ISSUED, CANCEL): CANCELLED,
    (CANCELLED, REISSUE): ISSUED,
}
MAX_REASON = 20
SEQUENCE_DIGITS = 8
_PREFIX = re.compile(r"[A-Z0-9]{1,8}", re.ASCII)
_ZERO = Decimal(0)


@dataclass(frozen=True)
class InvoiceState:
    """What the rules need to know about one invoice number."""

    number: str
    state: str
    issued_at: datetime
    live_allowances: tuple[str, ...] = ()


def transition(invoice: InvoiceState, action: str) -> str:
    """The state after ``action``, or ``state.<current>`` (409) when the action is not allowed from here."""
    after = TRANSITIONS.get((invoice.state, action))
    if after is None:
        raise Conflict(Problem(f"state.{invoice.state}", "number",
                               f"invoice {invoice.number} is {invoice.state}: it cannot be {_past(action)}"))
    return after


def _past(action: str) -> str:
    return {VOID: "voided", CANCEL: "cancelled", REISSUE: "issued again"}.get(action, f"given an {action}")


def check_window(issued_at: datetime, now: datetime, cutoff_day: int, what: str) -> None:
    """``window.closed`` (409) when the period of ``issued_at`` may no longer be changed at ``now``."""
    deadline = Period.of(issued_at).void_deadline(cutoff_day)
    if taipei(now) >= deadline:
        closed = f"{deadline.date().isoformat()} 00:00 Taipei time"
        raise WindowClosed(Problem("window.closed", "number",
                                   f"{what} was closed on {closed} (period {Period.of(issued_at).code}); "
                                   "issue an allowance (POST /v1/allowances) instead"))


def _no_live_allowance(invoice: InvoiceState, action: str) -> None:
    if invoice.live_allowances:
        listed = ", ".join(invoice.live_allowances)
        raise Conflict(Problem("state.allowance_live", "number",
                               f"invoice {invoice.number} has live allowances ({listed}): void them before it "
                               f"can be {_past(action)}"))


def check_void(invoice: InvoiceState, now: datetime, cutoff_day: int) -> str:
    """作廢: only an issued invoice without live allowances, inside its period's window."""
    after = transition(invoice, VOID)
    _no_live_allowance(invoice, VOID)
    check_window(invoice.issued_at, now, cutoff_day, f"the void window for invoice {invoice.number}")
    return after


def check_cancel(invoice: InvoiceState, now: datetime, cutoff_day: int) -> str:
    """註銷: the same conditions as a void; the number may then be issued again."""
    after = transition(invoice, CANCEL)
    _no_live_allowance(invoice, CANCEL)
    check_window(invoice.issued_at, now, cutoff_day, f"the cancel window for invoice {invoice.number}")
    return after


def check_reissue(invoice: InvoiceState, issued_at: datetime, now: datetime, cutoff_day: int) -> str:
    """A cancelled number issued again: same period as the number, not in the future, window still open."""
    after = transition(invoice, REISSUE)
    if not Period.of(invoice.issued_at).contains(issued_at):
        raise InvoiceInvalid(Problem("reissue.issued_at.period", "reissue.issued_at",
                                     f"invoice {invoice.number} belongs to period {Period.of(invoice.issued_at).code}:"
                                     " the re-issued invoice must be dated in it"))
    if issued_at > now:
        raise InvoiceInvalid(Problem("reissue.issued_at.future", "reissue.issued_at",
                                     "issued_at cannot be in the future"))
    check_window(invoice.issued_at, now, cutoff_day, f"re-issuing number {invoice.number}")
    return after


def check_allowance_target(invoice: InvoiceState) -> None:
    """An allowance needs an issued invoice (platform E0403: not on a voided one)."""
    if invoice.state != ISSUED:
        raise Conflict(Problem(f"state.{invoice.state}", "invoice_number",
                               f"invoice {invoice.number} is {invoice.state}: it cannot take an allowance"))


def check_allowance_void(number: str, state: str, allowance_at: datetime, now: datetime, cutoff_day: int) -> None:
    """作廢折讓: a live allowance, inside the window of the allowance's own period."""
    if state != LIVE:
        raise Conflict(Problem(f"state.{state}", "number", f"allowance {number} is {state}: it cannot be voided"))
    check_window(allowance_at, now, cutoff_day, f"the void window for allowance {number}")


def check_reprint(invoice: InvoiceState, print_requested: bool) -> None:
    """A copy (補印) only of a live invoice whose proof was printed: the original proof is printed once, at issue."""
    if invoice.state != ISSUED:
        raise Conflict(Problem(f"state.{invoice.state}", "number",
                               f"invoice {invoice.number} is {invoice.state}: its proof cannot be printed"))
    if not print_requested:
        raise Conflict(Problem("print.not_requested", "number",
                               f"invoice {invoice.number} went to a carrier or a donation, or was issued without a "
                               "printed proof: there is no proof to print again"))


def check_reason(reason: str, field: str = "reason") -> str:
    """CancelReason / VoidReason: 1-20 characters after collapsing whitespace."""
    text = " ".join(reason.split())
    if not 1 <= len(text) <= MAX_REASON:
        raise InvoiceInvalid(Problem(f"{field}.length", field, f"{field} must have 1-{MAX_REASON} characters"))
    return text


def is_allowance_prefix(prefix: str) -> bool:
    return _PREFIX.fullmatch(prefix) is not None


def allowance_number(prefix: str, sequence: int) -> str:
    """``prefix`` (1-8 capitals or digits) + the sequence in 8 digits: at most 16 characters, as G0401 allows."""
    if not is_allowance_prefix(prefix):
        raise ValueError(f"allowance number prefix must be 1-8 capital letters or digits, got {prefix!r}")
    if not 1 <= sequence < 10**SEQUENCE_DIGITS:
        raise Conflict(Problem("allowance.sequence_exhausted", "number",
                               f"allowance numbers with prefix {prefix} are used up: configure another prefix"))
    return f"{prefix}{sequence:0{SEQUENCE_DIGITS}d}"


@dataclass(frozen=True)
class OriginalLine:
    """A line of the original invoice and what live allowances already took from it."""

    sequence: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    tax_type: str
    allowed_quantity: Decimal = _ZERO
    allowed_amount: Decimal = _ZERO

    @property
    def quantity_left(self) -> Decimal:
        return self.quantity - self.allowed_quantity

    @property
    def amount_left(self) -> Decimal:
        return self.amount - self.allowed_amount


@dataclass(frozen=True)
class Requested:
    """One requested allowance line: the original line's sequence, a quantity, and an amount (None: derived)."""

    sequence: str
    quantity: Decimal
    amount: Decimal | None = None


@dataclass(frozen=True)
class Terms:
    """How the original invoice prices: tax-inclusive (consumers, type 08) or untaxed; its rate; tax left (B2B)."""

    inclusive: bool
    rate: Decimal
    tax_left: int = 0


@dataclass(frozen=True)
class Origin:
    number: str
    invoice_date: date


def _gross(line: OriginalLine, wanted: Requested) -> Decimal:
    """The amount asked for, or by default the quantity's share (all that is left when all is returned)."""
    if wanted.amount is not None:
        return wanted.amount
    if wanted.quantity == line.quantity_left:
        return line.amount_left
    return min(wanted.quantity * line.unit_price, line.amount_left)


def _line_problems(index: int, line: OriginalLine | None, wanted: Requested, gross: Decimal) -> list[Problem]:
    where = f"lines[{index}]"
    if line is None:
        return [Problem("lines.sequence.unknown", f"{where}.sequence",
                        f"the invoice has no line {wanted.sequence}")]
    found = []
    if wanted.quantity <= 0:
        found.append(Problem("lines.quantity.positive", f"{where}.quantity", "quantity must be more than 0"))
    elif wanted.quantity > line.quantity_left:
        found.append(Problem("lines.quantity.exceeds_remaining", f"{where}.quantity",
                             f"line {line.sequence} has {line.quantity_left} of {line.quantity} left to allow"))
    if gross <= 0:
        found.append(Problem("lines.amount.positive", f"{where}.amount", "amount must be more than 0"))
    elif gross > line.amount_left:
        found.append(Problem("lines.amount.exceeds_remaining", f"{where}.amount",
                             f"line {line.sequence} has {line.amount_left} of {line.amount} left to allow"))
    elif wanted.quantity < line.quantity_left and gross > wanted.quantity * line.unit_price:
        found.append(Problem("lines.amount.exceeds_quantity", f"{where}.amount",
                             f"amount {gross} is more than quantity × unit price "
                             f"({wanted.quantity * line.unit_price})"))
    return found


def split_line(gross: Decimal, tax_type: str, terms: Terms) -> tuple[Decimal, int]:
    """(untaxed amount, whole-NT$ tax) of an allowance line, as in the official samples.

    Inclusive (ALW10000013): 20 -> 19 + 1. Untaxed (ALW10000003): 200 -> 200 + 10. Zero-rated and exempt: no tax.
    """
    if tax_type in (ZERO_RATED, EXEMPT) or terms.rate == 0:
        return gross, 0
    if terms.inclusive:
        return split_inclusive(gross, terms.rate)
    return gross, round_half_up(gross * terms.rate)


def _duplicates(requested: Sequence[Requested]) -> list[Problem]:
    seen: set[str] = set()
    found = []
    for index, wanted in enumerate(requested):
        if wanted.sequence in seen:
            found.append(Problem("lines.sequence.duplicate", f"lines[{index}].sequence",
                                 f"line {wanted.sequence} appears twice: give it once with the total"))
        seen.add(wanted.sequence)
    return found


def plan_allowance(origin: Origin, originals: Mapping[str, OriginalLine], requested: Sequence[Requested],
                   terms: Terms) -> tuple[AllowanceLine, ...]:
    """The G0401 lines for ``requested``, every problem at once (422) when a line asks for too much."""
    if not requested:
        raise InvoiceInvalid(Problem("lines.required", "lines", "an allowance needs at least one line"))
    problems = _duplicates(requested)
    planned: list[tuple[OriginalLine, Requested, Decimal]] = []
    for index, wanted in enumerate(requested):
        line = originals.get(wanted.sequence)
        gross = _gross(line, wanted) if line is not None else _ZERO
        found = _line_problems(index, line, wanted, gross)
        problems.extend(found)
        if line is not None and not found:
            planned.append((line, wanted, gross))
    if problems:
        raise InvoiceInvalid(*problems)
    return _priced(origin, planned, terms)


def _priced(origin: Origin, planned: Sequence[tuple[OriginalLine, Requested, Decimal]],
            terms: Terms) -> tuple[AllowanceLine, ...]:
    tax_left = terms.tax_left
    lines = []
    for number, (line, wanted, gross) in enumerate(planned, 1):
        amount, tax = split_line(gross, line.tax_type, terms)
        if not terms.inclusive:  # per-line rounding may not allow more tax than the invoice has left
            tax = min(tax, max(tax_left, 0))
            tax_left -= tax
        lines.append(AllowanceLine(
            original_invoice_date=origin.invoice_date, original_invoice_number=origin.number,
            original_description=line.description, quantity=wanted.quantity, unit_price=line.unit_price,
            amount=amount, tax=tax, sequence=str(number), tax_type=line.tax_type,
            original_sequence_number=line.sequence, unit=line.unit,
        ))
    return tuple(lines)


def allowance_totals(lines: Sequence[AllowanceLine]) -> tuple[int, Decimal]:
    """G0401 Amount: (TaxAmount, TotalAmount = untaxed total)."""
    return sum(line.tax for line in lines), sum((line.amount for line in lines), _ZERO)

