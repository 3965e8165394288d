"""Read-only queries of the daily report and the period archive (``daemon/reports.py``, ``daemon/archive.py``).

Days are Taipei dates compared with the first ten characters of stored stamps (every stamp is Taipei time).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def _day(column: str) -> str:
    return f"substr({column}, 1, 10) = ?"


@dataclass(frozen=True, slots=True)
class Count:
    """A group and how many rows it holds (``key``: a status, a lifecycle state; ``sub``/``detail`` when the
    grouping has two or three columns)."""

    key: str
    sub: str | None
    detail: str | None
    count: int


@dataclass(frozen=True, slots=True)
class Rejection:
    number: str
    status: str
    result_code: str
    result_reason: str
    status_at: str | None


@dataclass(frozen=True, slots=True)
class OpenAlert:
    kind: str
    entity: str
    entity_id: str
    raised_at: str
    due_at: str | None
    message: str


@dataclass(frozen=True, slots=True)
class TrackUse:
    """A range with invoices issued on the day, and how many."""

    id: int
    period: str
    invoice_type: str
    track: str
    begin_no: int
    end_no: int
    used: int


def issued_on(conn: sqlite3.Connection, day: str) -> tuple[int, int]:
    """(count, total amount) of the invoices issued on ``day``."""
    count, total = conn.execute(f"SELECT count(*), coalesce(sum(total), 0) FROM invoices WHERE {_day('issued_at')}",
                                (day,)).fetchone()
    return int(count), int(total)


def invoices_by_status(conn: sqlite3.Connection, day: str) -> list[Count]:
    return [Count(str(r[0]), None, None, r[1]) for r in conn.execute(
        f"SELECT status, count(*) FROM invoices WHERE {_day('issued_at')} GROUP BY 1 ORDER BY 1", (day,))]


def invoices_by_lifecycle(conn: sqlite3.Connection, day: str) -> list[Count]:
    return [Count(str(r[0]), None, None, r[1]) for r in conn.execute(
        f"SELECT lifecycle, count(*) FROM invoices WHERE {_day('issued_at')} GROUP BY 1 ORDER BY 1", (day,))]


def messages_on(conn: sqlite3.Connection, day: str) -> list[Count]:
    """Messages queued on ``day`` by (type, state, Turnkey's outcome or None)."""
    return [Count(r[0], r[1], r[2], r[3]) for r in conn.execute(
        f"SELECT message_type, state, outcome, count(*) FROM outbox WHERE {_day('created_at')} "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", (day,))]


def results_on(conn: sqlite3.Connection, day: str) -> list[Count]:
    """Result files read on ``day`` by (kind, outcome)."""
    return [Count(r[0], r[1], None, r[2]) for r in conn.execute(
        f"SELECT kind, outcome, count(*) FROM results_seen WHERE {_day('seen_at')} GROUP BY 1, 2 ORDER BY 1, 2",
        (day,))]


def rejections_on(conn: sqlite3.Connection, day: str) -> list[Rejection]:
    return [Rejection(*r) for r in conn.execute(
        "SELECT number, status, result_code, result_reason, status_at FROM invoices "
        f"WHERE status IN ('rejected', 'rejected_local') AND {_day('status_at')} ORDER BY id", (day,))]


@dataclass(frozen=True, slots=True)
class CorrectionRejection:
    """A void, cancel, allowance, allowance void or E0402 refused on the day (by Turnkey or the platform)."""

    message_type: str
    reference: str
    state: str
    code: str
    reason: str
    at: str


def correction_rejections_on(conn: sqlite3.Connection, day: str) -> list[CorrectionRejection]:
    """Messages other than F0401 the platform rejected on ``day`` (``deliveries``) or Turnkey refused on it."""
    return [CorrectionRejection(*r) for r in conn.execute(
        "SELECT o.message_type, o.reference, d.state, d.code, d.reason, d.at FROM deliveries d "
        f"JOIN outbox o ON o.id = d.outbox_id WHERE d.state = 'rejected' AND o.message_type <> 'F0401' "
        f"AND {_day('d.at')} UNION ALL "
        "SELECT o.message_type, o.reference, o.outcome, '', coalesce(o.last_error, ''), o.outcome_at FROM outbox o "
        "LEFT JOIN deliveries d ON d.outbox_id = o.id WHERE o.outcome = 'rejected_local' AND d.state IS NULL "
        f"AND o.message_type <> 'F0401' AND {_day('o.outcome_at')} ORDER BY 6", (day, day))]


def open_alerts(conn: sqlite3.Connection) -> list[OpenAlert]:
    return [OpenAlert(*r) for r in conn.execute(
        "SELECT kind, entity, entity_id, raised_at, due_at, message FROM alerts WHERE cleared_at IS NULL ORDER BY id")]


def alerts_raised_on(conn: sqlite3.Connection, day: str) -> int:
    raised: int = conn.execute(f"SELECT count(*) FROM alerts WHERE {_day('raised_at')}", (day,)).fetchone()[0]
    return raised


def tracks_used_on(conn: sqlite3.Connection, day: str) -> list[TrackUse]:
    return [TrackUse(*r) for r in conn.execute(
        "SELECT t.id, t.period, t.invoice_type, t.track, t.begin_no, t.end_no, count(DISTINCT i.number) AS used "
        f"FROM tracks t JOIN invoices i ON i.track_id = t.id WHERE {_day('i.issued_at')} "
        "GROUP BY t.id ORDER BY t.period, t.invoice_type, t.track, t.begin_no", (day,))]


def numbers_on(conn: sqlite3.Connection, track_id: int, day: str) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT number FROM invoices WHERE track_id = ? AND {_day('issued_at')}",
                                       (track_id, day))]


def numbers_between(conn: sqlite3.Connection, track_id: int, first: str, last: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT number FROM invoices WHERE track_id = ? AND number BETWEEN ? AND ?",
                                       (track_id, first, last))]


# --- the period archive ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Export:
    key: str
    at: str
    detail: str


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    """An outbox row of a period with its invoice's columns (None for a message of no invoice)."""

    id: int
    message_type: str
    reference: str
    invoice_id: int | None
    attempts: int
    file_name: str | None
    uncertain: bool
    state: str
    outcome: str | None
    dropped_at: str | None
    created_at: str
    document: str | None
    number: str | None
    random_number: str | None
    issued_at: str | None
    invoice_created: str | None
    invoice_status: str | None
    result_code: str | None
    result_reason: str | None


_MESSAGES = """
SELECT o.id, o.message_type, o.reference, o.invoice_id, o.attempts, o.file_name, o.uncertain, o.state, o.outcome,
       o.dropped_at, o.created_at, i.document, i.number, i.random_number, i.issued_at, i.created_at AS invoice_created,
       i.status AS invoice_status, i.result_code, i.result_reason
FROM outbox o LEFT JOIN invoices i ON i.id = o.invoice_id LEFT JOIN blank_reports b ON b.outbox_id = o.id
WHERE (o.message_type = 'E0402' AND b.period = :period)
   OR (o.message_type IN ('G0401', 'G0501') AND o.created_at >= :start AND o.created_at < :end)
   OR (o.message_type IN ('F0401', 'F0501', 'F0701') AND i.period = :period)
ORDER BY o.id
"""


def exports(conn: sqlite3.Connection, kind: str) -> list[Export]:
    return [Export(*r) for r in conn.execute("SELECT key, at, detail FROM exports WHERE kind = ?", (kind,))]


def periods(conn: sqlite3.Connection) -> set[str]:
    """Every period an invoice, a range or a blank report names."""
    return {r[0] for r in conn.execute(
        "SELECT period FROM invoices UNION SELECT period FROM tracks UNION SELECT period FROM blank_periods")}


def period_messages(conn: sqlite3.Connection, period: str, start: str, end: str) -> list[ArchivedMessage]:
    """The messages of ``period``: its invoices' F0401/F0501/F0701, its E0402, the G0401/G0501 created in it."""
    rows = conn.execute(_MESSAGES, {"period": period, "start": start, "end": end}).fetchall()
    return [_archived((*r[:6], bool(r[6]), *r[7:])) for r in rows]


def _archived(values: tuple[Any, ...]) -> ArchivedMessage:
    return ArchivedMessage(*values)


def invoices_in(conn: sqlite3.Connection, period: str, statuses: Sequence[str]) -> int:
    """How many invoices of ``period`` are in one of ``statuses``."""
    marks = ", ".join("?" * len(statuses))
    count: int = conn.execute(f"SELECT count(*) FROM invoices WHERE period = ? AND status IN ({marks})",
                              (period, *statuses)).fetchone()[0]
    return count


def holds_range(conn: sqlite3.Connection, period: str) -> bool:
    return bool(conn.execute("SELECT 1 FROM tracks WHERE period = ? LIMIT 1", (period,)).fetchall())


def period_closed(conn: sqlite3.Connection, period: str) -> bool:
    """Whether the period's E0402 is queued (``blank_periods`` marks it)."""
    return bool(conn.execute("SELECT 1 FROM blank_periods WHERE period = ?", (period,)).fetchall())
