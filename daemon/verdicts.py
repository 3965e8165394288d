"""Applying one verdict (Turnkey's local word or the platform's) to what it concerns.

Split out of ``daemon.results`` so that reading result files (what the verdict *is*) and moving states and
raising alerts (what it *means* for the merchant) are owned separately.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from daemon.policy.settlement import Verdict
from daemon.status import advance
from daemon.store import Connection, event, invoices, stamp

__all__ = ["Tally", "apply_verdict"]


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] += n


def apply_verdict(tx: Connection, verdict: Verdict, now: datetime, tally: Tally) -> None:
    """Apply a platform verdict to the invoice it names (F0401); other messages are logged on the invoice."""
    invoice_id = invoices.find_invoice(tx, verdict.number, verdict.period)
    if invoice_id is None:
        tally.add("unmatched")
        return
    if verdict.moves_status:
        if advance(tx, invoice_id, verdict.status, now, verdict.code, verdict.reason):
            tally.add(verdict.status)
        return
    event(tx, stamp(now), "invoice", verdict.number, f"{verdict.message_type} {verdict.status}",
          f"{verdict.code} {verdict.reason}".strip())
