"""Upload deadlines (domain.md §7.4): which warning an invoice not yet handed over has reached, and when one
handed over without a platform verdict is given up as ``unknown``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.policy.delivery import DROPPED, QUEUED

NOT_HANDED_OVER = (QUEUED, DROPPED)
DEADLINE_KINDS = ("deadline.half", "deadline.near", "deadline.missed")


@dataclass(frozen=True)
class DeadlinePolicy:
    """Warnings at these fractions of the way from issue to the upload deadline; ``verdict_grace`` after it an
    invoice handed over without a platform verdict becomes ``unknown``."""

    half: float = 0.5
    near: float = 0.9
    verdict_grace: timedelta = timedelta(hours=24)

    def warnings(self, issued_at: datetime, deadline: datetime) -> tuple[tuple[str, datetime], ...]:
        """Each warning kind with the time it is due, earliest first."""
        window = deadline - issued_at
        return (("deadline.half", issued_at + window * self.half), ("deadline.near", issued_at + window * self.near))

    def alert_kind(self, now: datetime, issued_at: datetime, deadline: datetime) -> str:
        """The latest stage reached, ``""`` for none (a box that was off raises only where it stands now, not
        every stage missed)."""
        if now >= deadline:
            return "deadline.missed"
        reached = [kind for kind, due in self.warnings(issued_at, deadline) if now >= due]
        return reached[-1] if reached else ""

    def verdict_overdue(self, now: datetime, status: str, deadline: datetime) -> bool:
        """Handed over (not queued) and still without a verdict ``verdict_grace`` after the deadline."""
        return status != QUEUED and now >= deadline + self.verdict_grace
