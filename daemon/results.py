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

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from daemon.alerts import raise_alert
from daemon.policy import settlement as policy
from daemon.policy.settlement import BOOKLET, TURNKEY_SUFFIX, original_name
from daemon.ports import Drop
from daemon.status import advance
from daemon.store import Connection, Store, event, invoices, stamp, tracks
from daemon.store import outbox as outbox_table
from daemon.store import results as table
from daemon.store.outbox import Dropped
from daemon.tracks import held
from daemon.verdicts import Tally, apply_verdict
from turnkey.errors import ResultUnreadable
from turnkey.mig import parse_e0501, parse_process_result, parse_summary_result
from turnkey.mig.results import Routing

__all__ = ["BOOKLET", "MAX_RESULT_BYTES", "REFUSALS", "RESULT_KINDS", "TURNKEY_SUFFIX", "Refused", "ResultFiles",
           "Tally", "original_name", "reconcile"]

MAX_RESULT_BYTES = 64 * 1024 * 1024
"""Larger result files are quarantined unread (a busy shop's daily SummaryResult is a few MB)."""
REFUSALS = (ResultUnreadable, ValueError, LookupError, ArithmeticError, RecursionError)
"""What a hostile file can make the parsers raise; the watcher quarantines it instead of stopping."""
RESULT_KINDS = ("ProcessResult", "SummaryResult", "E0501")


def _record(tx: Connection, path: str, kind: str, size: int, now: datetime, outcome: str,
            detail: str = "") -> None:
    table.record_seen(tx, path, kind, size, stamp(now), outcome, detail[:500])


# --- files leaving SRC ------------------------------------------------------------------------------------


def reconcile(store: Store, drop: Drop, now: datetime, tally: Tally) -> None:
    """Settle every dropped row whose file Turnkey has taken (to BAK or ERR)."""
    conn = store.connection()
    by_code: dict[str, list[Dropped]] = defaultdict(list)
    for row in outbox_table.dropped_unsettled(conn):
        by_code[row.message_type].append(row)
    seen = table.seen(conn, "ERR")
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


def _settle(store: Store, rows: list[Dropped], waiting: set[str], errors: dict[str, int],
            reasons: dict[str, str], now: datetime, tally: Tally) -> None:
    settlement = policy.settle_dropped(rows, waiting, reasons)
    with store.write() as tx:
        for err in settlement.err_files:
            _record(tx, err.path, "ERR", errors[err.path], now, err.outcome, err.reason)
        for found in settlement.outcomes:
            _outcome(tx, found.row, found.outcome, now, found.reason)
            tally.add(found.outcome)


def _outcome(tx: Connection, row: Dropped, outcome: str, now: datetime, reason: str) -> None:
    at = stamp(now)
    outbox_table.set_outcome(tx, row.id, outcome, at, reason or None)
    target = policy.outcome_target(row.message_type, row.invoice_id)
    if target == "outbox":
        event(tx, at, "outbox", str(row.id), outcome, reason)
    elif target == "status" and row.invoice_id is not None:
        advance(tx, row.invoice_id, outcome, now, reason=reason)
    else:
        event(tx, at, "invoice", row.reference, f"{row.message_type} {outcome}", reason)


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
        self._apply: dict[str, Callable[[Connection, bytes, datetime, Tally], str]] = {
            "ProcessResult": self._process, "SummaryResult": self._summary, "E0501": self._allocation,
        }

    def scan(self, now: datetime, tally: Tally) -> None:
        for kind in RESULT_KINDS:
            seen = table.seen(self.store.connection(), kind)
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

    def _addressed(self, tx: Connection, routing: Routing, numbers: Iterable[str]) -> None:
        """Refuse another seller's result: routed between other BANs and about none of this box's invoices."""
        foreign = policy.foreign_parties(routing, self.seller_ban)
        if foreign and not invoices.any_numbered(tx, numbers):
            raise Refused(f"for seller {'/'.join(sorted(foreign))}, not this box's {self.seller_ban}, and about "
                          "none of its invoices")

    def _summary(self, tx: Connection, data: bytes, now: datetime, tally: Tally) -> str:
        summary = parse_summary_result(data)
        self._addressed(tx, summary.routing, policy.summary_numbers(summary))
        for verdict in policy.summary_verdicts(summary):
            apply_verdict(tx, verdict, now, tally)
        return "applied"

    def _process(self, tx: Connection, data: bytes, now: datetime, tally: Tally) -> str:
        result = parse_process_result(data)
        self._addressed(tx, result.routing, policy.process_numbers(result))
        for verdict in policy.process_verdicts(result):
            apply_verdict(tx, verdict, now, tally)
        return "applied"

    def _allocation(self, tx: Connection, data: bytes, now: datetime, tally: Tally) -> str:
        # another business's allocation is not refused: boxes may share one Turnkey download folder
        allocations = [a for a in parse_e0501(data) if not self.seller_ban or a.ban == self.seller_ban]
        problem = policy.booklet_problem(allocations)
        if problem:
            raise Refused(problem)
        if not self.import_e0501:
            labels = ", ".join(a.range.label for a in allocations)
            raise_alert(tx, "e0501.arrived", "e0501", labels or "none", now,
                        f"E0501 allocation arrived ({labels}); import this box's part with einvd tracks import")
            return "alerted"
        at = stamp(now)
        placed = policy.place_ranges([a.range for a in allocations], [h.range for h in held(self.store)])
        for span, clash in placed:
            if clash is not None:
                event(tx, at, "track", span.label, "e0501.skipped", f"overlaps {clash.label}")
                continue
            tracks.insert(tx, span.period.code, span.invoice_type, span.track, span.begin, span.end, "E0501", at)
            event(tx, at, "track", span.label, "added", "E0501")
            tally.add("ranges")
        return "applied"


def _why(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, ResultUnreadable | Refused) else f"{type(error).__name__}: {text}"
