"""The ``deliveries`` aggregate: where each message (outbox row) stands with Turnkey and the platform.

The platform's word on a row (confirmed / rejected with its code / unknown) is a ``deliveries`` row; before
that a row's state is read from the outbox row itself (``_STATE``): READY/LOCKED ``queued``, DONE ``dropped``
until Turnkey took it (``outcome`` accepted_local / rejected_local), FAILED ``failed`` (einvd's own checks
refused it). The finders here map a verdict's number to the outbox row it concerns, per message type.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

_STATE = ("coalesce(d.state, o.outcome, CASE o.state WHEN 'DONE' THEN 'dropped' WHEN 'FAILED' THEN 'failed' "
          "ELSE 'queued' END)")
_COLUMNS = (f"o.id, o.message_type, o.reference, o.invoice_id, {_STATE} AS delivery, o.created_at, "
            "coalesce(d.at, o.outcome_at, o.dropped_at, o.created_at), coalesce(d.code, ''), "
            "coalesce(d.reason, o.last_error, '')")
_ROW = f"SELECT {_COLUMNS} FROM outbox o LEFT JOIN deliveries d ON d.outbox_id = o.id"
REFUSED = ("rejected_local", "rejected", "failed")
_CORRECTIONS = "o.message_type IN ('F0501', 'F0701', 'G0401', 'G0501')"  # as the partial index outbox_corrections


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message and where it stands (``at``: when it got there; ``code``/``reason``: the platform's or
    Turnkey's word, or einvd's error for a failed row)."""

    outbox_id: int
    message_type: str
    reference: str
    invoice_id: int | None
    state: str
    created_at: str
    at: str
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Correction:
    """A message about an invoice other than its F0401, with what its upload deadline is counted from."""

    delivery: Delivery
    buyer_ban: str | None
    number: str


@dataclass(frozen=True, slots=True)
class Blocked:
    """A READY row waiting behind an earlier message of its invoice that was refused."""

    waiting: Delivery
    refused: Delivery


def _delivery(row: sqlite3.Row | tuple[object, ...]) -> Delivery:
    return Delivery(*row[:9])  # sqlite3 rows are untyped; the schema types them


def of_row(conn: sqlite3.Connection, outbox_id: int) -> Delivery | None:
    row = conn.execute(f"{_ROW} WHERE o.id = ?", (outbox_id,)).fetchone()
    return None if row is None else _delivery(row)


def of_invoice(conn: sqlite3.Connection, invoice_id: int) -> list[Delivery]:
    """Every message of the invoice (its F0401s, voids, cancels, allowances and their voids), in order."""
    return [_delivery(r) for r in conn.execute(f"{_ROW} WHERE o.invoice_id = ? ORDER BY o.id", (invoice_id,))]


def record(tx: sqlite3.Connection, outbox_id: int, state: str, at: str, code: str, reason: str) -> None:
    """The platform's word on one row (or ``unknown``), replacing an earlier one."""
    tx.execute("INSERT INTO deliveries (outbox_id, state, at, code, reason) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT (outbox_id) DO UPDATE SET state = excluded.state, at = excluded.at, "
               "code = excluded.code, reason = excluded.reason", (outbox_id, state, at, code, reason[:500]))


def counts(conn: sqlite3.Connection, created_on: str | None = None) -> dict[tuple[str, str], int]:
    """Messages per (type, delivery state); ``created_on``: only those queued that day (a ``YYYY-MM-DD``)."""
    where, params = ("WHERE substr(o.created_at, 1, 10) = ?", (created_on,)) if created_on else ("", ())
    return {(r[0], r[1]): r[2] for r in conn.execute(
        f"SELECT o.message_type, {_STATE}, count(*) FROM outbox o LEFT JOIN deliveries d ON d.outbox_id = o.id "
        f"{where} GROUP BY 1, 2 ORDER BY 1, 2", params)}


# --- finding the row a verdict names ---------------------------------------------------------------------


def latest_of_invoice(conn: sqlite3.Connection, invoice_id: int, message_type: str) -> int | None:
    """The newest outbox row of ``message_type`` about the invoice."""
    row = conn.execute("SELECT id FROM outbox WHERE invoice_id = ? AND message_type = ? ORDER BY id DESC LIMIT 1",
                       (invoice_id, message_type)).fetchone()
    return None if row is None else int(row[0])


def allowance_rows(conn: sqlite3.Connection, number: str) -> tuple[int | None, int | None] | None:
    """The G0401 and G0501 outbox rows of allowance ``number``; None when this box has no such allowance."""
    row = conn.execute("SELECT outbox_id, void_outbox_id FROM allowances WHERE number = ?", (number,)).fetchone()
    return None if row is None else (row[0], row[1])


def blank_report_row(conn: sqlite3.Connection, branch_ban: str | None, track: str,
                     invoice_type: str | None) -> int | None:
    """The E0402 row of ``track`` (and branch BAN and type when given): the newest not yet settled by the
    platform, else the newest."""
    row = conn.execute(
        "SELECT b.outbox_id FROM blank_reports b LEFT JOIN deliveries d ON d.outbox_id = b.outbox_id "
        "WHERE b.track = ? AND (? IS NULL OR b.branch_ban = ?) AND (? IS NULL OR b.invoice_type = ?) "
        "ORDER BY coalesce(d.state IN ('confirmed', 'rejected'), 0), b.outbox_id DESC LIMIT 1",
        (track, branch_ban, branch_ban, invoice_type, invoice_type)).fetchone()
    return None if row is None else int(row[0])


def blank_report_by_reference(conn: sqlite3.Connection, reference: str) -> int | None:
    """The E0402 row queued as ``reference`` (``11510-07-AB``), the newest."""
    row = conn.execute("SELECT id FROM outbox WHERE message_type = 'E0402' AND reference = ? ORDER BY id DESC "
                       "LIMIT 1", (reference,)).fetchone()
    return None if row is None else int(row[0])


def holds_number(conn: sqlite3.Connection, track: str, number: int, period: str | None) -> bool:
    """Whether one of this box's ranges (of ``period`` when given) holds the number."""
    return conn.execute("SELECT 1 FROM tracks WHERE track = ? AND ? BETWEEN begin_no AND end_no "
                        "AND (? IS NULL OR period = ?) LIMIT 1", (track, number, period, period)).fetchone() \
        is not None


def holds_allowance_prefix(conn: sqlite3.Connection, prefix: str) -> bool:
    """Whether this box numbered allowances with ``prefix`` (its own allowance numbers)."""
    return conn.execute("SELECT 1 FROM allowances WHERE substr(number, 1, length(number) - 8) = ? LIMIT 1",
                        (prefix,)).fetchone() is not None


def count_foreign(tx: sqlite3.Connection, day: str, message_type: str, status: str) -> None:
    """One more verdict of ``day`` on a number of another box."""
    tx.execute("INSERT INTO foreign_verdicts (day, message_type, status, count) VALUES (?, ?, ?, 1) "
               "ON CONFLICT (day, message_type, status) DO UPDATE SET count = count + 1", (day, message_type, status))


def foreign_on(conn: sqlite3.Connection, day: str) -> dict[tuple[str, str], int]:
    """Verdicts on other boxes' numbers read on ``day``, per (type, status)."""
    return {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT message_type, status, count FROM foreign_verdicts WHERE day = ? ORDER BY 1, 2", (day,))}


# --- what needs a person ---------------------------------------------------------------------------------


def refused(conn: sqlite3.Connection) -> list[Delivery]:
    """Rows Turnkey refused (rejected_local) or the platform rejected, oldest first (FAILED rows have their own
    ``outbox.failed`` alert)."""
    return [_delivery(r) for r in conn.execute(
        f"{_ROW} WHERE o.id IN (SELECT id FROM outbox WHERE outcome = 'rejected_local' OR state = 'FAILED' "
        "UNION SELECT outbox_id FROM deliveries WHERE state = 'rejected') ORDER BY o.id")
        if r[4] in ("rejected_local", "rejected")]


def blocked(conn: sqlite3.Connection) -> list[Blocked]:
    """READY rows behind an earlier message of their invoice that Turnkey or einvd refused: the queue holds them
    back for good (``daemon/policy/queue.py``: an earlier message not accepted by Turnkey blocks). A message
    behind one the *platform* rejected is not held back; it gets its own verdict."""
    found = []
    for r in conn.execute(  # driven by the few refused rows (partial index outbox_refused), not the READY ones
            "SELECT o.id, min(p.id) FROM outbox p CROSS JOIN outbox o ON o.invoice_id = p.invoice_id AND o.id > p.id "
            "WHERE (p.outcome = 'rejected_local' OR p.state = 'FAILED') AND p.invoice_id IS NOT NULL "
            "AND o.state = 'READY' GROUP BY o.id ORDER BY o.id"):
        waiting, first = of_row(conn, r[0]), of_row(conn, r[1])
        if waiting is not None and first is not None:
            found.append(Blocked(waiting, first))
    return found


def unsettled_corrections(conn: sqlite3.Connection, states: tuple[str, ...], created_until: str) -> list[Correction]:
    """Voids, cancels, allowances and allowance voids in ``states`` queued at or before ``created_until``."""
    marks = ", ".join("?" * len(states))
    return [Correction(_delivery(r), r[9], r[10]) for r in conn.execute(
        f"SELECT * FROM (SELECT o.id, o.message_type, o.reference, o.invoice_id, {_STATE} AS delivery, "
        "o.created_at, coalesce(d.at, o.outcome_at, o.dropped_at, o.created_at), coalesce(d.code, ''), "
        "coalesce(d.reason, o.last_error, ''), i.buyer_ban, i.number FROM outbox o "
        "JOIN invoices i ON i.id = o.invoice_id LEFT JOIN deliveries d ON d.outbox_id = o.id "
        f"WHERE {_CORRECTIONS} AND o.created_at <= ?) "
        f"WHERE delivery IN ({marks}) ORDER BY id", (created_until, *states))]


def unsettled_blank_reports(conn: sqlite3.Connection, states: tuple[str, ...]) -> list[tuple[Delivery, str]]:
    """E0402 rows in ``states`` with the period they report."""
    marks = ", ".join("?" * len(states))
    return [(_delivery(r), r[9]) for r in conn.execute(
        f"SELECT * FROM (SELECT {_COLUMNS}, b.period FROM blank_reports b JOIN outbox o ON o.id = b.outbox_id "
        f"LEFT JOIN deliveries d ON d.outbox_id = o.id) WHERE delivery IN ({marks}) ORDER BY id", states)]


def open_message_alerts(conn: sqlite3.Connection, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """(kind, outbox id) of the open alerts of ``kinds`` raised on messages (entity ``message``)."""
    marks = ", ".join("?" * len(kinds))
    return [(r[0], r[1]) for r in conn.execute(
        f"SELECT kind, entity_id FROM alerts WHERE entity = 'message' AND cleared_at IS NULL AND kind IN ({marks}) "
        "ORDER BY id", kinds)]
