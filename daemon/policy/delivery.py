r"""Where an invoice stands with Turnkey and the platform, and the only moves allowed between those states.

    queued --> dropped --> accepted_local --> confirmed
                       \-> rejected_local  \-> rejected (platform code)
                                            \-> unknown (no verdict by the deadline) --> confirmed | rejected

A later, better fact may skip steps (a SummaryResult can confirm an invoice whose move to BAK was not seen),
but nothing goes back: a file seen in SRC again never un-confirms an invoice. ``rejected`` may be refined
(a ProcessResult adds the code to a SummaryResult's failure).
"""

from __future__ import annotations

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
    """Whether the table has the move ``current`` -> ``new``."""
    return new in ALLOWED.get(current, frozenset())


def moves(current: str, new: str, code: str = "") -> bool:
    """Whether an invoice in ``current`` is written as ``new``: the move is allowed, and a repeat of the same
    state only when it brings a platform code (a ProcessResult refining a rejection)."""
    return allowed(current, new) and (current != new or bool(code))


def event_reason(code: str, reason: str) -> str:
    """The event log's reason of a move: the platform code first when there is one."""
    return reason if not code else f"{code} {reason}".strip()
