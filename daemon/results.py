"""Reading what Turnkey and the platform did, and applying it to the outbox and the invoices.

- A dropped file that left SRC was taken by Turnkey: found in ERR (new there) it was refused by Turnkey's local
  checks (``rejected_local``, with the reason file beside it when there is one), otherwise it went to BAK
  (``accepted_local``). SRC is listed before ERR, so a file missing from SRC is already wherever it went.
- SummaryResult: Good -> ``confirmed``, Failed -> ``rejected``; ProcessResult: error codes -> ``rejected``
  with the platform code; E0501: the allocated ranges are added to the ranges this box holds.

Each ERR and result file is recorded in ``results_seen`` in the same transaction that applies it, so it counts
exactly once, also across restarts. A result file that cannot be applied (malformed or hostile XML, absurd
values, another seller's, larger than ``MAX_RESULT_BYTES``) is retried until it has kept the same size for two
scans (it may still be arriving), then *quarantined*: the drop copies it into the quarantine folder with
``<name>.reason.txt`` beside it (a copy, not a move: the Unpack folders are Turnkey's, and other boxes sharing the
Turnkey may want the file), ``results_seen`` records outcome ``quarantined`` with the reason, and a
``result.unreadable`` alert names the file, the reason and the copy.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time

from daemon.alerts import raise_alert
from daemon.ports import Drop
from daemon.status import ACCEPTED_LOCAL, CONFIRMED, REJECTED, REJECTED_LOCAL, advance
from daemon.store import Store, event, stamp
from daemon.tracks import held
from turnkey.ban import is_valid_ban
from turnkey.errors import ResultUnreadable
from turnkey.mig import parse_e0501, parse_process_result, parse_summary_result
from turnkey.mig.results import Routing
from turnkey.numbers import first_overlap, is_invoice_number
from turnkey.period import TAIPEI, Period

MAX_RESULT_BYTES = 64 * 1024 * 1024
"""Larger result files are quarantined unread (a busy shop's daily SummaryResult is a few MB)."""
BOOKLET = 50
"""Numbers are allocated in booklets (本) of 50: an E0501 range that is not whole booklets is not applied."""
REFUSALS = (ResultUnreadable, ValueError, LookupError, ArithmeticError, RecursionError)
"""What a hostile file can make the parsers raise; the watcher quarantines it instead of stopping."""
TURNKEY_SUFFIX = re.compile(r"(?P<stem>.+)_\d{13}(?P<ext>\.xml)")
RESULT_KINDS = ("ProcessResult", "SummaryResult", "E0501")


def original_name(path: str) -> str:
    """The name einvd dropped, from a BAK/ERR path (Turnkey may append ``_<epoch millis>``)."""
    base = path.rsplit("/", 1)[-1]
    match = TURNKEY_SUFFIX.fullmatch(base)
    return f"{match['stem']}{match['ext']}" if match else base


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] += n


def _seen(store: Store, kind: str) -> set[str]:
    return {r[0] for r in store.read("SELECT path FROM results_seen WHERE kind = ?", (kind,))}


def _record(tx: sqlite3.Connection, path: str, kind: str, size: int, now: datetime, outcome: str,
            detail: str = "") -> None:
    tx.execute("INSERT INTO results_seen (path, kind, size, seen_at, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)",
               (path, kind, size, stamp(now), outcome, detail[:500]))


# --- files leaving SRC ------------------------------------------------------------------------------------


def reconcile(store: Store, drop: Drop, now: datetime, tally: Tally) -> None:
    """Settle every dropped row whose file Turnkey has taken (to BAK or ERR)."""
    open_rows = store.read("SELECT id, message_type, reference, invoice_id, file_name FROM outbox "
                           "WHERE state = 'DONE' AND outcome IS NULL")
    by_code: dict[str, list[sqlite3.Row]] = defaultdict(list)
    for row in open_rows:
        by_code[row["message_type"]].append(row)
    seen = _seen(store, "ERR")
    for code, rows in sorted(by_code.items()):
        waiting = drop.pending(code)
        errors = drop.moved(code, "ERR")
        new = sorted(path for path in errors if path.endswith(".xml") and path not in seen)
        reasons = {path: _reason(drop, errors, path) for path in new}
        _settle(store, rows, waiting, errors, reasons, now, tally)


def _reason(drop: Drop, listing: dict[str, int], path: str) -> str:
    """Turnkey's reason when a text file sits beside the refused one (``<name>.log``)."""
    side = f"{path}.log"
    if side not in listing:
        return "moved to ERR by Turnkey"
    return drop.read(side).decode("utf-8", "replace").strip()[:500] or "moved to ERR by Turnkey"


def _settle(store: Store, rows: list[sqlite3.Row], waiting: set[str], errors: dict[str, int],
            reasons: dict[str, str], now: datetime, tally: Tally) -> None:
    by_name = {row["file_name"]: row for row in rows}
    with store.write() as tx:
        refused = set()
        for path, reason in reasons.items():
            row = by_name.get(original_name(path))
            _record(tx, path, "ERR", errors[path], now, "applied" if row else "unmatched", reason)
            if row is not None and row["id"] not in refused:
                refused.add(row["id"])
                _outcome(tx, row, REJECTED_LOCAL, now, reason)
                tally.add(REJECTED_LOCAL)
        for row in rows:
            if row["file_name"] not in waiting and row["id"] not in refused:
                _outcome(tx, row, ACCEPTED_LOCAL, now, "")
                tally.add(ACCEPTED_LOCAL)


def _outcome(tx: sqlite3.Connection, row: sqlite3.Row, outcome: str, now: datetime, reason: str) -> None:
    at = stamp(now)
    tx.execute("UPDATE outbox SET outcome = ?, outcome_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
               (outcome, at, reason or None, at, row["id"]))
    if row["invoice_id"] is None:
        event(tx, at, "outbox", str(row["id"]), outcome, reason)
    elif row["message_type"] == "F0401":
        advance(tx, row["invoice_id"], outcome, now, reason=reason)
    else:
        event(tx, at, "invoice", row["reference"], f"{row['message_type']} {outcome}", reason)


# --- downloaded result files ------------------------------------------------------------------------------


class Refused(ValueError):
    """A well-formed result file this box must not apply (another seller's, too large)."""


class ResultFiles:
    """Applies new SummaryResult, ProcessResult and E0501 files, each once; quarantines those it cannot apply."""

    def __init__(self, store: Store, drop: Drop, seller_ban: str, import_e0501: bool = True,
                 max_bytes: int = MAX_RESULT_BYTES) -> None:
        self.store, self.drop = store, drop
        self.seller_ban, self.import_e0501, self.max_bytes = seller_ban, import_e0501, max_bytes
        self._sizes: dict[str, int] = {}
        self._apply: dict[str, Callable[[sqlite3.Connection, bytes, datetime, Tally], str]] = {
            "ProcessResult": self._process, "SummaryResult": self._summary, "E0501": self._allocation,
        }

    def scan(self, now: datetime, tally: Tally) -> None:
        for kind in RESULT_KINDS:
            seen = _seen(self.store, kind)
            for path, size in sorted(self.drop.results(kind).items()):
                if path not in seen:
                    self._one(kind, path, size, now, tally)

    def _one(self, kind: str, path: str, size: int, now: datetime, tally: Tally) -> None:
        try:
            if size > self.max_bytes:
                raise Refused(f"{size} bytes, more than the {self.max_bytes} a result file may have")
            data = self.drop.read(path)
            with self.store.write() as tx:
                outcome = self._apply[kind](tx, data, now, tally)
                _record(tx, path, kind, size, now, outcome)
            tally.add(kind)
        except REFUSALS as error:
            if self._sizes.get(path) != size:
                self._sizes[path] = size  # may still be arriving: look again at the next scan
                return
            self._quarantine(kind, path, size, now, _why(error), tally)
        self._sizes.pop(path, None)

    def _quarantine(self, kind: str, path: str, size: int, now: datetime, reason: str, tally: Tally) -> None:
        """Copy the file aside with its reason, then record it (a failed copy is tried again at the next scan)."""
        copy = self.drop.quarantine(path, f"{kind} {path} ({size} bytes), quarantined by einvd at {stamp(now)}:\n"
                                          f"{reason}\n")
        with self.store.write() as tx:
            _record(tx, path, kind, size, now, "quarantined", f"{reason} [copy: {copy}]")
            raise_alert(tx, "result.unreadable", "result", path, now,
                        f"{kind} {path} cannot be applied ({reason[:300]}); quarantined as {copy}")
        tally.add("unreadable")

    def _addressed(self, tx: sqlite3.Connection, routing: Routing, numbers: Iterable[str]) -> None:
        """Refuse another seller's result: routed between other BANs and about none of this box's invoices (a
        result routed through a head office or a value-added centre but naming our numbers is ours)."""
        parties = {routing.from_party, routing.to_party}
        foreign = {p for p in parties if p.strip("0") and is_valid_ban(p)}
        if not self.seller_ban or not foreign or self.seller_ban in parties:
            return
        if any(tx.execute("SELECT 1 FROM invoices WHERE number = ?", (n,)).fetchone() for n in set(numbers)):
            return
        raise Refused(f"for seller {'/'.join(sorted(foreign))}, not this box's {self.seller_ban}, and about none "
                      "of its invoices")

    def _summary(self, tx: sqlite3.Connection, data: bytes, now: datetime, tally: Tally) -> str:
        summary = parse_summary_result(data)
        self._addressed(tx, summary.routing, (doc.reference_number for message in summary.messages
                                              for doc in (*message.good.invoices, *message.failed.invoices)))
        for message in summary.messages:
            source = f"SummaryResult {message.info.id}".strip()
            for doc in message.good.invoices:
                _verdict(tx, message.info.message_type, doc.reference_number, doc.invoice_date, CONFIRMED, "",
                         source, now, tally)
            for doc in message.failed.invoices:
                _verdict(tx, message.info.message_type, doc.reference_number, doc.invoice_date, REJECTED, "",
                         f"failed in {source}", now, tally)
        return "applied"

    def _process(self, tx: sqlite3.Connection, data: bytes, now: datetime, tally: Tally) -> str:
        result = parse_process_result(data)
        self._addressed(tx, result.routing, (p.strip() for info in result.results for p in info.parameters))
        for info in result.results:
            numbers = [p.strip() for p in info.parameters if is_invoice_number(p.strip())]
            if not info.ok and numbers:
                _verdict(tx, result.info.message_type, numbers[0], None, REJECTED, info.code, info.description,
                         now, tally)
        return "applied"

    def _allocation(self, tx: sqlite3.Connection, data: bytes, now: datetime, tally: Tally) -> str:
        # another business's allocation is not refused: boxes may share one Turnkey download folder
        allocations = [a for a in parse_e0501(data) if not self.seller_ban or a.ban == self.seller_ban]
        for allocation in allocations:
            numbers = allocation.range.end - allocation.range.begin + 1
            if allocation.booklets * BOOKLET != numbers:
                raise Refused(f"{allocation.range.label}: {numbers} numbers are not {allocation.booklets} booklets "
                              f"of {BOOKLET}")
        if not self.import_e0501:
            labels = ", ".join(a.range.label for a in allocations)
            raise_alert(tx, "e0501.arrived", "e0501", labels or "none", now,
                        f"E0501 allocation arrived ({labels}); import this box's part with einvd tracks import")
            return "alerted"
        current = [h.range for h in held(self.store)]
        at = stamp(now)
        for allocation in allocations:
            rng = allocation.range
            clash = first_overlap(rng, current)
            if clash is not None:
                event(tx, at, "track", rng.label, "e0501.skipped", f"overlaps {clash.label}")
                continue
            tx.execute("INSERT INTO tracks (period, invoice_type, track, begin_no, end_no, source, created_at) "
                       "VALUES (?, ?, ?, ?, ?, 'E0501', ?)",
                       (rng.period.code, rng.invoice_type, rng.track, rng.begin, rng.end, at))
            event(tx, at, "track", rng.label, "added", "E0501")
            current.append(rng)
            tally.add("ranges")
        return "applied"


def _why(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, ResultUnreadable | Refused) else f"{type(error).__name__}: {text}"


def _verdict(tx: sqlite3.Connection, message_type: str, number: str, day: date | None, status: str, code: str,
             reason: str, now: datetime, tally: Tally) -> None:
    """Apply a platform verdict to the invoice it names (F0401); other messages are logged on the invoice."""
    row = _invoice(tx, number, day)
    if row is None:
        tally.add("unmatched")
        return
    if message_type in ("F0401", ""):
        if advance(tx, row["id"], status, now, code, reason):
            tally.add(status)
        return
    event(tx, stamp(now), "invoice", number, f"{message_type} {status}", f"{code} {reason}".strip())


def _invoice(tx: sqlite3.Connection, number: str, day: date | None) -> sqlite3.Row | None:
    if day is not None:
        period = Period.of(datetime.combine(day, time(12), TAIPEI)).code
        found: sqlite3.Row | None = tx.execute("SELECT id FROM invoices WHERE number = ? AND period = ?",
                                               (number, period)).fetchone()
        return found
    latest: sqlite3.Row | None = tx.execute("SELECT id FROM invoices WHERE number = ? ORDER BY id DESC LIMIT 1",
                                            (number,)).fetchone()
    return latest
