"""Helpers of the part-B fault tests (links, outage, hostile input, malformed results): a seller, documents,
number ranges, a store, and the two test-only peers borrowed from tests/integration (the real sshd, the API
client that signs). Kept apart from the shared fault harness so both can change independently."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

from daemon.services import InvoiceService
from daemon.store import Store
from daemon.tracks import add
from hw_sim.clock import FakeClock
from turnkey.numbers import TrackRange
from turnkey.period import Period

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.append(str(INTEGRATION))  # sshd_peer, api_harness: the peers the integration tests use

from conftest import KEY, SELLER, START, sale  # noqa: E402 - the suite's shared seller, key, time and sale

OTHER_BAN = "04595257"  # a valid 統一編號 that is not the seller's
BUYER_BAN = "53538851"


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
