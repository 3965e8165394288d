"""Scans on their way to POS software: normalised, numbered, and delivered once each.

Scanner threads ``publish``; the API's long poll (``take``) and event stream hand each scan to exactly one
consumer, oldest first, optionally only those of one scanner. The hub keeps at most ``capacity`` undelivered
scans (the oldest are dropped first: a scan nobody collected for that long is stale at the till).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from turnkey.carrier import Scan, normalise_scan


@dataclass(frozen=True)
class Delivery:
    id: int
    scanner: str
    at: datetime
    scan: Scan

    def as_dict(self) -> dict[str, Any]:
        scan = self.scan
        return {"id": self.id, "scanner": self.scanner, "at": self.at.isoformat(), "kind": scan.kind,
                "value": scan.value, "raw": scan.raw, "note": scan.note, "carrier_type": scan.carrier_type}


class ScanHub:
    def __init__(self, now: Callable[[], datetime], capacity: int = 1000,
                 layouts: Collection[str] | None = None) -> None:
        self.now = now
        self.layouts = layouts  # the shop's keyboard layouts ([scanner] layouts); None: every known one
        self._pending: deque[Delivery] = deque(maxlen=capacity)
        self._ready = threading.Condition()
        self._next = 1
        self.dropped = 0
        self.published = 0  # every scan since start, by kind (mobile_barcode, unknown, ...), for /metrics
        self.by_kind: dict[str, int] = {}

    def publish(self, scanner: str, raw: str) -> Delivery:
        with self._ready:
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1
            delivery = Delivery(self._next, scanner, self.now(), normalise_scan(raw, self.layouts))
            self._next += 1
            self.published += 1
            self.by_kind[delivery.scan.kind] = self.by_kind.get(delivery.scan.kind, 0) + 1
            self._pending.append(delivery)
            self._ready.notify_all()
            return delivery

    def take(self, timeout: float, scanner: str | None = None) -> list[Delivery]:
        """Every undelivered scan (of ``scanner``), waiting up to ``timeout`` seconds for the first one."""
        with self._ready:
            self._ready.wait_for(lambda: self._matching(scanner), timeout)
            taken = self._matching(scanner)
            for delivery in taken:
                self._pending.remove(delivery)
            return taken

    def _matching(self, scanner: str | None) -> list[Delivery]:
        return [d for d in self._pending if scanner is None or d.scanner == scanner]

    @property
    def backlog(self) -> int:
        with self._ready:
            return len(self._pending)
