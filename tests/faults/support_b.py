"""Helpers of the part-B fault tests (links, outage, hostile input, malformed results): a seller, documents,
number ranges, a store, and the two test-only peers borrowed from tests/integration (the real sshd, the API
client that signs). Kept apart from the shared fault harness so both can change independently."""

from __future__ import annotations

import os
import random
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.services import InvoiceService
from daemon.store import Store
from daemon.tracks import add
from hw_sim.clock import FakeClock
from turnkey.model import Party
from turnkey.numbers import TrackRange
from turnkey.period import TAIPEI, Period

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.append(str(INTEGRATION))  # sshd_peer, api_harness: the peers the integration tests use

SELLER = Party("12345676", "測試商店", "台北市信義區測試路1號")
OTHER_BAN = "04595257"  # a valid 統一編號 that is not the seller's
BUYER_BAN = "53538851"
KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
START = datetime(2026, 11, 21, 14, 3, 0, tzinfo=TAIPEI)


def sale(order_id: str, **extra: Any) -> dict[str, Any]:
    """A valid consumer document with one line (tax-inclusive 130)."""
    doc: dict[str, Any] = {
        "order_id": order_id,
        "items": [{"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65, "amount": 130}],
    }
    doc.update(extra)
    return doc


def b2b_sale(order_id: str) -> dict[str, Any]:
    """A business buyer's document (7-day deadline)."""
    return sale(order_id, buyer={"ban": BUYER_BAN, "name": "買方公司"})


def hold(store: Store, period: Period, track: str, begin: int, end: int, invoice_type: str = "07") -> TrackRange:
    rng = TrackRange(period, invoice_type, track, begin, end)
    add(store, [rng], "test", START)
    return rng


def issuer(path: Path, clock: FakeClock, count: int, track: str = "AB", seed: int = 1) -> tuple[Store, InvoiceService]:
    """A real SQLite store holding ``count`` numbers of the clock's period, and the issue service over it."""
    store = Store(path)
    hold(store, Period.of(clock.now()), track, 10_000, 10_000 + count - 1)
    return store, InvoiceService(store, clock, random.Random(seed), SELLER, KEY)


def shm_dir(fallback: Path) -> Path:
    """/dev/shm when there is one (fsync is nearly free there: issuing many invoices stays quick), else ``fallback``."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else fallback


def rss_kib() -> int:
    """This process's resident set size (VmRSS), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")
