"""Deadline warnings and the verdict given up as unknown, on plain times."""

from __future__ import annotations

from datetime import datetime, timedelta

from daemon.deadlines import DeadlinePolicy as ReExported
from daemon.policy.deadlines import DeadlinePolicy
from daemon.policy.delivery import ACCEPTED_LOCAL, DROPPED, QUEUED
from turnkey.period import TAIPEI

ISSUED = datetime(2026, 12, 1, 10, 0, tzinfo=TAIPEI)
DEADLINE = ISSUED + timedelta(hours=48)
POLICY = DeadlinePolicy()


def test_the_policy_is_importable_from_daemon_deadlines() -> None:
    assert ReExported is DeadlinePolicy


def test_warnings_at_half_and_ninety_percent() -> None:
    assert POLICY.warnings(ISSUED, DEADLINE) == (("deadline.half", ISSUED + timedelta(hours=24)),
                                                 ("deadline.near", ISSUED + timedelta(hours=43.2)))


def test_only_the_latest_stage_reached_is_raised() -> None:
    assert POLICY.alert_kind(ISSUED + timedelta(hours=23), ISSUED, DEADLINE) == ""
    assert POLICY.alert_kind(ISSUED + timedelta(hours=24), ISSUED, DEADLINE) == "deadline.half"
    assert POLICY.alert_kind(ISSUED + timedelta(hours=44), ISSUED, DEADLINE) == "deadline.near"
    assert POLICY.alert_kind(DEADLINE, ISSUED, DEADLINE) == "deadline.missed"


def test_a_verdict_is_overdue_a_grace_after_the_deadline_once_handed_over() -> None:
    late = DEADLINE + timedelta(hours=24)
    assert POLICY.verdict_overdue(late, DROPPED, DEADLINE) and POLICY.verdict_overdue(late, ACCEPTED_LOCAL, DEADLINE)
    assert not POLICY.verdict_overdue(late, QUEUED, DEADLINE)
    assert not POLICY.verdict_overdue(late - timedelta(seconds=1), DROPPED, DEADLINE)
