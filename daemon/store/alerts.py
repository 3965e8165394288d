"""The ``alerts`` table (what needs a person, recorded once per (kind, entity)) and ``alert_deliveries`` (its
webhook and printer notices)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


def insert_once(tx: sqlite3.Connection, kind: str, entity: str, entity_id: str, raised_at: str, due_at: str | None,
                message: str) -> bool:
    """Insert the alert unless one of the same (kind, entity, entity_id) exists; True when it is new."""
    cursor = tx.execute(
        "INSERT INTO alerts (kind, entity, entity_id, raised_at, due_at, message) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (kind, entity, entity_id) DO NOTHING",
        (kind, entity, entity_id, raised_at, due_at, message),
    )
    return cursor.rowcount > 0


def open_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Alerts not cleared, per kind."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT kind, count(*) FROM alerts WHERE cleared_at IS NULL GROUP BY kind")}


def raised(conn: sqlite3.Connection, entity: str, kinds: tuple[str, ...]) -> set[tuple[str, str]]:
    """(kind, entity_id) of the alerts of ``kinds`` raised on ``entity`` (cleared or not)."""
    marks = ", ".join("?" * len(kinds))
    return {(r[0], r[1]) for r in conn.execute(
        f"SELECT kind, entity_id FROM alerts WHERE entity = ? AND kind IN ({marks})", (entity, *kinds))}


def clear_settled_invoices(conn: sqlite3.Connection, at: str, kinds: tuple[str, ...],
                           unsettled: tuple[str, ...]) -> int:
    """Clear the open invoice alerts of ``kinds`` whose invoice is no longer in an ``unsettled`` status."""
    kind_marks, status_marks = ", ".join("?" * len(kinds)), ", ".join("?" * len(unsettled))
    return conn.execute(
        f"UPDATE alerts SET cleared_at = ? WHERE cleared_at IS NULL AND entity = 'invoice' AND kind IN ({kind_marks}) "
        f"AND CAST(entity_id AS INTEGER) IN (SELECT id FROM invoices WHERE status NOT IN ({status_marks}))",
        (at, *kinds, *unsettled)).rowcount


def open_entity_ids(conn: sqlite3.Connection, kind: str) -> list[str]:
    """The entity ids of the open alerts of ``kind``."""
    return [r[0] for r in conn.execute("SELECT entity_id FROM alerts WHERE kind = ? AND cleared_at IS NULL", (kind,))]


def clear(conn: sqlite3.Connection, at: str, kind: str, entity: str, entity_id: str, only_open: bool = True) -> int:
    """Clear one alert (``only_open=False``: stamp it again even when cleared before); rows changed."""
    sql = "UPDATE alerts SET cleared_at = ? WHERE kind = ? AND entity = ? AND entity_id = ?"
    if only_open:
        sql += " AND cleared_at IS NULL"
    return conn.execute(sql, (at, kind, entity, entity_id)).rowcount


# --- the notifier: alerts taken and their deliveries -------------------------------------------------------

_ALERT_COLUMNS = "a.id, a.kind, a.entity, a.entity_id, a.raised_at, a.due_at, a.message"


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: str
    entity: str
    entity_id: str
    raised_at: str
    due_at: str | None
    message: str


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """An alert to deliver on one channel, and the tries made so far."""

    alert: Alert
    attempts: int


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def any_unnotified(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM alerts WHERE notified_at IS NULL LIMIT 1").fetchone() is not None


def unnotified(conn: sqlite3.Connection) -> list[Alert]:
    """Alerts the notifier has not taken yet, in id order."""
    return [_alert(r) for r in conn.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE a.notified_at IS NULL ORDER BY a.id")]


def mark_notified(conn: sqlite3.Connection, alert_id: int, at: str) -> None:
    conn.execute("UPDATE alerts SET notified_at = ? WHERE id = ?", (at, alert_id))


def printed_kinds_since(conn: sqlite3.Connection, since: str) -> set[str]:
    """Kinds of the alerts given a printed notice at or after ``since``."""
    return {r[0] for r in conn.execute(
        "SELECT DISTINCT a.kind FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
        "WHERE d.channel = 'printer' AND d.not_before >= ?", (since,))}


def add_deliveries(conn: sqlite3.Connection, alert_id: int, channels: list[str], at: str) -> None:
    """A pending delivery per channel, due at ``at`` (an existing one is kept)."""
    conn.executemany("INSERT OR IGNORE INTO alert_deliveries (alert_id, channel, not_before) VALUES (?, ?, ?)",
                     [(alert_id, channel, at) for channel in channels])


def due_deliveries(conn: sqlite3.Connection, channel: str, at: str, limit: int) -> list[PendingDelivery]:
    """Pending deliveries of ``channel`` due at ``at``, in alert order."""
    return [PendingDelivery(_alert(r), r[7]) for r in conn.execute(
        f"SELECT {_ALERT_COLUMNS}, d.attempts FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
        "WHERE d.channel = ? AND d.state = 'pending' AND d.not_before <= ? ORDER BY d.alert_id LIMIT ?",
        (channel, at, limit))]


def delivery_sent(conn: sqlite3.Connection, alert_id: int, channel: str, attempts: int, at: str) -> None:
    conn.execute("UPDATE alert_deliveries SET state = 'sent', attempts = ?, sent_at = ?, last_error = NULL "
                 "WHERE alert_id = ? AND channel = ?", (attempts, at, alert_id, channel))


def delivery_failed(conn: sqlite3.Connection, alert_id: int, channel: str, attempts: int, error: str) -> None:
    conn.execute("UPDATE alert_deliveries SET state = 'failed', attempts = ?, last_error = ? "
                 "WHERE alert_id = ? AND channel = ?", (attempts, error, alert_id, channel))


def delivery_retry(conn: sqlite3.Connection, alert_id: int, channel: str, attempts: int, due: str,
                   error: str) -> None:
    conn.execute("UPDATE alert_deliveries SET attempts = ?, not_before = ?, last_error = ? "
                 "WHERE alert_id = ? AND channel = ?", (attempts, due, error, alert_id, channel))


# --- webhook summaries: one message carries every waiting alert of a kind (daemon/policy/alerting.py) -------

WaitingRow = tuple[int, str, str, str, str, str, int]
"""(alert id, kind, entity, entity_id, raised_at, not_before, attempts) of a pending delivery."""


def any_pending(conn: sqlite3.Connection, channel: str, at: str) -> bool:
    """Whether a pending delivery of ``channel`` is due at ``at`` (the common case, none, costs one probe)."""
    return conn.execute("SELECT 1 FROM alert_deliveries WHERE channel = ? AND state = 'pending' AND not_before <= ? "
                        "LIMIT 1", (channel, at)).fetchone() is not None


def pending_rows(conn: sqlite3.Connection, channel: str) -> list[WaitingRow]:
    """Every pending delivery of ``channel``, in alert order (backing off or not: the policy decides)."""
    return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in conn.execute(
        "SELECT a.id, a.kind, a.entity, a.entity_id, a.raised_at, d.not_before, d.attempts "
        "FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
        "WHERE d.channel = ? AND d.state = 'pending' ORDER BY d.alert_id", (channel,))]


def last_sent_by_kind(conn: sqlite3.Connection, channel: str, since: str) -> dict[str, str]:
    """Per kind, when the latest message of ``channel`` was sent, for those sent at or after ``since``."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT a.kind, max(d.sent_at) FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
        "WHERE d.channel = ? AND d.state = 'sent' AND d.sent_at >= ? GROUP BY a.kind", (channel, since))}


def carried_with(conn: sqlite3.Connection, alert_id: int, channel: str) -> list[int]:
    """The alerts delivered by the same message as ``alert_id``: a message's alerts share kind, channel and
    ``sent_at`` (one message per kind at a time), so these are the ids the summary that carried it named."""
    return [r[0] for r in conn.execute(
        "SELECT d2.alert_id FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
        "JOIN alert_deliveries d2 ON d2.channel = d.channel AND d2.sent_at = d.sent_at "
        "JOIN alerts a2 ON a2.id = d2.alert_id AND a2.kind = a.kind "
        "WHERE d.alert_id = ? AND d.channel = ? AND d.state = 'sent' AND d2.state = 'sent' ORDER BY d2.alert_id",
        (alert_id, channel))]


def message_sent(conn: sqlite3.Connection, alert_ids: tuple[int, ...], channel: str, attempts: int,
                 at: str) -> None:
    """Every delivery a message carried is sent, with the message's tries and time."""
    conn.executemany("UPDATE alert_deliveries SET state = 'sent', attempts = ?, sent_at = ?, last_error = NULL "
                     "WHERE alert_id = ? AND channel = ?", [(attempts, at, i, channel) for i in alert_ids])


def message_failed(conn: sqlite3.Connection, alert_ids: tuple[int, ...], channel: str, attempts: int,
                   error: str) -> None:
    conn.executemany("UPDATE alert_deliveries SET state = 'failed', attempts = ?, last_error = ? "
                     "WHERE alert_id = ? AND channel = ?", [(attempts, error, i, channel) for i in alert_ids])


def message_retry(conn: sqlite3.Connection, alert_ids: tuple[int, ...], channel: str, attempts: int, due: str,
                  error: str) -> None:
    conn.executemany("UPDATE alert_deliveries SET attempts = ?, not_before = ?, last_error = ? "
                     "WHERE alert_id = ? AND channel = ?", [(attempts, due, error, i, channel) for i in alert_ids])


def alert_by_id(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE a.id = ?", (alert_id,)).fetchone()
    return _alert(row) if row is not None else None
