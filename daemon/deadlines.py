"""Deadlines (domain.md §7.4): an issued invoice must reach the platform within 48 h (consumer) or 7 days
(business buyer), and so must every change of it: a void (F0501), a cancel (F0701), an allowance (G0401) and an
allowance's void (G0501) have the same windows, counted from when the change was made, by the invoice's buyer
type. A person is told while there is still time, and a message that left without a verdict by then becomes
``unknown``. (E0402's own deadline, the 10th of the next period, is warned of by ``daemon/periodic.py``'s
``e0402.*``; an E0402 handed over without a verdict ``verdict_grace`` after it becomes ``unknown`` here.)

- ``deadline.half``: still in this box or in SRC (queued, dropped) half-way to its deadline (24 h for a consumer,
  3.5 days for a business buyer);
- ``deadline.near``: the same at 90 % of the way (4.8 h or 16.8 h left);
- ``deadline.missed``: the same, after the deadline;
- ``verdict.missing``: handed over (dropped, accepted_local) but no platform verdict by the deadline plus
  ``verdict_grace`` (SummaryResult files are daily): the invoice becomes ``unknown``.

Alerts are raised once per invoice (entity ``invoice``) or correction (entity ``message``, the outbox id) and
cleared when it moves on. The same check raises what a refused message needs (``daemon/policy/rejections.py``):
``rejected.<type>`` for a message Turnkey refused (its ERR move is seen by ``daemon/results.py``; the alert is
raised here, once) and ``blocked.refused`` for a message waiting behind a refused one of its invoice (cleared once
it no longer waits).
"""

from __future__ import annotations

from datetime import datetime

from daemon import deliveries
from daemon.alerts import raise_alert
from daemon.policy import rejections
from daemon.policy.deadlines import DEADLINE_KINDS, NOT_HANDED_OVER, DeadlinePolicy
from daemon.status import ACCEPTED_LOCAL, DROPPED, QUEUED, REJECTED_LOCAL, UNKNOWN, advance
from daemon.store import Connection, Store, invoices, stamp
from daemon.store import alerts as alert_table
from daemon.store import deliveries as delivery_table
from daemon.store.deliveries import Correction
from daemon.verdicts import raise_rejection, subject
from turnkey.period import B2C_UPLOAD, Period, taipei, upload_deadline

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
        _corrections(tx, now, policy, earliest, counts)
        counts["cleared"] += _refusals(tx, now)
    return counts


def _corrections(tx: Connection, now: datetime, policy: DeadlinePolicy, earliest: str, counts: dict[str, int]) -> None:
    """The deadline alerts and ``unknown`` of voids, cancels, allowances and allowance voids (entity ``message``)."""
    raised = alert_table.raised(tx, "message", DEADLINE_KINDS)
    for row in delivery_table.unsettled_corrections(tx, (QUEUED, DROPPED, ACCEPTED_LOCAL), earliest):
        found = row.delivery
        made_at = datetime.fromisoformat(found.created_at)
        deadline = upload_deadline(made_at, row.buyer_ban is not None)
        key = str(found.outbox_id)
        if found.state in NOT_HANDED_OVER:
            kind = policy.alert_kind(now, made_at, deadline)
            if kind and (kind, key) not in raised:
                raise_alert(tx, kind, "message", key, now, _correction_message(row, kind, deadline), deadline)
                counts[kind] += 1
        if policy.verdict_overdue(now, found.state, deadline) and deliveries.move(
                tx, found.outbox_id, UNKNOWN, now, reason="no platform verdict by the upload deadline"):
            raise_alert(tx, "verdict.missing", "message", key, now,
                        f"{_named(row)}: no platform verdict by {stamp(deadline)}", deadline)
            counts[UNKNOWN] += 1
    for found, period in delivery_table.unsettled_blank_reports(tx, (DROPPED, ACCEPTED_LOCAL)):
        deadline = Period.parse(period).e0402_deadline()
        if policy.verdict_overdue(now, found.state, deadline) and deliveries.move(
                tx, found.outbox_id, UNKNOWN, now, reason="no platform verdict by the E0402 deadline"):
            raise_alert(tx, "verdict.missing", "message", str(found.outbox_id), now,
                        f"E0402 {found.reference}: no platform verdict by {stamp(deadline)}", deadline)
            counts[UNKNOWN] += 1
    for kind, key in delivery_table.open_message_alerts(tx, DEADLINE_KINDS):
        now_at = delivery_table.of_row(tx, int(key)) if key.isdigit() else None
        if now_at is not None and now_at.state not in NOT_HANDED_OVER:
            counts["cleared"] += alert_table.clear(tx, stamp(now), kind, "message", key)


def _refusals(tx: Connection, now: datetime) -> int:
    """``rejected.<type>`` for every refused message not yet alerted (Turnkey's ERR refusals arrive here), and
    ``blocked.refused`` for every message waiting behind one; blocked alerts of messages no longer waiting clear
    (their number is returned). The alerts raised are not counted in ``check_deadlines``'s answer (the watch's
    tally says ``rejected_local`` already; health and the notifier show the alerts)."""
    cleared = 0
    alerted = {key for _, key in alert_table.raised(tx, "message", tuple(rejections.REJECTED_KINDS.values()))}
    for found in delivery_table.refused(tx):
        if str(found.outbox_id) not in alerted:
            raise_rejection(tx, found.message_type, found.outbox_id, now, found.state == REJECTED_LOCAL, found.code,
                            found.reason)
    waiting = set()
    for blocked in delivery_table.blocked(tx):
        key = str(blocked.waiting.outbox_id)
        waiting.add(key)
        refused = blocked.refused
        text = rejections.blocked_text(blocked.waiting.message_type, subject(tx, blocked.waiting),
                                       refused.message_type, subject(tx, refused), refused.state)
        raise_alert(tx, rejections.BLOCKED, "message", key, now, text)
    for _, key in delivery_table.open_message_alerts(tx, (rejections.BLOCKED,)):
        if key not in waiting:
            cleared += alert_table.clear(tx, stamp(now), rejections.BLOCKED, "message", key)
    return cleared


def _named(row: Correction) -> str:
    return f"{row.delivery.message_type} {rejections.WHAT.get(row.delivery.message_type, '')} " \
           f"{row.delivery.reference}" + (f" (on invoice {row.number})" if row.delivery.reference != row.number else "")


def _correction_message(row: Correction, kind: str, deadline: datetime) -> str:
    when = stamp(deadline)
    if kind == "deadline.missed":
        return f"{_named(row)} has not reached Turnkey and its upload deadline {when} has passed"
    return f"{_named(row)} has not reached Turnkey yet; its upload deadline is {when}"


def _message(number: str, kind: str, deadline: datetime) -> str:
    when = stamp(deadline)
    if kind == "deadline.missed":
        return f"{number} has not reached Turnkey and its upload deadline {when} has passed"
    return f"{number} has not reached Turnkey yet; its upload deadline is {when}"
