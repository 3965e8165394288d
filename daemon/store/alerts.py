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
