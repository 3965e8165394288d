"""Print retries and copies, decided on plain data: what a failure does to a job (retry later
or give up), when a slip is a 補印 copy, what the invoice's ``print_status`` and the event log say.

A failure after bytes went out may have left paper with the original on it: the retry is then a copy (補印),
as is every reprint, and every job a crash left half-printed. The delay doubles per attempt up to ``MAX_DELAY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_DELAY = 600.0
PROOF, INFO = "proof", "info"
QUEUED, PRINTING, PRINTED, FAILED = "queued", "printing", "printed", "failed"
COPY_REASON = "補印"


@dataclass(frozen=True, slots=True)
class Failure:
    """What a failed attempt makes of its job."""

    state: str
    attempts: int
    copy: bool
    not_before: datetime


def job_kind(print_requested: bool) -> str:
    """A proof (證明聯) when the sale asked for one, else the information slip of a carrier or donated invoice."""
    return PROOF if print_requested else INFO


def retry_delay(attempts: int, base: float) -> float:
    """Seconds before the next try after ``attempts`` tries: ``base`` doubled per try, capped at ``MAX_DELAY``."""
    return min(base * 2.0 ** (attempts - 1), MAX_DELAY)


def after_failure(attempts: int, copy: bool, sent: bool, final: bool, at: datetime, max_attempts: int,
                  base_delay: float) -> Failure:
    """The job after its try number ``attempts + 1`` failed at ``at``.

    ``sent``: bytes reached the printer, so the next try is a copy. ``final``: no retry can help (the stored
    invoice cannot be laid out). Otherwise the job is queued again until ``max_attempts`` tries, then failed.
    """
    tries = attempts + 1
    state = FAILED if final or tries >= max_attempts else QUEUED
    return Failure(state, tries, copy or sent, at + timedelta(seconds=retry_delay(tries, base_delay)))


def print_status(kind: str, job_state: str) -> str | None:
    """The invoice's ``print_status`` after its job reached ``job_state``: a proof's state (queued again,
    printed, failed); None for an information slip, which the invoice's status does not follow. A proof
    printed once stays printed (the store keeps that guard)."""
    return job_state if kind == PROOF else None


def event_of(kind: str, copy: bool, job_state: str, code: str = "") -> tuple[str, str]:
    """The event (kind, reason) logged on the invoice after an attempt."""
    if job_state == PRINTED:
        return "printed", COPY_REASON if copy else kind
    return ("print_failed" if job_state == FAILED else "print_retry"), code
