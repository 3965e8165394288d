"""Which webhook messages to send now: at most one per alert kind an hour, each carrying every alert of its kind
that waits (one alert goes alone, as it always did; many go as one summary naming how many, the oldest and the
newest). A long outage raises a deadline alert per invoice; the person on call gets one message per kind an hour.

Rules, per kind (kinds in the order of their oldest waiting alert):

- the kind waits while a message of it was sent less than ``every`` ago (the first alert of a quiet kind goes
  at once: a new problem is news; what follows within the hour is more of the same and is summed up later);
- the kind waits while any of its deliveries is backing off after a failed try (its ``not_before`` is ahead),
  so a summary that failed is retried whole, with whatever joined it meanwhile;
- otherwise one message carries all of them; it has been tried as often as the most-tried alert in it.

With ``first_alone`` (the printed notices), a burst that starts on a quiet kind prints its first alert as itself
at once, even when others of the kind came with it; the rest are summed up an hour later. A kind is quiet for its
oldest waiting alert when no message of the kind went in the ``every`` before that alert was raised. Only a
message not yet tried is split so: a retry goes whole, as it was first tried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SAMPLE = 5
"""How many entity ids a summary names (the first ones raised)."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """One alert waiting for its webhook delivery."""

    alert_id: int
    kind: str
    entity: str
    entity_id: str
    raised_at: datetime
    not_before: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Message:
    """One webhook message: the alerts it carries (id order), and facts for a person."""

    kind: str
    alerts: tuple[Waiting, ...]

    @property
    def alert_ids(self) -> tuple[int, ...]:
        return tuple(a.alert_id for a in self.alerts)

    @property
    def attempts(self) -> int:
        """Tries made so far for this message (the most-tried alert it carries)."""
        return max(a.attempts for a in self.alerts)

    @property
    def count(self) -> int:
        return len(self.alerts)

    @property
    def oldest(self) -> Waiting:
        return min(self.alerts, key=lambda a: (a.raised_at, a.alert_id))

    @property
    def newest(self) -> Waiting:
        return max(self.alerts, key=lambda a: (a.raised_at, a.alert_id))

    def sample(self, size: int = SAMPLE) -> tuple[str, ...]:
        """The entity ids of the first ``size`` alerts raised."""
        ordered = sorted(self.alerts, key=lambda a: (a.raised_at, a.alert_id))
        return tuple(a.entity_id for a in ordered[:size])

    def summary_text(self) -> str:
        """What a person reads: how many, the oldest and the newest, the first few ids."""
        old, new = self.oldest, self.newest
        more = f" (first: {', '.join(self.sample())})" if self.count > 2 else ""
        return (f"{self.count} {self.kind} alerts: oldest {old.entity} {old.entity_id} raised "
                f"{old.raised_at.isoformat()}, newest {new.entity} {new.entity_id} raised "
                f"{new.raised_at.isoformat()}{more}")


def _by_kind(waiting: Sequence[Waiting]) -> dict[str, list[Waiting]]:
    """The waiting alerts per kind, each in id order, kinds in the order of their first id."""
    by_kind: dict[str, list[Waiting]] = {}
    for alert in sorted(waiting, key=lambda a: a.alert_id):
        by_kind.setdefault(alert.kind, []).append(alert)
    return by_kind


def _plan(alerts: list[Waiting], last: datetime | None, every: timedelta,
          first_alone: bool) -> tuple[datetime, tuple[Waiting, ...]]:
    """When the next message of one kind may go, and the alerts it carries."""
    carried: tuple[Waiting, ...] = tuple(alerts)
    if first_alone and len(alerts) > 1 and all(a.attempts == 0 for a in alerts):
        oldest = min(alerts, key=lambda a: (a.raised_at, a.alert_id))
        if last is None or last + every <= oldest.raised_at:
            carried = (oldest,)
    due = max(a.not_before for a in carried)
    if last is not None:
        due = max(due, last + every)
    return due, carried


def _plans(waiting: Sequence[Waiting], last_sent: Mapping[str, datetime], every: timedelta,
           first_alone: bool) -> dict[str, tuple[datetime, tuple[Waiting, ...]]]:
    return {kind: _plan(alerts, last_sent.get(kind), every, first_alone)
            for kind, alerts in _by_kind(waiting).items()}


def due_times(waiting: Sequence[Waiting], last_sent: Mapping[str, datetime], every: timedelta,
              first_alone: bool = False) -> dict[str, datetime]:
    """Per kind with alerts waiting, when its message may go: an ``every`` after the last one of its kind, and not
    before the latest ``not_before`` of the alerts it carries (a failed message backs off whole)."""
    return {kind: due for kind, (due, _) in _plans(waiting, last_sent, every, first_alone).items()}


def webhook_messages(waiting: Sequence[Waiting], last_sent: Mapping[str, datetime], now: datetime,
                     every: timedelta, first_alone: bool = False) -> list[Message]:
    """The messages to send now, in the order of each kind's oldest waiting alert (see the module's rules).
    ``last_sent``: per kind, when its last message went (one older than ``every`` changes nothing; with
    ``first_alone`` it must reach back to an ``every`` before the kind's oldest waiting alert was raised)."""
    return [Message(kind, carried) for kind, (due, carried) in _plans(waiting, last_sent, every, first_alone).items()
            if due <= now]


def print_messages(waiting: Sequence[Waiting], last_sent: Mapping[str, datetime], now: datetime,
                   every: timedelta) -> list[Message]:
    """The printed notices due now: the webhook's rules with ``first_alone``."""
    return webhook_messages(waiting, last_sent, now, every, first_alone=True)
