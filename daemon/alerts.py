"""Alerts: what needs a person. Raised once per (kind, entity) inside the caller's transaction; the notifier
(``daemon/notify.py``) delivers them, health and the daily report list them."""

from __future__ import annotations

from datetime import datetime

from daemon.store import Connection, stamp
from daemon.store import alerts as table


def raise_alert(tx: Connection, kind: str, entity: str, entity_id: str, now: datetime, message: str,
                due: datetime | None = None) -> bool:
    """Record an alert once per (kind, entity); True when it is new."""
    return table.insert_once(tx, kind, entity, entity_id, stamp(now), stamp(due) if due else None, message)
