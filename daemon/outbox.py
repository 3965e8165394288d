"""The outbox as a queue: READY -> LOCKED -> DONE | FAILED, with backoff and ordering rules.

Which rows are due, blocked or taken is decided in ``daemon/policy/queue.py`` (ordering per message type,
dependencies between the messages of one invoice); this module reads the candidates, asks it, and writes.

A LOCKED row found at start belonged to a process that died between claiming and recording; it goes back to
READY as ``uncertain`` and the pump looks for its file before dropping it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.alerts import raise_alert
from daemon.policy import queue
from daemon.policy.backoff import Backoff
from daemon.policy.queue import HEAD_SLACK, file_name
from daemon.status import DROPPED, advance, restart
from daemon.store import Connection, Store, event, stamp
from daemon.store import outbox as table
from daemon.store.outbox import InvoiceColumns
from turnkey.period import taipei

__all__ = ["HEAD_SLACK", "Backoff", "Claimed", "InvoiceColumns", "backlog", "claim", "fail", "file_name",
           "mark_dropped", "recover", "release", "requeue", "retry_later"]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row locked for this pump: what the pump and the builders need (``invoice``: the stored invoice columns an
    F0401 is built from; None for a message of no invoice)."""

    id: int
    message_type: str
    reference: str
    invoice_id: int | None
    attempts: int
    file_name: str
    uncertain: bool
    invoice: InvoiceColumns | None = None

    @property
    def code(self) -> str:
        return self.message_type


def recover(store: Store, now: datetime) -> int:
    """At start: LOCKED rows (their process died) go back to READY, marked uncertain."""
    with store.write() as tx:
        count = table.recover_locked(tx, stamp(now))
    return count


def claim(store: Store, now: datetime, limit: int) -> list[Claimed]:
    """Lock up to ``limit`` due rows, oldest first within each message type, honouring order and dependencies."""
    at = stamp(now)
    with store.write() as tx:
        taken: list[Claimed] = []
        for message_type in table.ready_types(tx):
            room = limit - len(taken)
            if room <= 0:
                break
            heads = queue.due_heads(table.candidates(tx, message_type, queue.read_limit(room)), at, room)
            taken += [Claimed(c.id, c.message_type, c.reference, c.invoice_id, c.attempts,
                              c.file_name or file_name(c.message_type, c.reference, c.id), c.uncertain, c.invoice)
                      for c in heads]
        table.lock(tx, [(c.id, c.file_name) for c in taken], at)
    return taken


def release(tx: Connection, rows: Iterable[Claimed], at: str) -> None:
    """Back to READY untouched (claimed but not tried)."""
    table.release(tx, [r.id for r in rows], at)


def requeue(tx: Connection, rows: Iterable[Claimed], at: str) -> None:
    """Back to READY as uncertain: claimed by a tick that failed before recording them (the database was full, say),
    so their files may be in SRC already; like ``recover`` at start, but only these rows, while the process lives."""
    table.requeue(tx, [r.id for r in rows], at)


def mark_dropped(tx: Connection, rows: Iterable[Claimed], now: datetime, outcome: str | None = None) -> None:
    """DONE: the file is durably in SRC (or, for an uncertain row, was found already taken by Turnkey)."""
    at = stamp(now)
    for row in rows:
        table.mark_done(tx, row.id, at, outcome)
        if row.invoice_id is not None and row.message_type == "F0401":
            if table.has_earlier_f0401(tx, row.invoice_id, row.id):  # re-issues a cancelled number
                restart(tx, row.invoice_id, now, f"re-issue {row.file_name}")
            advance(tx, row.invoice_id, outcome or DROPPED, now, reason=row.file_name)


def retry_later(tx: Connection, row: Claimed, now: datetime, error: str, delay: timedelta) -> str:
    """READY again after ``delay``; returns the time it becomes due."""
    due = stamp(now + delay)
    table.retry_later(tx, row.id, stamp(now), due, error[:500])
    return due


def fail(tx: Connection, row: Claimed, now: datetime, error: str) -> None:
    """FAILED for good (the message itself is wrong): a person must look; an alert says so."""
    at = stamp(now)
    table.fail(tx, row.id, at, error[:2000])
    event(tx, at, "outbox", str(row.id), "failed", error[:500])
    raise_alert(tx, "outbox.failed", "outbox", str(row.id), now,
                f"{row.message_type} {row.reference} cannot be sent: {error[:300]}")


def backlog(store: Store, now: datetime) -> dict[str, object]:
    """What waits to leave: count per type, the oldest row's age, failures, blocked rows, the head's error."""
    conn = store.connection()
    rows = table.waiting(conn)
    oldest = min((r.oldest for r in rows), default=None)
    head = table.head_error(conn)
    age = (taipei(now) - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
    return {
        "waiting": sum(r.count for r in rows), "by_type": {r.message_type: r.count for r in rows},
        "oldest_age_seconds": max(age, 0.0), "failed": table.failed_count(conn),
        "last_error": head.last_error if head else None, "next_try": head.not_before if head else None,
    }
