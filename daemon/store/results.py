"""``results_seen``: each ERR and result file Turnkey left, applied once across restarts."""

from __future__ import annotations

import sqlite3

# --- results_seen ----------------------------------------------------------------------------------------


def seen(conn: sqlite3.Connection, kind: str) -> set[str]:
    """The paths of ``kind`` (``ERR``, ``SummaryResult`` ...) recorded already."""
    return {r[0] for r in conn.execute("SELECT path FROM results_seen WHERE kind = ?", (kind,))}


def record_seen(conn: sqlite3.Connection, path: str, kind: str, size: int, at: str, outcome: str,
                detail: str = "") -> None:
    conn.execute("INSERT INTO results_seen (path, kind, size, seen_at, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)",
                 (path, kind, size, at, outcome, detail))
