"""Reading what Turnkey and the platform did, and applying it to the outbox and the invoices.

- A dropped file that left SRC was taken by Turnkey: found in ERR (new there) it was refused by Turnkey's local
  checks (``rejected_local``), otherwise it went to BAK (``accepted_local``). SRC is listed before ERR, so a file
  missing from SRC is already wherever it went. Turnkey 3.2.0 writes no reason file (domain.md §5.5a): the
  refusal's reason says the reason is only in Turnkey's database and log. Both layouts are read: 3.2.0's
  ``<yyyyMMdd>/<HH>/<name>`` (``<name>.001`` for a duplicate in BAK) and the older ``<yyyyMMdd>/<HH-HH>/`` with
  ``_<epoch ms>.xml`` (``original_name`` maps both back).
- ProcessResult and SummaryResult are joined per uploaded message by its ``Info/Id`` (einvd cannot know which of
  its files Turnkey merged into which message, up to 1000 per message), through the ``turnkey_messages`` table:

  * a ProcessResult is read as ``policy.read_process`` says (confirmed / whole message failed / per document).
    Per-document failures name their number: applied at once. What it says is kept by message Id.
  * a SummaryResult stores, per message, the documents it lists. When the message's ProcessResult is known, the
    join applies its word to them (``policy.joined_verdicts``): ``00000`` confirms all, a whole-message failure
    rejects all with its code, per-document failures confirm the documents not named. Where the two disagree
    (the summary lists a document Failed that the ProcessResult confirms) the ProcessResult wins: it is what
    Turnkey itself records in its database.
  * whichever file comes first waits for the other. A ProcessResult waits for its summary without limit (only
    the summary can name the documents of a confirmed or wholly failed message). A summary waits at most
    ``join_wait`` (2 h by default; a site may not keep ProcessResults) and is then applied alone: Good ->
    ``confirmed``, Failed -> ``rejected`` without a code. A ProcessResult that comes after that still applies
    its per-document failures (which adds their codes) but nothing more.
  * a message is settled once: a second summary or ProcessResult of the same message Id is recorded as
    ``duplicate`` and changes nothing.
  * ``...-Final.SummaryResult`` (daily; Turnkey's own reports skip it) is never applied: it is compared with the
    per-message summaries read before; each difference is logged as a ``final.mismatch`` event on the file (no
    alert: its shape is not documented) and the file is recorded ``cross-checked`` or ``mismatch``.
- E0501: the allocated ranges are added to the ranges this box holds.

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
from datetime import datetime, timedelta

from daemon.alerts import raise_alert
from daemon.policy import settlement as policy
from daemon.policy.settlement import BOOKLET, ERR_REASON, TURNKEY_SUFFIX, ProcessReading, Verdict, original_name
from daemon.ports import Drop
from daemon.status import advance
from daemon.store import Connection, Store, event, invoices, stamp, tracks
from daemon.store import outbox as outbox_table
from daemon.store import results as table
from daemon.store import turnkey_messages as messages
from daemon.store.outbox import Dropped
from daemon.tracks import held
from daemon.verdicts import Tally, apply_verdict
from turnkey.errors import ResultUnreadable
from turnkey.mig import parse_e0501, parse_process_result, parse_summary_result
from turnkey.mig.results import Routing, SummaryResult

__all__ = ["BOOKLET", "MAX_RESULT_BYTES", "REFUSALS", "RESULT_KINDS", "TURNKEY_SUFFIX", "Refused", "ResultFiles",
           "Tally", "original_name", "reconcile"]

MAX_RESULT_BYTES = 64 * 1024 * 1024
"""Larger result files are quarantined unread (a busy shop's daily SummaryResult is a few MB)."""
REFUSALS = (ResultUnreadable, ValueError, LookupError, ArithmeticError, RecursionError)
"""What a hostile file can make the parsers raise; the watcher quarantines it instead of stopping."""
RESULT_KINDS = ("ProcessResult", "SummaryResult", "E0501")
JOIN_WAIT = timedelta(hours=2)
"""How long a SummaryResult waits for the ProcessResult of its message before it is applied alone."""


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
        reasons = {path: ERR_REASON for path in sorted(errors) if path not in seen}
        _settle(store, rows, waiting, errors, reasons, now, tally)


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
                 max_bytes: int = MAX_RESULT_BYTES, join_wait: timedelta = JOIN_WAIT,
                 apply: Callable[[Connection, Verdict, datetime, Tally], None] = apply_verdict) -> None:
        self.store, self.drop = store, drop
        self.seller_ban, self.import_e0501, self.max_bytes = seller_ban, import_e0501, max_bytes
        self.join_wait = join_wait
        self.apply = apply
        """Where each Verdict goes (daemon.verdicts.apply_verdict; a test may wrap it to see the verdicts)."""
        self._sizes: dict[str, int] = {}
        self._apply: dict[str, Callable[[Connection, str, bytes, datetime, Tally], str]] = {
            "ProcessResult": self._process, "SummaryResult": self._summary, "E0501": self._allocation,
        }

    def scan(self, now: datetime, tally: Tally) -> None:
        for kind in RESULT_KINDS:
            seen = table.seen(self.store.connection(), kind)
            for path, size in sorted(self.drop.results(kind).items()):
                if path not in seen:
                    self._one(kind, path, size, now, tally)
        self._overdue(now, tally)

    def _one(self, kind: str, path: str, size: int, now: datetime, tally: Tally) -> None:
        try:
            if size > self.max_bytes:
                raise Refused(f"{size} bytes, more than the {self.max_bytes} a result file may have")
            data = self.drop.read(path)
            with self.store.write() as tx:
                outcome = self._apply[kind](tx, path, data, now, tally)
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

    def _summary(self, tx: Connection, path: str, data: bytes, now: datetime, tally: Tally) -> str:
        summary = parse_summary_result(data)
        if policy.is_final(path):
            return self._cross_check(tx, path, summary, now)
        self._addressed(tx, summary.routing, policy.summary_numbers(summary))
        at = stamp(now)
        applied = 0
        for message in summary.messages:
            message_id, kind = message.info.id, message.info.message_type
            documents = policy.summary_documents(message)
            known = messages.get(tx, message_id) if message_id else None
            if known is not None and known.documents is not None:
                tally.add("duplicate")  # this message's documents were listed before: never counted twice
                continue
            applied += 1
            if not message_id:  # nothing to join it with
                self._verdicts(tx, policy.joined_verdicts(message_id, kind, None, documents), now, tally)
                continue
            messages.put_documents(tx, message_id, kind, documents, at)
            if known is not None and known.verdict:
                self._verdicts(tx, policy.joined_verdicts(message_id, kind, _reading(known), documents), now, tally)
                messages.settle(tx, message_id, at)
        return "applied" if applied or not summary.messages else "duplicate"

    def _cross_check(self, tx: Connection, path: str, final: SummaryResult, now: datetime) -> str:
        """A ``-Final`` summary: compared with the per-message ones read before, never applied."""
        known = {m.info.id: _documents(tx, m.info.id) for m in final.messages}
        mismatches = policy.final_mismatches(final, known)
        for line in mismatches:
            event(tx, stamp(now), "result", path, "final.mismatch", line[:500])
        return "mismatch" if mismatches else "cross-checked"

    def _process(self, tx: Connection, path: str, data: bytes, now: datetime, tally: Tally) -> str:
        result = parse_process_result(data)
        self._addressed(tx, result.routing, policy.process_numbers(result))
        reading = policy.read_process(result)
        if not reading.message_id:
            raise Refused("a ProcessResult without MessageInfo/Id cannot be joined to its message")
        known = messages.get(tx, reading.message_id)
        if known is not None and known.verdict:
            tally.add("duplicate")
            return "duplicate"
        self._verdicts(tx, policy.failure_verdicts(reading), now, tally)
        at = stamp(now)
        messages.put_process(tx, reading.message_id, reading.message_type, reading.verdict, reading.code,
                             reading.reason, reading.failures, at)
        if known is not None and known.documents is not None and known.settled_at is None:
            verdicts = policy.joined_verdicts(reading.message_id, known.message_type or reading.message_type,
                                              reading, known.documents)
            self._verdicts(tx, verdicts, now, tally)
            messages.settle(tx, reading.message_id, at)
        return "applied"

    def _overdue(self, now: datetime, tally: Tally) -> None:
        """Summaries whose ProcessResult has not come within ``join_wait``: applied alone."""
        waiting = messages.waiting(self.store.connection(), stamp(now - self.join_wait))
        if not waiting:
            return
        with self.store.write() as tx:
            for known in waiting:
                documents = known.documents or ()
                self._verdicts(tx, policy.joined_verdicts(known.message_id, known.message_type, None, documents),
                               now, tally)
                messages.settle(tx, known.message_id, stamp(now))

    def _verdicts(self, tx: Connection, verdicts: Iterable[Verdict], now: datetime, tally: Tally) -> None:
        for verdict in verdicts:
            self.apply(tx, verdict, now, tally)

    def _allocation(self, tx: Connection, path: str, data: bytes, now: datetime, tally: Tally) -> str:
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


def _reading(known: messages.TurnkeyMessage) -> ProcessReading:
    return ProcessReading(known.message_id, known.message_type, known.verdict, known.code, known.reason,
                          known.failures)


def _documents(tx: Connection, message_id: str) -> tuple[messages.Document, ...] | None:
    known = messages.get(tx, message_id) if message_id else None
    return None if known is None else known.documents


def _why(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, ResultUnreadable | Refused) else f"{type(error).__name__}: {text}"
