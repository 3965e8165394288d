"""Where an invoice stands with Turnkey and the platform: the moves allowed are the table of
``daemon/policy/delivery.py``; this module reads the invoice, asks the table, and writes the move and its event.
Every change is written to the event log."""

from __future__ import annotations

from datetime import datetime

from daemon.policy.delivery import (
    ACCEPTED_LOCAL,
    ALLOWED,
    CONFIRMED,
    DROPPED,
    QUEUED,
    REJECTED,
    REJECTED_LOCAL,
    UNKNOWN,
    VERDICTS,
    allowed,
    event_reason,
    moves,
)
from daemon.store import Connection, event, stamp
from daemon.store import invoices as table

__all__ = ["ACCEPTED_LOCAL", "ALLOWED", "CONFIRMED", "DROPPED", "QUEUED", "REJECTED", "REJECTED_LOCAL", "UNKNOWN",
           "VERDICTS", "advance", "allowed", "restart"]


def advance(tx: Connection, invoice_id: int, new: str, now: datetime, code: str = "",
            reason: str = "") -> bool:
    """Move one invoice to ``new`` when the lifecycle allows it; False (and nothing written) otherwise."""
    found = table.status_of(tx, invoice_id)
    if found is None or not moves(found.status, new, code):
        return False
    at = stamp(now)
    table.set_status(tx, invoice_id, new, at, code, reason)
    event(tx, at, "invoice", found.number, new, event_reason(code, reason))
    return True


def restart(tx: Connection, invoice_id: int, now: datetime, reason: str) -> None:
    """A re-issued number (F0401 after F0701) starts its delivery over from ``queued``."""
    found = table.status_of(tx, invoice_id)
    at = stamp(now)
    table.set_status(tx, invoice_id, QUEUED, at, "", "")
    event(tx, at, "invoice", found.number if found else "", QUEUED, reason)
