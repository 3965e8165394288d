"""Calendar work of ``einvd run``: the E0402 blank-number report of each finished period, the void-window
reminder, and the record of each report and archive written (``record_export``).

E0402 (domain.md §2.7, §7.4): ``close_after`` after a period ends (default a day, so a back-dated sale of a
box that was offline over midnight still gets its number) the job closes the period in one write transaction:
it reads the ranges this box holds, computes the unused tails, exhausts the ranges (``last_no = end_no``; the
real last number is kept in ``used_last_no``) so nothing can be issued into a number reported blank, and
queues one E0402 per (type, track, 10,000 spans) in the outbox with its spans in ``blank_reports``. The pump
rebuilds the XML from that row (``blank_message``). A period is closed once: ``blank_periods`` makes the job
idempotent across ticks and restarts, and a box that was down for months closes each missed period once.

Several boxes sharing a track (``[e0402] role``, #15 item 9): the platform keeps ONE E0402 per (BranchBan,
InvoiceType, YearMonth, InvoiceTrack), so boxes that each hold part of a track (``einvd tracks import
--begin/--end``) must not each report it. ``alone`` (the default) reports every track held. A ``part`` box
closes its ranges as usual but queues no E0402 for its shared tracks (those not in ``whole_tracks``) and raises
``e0402.export``: ``einvd blank-report --export`` writes its held ranges and unused spans, which it clears. A
``reporter`` box does the same for its own part and raises ``e0402.merge``; ``einvd blank-report --merge
FILES... --queue`` merges every box's export (``turnkey.blanks.merge_parts``: overlapping or missing spans are
refused by number) into one E0402 per key in its outbox (``queue_merged``), which clears it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from daemon.alerts import raise_alert
from daemon.status import ACCEPTED_LOCAL, DROPPED, QUEUED, REJECTED, REJECTED_LOCAL, UNKNOWN
from daemon.store import Connection, Store, event, exports, stamp
from daemon.store import alerts as alert_table
from daemon.store import blanks as table
from daemon.store import outbox as outbox_table
from daemon.store.blanks import StoredBlankReport
from daemon.turnkey_watch import TurnkeyWatch
from turnkey.blanks import blank_reports
from turnkey.errors import Conflict, Problem, TurnkeyError
from turnkey.mig import Schemas, render_checked
from turnkey.model import BlankReport, Party
from turnkey.numbers import TrackRange
from turnkey.period import Period, taipei

DUE, MISSED, WINDOW = "e0402.due", "e0402.missed", "window.closing"
EXPORT, MERGE = "e0402.export", "e0402.merge"
ALONE_ROLE, PART_ROLE, REPORTER_ROLE = "alone", "part", "reporter"


@dataclass(frozen=True)
class Sharing:
    """How this box reports the tracks other boxes hold parts of: ``[e0402] role`` and ``whole_tracks``."""

    role: str = ALONE_ROLE
    whole_tracks: frozenset[str] = frozenset()

    def shared(self, track: str) -> bool:
        """Whether ``track`` is reported by merging the exports of every box (not by this box alone)."""
        return self.role != ALONE_ROLE and track not in self.whole_tracks


ALONE = Sharing()


def record_export(tx: Connection, kind: str, key: str, path: Path, now: datetime, detail: str = "") -> None:
    """Record (or replace) the report or archive of ``kind`` and ``key`` written to ``path``."""
    exports.record(tx, kind, key, str(path), stamp(now), detail)


# --- E0402 -----------------------------------------------------------------------------------------------


def reference(report: BlankReport, part: int) -> str:
    """``11510-07-AB`` (and ``-2``, ``-3`` for the further messages of a track with > 10,000 spans)."""
    base = f"{report.period.code}-{report.invoice_type}-{report.track}"
    return base if part == 0 else f"{base}-{part + 1}"


def close_period(store: Store, period: Period, head_ban: str, branch_ban: str, now: datetime,
                 schemas: Schemas | None = None, sharing: Sharing = ALONE) -> list[int] | None:
    """Close ``period`` and queue its E0402 messages; the outbox ids, or None when it was closed already.

    Every message is rendered and checked before anything is written, so a report that could not leave
    (a bad BAN) leaves the period open and the job retries (and alerts) instead of queueing a FAILED row.
    Shared tracks (``sharing``) are closed too but not reported: an alert says to export or merge them.
    """
    at = stamp(now)
    with store.write() as tx:
        if table.is_closed(tx, period.code):
            return None
        held = [(TrackRange(period, r.invoice_type, r.track, r.begin_no, r.end_no), r.last_no)
                for r in table.held_ranges(tx, period.code)]
        reports = [r for r in blank_reports(head_ban, branch_ban, period, held) if not sharing.shared(r.track)]
        for report in reports:
            render_checked(report, schemas)
        table.close(tx, period.code, at, len(reports))
        shared = sorted({(span.invoice_type, span.track) for span, _ in held if sharing.shared(span.track)})
        if shared:
            _shared_alert(tx, period, sharing.role, shared, now)
        parts: dict[tuple[str, str], int] = defaultdict(int)
        ids = []
        for report in reports:
            part = parts[(report.invoice_type, report.track)]
            parts[(report.invoice_type, report.track)] += 1
            outbox_id = outbox_table.enqueue_unlinked(tx, "E0402", reference(report, part), at)
            table.add_report(tx, StoredBlankReport(period.code, report.invoice_type, report.track, part,
                                                   report.head_ban, report.branch_ban, report.ranges, outbox_id))
            ids.append(outbox_id)
        event(tx, at, "period", period.code, "closed", f"E0402: {len(reports)} message(s) queued")
    return ids


def _shared_alert(tx: Connection, period: Period, role: str, shared: Sequence[tuple[str, str]], now: datetime) -> None:
    """``e0402.export`` (a part) or ``e0402.merge`` (the reporter): what to do so the shared tracks get reported."""
    code, deadline = period.code, period.e0402_deadline()
    tracks = ", ".join(f"{track} (type {invoice_type})" for invoice_type, track in shared)
    if role == PART_ROLE:
        raise_alert(tx, EXPORT, "period", code, now,
                    f"period {code}: this box holds part of {tracks}, reported by the reporting box, not alone: run "
                    f"`einvd blank-report --export --period {code} -o FILE` and give FILE to the reporting box "
                    f"before {stamp(deadline)}", deadline)
    else:
        raise_alert(tx, MERGE, "period", code, now,
                    f"period {code}: {tracks} are shared with other boxes: collect the `einvd blank-report --export` "
                    f"file of every box holding part of them (this one's too) and run `einvd blank-report --merge "
                    f"FILES... --queue` before {stamp(deadline)}", deadline)


def queue_merged(store: Store, period: Period, reports: Sequence[BlankReport], now: datetime,
                 schemas: Schemas | None = None) -> list[int]:
    """Queue merged E0402 reports (``einvd blank-report --merge --queue``) in this box's outbox; the outbox ids.

    The same merge again queues nothing; a track of the period already queued with other spans is refused
    (``blank_merge.queued``). Clears ``e0402.merge`` for the period."""
    for report in reports:
        render_checked(report, schemas)
    at = stamp(now)
    with store.write() as tx:
        table.open_period_row(tx, period.code, at)
        stored: dict[tuple[str, str], list[StoredBlankReport]] = defaultdict(list)
        for row in table.reports_of(tx, period.code):
            stored[(row.invoice_type, row.track)].append(row)
        wanted: dict[tuple[str, str], list[BlankReport]] = defaultdict(list)
        for report in reports:
            wanted[(report.invoice_type, report.track)].append(report)
        problems = [_queued_problem(period, key, rows) for key, rows in stored.items()
                    if key in wanted and [_report(r) for r in rows] != wanted[key]]
        if problems:
            raise Conflict(*problems)
        ids = []
        for key, group in wanted.items():
            if key in stored:
                continue  # the same merge again
            for part, report in enumerate(group):
                outbox_id = outbox_table.enqueue_unlinked(tx, "E0402", reference(report, part), at)
                table.add_report(tx, StoredBlankReport(period.code, report.invoice_type, report.track, part,
                                                       report.head_ban, report.branch_ban, report.ranges, outbox_id))
                ids.append(outbox_id)
        table.count_messages(tx, period.code, len(ids))
        alert_table.clear(tx, at, MERGE, "period", period.code)
        event(tx, at, "period", period.code, "merged", f"E0402: {len(ids)} merged message(s) queued")
    return ids


def _queued_problem(period: Period, key: tuple[str, str], rows: Sequence[StoredBlankReport]) -> Problem:
    invoice_type, track = key
    return Problem("blank_merge.queued", "files",
                   f"E0402 for period {period.code} type {invoice_type} track {track} is queued already (outbox "
                   f"{', '.join(str(r.outbox_id) for r in rows)}) with other spans: the platform keeps one per key")


def stored_reports(conn: Connection, period: Period) -> list[BlankReport] | None:
    """The E0402 reports queued when ``period`` was closed (None: not closed yet)."""
    if not table.is_closed(conn, period.code):
        return None
    return [_report(row) for row in table.reports_of(conn, period.code)]


def _report(row: StoredBlankReport) -> BlankReport:
    return BlankReport(row.head_ban, row.branch_ban, row.invoice_type, Period.parse(row.period), row.track,
                       row.spans)


def blank_message(conn: Connection, outbox_id: int, seller: Party) -> BlankReport:
    """The E0402 an outbox row stands for, exactly as computed when its period was closed."""
    row = table.report_for(conn, outbox_id)
    if row is None:
        raise ValueError(f"outbox row {outbox_id} has no stored E0402 report")
    return _report(row)


class BlankJob:
    """``tick(now)``: close each finished period once, alert when a report is late (``e0402.due`` from
    ``due_day``, ``e0402.missed`` after the 10th while it is not queued or not yet in Turnkey's hands)."""

    def __init__(self, store: Store, head_ban: str, branch_ban: str, close_after: timedelta = timedelta(hours=24),
                 due_day: int = 8, schemas: Schemas | None = None, sharing: Sharing = ALONE) -> None:
        self.store, self.head_ban, self.branch_ban = store, head_ban, branch_ban
        self.close_after, self.due_day, self.schemas, self.sharing = close_after, due_day, schemas, sharing
        self.last_error = ""

    def tick(self, now: datetime) -> dict[str, int]:
        counts = {"closed": 0, "queued": 0, DUE: 0, MISSED: 0, "cleared": 0}
        for period in self._open_periods(now):
            problem = ""
            if taipei(now) >= period.end + self.close_after:
                try:
                    if not self.branch_ban:
                        raise ValueError("seller.ban is not set")
                    ids = close_period(self.store, period, self.head_ban, self.branch_ban, now, self.schemas,
                                       self.sharing)
                    counts["closed"] += 1
                    counts["queued"] += len(ids or [])
                    continue
                except (TurnkeyError, ValueError) as error:
                    problem = _describe(error)
                    self.last_error = f"E0402 {period.code}: {problem}"
            counts[DUE] += self._due(period, now, problem)
        self._late(now, counts)
        return counts

    def _open_periods(self, now: datetime) -> list[Period]:
        """Ended periods with ranges held and not closed yet."""
        codes = table.open_periods(self.store.connection())
        return [p for code in codes if (p := Period.parse(code)).end <= taipei(now)]

    def _due(self, period: Period, now: datetime, problem: str) -> int:
        if taipei(now) < period.end + timedelta(days=self.due_day - 1):
            return 0
        why = problem or "the period is not closed yet"
        with self.store.write() as tx:
            raised = raise_alert(tx, DUE, "period", period.code, now,
                                 f"E0402 for period {period.code} is not queued ({why}); due by "
                                 f"{stamp(period.e0402_deadline())}", period.e0402_deadline())
        return int(raised)

    def _late(self, now: datetime, counts: dict[str, int]) -> None:
        """``e0402.missed`` for a period past its deadline whose reports are not all in Turnkey's hands; clear
        what is settled."""
        open_codes = {p.code for p in self._open_periods(now)}
        unsent = table.unsent_periods(self.store.connection())
        with self.store.write() as tx:
            for code in sorted(open_codes | unsent):
                period = Period.parse(code)
                if taipei(now) >= period.e0402_deadline():
                    state = "not queued" if code in open_codes else "queued but not yet dropped"
                    counts[MISSED] += raise_alert(tx, MISSED, "period", code, now,
                                                  f"E0402 for period {code} missed its deadline "
                                                  f"{stamp(period.e0402_deadline())}: {state}",
                                                  period.e0402_deadline())
            settled_due = [c for c in alert_table.open_entity_ids(tx, DUE) if c not in open_codes]
            settled_missed = [c for c in alert_table.open_entity_ids(tx, MISSED) if c not in open_codes | unsent]
            for kind, codes in ((DUE, settled_due), (MISSED, settled_missed)):
                for code in codes:
                    counts["cleared"] += alert_table.clear(tx, stamp(now), kind, "period", code, only_open=False)


def _describe(error: Exception) -> str:
    if isinstance(error, TurnkeyError):
        return "; ".join(f"{p.code} {p.field}: {p.message}" for p in error.problems)
    return str(error)


# --- the void/cancel window ------------------------------------------------------------------------------

NEEDS_A_PERSON = (REJECTED, REJECTED_LOCAL, UNKNOWN, QUEUED, DROPPED)


def window_alerts(store: Store, now: datetime, cutoff_day: int, notice: timedelta) -> int:
    """``window.closing`` for the previous period, ``notice`` before its void/cancel cut-off, while any of its
    invoices still needs a person: not delivered or rejected (voiding and re-issuing it is only possible until
    the cut-off; afterwards only an allowance), or a void/cancel whose message Turnkey has not accepted. Cleared
    when nothing is left or the window has closed. Returns 1 when raised now."""
    period = Period.of(now).previous()
    closes = period.void_deadline(cutoff_day)
    local = taipei(now)
    conn = store.connection()
    found = table.open_invoices(conn, period.code, NEEDS_A_PERSON)
    actions = table.unaccepted_actions(conn, period.code, ACCEPTED_LOCAL)
    if (not found and not actions) or local >= closes:
        with store.write() as tx:
            alert_table.clear(tx, stamp(now), WINDOW, "period", period.code)
        return 0
    if local < closes - notice:
        return 0
    parts = [f"{count} {status}" for status, count in sorted(found.items())]
    if actions:
        parts.append(f"{actions} void/cancel not yet accepted by Turnkey")
    message = (f"period {period.code}: voids and cancels close {stamp(closes)}; still open: "
               f"{', '.join(parts)} (afterwards only an allowance)")
    with store.write() as tx:
        raised = raise_alert(tx, WINDOW, "period", period.code, now, message, closes)
    return int(raised)


# --- Turnkey itself (daemon/turnkey_watch.py) -------------------------------------------------------------

FOLDER_CHECKS = 60.0


def turnkey_jobs(watch: TurnkeyWatch, poll_seconds: float) -> list[tuple[str, float, Callable[[datetime], object]]]:
    """(name, seconds, tick) of the Turnkey jobs: its database (only when one is configured) and the SRC and result
    folder checks (``turnkey.stuck``, ``turnkey.silent``)."""
    jobs: list[tuple[str, float, Callable[[datetime], object]]] = [
        ("turnkey-folders", FOLDER_CHECKS, watch.check_folders)]
    if watch.database is not None:
        jobs.append(("turnkey-db", poll_seconds, watch.read_database))
    return jobs
