"""Read-only counts for people and monitors: ``/metrics``, the demo's summary and ``einvd doctor``'s store check.

Each grouped count is ``{(label, ...): n}`` with the labels in the order the function names them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

Grouped = dict[tuple[str, ...], int]


def _grouped(conn: sqlite3.Connection, sql: str) -> Grouped:
    """Rows of ``sql`` (label columns, then the count last) as a mapping."""
    return {tuple(str(v) for v in row[:-1]): int(row[-1]) for row in conn.execute(sql)}


def _count(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])


def invoices_issued(conn: sqlite3.Connection) -> int:
    """Every invoice number this box used."""
    return _count(conn, "SELECT count(*) FROM invoices")


def invoices_by_lifecycle(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT lifecycle, count(*) FROM invoices GROUP BY lifecycle")


def invoices_by_status(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT status, count(*) FROM invoices GROUP BY status")


def invoices_by_status_and_lifecycle(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT status, lifecycle, count(*) FROM invoices GROUP BY status, lifecycle")


def outbox_by_type_and_state(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT message_type, state, count(*) FROM outbox GROUP BY message_type, state")


def outbox_by_type_state_and_outcome(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT message_type, state, coalesce(outcome, ''), count(*) FROM outbox "
                          "GROUP BY message_type, state, outcome")


def dropped_by_type(conn: sqlite3.Connection) -> Grouped:
    """Messages ever dropped into SRC, by type."""
    return _grouped(conn, "SELECT message_type, count(*) FROM outbox WHERE dropped_at IS NOT NULL "
                          "GROUP BY message_type")


def waiting_messages(conn: sqlite3.Connection) -> int:
    """Outbox rows not yet dropped (READY or LOCKED)."""
    return _count(conn, "SELECT count(*) FROM outbox WHERE state IN ('READY', 'LOCKED')")


def unsettled(conn: sqlite3.Connection) -> int:
    """Messages Turnkey has not accepted plus invoices the platform has not confirmed (0: all settled)."""
    return (_count(conn, "SELECT count(*) FROM outbox WHERE state != 'DONE' OR outcome IS NOT 'accepted_local'")
            + _count(conn, "SELECT count(*) FROM invoices WHERE status != 'confirmed'"))


def results_by_kind_and_outcome(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT kind, outcome, count(*) FROM results_seen GROUP BY kind, outcome")


def results_by_kind(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT kind, count(*) FROM results_seen GROUP BY kind")


def allowances_by_state(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT state, count(*) FROM allowances GROUP BY state")


def print_jobs_by_kind_and_state(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT kind, state, count(*) FROM print_jobs GROUP BY kind, state")


def print_jobs_by_kind_copy_and_state(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT kind, copy, state, count(*) FROM print_jobs GROUP BY kind, copy, state")


def open_alerts_by_kind(conn: sqlite3.Connection) -> Grouped:
    return _grouped(conn, "SELECT kind, count(*) FROM alerts WHERE cleared_at IS NULL GROUP BY kind")


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What ``einvd doctor`` says of the database file."""

    integrity: str  # "ok", or SQLite's first complaint
    version: int  # PRAGMA user_version: the schema migrations applied
    journal_mode: str


def file_facts(conn: sqlite3.Connection) -> FileFacts:
    integrity = str(conn.execute("PRAGMA quick_check").fetchone()[0])
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    return FileFacts(integrity, version, mode)
