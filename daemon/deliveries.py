"""Per-message delivery states: every message einvd sends (F0401, its voids F0501, cancels F0701, allowances
G0401, allowance voids G0501, blank reports E0402) stands somewhere on ``daemon/policy/delivery.py``'s table:

    queued -> dropped -> accepted_local -> confirmed | rejected | unknown;   dropped -> rejected_local

plus ``failed`` (einvd's own checks refused it before it left; ``outbox.failed`` says so). The state of one outbox
row is read from the row until the platform speaks (``daemon/store/deliveries.py``); ``move`` records the
platform's word (or ``unknown``) when the table allows the move, and logs it on the row (events entity
``message``). An F0401's verdict also moves its invoice's ``status`` (``daemon/status.py``), as before.

Shown in ``einvd status`` (counts per type and state), the API (an invoice's ``deliveries``, an allowance's
``delivery`` and ``void_delivery``), ``/metrics`` and the daily report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from daemon.policy.delivery import (
    ACCEPTED_LOCAL,
    CONFIRMED,
    DROPPED,
    QUEUED,
    REJECTED,
    REJECTED_LOCAL,
    UNKNOWN,
    event_reason,
    moves,
)
from daemon.store import Connection, Store, event, stamp
from daemon.store import alerts as alert_table
from daemon.store import deliveries as table
from daemon.store.deliveries import Delivery

FAILED = "failed"
STATES = (QUEUED, DROPPED, ACCEPTED_LOCAL, REJECTED_LOCAL, CONFIRMED, REJECTED, UNKNOWN, FAILED)
MESSAGE_TYPES = ("F0401", "F0501", "F0701", "G0401", "G0501", "E0402")

__all__ = ["FAILED", "MESSAGE_TYPES", "STATES", "Delivery", "counts", "deliveries", "move", "of_allowance", "shown",
           "status_rows", "status_summary"]


def move(tx: Connection, outbox_id: int, new: str, now: datetime, code: str = "", reason: str = "",
         log: bool = True) -> bool:
    """Record the platform's word (confirmed / rejected) or ``unknown`` on one row when the table allows the move
    from where it stands; False (nothing written) otherwise (a confirmed row is never un-confirmed). ``log``
    False: no event (an F0401's move is logged on its invoice by ``daemon.status.advance``)."""
    found = table.of_row(tx, outbox_id)
    if found is None or not moves(found.state, new, code):
        return False
    at = stamp(now)
    table.record(tx, outbox_id, new, at, code, reason)
    if log:
        event(tx, at, "message", str(outbox_id), new, event_reason(code, reason)[:500])
    return True


def shown(found: Delivery) -> dict[str, Any]:
    """One message's delivery as the API and ``einvd status`` show it."""
    return {"type": found.message_type, "reference": found.reference, "delivery": found.state, "at": found.at,
            "code": found.code, "reason": found.reason}


def deliveries(conn: Connection, invoice_id: int) -> list[dict[str, Any]]:
    """Every message of one invoice (its F0401, voids, cancels, allowances and their voids) with its delivery
    state: the invoice view's ``deliveries``."""
    return [shown(d) for d in table.of_invoice(conn, invoice_id)]


def of_allowance(conn: Connection, outbox_id: int | None, void_outbox_id: int | None) -> dict[str, Any]:
    """An allowance view's ``delivery`` (its G0401) and ``void_delivery`` (its G0501, None when not voided)."""
    found = {key: table.of_row(conn, row) if row is not None else None
             for key, row in (("delivery", outbox_id), ("void_delivery", void_outbox_id))}
    return {key: shown(value) if value is not None else None for key, value in found.items()}


def counts(conn: Connection, created_on: str | None = None) -> dict[str, dict[str, int]]:
    """Messages per type and delivery state (``created_on``: queued that Taipei day), every type listed."""
    by_type: dict[str, dict[str, int]] = {code: {} for code in MESSAGE_TYPES}
    for (code, state), count in table.counts(conn, created_on).items():
        by_type.setdefault(code, {})[state] = count
    return by_type


def status_summary(store: Store) -> dict[str, Any]:
    """``einvd status``: messages per type and delivery state, and the open alerts per kind."""
    conn = store.connection()
    return {"deliveries": counts(conn), "alerts": alert_table.open_counts(conn)}


def status_rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    """``einvd status`` as table rows for a person: one per message type, a column per state."""
    by_type: dict[str, dict[str, int]] = summary["deliveries"]
    return [(code, *(str(by_type[code].get(state, 0)) for state in STATES)) for code in by_type]
