"""Result settlement: what Turnkey's folders and the platform's result files say about the messages einvd sent,
as moves of outbox rows and invoices. Plain data in, a list of what to write out; the shell writes it.

- A dropped file that left SRC was taken by Turnkey: found in ERR (new there) it was refused by Turnkey's local
  checks (``rejected_local``), otherwise it went to BAK (``accepted_local``).
- SummaryResult: Good -> ``confirmed``, Failed -> ``rejected``; ProcessResult: error codes -> ``rejected``
  with the platform code; E0501: whole booklets of numbers are added to the ranges this box holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Generic, Literal, Protocol, TypeVar

from daemon.policy.delivery import ACCEPTED_LOCAL, CONFIRMED, REJECTED, REJECTED_LOCAL
from turnkey.ban import is_valid_ban
from turnkey.mig.e0501 import Allocation
from turnkey.mig.results import ProcessResult, Routing, SummaryResult
from turnkey.numbers import TrackRange, first_overlap, is_invoice_number
from turnkey.period import TAIPEI, Period

BOOKLET = 50
"""Numbers are allocated in booklets (本) of 50: an E0501 range that is not whole booklets is not applied."""
TURNKEY_SUFFIX = re.compile(r"(?P<stem>.+)_\d{13}(?P<ext>\.xml)")


def original_name(path: str) -> str:
    """The name einvd dropped, from a BAK/ERR path (Turnkey may append ``_<epoch millis>``)."""
    base = path.rsplit("/", 1)[-1]
    match = TURNKEY_SUFFIX.fullmatch(base)
    return f"{match['stem']}{match['ext']}" if match else base


# --- files leaving SRC ------------------------------------------------------------------------------------


class DroppedRow(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def file_name(self) -> str: ...


D = TypeVar("D", bound=DroppedRow)


@dataclass(frozen=True, slots=True)
class ErrFile:
    """An ERR file to record once: ``applied`` when it names one of the rows, else ``unmatched``."""

    path: str
    outcome: str
    reason: str


@dataclass(frozen=True, slots=True)
class Outcome(Generic[D]):
    row: D
    outcome: str
    reason: str


@dataclass
class Settlement(Generic[D]):
    err_files: list[ErrFile] = field(default_factory=list)
    outcomes: list[Outcome[D]] = field(default_factory=list)


def settle_dropped(rows: Sequence[D], waiting: set[str], refusals: Mapping[str, str]) -> Settlement[D]:
    """``rows``: dropped rows of one message type without an outcome; ``waiting``: names still in SRC;
    ``refusals``: new ERR paths with Turnkey's reason. A row refused twice is settled once."""
    by_name = {row.file_name: row for row in rows}
    settlement: Settlement[D] = Settlement()
    refused: set[int] = set()
    for path, reason in refusals.items():
        row = by_name.get(original_name(path))
        settlement.err_files.append(ErrFile(path, "applied" if row else "unmatched", reason))
        if row is not None and row.id not in refused:
            refused.add(row.id)
            settlement.outcomes.append(Outcome(row, REJECTED_LOCAL, reason))
    for row in rows:
        if row.file_name not in waiting and row.id not in refused:
            settlement.outcomes.append(Outcome(row, ACCEPTED_LOCAL, ""))
    return settlement


def outcome_target(message_type: str, invoice_id: int | None) -> Literal["outbox", "status", "invoice"]:
    """Where an outcome is written: the outbox row's log (no invoice), the invoice's status (its F0401), or the
    invoice's log (its other messages)."""
    if invoice_id is None:
        return "outbox"
    return "status" if message_type == "F0401" else "invoice"


# --- platform verdicts ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """The platform's word on one document: ``status`` confirmed or rejected, with its code and reason."""

    message_type: str
    number: str
    day: date | None
    status: str
    code: str
    reason: str

    @property
    def moves_status(self) -> bool:
        """An F0401's verdict (or one of no named type) moves the invoice; others are logged on it."""
        return self.message_type in ("F0401", "")

    @property
    def period(self) -> str | None:
        """The period its invoice date falls in (the number alone repeats every two years)."""
        if self.day is None:
            return None
        return Period.of(datetime.combine(self.day, time(12), TAIPEI)).code


def summary_verdicts(summary: SummaryResult) -> list[Verdict]:
    found: list[Verdict] = []
    for message in summary.messages:
        source = f"SummaryResult {message.info.id}".strip()
        kind = message.info.message_type
        found += [Verdict(kind, doc.reference_number, doc.invoice_date, CONFIRMED, "", source)
                  for doc in message.good.invoices]
        found += [Verdict(kind, doc.reference_number, doc.invoice_date, REJECTED, "", f"failed in {source}")
                  for doc in message.failed.invoices]
    return found


def summary_numbers(summary: SummaryResult) -> list[str]:
    return [doc.reference_number for message in summary.messages
            for doc in (*message.good.invoices, *message.failed.invoices)]


def process_verdicts(result: ProcessResult) -> list[Verdict]:
    """A failed result names its invoice as the first parameter that is an invoice number."""
    found: list[Verdict] = []
    for info in result.results:
        numbers = [p.strip() for p in info.parameters if is_invoice_number(p.strip())]
        if not info.ok and numbers:
            found.append(Verdict(result.info.message_type, numbers[0], None, REJECTED, info.code, info.description))
    return found


def process_numbers(result: ProcessResult) -> list[str]:
    return [p.strip() for info in result.results for p in info.parameters]


def foreign_parties(routing: Routing, seller_ban: str) -> set[str]:
    """The other sellers a result is routed between, when none is this box's; empty when it is ours or cannot
    tell (then it is applied). A foreign result is still ours when it names one of our invoices (routed through a
    head office or a value-added centre)."""
    parties = {routing.from_party, routing.to_party}
    foreign = {p for p in parties if p.strip("0") and is_valid_ban(p)}
    if not seller_ban or seller_ban in parties:
        return set()
    return foreign


# --- E0501 ------------------------------------------------------------------------------------------------


def booklet_problem(allocations: Iterable[Allocation]) -> str:
    """Why the allocations cannot be applied (a range that is not whole booklets), or ``""``."""
    for allocation in allocations:
        numbers = allocation.range.end - allocation.range.begin + 1
        if allocation.booklets * BOOKLET != numbers:
            return f"{allocation.range.label}: {numbers} numbers are not {allocation.booklets} booklets of {BOOKLET}"
    return ""


def place_ranges(new: Iterable[TrackRange], held: Iterable[TrackRange]) -> list[tuple[TrackRange, TrackRange | None]]:
    """Each new range with the range it overlaps (skipped) or None (added, and then held for the next)."""
    current = list(held)
    placed: list[tuple[TrackRange, TrackRange | None]] = []
    for span in new:
        clash = first_overlap(span, current)
        placed.append((span, clash))
        if clash is None:
            current.append(span)
    return placed
