"""Calendar work of ``einvd run``: the E0402 blank-number report of each finished period, the void-window
reminder, and the atomic file writes the report and archive jobs share.

E0402 (domain.md §2.7, §7.4): ``close_after`` after a period ends (default a day, so a back-dated sale of a
box that was offline over midnight still gets its number) the job closes the period in one write transaction:
it reads the ranges this box holds, computes the unused tails, exhausts the ranges (``last_no = end_no``; the
real last number is kept in ``used_last_no``) so nothing can be issued into a number reported blank, and
queues one E0402 per (type, track, 10,000 spans) in the outbox with its spans in ``blank_reports``. The pump
rebuilds the XML from that row (``blank_message``). A period is closed once: ``blank_periods`` makes the job
idempotent across ticks and restarts, and a box that was down for months closes each missed period once.

Several boxes sharing a track: each box holds only its own part (``einvd tracks import --begin/--end``) and
reports only the unused tail of that part, with its own BAN as BranchBan. The parts are disjoint, so the
messages never overlap; numbers of an allocation that no box imported are reported by nobody (the head office
reports them, or they are imported into one box before the period ends).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from daemon.alerts import raise_alert
from daemon.status import ACCEPTED_LOCAL, DROPPED, QUEUED, REJECTED, REJECTED_LOCAL, UNKNOWN
from daemon.store import Store, event, stamp
from turnkey.blanks import blank_reports
from turnkey.errors import TurnkeyError
from turnkey.mig import Schemas, render_checked
from turnkey.model import BlankReport, Party
from turnkey.numbers import TrackRange
from turnkey.period import Period, taipei

DUE, MISSED, WINDOW = "e0402.due", "e0402.missed", "window.closing"


# --- files -----------------------------------------------------------------------------------------------


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> Path:
    """``path`` whole or not at all: a temporary file beside it, fsync, rename, fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)
    return path


def record_export(tx: sqlite3.Connection, kind: str, key: str, path: Path, now: datetime, detail: str = "") -> None:
    tx.execute("INSERT INTO exports (kind, key, path, at, detail) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT (kind, key) DO UPDATE SET path = excluded.path, at = excluded.at, "
               "detail = excluded.detail", (kind, key, str(path), stamp(now), detail))


# --- E0402 -----------------------------------------------------------------------------------------------


def reference(report: BlankReport, part: int) -> str:
    """``11510-07-AB`` (and ``-2``, ``-3`` for the further messages of a track with > 10,000 spans)."""
    base = f"{report.period.code}-{report.invoice_type}-{report.track}"
    return base if part == 0 else f"{base}-{part + 1}"


def close_period(store: Store, period: Period, head_ban: str, branch_ban: str, now: datetime,
                 schemas: Schemas | None = None) -> list[int] | None:
    """Close ``period`` and queue its E0402 messages; the outbox ids, or None when it was closed already.

    Every message is rendered and checked before anything is written, so a report that could not leave
    (a bad BAN) leaves the period open and the job retries (and alerts) instead of queueing a FAILED row.
    """
    at = stamp(now)
    with store.write() as tx:
        if tx.execute("SELECT 1 FROM blank_periods WHERE period = ?", (period.code,)).fetchone():
            return None
        rows = tx.execute("SELECT * FROM tracks WHERE period = ? ORDER BY invoice_type, track, begin_no",
                          (period.code,)).fetchall()
        held = [(TrackRange(period, r["invoice_type"], r["track"], r["begin_no"], r["end_no"]), r["last_no"])
                for r in rows]
        reports = blank_reports(head_ban, branch_ban, period, held)
        for report in reports:
            render_checked(report, schemas)
        tx.execute("INSERT INTO blank_periods (period, closed_at, messages) VALUES (?, ?, ?)",
                   (period.code, at, len(reports)))
        tx.execute("UPDATE tracks SET used_last_no = last_no, last_no = end_no, closed_at = ? "
                   "WHERE period = ? AND closed_at IS NULL", (at, period.code))
        parts: dict[tuple[str, str], int] = defaultdict(int)
        ids = []
        for report in reports:
            part = parts[(report.invoice_type, report.track)]
            parts[(report.invoice_type, report.track)] += 1
            ref = reference(report, part)
            outbox_id = tx.execute(
                "INSERT INTO outbox (message_type, reference, invoice_id, not_before, created_at, updated_at) "
                "VALUES ('E0402', ?, NULL, ?, ?, ?)", (ref, at, at, at)).lastrowid
            assert outbox_id is not None
            tx.execute("INSERT INTO blank_reports (period, invoice_type, track, part, head_ban, branch_ban, spans, "
                       "outbox_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (period.code, report.invoice_type, report.track, part, report.head_ban, report.branch_ban,
                        json.dumps([list(span) for span in report.ranges]), outbox_id))
            ids.append(outbox_id)
        event(tx, at, "period", period.code, "closed", f"E0402: {len(reports)} message(s) queued")
    return ids


def stored_reports(conn: sqlite3.Connection, period: Period) -> list[BlankReport] | None:
    """The E0402 reports queued when ``period`` was closed (None: not closed yet)."""
    if conn.execute("SELECT 1 FROM blank_periods WHERE period = ?", (period.code,)).fetchone() is None:
        return None
    rows = conn.execute("SELECT * FROM blank_reports WHERE period = ? ORDER BY id", (period.code,)).fetchall()
    return [_report(row) for row in rows]


def _report(row: sqlite3.Row) -> BlankReport:
    return BlankReport(row["head_ban"], row["branch_ban"], row["invoice_type"], Period.parse(row["period"]),
                       row["track"], tuple((begin, end) for begin, end in json.loads(row["spans"])))


def blank_message(conn: sqlite3.Connection, outbox_id: int, seller: Party) -> BlankReport:
    """The E0402 an outbox row stands for, exactly as computed when its period was closed."""
    row = conn.execute("SELECT * FROM blank_reports WHERE outbox_id = ?", (outbox_id,)).fetchone()
    if row is None:
        raise ValueError(f"outbox row {outbox_id} has no stored E0402 report")
    return _report(row)


class BlankJob:
    """``tick(now)``: close each finished period once, alert when a report is late (``e0402.due`` from
    ``due_day``, ``e0402.missed`` after the 10th while it is not queued or not yet in Turnkey's hands)."""

    def __init__(self, store: Store, head_ban: str, branch_ban: str, close_after: timedelta = timedelta(hours=24),
                 due_day: int = 8, schemas: Schemas | None = None) -> None:
        self.store, self.head_ban, self.branch_ban = store, head_ban, branch_ban
        self.close_after, self.due_day, self.schemas = close_after, due_day, schemas
        self.last_error = ""

    def tick(self, now: datetime) -> dict[str, int]:
        counts = {"closed": 0, "queued": 0, DUE: 0, MISSED: 0, "cleared": 0}
        for period in self._open_periods(now):
            problem = ""
            if taipei(now) >= period.end + self.close_after:
                try:
                    if not self.branch_ban:
                        raise ValueError("seller.ban is not set")
                    ids = close_period(self.store, period, self.head_ban, self.branch_ban, now, self.schemas)
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
        rows = self.store.read("SELECT DISTINCT period FROM tracks WHERE period NOT IN "
                               "(SELECT period FROM blank_periods) ORDER BY period")
        return [p for r in rows if (p := Period.parse(r[0])).end <= taipei(now)]

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
        unsent = {r[0] for r in self.store.read(
            "SELECT DISTINCT b.period FROM blank_reports b JOIN outbox o ON o.id = b.outbox_id "
            "WHERE o.state <> 'DONE'")}
        with self.store.write() as tx:
            for code in sorted(open_codes | unsent):
                period = Period.parse(code)
                if taipei(now) >= period.e0402_deadline():
                    state = "not queued" if code in open_codes else "queued but not yet dropped"
                    counts[MISSED] += raise_alert(tx, MISSED, "period", code, now,
                                                  f"E0402 for period {code} missed its deadline "
                                                  f"{stamp(period.e0402_deadline())}: {state}",
                                                  period.e0402_deadline())
            settled_due = [r[0] for r in tx.execute(
                "SELECT entity_id FROM alerts WHERE kind = ? AND cleared_at IS NULL", (DUE,)) if r[0] not in open_codes]
            settled_missed = [r[0] for r in tx.execute(
                "SELECT entity_id FROM alerts WHERE kind = ? AND cleared_at IS NULL", (MISSED,))
                if r[0] not in open_codes | unsent]
            for kind, codes in ((DUE, settled_due), (MISSED, settled_missed)):
                for code in codes:
                    counts["cleared"] += tx.execute(
                        "UPDATE alerts SET cleared_at = ? WHERE kind = ? AND entity = 'period' AND entity_id = ?",
                        (stamp(now), kind, code)).rowcount


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
    invoices = store.read(
        f"SELECT status, count(*) FROM invoices WHERE period = ? AND lifecycle = 'issued' "
        f"AND status IN ({', '.join('?' * len(NEEDS_A_PERSON))}) GROUP BY status", (period.code, *NEEDS_A_PERSON))
    actions = store.read(
        "SELECT count(*) FROM invoice_actions a JOIN invoices i ON i.id = a.invoice_id JOIN outbox o "
        "ON o.id = a.outbox_id WHERE i.period = ? AND a.kind IN ('void', 'cancel') "
        "AND (o.state <> 'DONE' OR o.outcome IS NOT ?)", (period.code, ACCEPTED_LOCAL))[0][0]
    found = {row[0]: row[1] for row in invoices}
    if (not found and not actions) or local >= closes:
        with store.write() as tx:
            tx.execute("UPDATE alerts SET cleared_at = ? WHERE kind = ? AND entity = 'period' AND entity_id = ? "
                       "AND cleared_at IS NULL", (stamp(now), WINDOW, period.code))
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
