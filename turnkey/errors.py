"""Typed errors of the pure core.

Every refusal carries a stable dotted ``code`` (``<field or area>.<rule>``), the ``field`` it is about
(JSON path in the invoice document, e.g. ``items[2].quantity``) and a human ``message``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One reason a document or request was refused."""

    code: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "message": self.message}


class TurnkeyError(Exception):
    """Base of every error the core raises; carries one or more problems."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(f"{p.code}: {p.message}" for p in problems))
        self.problems: tuple[Problem, ...] = problems


class InvoiceInvalid(TurnkeyError):
    """The document breaks a MIG 4.1 or Turnkey rule (HTTP 422)."""


class TrackError(TurnkeyError):
    """A number range problem: none held, exhausted, overlapping (HTTP 409)."""


class Conflict(TurnkeyError):
    """The request contradicts stored state: ``order_id.conflict``, ``issued_at.out_of_order`` (HTTP 409)."""


class WindowClosed(TurnkeyError):
    """A void/cancel arrived after the period's window closed (HTTP 409)."""


class ResultUnreadable(TurnkeyError):
    """A Turnkey result or allocation file could not be read."""
