"""The ``alerts`` table: what needs a person, recorded once per (kind, entity)."""

from __future__ import annotations

import sqlite3


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
