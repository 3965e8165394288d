"""What einvd follows of Turnkey itself: the STATUS read in Turnkey's database per dropped message, files still
waiting in SRC, and when results last came back (for ``daemon/turnkey_watch.py``)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

STORAGE = ("F0401", "F0501", "F0701", "G0401", "G0501")
"""Messages Turnkey logs per document with an INVOICE_IDENTIFIER einvd can name (<MSG><number>...)."""


@dataclass(frozen=True, slots=True)
class Followed:
    """A dropped STORAGE message whose Turnkey status is not final yet (None: never read, P or G)."""

    id: int
    message_type: str
    reference: str
    invoice_id: int | None
    file_name: str
    outcome: str | None
    turnkey_status: str | None


@dataclass(frozen=True, slots=True)
class Waiting:
    """A dropped file not yet seen leaving SRC, and when it was dropped."""

    id: int
    message_type: str
    file_name: str
    dropped_at: str


def followed(conn: sqlite3.Connection, since: str, after_id: int, limit: int) -> list[Followed]:
    """Dropped since ``since`` with no final Turnkey status, id above ``after_id``, in id order."""
    marks = ", ".join("?" * len(STORAGE))
    return [Followed(*row) for row in conn.execute(
        "SELECT id, message_type, reference, invoice_id, file_name, outcome, turnkey_status FROM outbox "
        f"WHERE state = 'DONE' AND dropped_at >= ? AND id > ? AND message_type IN ({marks}) "
        "AND (turnkey_status IS NULL OR turnkey_status IN ('P', 'G')) ORDER BY id LIMIT ?",
        (since, after_id, *STORAGE, limit))]


def set_status(conn: sqlite3.Connection, outbox_id: int, status: str, at: str) -> None:
    conn.execute("UPDATE outbox SET turnkey_status = ?, turnkey_status_at = ? WHERE id = ?", (status, at, outbox_id))


def waiting_since(conn: sqlite3.Connection, before: str) -> list[Waiting]:
    """DONE rows without an outcome (still in SRC as far as einvd saw) dropped at or before ``before``."""
    return [Waiting(*row) for row in conn.execute(
        "SELECT id, message_type, file_name, dropped_at FROM outbox WHERE state = 'DONE' AND outcome IS NULL "
        "AND dropped_at <= ? ORDER BY id", (before,))]


def last_result_at(conn: sqlite3.Connection) -> str | None:
    """When the newest SummaryResult or ProcessResult file was first seen (None: never)."""
    found: str | None = conn.execute("SELECT max(seen_at) FROM results_seen WHERE kind IN "
                                     "('SummaryResult', 'ProcessResult')").fetchone()[0]
    return found


def first_taken_after(conn: sqlite3.Connection, after: str | None) -> str | None:
    """The earliest time Turnkey was seen taking a file (accepted_local) after ``after`` (None: ever)."""
    found: str | None = conn.execute(
        "SELECT min(outcome_at) FROM outbox WHERE outcome = 'accepted_local' AND outcome_at > ?",
        (after or "",)).fetchone()[0]
    return found
