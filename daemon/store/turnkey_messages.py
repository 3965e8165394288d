"""``turnkey_messages``: per uploaded Turnkey message (its ``Info/Id``), what its ProcessResult and its SummaryResult
said, kept until the two are joined (daemon/results.py explains the join)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

COLUMNS = "message_id, message_type, verdict, code, reason, failures, documents, process_at, summary_at, settled_at"

Failure = tuple[str, str, str, str]
"""A document the ProcessResult names as failed: number, date (ISO, '' unknown), code, reason."""
Document = tuple[str, str, bool]
"""A document the SummaryResult lists: number, date (ISO, '' unknown), Good (True) or Failed (False)."""


@dataclass(frozen=True, slots=True)
class TurnkeyMessage:
    message_id: str
    message_type: str
    verdict: str
    code: str
    reason: str
    failures: tuple[Failure, ...]
    documents: tuple[Document, ...] | None
    process_at: str | None
    summary_at: str | None
    settled_at: str | None


def _record(row: sqlite3.Row | tuple[object, ...]) -> TurnkeyMessage:
    failures = tuple((str(a), str(b), str(c), str(d)) for a, b, c, d in json.loads(str(row[5])))
    documents = None
    if row[6] is not None:
        documents = tuple((str(a), str(b), bool(c)) for a, b, c in json.loads(str(row[6])))
    return TurnkeyMessage(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), failures, documents,
                          _text(row[7]), _text(row[8]), _text(row[9]))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def get(conn: sqlite3.Connection, message_id: str) -> TurnkeyMessage | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM turnkey_messages WHERE message_id = ?", (message_id,)).fetchone()
    return None if row is None else _record(row)


def put_process(conn: sqlite3.Connection, message_id: str, message_type: str, verdict: str, code: str, reason: str,
                failures: tuple[Failure, ...], at: str) -> None:
    """What the message's ProcessResult said (the row is created when the SummaryResult has not come yet)."""
    conn.execute(
        "INSERT INTO turnkey_messages (message_id, message_type, verdict, code, reason, failures, process_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET verdict = excluded.verdict, "
        "code = excluded.code, reason = excluded.reason, failures = excluded.failures, "
        "process_at = excluded.process_at, message_type = CASE WHEN message_type = '' THEN excluded.message_type "
        "ELSE message_type END",
        (message_id, message_type, verdict, code, reason[:500], json.dumps(failures, ensure_ascii=False), at))


def put_documents(conn: sqlite3.Connection, message_id: str, message_type: str, documents: tuple[Document, ...],
                  at: str) -> None:
    """The documents the message's SummaryResult lists."""
    conn.execute(
        "INSERT INTO turnkey_messages (message_id, message_type, documents, summary_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (message_id) DO UPDATE SET documents = excluded.documents, summary_at = excluded.summary_at, "
        "message_type = CASE WHEN message_type = '' THEN excluded.message_type ELSE message_type END",
        (message_id, message_type, json.dumps(documents, ensure_ascii=False), at))


def settle(conn: sqlite3.Connection, message_id: str, at: str) -> None:
    conn.execute("UPDATE turnkey_messages SET settled_at = ? WHERE message_id = ?", (at, message_id))


def waiting(conn: sqlite3.Connection, summarised_before: str) -> list[TurnkeyMessage]:
    """Messages whose SummaryResult came before ``summarised_before`` and whose ProcessResult never did."""
    rows = conn.execute(f"SELECT {COLUMNS} FROM turnkey_messages WHERE settled_at IS NULL AND documents IS NOT NULL "
                        "AND verdict = '' AND summary_at < ? ORDER BY summary_at", (summarised_before,))
    return [_record(row) for row in rows]
