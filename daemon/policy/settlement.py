"""Result settlement: what Turnkey's folders and the platform's result files say about the messages einvd sent,
as moves of outbox rows and invoices. Plain data in, a list of what to write out; the shell (daemon/results.py,
whose docstring describes the ProcessResult/SummaryResult join) writes it.

- A dropped file that left SRC was taken by Turnkey: found in ERR (new there) it was refused by Turnkey's local
  checks (``rejected_local``), otherwise it went to BAK (``accepted_local``). Turnkey 3.2.0 writes no reason file
  (domain.md §5.5a): the reason is only in its database and its log (``ERR_REASON``).
- ProcessResult (§5.5a, ``Unpack.distributeProcessResult``): first Info ``00000``: the whole message confirmed; a
  single Info whose Description does not start with ``No. <n>``: the whole message failed; otherwise each Info
  is one failed document (Parameter0 its number, Parameter1 its date ``yyyyMMdd``), the others confirmed. When
  no Info names a number the whole message failed (einvd could not tell which document was meant).
- SummaryResult: the documents of each message (Good/Failed); with no ProcessResult, Good -> ``confirmed`` and
  Failed -> ``rejected`` without a code. ``...-Final.SummaryResult`` files are only cross-checked.
- E0501: whole booklets of numbers are added to the ranges this box holds.
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
from turnkey.mig.results import ProcessResult, Routing, SummaryMessage, SummaryResult
from turnkey.numbers import TrackRange, first_overlap
from turnkey.period import TAIPEI, Period

BOOKLET = 50
"""Numbers are allocated in booklets (本) of 50: an E0501 range that is not whole booklets is not applied."""
TURNKEY_SUFFIX = re.compile(r"(?P<stem>.+)_\d{13}(?P<ext>\.xml)")
"""An older Turnkey's ``<stem>_<epoch millis>.xml`` (domain.md §5.2)."""
DUPLICATE_SUFFIX = re.compile(r"(?P<name>.+\.xml)\.\d{3,}")
"""Turnkey 3.2.0's ``<name>.001``, ``.002`` for a name already in its BAK hour folder (domain.md §5.5a)."""
NUMBERED = re.compile(r"No\.\s*\d+\s*")
"""A ProcessResult Info that names one document of the message starts its Description so (§5.5a)."""
FINAL = re.compile(r".*-Final(\.SummaryResult|\.xml)?")
"""The daily ``...-Final.SummaryResult``, which Turnkey's own reports skip (§5.5a)."""
ERR_REASON = ("refused by Turnkey's local checks (moved to ERR); Turnkey 3.2.0 writes the reason only to its "
              "database (TURNKEY_SYSEVENT_LOG) and its own log")
SUCCESS = "00000"
WHOLE_CONFIRMED, WHOLE_FAILED, BY_DOCUMENT = "confirmed", "failed", "documents"


def original_name(path: str) -> str:
    """The name einvd dropped, from a BAK/ERR path: without Turnkey 3.2.0's ``.001`` duplicate suffix, or an older
    Turnkey's ``_<epoch millis>`` before ``.xml``."""
    base = path.rsplit("/", 1)[-1]
    duplicate = DUPLICATE_SUFFIX.fullmatch(base)
    if duplicate:
        base = duplicate["name"]
    match = TURNKEY_SUFFIX.fullmatch(base)
    return f"{match['stem']}{match['ext']}" if match else base


def is_final(path: str) -> bool:
    """Whether a SummaryResult path is a daily ``-Final`` one (read only to cross-check)."""
    return FINAL.fullmatch(path.rsplit("/", 1)[-1]) is not None


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
    message_id: str = ""

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


Failure = tuple[str, str, str, str]
"""One document a ProcessResult names as failed: number, date (ISO, '' unknown), code, reason."""
Document = tuple[str, str, bool]
"""One document a SummaryResult lists: number, date (ISO, '' unknown), Good (True) or Failed (False)."""


@dataclass(frozen=True, slots=True)
class ProcessReading:
    """What one ProcessResult says about its message: ``verdict`` confirmed, failed (code and reason for every
    document) or documents (``failures`` named, the others confirmed)."""

    message_id: str
    message_type: str
    verdict: str
    code: str = ""
    reason: str = ""
    failures: tuple[Failure, ...] = ()


def _day(text: str) -> str:
    """``yyyyMMdd`` (or ``yyyy-MM-dd``) as an ISO date, '' when it is not one."""
    digits = text.strip().replace("-", "")
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])).isoformat() if len(digits) == 8 else ""
    except ValueError:
        return ""


def read_process(result: ProcessResult) -> ProcessReading:
    """The meaning of a ProcessResult (domain.md §5.5a)."""
    info = result.info
    first = result.results[0]
    if first.code.strip() == SUCCESS:
        return ProcessReading(info.id, info.message_type, WHOLE_CONFIRMED)
    whole = ProcessReading(info.id, info.message_type, WHOLE_FAILED, first.code.strip(), first.description.strip())
    if len(result.results) == 1 and not NUMBERED.match(first.description.strip()):
        return whole
    failures: list[Failure] = []
    for item in result.results:
        number = item.parameters[0].strip() if item.parameters else ""
        if number and item.code.strip() != SUCCESS:
            day = _day(item.parameters[1]) if len(item.parameters) > 1 else ""
            reason = NUMBERED.sub("", item.description.strip(), count=1)
            failures.append((number, day, item.code.strip(), reason))
    if not failures:
        return whole
    return ProcessReading(info.id, info.message_type, BY_DOCUMENT, failures=tuple(failures))


def _verdict(message_type: str, number: str, day: str, status: str, code: str, reason: str,
             message_id: str) -> Verdict:
    return Verdict(message_type, number, date.fromisoformat(day) if day else None, status, code, reason, message_id)


def failure_verdicts(reading: ProcessReading) -> list[Verdict]:
    """The documents a ProcessResult names as failed: applied at once (they name their number)."""
    return [_verdict(reading.message_type, number, day, REJECTED, code, reason, reading.message_id)
            for number, day, code, reason in reading.failures]


def summary_documents(message: SummaryMessage) -> tuple[Document, ...]:
    """Every document a SummaryResult message lists, Good ones first; a number in both lists counts as Failed."""
    failed = {doc.reference_number for doc in message.failed.invoices}
    found: dict[str, Document] = {}
    for doc, good in [(d, True) for d in message.good.invoices] + [(d, False) for d in message.failed.invoices]:
        day = doc.invoice_date.isoformat() if doc.invoice_date else ""
        found[doc.reference_number] = (doc.reference_number, day, good and doc.reference_number not in failed)
    return tuple(found.values())


def joined_verdicts(message_id: str, message_type: str, reading: ProcessReading | None,
                    documents: Sequence[Document]) -> list[Verdict]:
    """The verdicts on the documents a SummaryResult lists, decided by the message's ProcessResult (None: none
    came; then Good confirms and Failed rejects without a code). Documents a ProcessResult named as failed were
    applied when it was read and are not repeated, unless every document was named (the whole message failed)."""
    if reading is None:
        source = f"SummaryResult {message_id}"
        return [_verdict(message_type, n, d, CONFIRMED if good else REJECTED, "",
                         source if good else f"failed in {source}", message_id) for n, d, good in documents]
    if reading.verdict == WHOLE_CONFIRMED:
        return [_verdict(message_type, n, d, CONFIRMED, "", f"ProcessResult {message_id}", message_id)
                for n, d, _ in documents]
    if reading.verdict == WHOLE_FAILED:
        return [_verdict(message_type, n, d, REJECTED, reading.code, reading.reason, message_id)
                for n, d, _ in documents]
    named = {failure[0] for failure in reading.failures}
    if len(named) >= len(documents):
        _, _, code, reason = reading.failures[0]
        return [_verdict(message_type, n, d, REJECTED, code, reason, message_id)
                for n, d, _ in documents if n not in named]
    return [_verdict(message_type, n, d, CONFIRMED, "", f"ProcessResult {message_id}", message_id)
            for n, d, _ in documents if n not in named]


def summary_numbers(summary: SummaryResult) -> list[str]:
    return [doc.reference_number for message in summary.messages
            for doc in (*message.good.invoices, *message.failed.invoices)]


def process_numbers(result: ProcessResult) -> list[str]:
    return [p.strip() for info in result.results for p in info.parameters]


def final_mismatches(final: SummaryResult, known: Mapping[str, Sequence[Document] | None]) -> list[str]:
    """How a ``-Final`` SummaryResult differs from the per-message ones read before: one line per message."""
    found = []
    for message in final.messages:
        listed = {(n, good) for n, _, good in summary_documents(message)}
        stored = known.get(message.info.id)
        if stored is None:
            found.append(f"{message.info.id}: in the Final summary only")
        elif listed != {(n, good) for n, _, good in stored}:
            found.append(f"{message.info.id}: {len(listed)} documents in the Final summary, {len(stored)} read "
                         "before, or another Good/Failed split")
    return found


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
