"""Deadlines (domain.md §7.4): an issued invoice must reach the platform within 48 h (consumer) or 7 days
(business buyer). A person is told while there is still time, and an invoice that left without a verdict by
then becomes ``unknown``.

- ``deadline.half``: still in this box or in SRC (queued, dropped) half-way to its deadline (24 h for a consumer,
  3.5 days for a business buyer);
- ``deadline.near``: the same at 90 % of the way (4.8 h or 16.8 h left);
- ``deadline.missed``: the same, after the deadline;
- ``verdict.missing``: handed over (dropped, accepted_local) but no platform verdict by the deadline plus
  ``verdict_grace`` (SummaryResult files are daily): the invoice becomes ``unknown``.

Alerts are raised once per invoice and cleared when the invoice moves on.
"""

from __future__ import annotations

from datetime import datetime

from daemon.alerts import raise_alert
from daemon.policy.deadlines import DEADLINE_KINDS, NOT_HANDED_OVER, DeadlinePolicy
from daemon.status import ACCEPTED_LOCAL, DROPPED, QUEUED, UNKNOWN, advance
from daemon.store import Store, invoices, stamp
from daemon.store import alerts as alert_table
from turnkey.period import B2C_UPLOAD, taipei, upload_deadline

__all__ = ["DEADLINE_KINDS", "NOT_HANDED_OVER", "DeadlinePolicy", "check_deadlines"]


def check_deadlines(store: Store, now: datetime, policy: DeadlinePolicy) -> dict[str, int]:
    """Raise the alerts that are due, turn verdict-less invoices to unknown, clear settled alerts."""
    counts = {kind: 0 for kind in DEADLINE_KINDS} | {UNKNOWN: 0, "cleared": 0}
    earliest = stamp(taipei(now) - B2C_UPLOAD * min(policy.half, policy.near))
    conn = store.connection()
    rows = invoices.unsettled(conn, (QUEUED, DROPPED, ACCEPTED_LOCAL), earliest)
    raised = alert_table.raised(conn, "invoice", DEADLINE_KINDS)
    with store.write() as tx:
        for row in rows:
            issued_at = datetime.fromisoformat(row.issued_at)
            deadline = upload_deadline(issued_at, row.buyer_ban is not None)
            key = str(row.id)
            if row.status in NOT_HANDED_OVER:
                kind = policy.alert_kind(now, issued_at, deadline)
                if kind and (kind, key) not in raised:
                    raise_alert(tx, kind, "invoice", key, now, _message(row.number, kind, deadline), deadline)
                    counts[kind] += 1
            overdue = policy.verdict_overdue(now, row.status, deadline)
            if overdue and advance(tx, row.id, UNKNOWN, now, reason="no platform verdict by the upload deadline"):
                raise_alert(tx, "verdict.missing", "invoice", key, now,
                            f"{row.number}: no platform verdict by {stamp(deadline)}", deadline)
                counts[UNKNOWN] += 1
        counts["cleared"] = alert_table.clear_settled_invoices(tx, stamp(now), DEADLINE_KINDS, NOT_HANDED_OVER)
    return counts


def _message(number: str, kind: str, deadline: datetime) -> str:
    when = stamp(deadline)
    if kind == "deadline.missed":
        return f"{number} has not reached Turnkey and its upload deadline {when} has passed"
    return f"{number} has not reached Turnkey yet; its upload deadline is {when}"
