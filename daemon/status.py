r"""Where an invoice stands with Turnkey and the platform, and the only moves allowed between those states.

    queued --> dropped --> accepted_local --> confirmed
                       \-> rejected_local  \-> rejected (platform code)
                                            \-> unknown (no verdict by the deadline) --> confirmed | rejected

A later, better fact may skip steps (a SummaryResult can confirm an invoice whose move to BAK was not seen),
but nothing goes back: a file seen in SRC again never un-confirms an invoice. ``rejected`` may be refined
(a ProcessResult adds the code to a SummaryResult's failure). Every change is written to the event log.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from daemon.store import event

QUEUED, DROPPED, ACCEPTED_LOCAL, REJECTED_LOCAL = "queued", "dropped", "accepted_local", "rejected_local"
CONFIRMED, REJECTED, UNKNOWN = "confirmed", "rejected", "unknown"

VERDICTS = frozenset({CONFIRMED, REJECTED})
ALLOWED: dict[str, frozenset[str]] = {
    QUEUED: frozenset({DROPPED, ACCEPTED_LOCAL, REJECTED_LOCAL, CONFIRMED, REJECTED}),
    DROPPED: frozenset({ACCEPTED_LOCAL, REJECTED_LOCAL, CONFIRMED, REJECTED, UNKNOWN}),
    ACCEPTED_LOCAL: frozenset({CONFIRMED, REJECTED, UNKNOWN}),
    REJECTED_LOCAL: frozenset(),
    UNKNOWN: frozenset({ACCEPTED_LOCAL, REJECTED_LOCAL, CONFIRMED, REJECTED}),
    CONFIRMED: frozenset(),
    REJECTED: frozenset({REJECTED}),
}


def allowed(current: str, new: str) -> bool:
    return new in ALLOWED.get(current, frozenset())


def advance(tx: sqlite3.Connection, invoice_id: int, new: str, now: datetime, code: str = "",
            reason: str = "") -> bool:
    """Move one invoice to ``new`` when the lifecycle allows it; False (and nothing written) otherwise."""
    row = tx.execute("SELECT number, status FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
    if row is None or not allowed(row["status"], new) or (row["status"] == new and not code):
        return False
    stamp = now.isoformat()
    tx.execute("UPDATE invoices SET status = ?, status_at = ?, result_code = ?, result_reason = ? WHERE id = ?",
               (new, stamp, code, reason, invoice_id))
    event(tx, stamp, "invoice", row["number"], new, reason if not code else f"{code} {reason}".strip())
    return True


def restart(tx: sqlite3.Connection, invoice_id: int, now: datetime, reason: str) -> None:
    """A re-issued number (F0401 after F0701) starts its delivery over from ``queued``."""
    row = tx.execute("SELECT number FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
    stamp = now.isoformat()
    tx.execute("UPDATE invoices SET status = ?, status_at = ?, result_code = '', result_reason = '' WHERE id = ?",
               (QUEUED, stamp, invoice_id))
    event(tx, stamp, "invoice", row["number"], QUEUED, reason)
