"""The outage test: 5,000 invoices issued while the Turnkey share is unmounted, then it comes back. All are
drained in issue order, none twice, and the old ones raised deadline alerts in time (simulated clock)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import KEY, SELLER, START, hold, sale

from daemon.outbox import file_name
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.workers import Pump, Watch, health
from drivers.drop.local import LocalDrop
from hw_sim.clock import FakeClock
from hw_sim.turnkey import SimTurnkey
from turnkey.period import Period

COUNT = 5_000
EVERY = timedelta(seconds=30)  # 5,000 sales 30 s apart: the first is 41.7 h old when the share returns


class RecordingDrop(LocalDrop):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.order: list[str] = []

    def _rename(self, staged: Path, target: Path) -> None:
        super()._rename(staged, target)
        self.order.append(target.name)  # the order files appear in SRC


@pytest.mark.slow
def test_five_thousand_invoices_survive_an_outage(store: Store, tmp_path: Path) -> None:
    clock = FakeClock(START)
    hold(store, Period.of(START), "AB", 1000, 1000 + COUNT - 1)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    root, away = tmp_path / "mnt" / "turnkey", tmp_path / "unmounted"
    turnkey = SimTurnkey(root, party=SELLER.identifier).install()
    drop = RecordingDrop(root)
    pump = Pump(store, drop, SELLER, None, random.Random(2))
    watch = Watch(store, drop, SELLER.identifier)
    root.rename(away)

    numbers, attempts = [], 0
    for n in range(COUNT):
        numbers.append(service.issue(sale(f"POS1-{n:05d}")).body["invoice_number"])
        clock.advance(EVERY)
        if n % 250 == 249:
            report = pump.tick(clock.now())
            attempts += report.resume_at is not None and report.error != ""
            assert report.dropped == 0
            watch.tick(clock.now())
    assert attempts >= 3  # it kept trying, with backoff, through the outage
    status = health(store, clock.now(), pump)
    assert status["outbox"]["waiting"] == COUNT
    assert status["outbox"]["oldest_age_seconds"] >= (COUNT * EVERY).total_seconds() - 1
    assert "Turnkey SRC folder missing" in status["drop"]["pump_error"]
    half = store.read("SELECT entity_id, raised_at FROM alerts WHERE kind = 'deadline.half' ORDER BY id")
    old = {n for n in range(COUNT) if (COUNT - n) * EVERY >= timedelta(hours=24) + 250 * EVERY}
    assert {int(r["entity_id"]) - 1 for r in half} >= old  # every invoice 24 h old (half of 48 h) was alerted
    assert status["alerts"] == {"deadline.half": len(half)} and len(half) < COUNT  # none at 90 % (43.2 h) yet

    away.rename(root)
    clock.set(max(clock.now(), pump.resume_at or clock.now()))
    assert pump.tick(clock.now()).dropped == COUNT
    assert drop.order == [file_name("F0401", number, i) for i, number in enumerate(numbers, 1)]
    assert len(set(drop.order)) == COUNT
    assert len(list(turnkey.folder("F0401", "SRC").iterdir())) == COUNT
    assert len(turnkey.tick(clock.now())) == COUNT
    assert watch.tick(clock.now()) == {"accepted_local": COUNT, "cleared": len(half)}
    assert health(store, clock.now(), pump)["alerts"] == {}
    pump.close()
