"""The ``exports`` table: the reports and archives written, one row per (kind, key), the latest kept."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Export:
    kind: str
    key: str
    path: str
    at: str
    detail: str


def record(conn: sqlite3.Connection, kind: str, key: str, path: str, at: str, detail: str = "") -> None:
    """Record (or replace) the export of ``kind`` and ``key``."""
    conn.execute("INSERT INTO exports (kind, key, path, at, detail) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT (kind, key) DO UPDATE SET path = excluded.path, at = excluded.at, "
                 "detail = excluded.detail", (kind, key, path, at, detail))


def find(conn: sqlite3.Connection, kind: str, key: str) -> Export | None:
    row = conn.execute("SELECT kind, key, path, at, detail FROM exports WHERE kind = ? AND key = ?",
                       (kind, key)).fetchone()
    return Export(row[0], row[1], row[2], row[3], row[4]) if row is not None else None
