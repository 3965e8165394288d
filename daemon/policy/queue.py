"""Which READY outbox rows leave now, and in what batches.

Ordering, per message type: rows leave in id (= issue) order. A row waiting for its backoff holds back the rows
of its type behind it, so a transient failure never reorders F0401 numbers (E0209). A row whose invoice still
has an earlier message that Turnkey has not accepted is *blocked*: it is skipped, not waited on, so one rejected
invoice cannot hold up every void. The F0401 of a re-issued number (a new version after 註銷) counts the messages
of the version it replaces as its own: it leaves only once Turnkey has taken the F0701 (BAK), never before.
Dependencies and the per-type order only point to lower ids, so no two rows can wait for each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

HEAD_SLACK = 100  # rows read beyond the batch per type, to step over blocked rows


class Head(Protocol):
    """What the decision needs of a READY row (read-only, so frozen records fit)."""

    @property
    def not_before(self) -> str: ...

    @property
    def blocked(self) -> bool: ...


H = TypeVar("H", bound=Head)
R = TypeVar("R")


def read_limit(room: int) -> int:
    """How many rows of one type to read for ``room`` places: some more, to step over blocked rows."""
    return room + HEAD_SLACK


def due_heads(candidates: Sequence[H], at: str, room: int) -> list[H]:
    """The rows taken from one type's READY rows (in id order) at stamp ``at``: stop at the first not yet due
    (it holds back those behind it) or when ``room`` is full; skip blocked rows."""
    taken: list[H] = []
    if room <= 0:
        return taken
    for candidate in candidates:
        if candidate.not_before > at or len(taken) == room:
            break
        if not candidate.blocked:
            taken.append(candidate)
    return taken


def file_name(message_type: str, reference: str, outbox_id: int) -> str:
    """``F0401_AB00001000_42.xml``: ASCII, one per message, the same on every try (a retry overwrites)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-") else "-" for ch in reference)
    return f"{message_type}_{safe}_{outbox_id}.xml"


def batch_size(batch: int, limit: int | None, dropped: int) -> int:
    """How many rows the pump claims next: a whole batch, or what is left of a tick's ``limit``."""
    return batch if limit is None else min(batch, limit - dropped)


@dataclass
class PutOutcome(Generic[R]):
    """A batch handed to the drop, split by what happened: put, stopped at (with a transient ``error`` or the
    message's own ``fault``), not tried."""

    done: list[R] = field(default_factory=list)
    stopped: R | None = None
    error: OSError | None = None
    fault: Exception | None = None
    untried: list[R] = field(default_factory=list)


def after_put(outgoing: Sequence[R], done: int, failure: Exception | None) -> PutOutcome[R]:
    """The drop puts in order and stops at the first failure: the first ``done`` went, the next one failed (an
    OSError is transient: retried after a backoff; anything else is the message's own fault), the rest wait."""
    outcome = PutOutcome(done=list(outgoing[:done]))
    if failure is not None:
        outcome.stopped, outcome.untried = outgoing[done], list(outgoing[done + 1:])
        if isinstance(failure, OSError):
            outcome.error = failure
        else:
            outcome.fault = failure
    return outcome
