"""The outbox as a queue: READY -> LOCKED -> DONE | FAILED, with backoff and ordering rules.

Ordering, per message type: rows leave in id (= issue) order. A row waiting for its backoff holds back the rows
of its type behind it, so a transient failure never reorders F0401 numbers (E0209). A row whose invoice still
has an earlier message that Turnkey has not accepted (a void, cancel or allowance before its F0401, a re-issue
before its F0701) is *blocked*: it is skipped, not waited on, so one rejected invoice cannot hold up every void.
Dependencies and the per-type order only point to lower ids, so no two rows can wait for each other.

A LOCKED row found at start belonged to a process that died between claiming and recording; it goes back to
READY as ``uncertain`` and the pump looks for its file before dropping it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.alerts import raise_alert
from daemon.ports import RandomSource
from daemon.status import DROPPED, advance, restart
from daemon.store import Store, event, stamp
from turnkey.period import taipei

HEAD_SLACK = 100  # rows read beyond the batch per type, to step over blocked rows

_CANDIDATES = """
SELECT o.id, o.message_type, o.reference, o.invoice_id, o.attempts, o.not_before, o.uncertain, o.file_name,
       o.created_at, i.document, i.number, i.random_number, i.issued_at,
       EXISTS (SELECT 1 FROM outbox p WHERE p.invoice_id = o.invoice_id AND p.id < o.id
               AND (p.state <> 'DONE' OR p.outcome IS NOT 'accepted_local')) AS blocked
FROM outbox o LEFT JOIN invoices i ON i.id = o.invoice_id
WHERE o.state = 'READY' AND o.message_type = ? ORDER BY o.id LIMIT ?
"""


@dataclass(frozen=True)
class Backoff:
    """Exponential with equal jitter: try n waits a random time in [d/2, d), d = min(cap, base * 2**(n-1))."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int, rng: RandomSource) -> timedelta:
        # the exponent is capped before it multiplies: 2**44 seconds is past timedelta's range (a long outage)
        ceiling = min(self.cap, self.base * 2 ** min(max(attempts - 1, 0), 24))
        half_ms = max(int(ceiling.total_seconds() * 500), 1)
        return timedelta(milliseconds=half_ms + rng.randrange(half_ms))


@dataclass(frozen=True)
class Claimed:
    id: int
    message_type: str
    reference: str
    invoice_id: int | None
    attempts: int
    file_name: str
    uncertain: bool
    row: sqlite3.Row

    @property
    def code(self) -> str:
        return self.message_type


def file_name(message_type: str, reference: str, outbox_id: int) -> str:
    """``F0401_AB00001000_42.xml``: ASCII, one per message, the same on every try (a retry overwrites)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-") else "-" for ch in reference)
    return f"{message_type}_{safe}_{outbox_id}.xml"


def recover(store: Store, now: datetime) -> int:
    """At start: LOCKED rows (their process died) go back to READY, marked uncertain."""
    with store.write() as tx:
        cursor = tx.execute("UPDATE outbox SET state = 'READY', uncertain = 1, updated_at = ? WHERE state = 'LOCKED'",
                            (stamp(now),))
        return cursor.rowcount


def claim(store: Store, now: datetime, limit: int) -> list[Claimed]:
    """Lock up to ``limit`` due rows, oldest first within each message type, honouring order and dependencies."""
    at = stamp(now)
    with store.write() as tx:
        types = [r[0] for r in tx.execute("SELECT DISTINCT message_type FROM outbox WHERE state = 'READY'")]
        taken: list[Claimed] = []
        for message_type in sorted(types):
            taken += _heads(tx, message_type, at, limit - len(taken))
        tx.executemany("UPDATE outbox SET state = 'LOCKED', file_name = ?, updated_at = ? WHERE id = ?",
                       [(c.file_name, at, c.id) for c in taken])
    return taken


def _heads(tx: sqlite3.Connection, message_type: str, at: str, room: int) -> list[Claimed]:
    taken: list[Claimed] = []
    if room <= 0:
        return taken
    for row in tx.execute(_CANDIDATES, (message_type, room + HEAD_SLACK)).fetchall():
        if row["not_before"] > at or len(taken) == room:
            break
        if row["blocked"]:
            continue
        name = row["file_name"] or file_name(row["message_type"], row["reference"], row["id"])
        taken.append(Claimed(row["id"], row["message_type"], row["reference"], row["invoice_id"], row["attempts"],
                             name, bool(row["uncertain"]), row))
    return taken


def release(tx: sqlite3.Connection, rows: Iterable[Claimed], at: str) -> None:
    """Back to READY untouched (claimed but not tried)."""
    tx.executemany("UPDATE outbox SET state = 'READY', updated_at = ? WHERE id = ?", [(at, r.id) for r in rows])


def requeue(tx: sqlite3.Connection, rows: Iterable[Claimed], at: str) -> None:
    """Back to READY as uncertain: claimed by a tick that failed before recording them (the database was full, say),
    so their files may be in SRC already; like ``recover`` at start, but only these rows, while the process lives."""
    tx.executemany("UPDATE outbox SET state = 'READY', uncertain = 1, updated_at = ? WHERE id = ? AND state = 'LOCKED'",
                   [(at, r.id) for r in rows])


def mark_dropped(tx: sqlite3.Connection, rows: Iterable[Claimed], now: datetime, outcome: str | None = None) -> None:
    """DONE: the file is durably in SRC (or, for an uncertain row, was found already taken by Turnkey)."""
    at = stamp(now)
    for row in rows:
        tx.execute("UPDATE outbox SET state = 'DONE', attempts = attempts + 1, dropped_at = ?, last_error = NULL, "
                   "uncertain = 0, outcome = ?, outcome_at = ?, updated_at = ? WHERE id = ?",
                   (at, outcome, at if outcome else None, at, row.id))
        if row.invoice_id is not None and row.message_type == "F0401":
            if _reissue(tx, row):
                restart(tx, row.invoice_id, now, f"re-issue {row.file_name}")
            advance(tx, row.invoice_id, outcome or DROPPED, now, reason=row.file_name)


def _reissue(tx: sqlite3.Connection, row: Claimed) -> bool:
    """Whether an F0401 row re-issues a cancelled number (an earlier F0401 of the same invoice exists)."""
    earlier = tx.execute("SELECT 1 FROM outbox WHERE invoice_id = ? AND message_type = 'F0401' AND id < ? LIMIT 1",
                         (row.invoice_id, row.id)).fetchone()
    return earlier is not None


def retry_later(tx: sqlite3.Connection, row: Claimed, now: datetime, error: str, delay: timedelta) -> str:
    """READY again after ``delay``; returns the time it becomes due."""
    due = stamp(now + delay)
    tx.execute("UPDATE outbox SET state = 'READY', attempts = attempts + 1, not_before = ?, last_error = ?, "
               "updated_at = ? WHERE id = ?", (due, error[:500], stamp(now), row.id))
    return due


def fail(tx: sqlite3.Connection, row: Claimed, now: datetime, error: str) -> None:
    """FAILED for good (the message itself is wrong): a person must look; an alert says so."""
    at = stamp(now)
    tx.execute("UPDATE outbox SET state = 'FAILED', attempts = attempts + 1, last_error = ?, updated_at = ? "
               "WHERE id = ?", (error[:2000], at, row.id))
    event(tx, at, "outbox", str(row.id), "failed", error[:500])
    raise_alert(tx, "outbox.failed", "outbox", str(row.id), now,
                f"{row.message_type} {row.reference} cannot be sent: {error[:300]}")


def backlog(store: Store, now: datetime) -> dict[str, object]:
    """What waits to leave: count per type, the oldest row's age, failures, blocked rows, the head's error."""
    rows = store.read("SELECT message_type, count(*), min(created_at) FROM outbox WHERE state IN ('READY', 'LOCKED') "
                      "GROUP BY message_type")
    oldest = min((r[2] for r in rows), default=None)
    head = store.read("SELECT last_error, not_before FROM outbox WHERE state = 'READY' AND last_error IS NOT NULL "
                      "ORDER BY id LIMIT 1")
    failed = store.read("SELECT count(*) FROM outbox WHERE state = 'FAILED'")[0][0]
    age = (taipei(now) - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
    return {
        "waiting": sum(r[1] for r in rows), "by_type": {r[0]: r[1] for r in rows},
        "oldest_age_seconds": max(age, 0.0), "failed": failed,
        "last_error": head[0]["last_error"] if head else None, "next_try": head[0]["not_before"] if head else None,
    }

