"""Turnkey away for 72 simulated hours while 20,000 invoices are issued (one in ten to a business buyer): the share
holding Turnkey's folders is unmounted (renamed away) the whole time, the pump and the deadline check tick every
five simulated minutes. Every consumer invoice not handed over gets ``deadline.half`` 24 h after issue,
``deadline.near`` at 43.2 h (90 %) and ``deadline.missed`` at 48 h, each within one tick of the exact time;
business buyers' 7 days are never reached half-way, so none of theirs is alerted.
Then Turnkey returns: all 20,000 are dropped in numbering order (the order the files
appear in SRC, the outbox ids and the invoice numbers agree), once each, and when Turnkey has taken them the
alerts clear. The store and the share live on /dev/shm when there is one, so 20,000 durable commits stay quick."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support_b import SELLER, START, b2b_sale, issuer, sale, shm_dir

from daemon.deadlines import DeadlinePolicy, check_deadlines
from daemon.outbox import Backoff, file_name
from daemon.store import Store
from daemon.workers import Pump, Watch, health
from drivers.drop.local import LocalDrop
from hw_sim.clock import FakeClock
from turnkey.layout import Layout
from turnkey.period import upload_deadline

pytestmark = pytest.mark.faults

COUNT = 20_000
B2B_EVERY = 10
AWAY = timedelta(hours=72)
TICK = timedelta(minutes=5)
POLICY = DeadlinePolicy(half=0.5, near=0.9, verdict_grace=timedelta(hours=24))
BATCH = 20  # einvd renders a whole batch before each try, also while the drop is away: keep the tries cheap
LAYOUT = Layout()


class RecordingDrop(LocalDrop):
    """The order in which files appear in SRC (each rename)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.order: list[str] = []

    def _rename(self, staged: Path, target: Path) -> None:
        super()._rename(staged, target)
        self.order.append(target.name)


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="einvd-outage-", dir=shm_dir(tmp_path)))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _take_all(root: Path) -> int:
    """Turnkey's directory task: every file of SRC to BAK."""
    src, bak = root / LAYOUT.folder("SRC", "F0401"), root / LAYOUT.folder("BAK", "F0401") / "20261124" / "14-15"
    bak.mkdir(parents=True, exist_ok=True)
    names = os.listdir(src)
    for name in names:
        os.replace(src / name, bak / name)
    return len(names)


def test_backoff_stays_capped_after_many_failed_tries() -> None:
    backoff, rng = Backoff(), random.Random(1)
    delays = [backoff.delay(attempts, rng) for attempts in (1, 10, 44, 45, 500, 100_000)]
    print(f"\n[backoff] delays {[d.total_seconds() for d in delays]}")
    assert all(d < backoff.cap for d in delays) and all(d >= backoff.cap / 2 for d in delays[2:])


def test_twenty_thousand_invoices_wait_out_72_hours_without_turnkey(fast_dir: Path) -> None:
    clock = FakeClock(START)
    store, service = issuer(fast_dir / "einvd.sqlite3", clock, COUNT)
    root, away = fast_dir / "mnt" / "turnkey", fast_dir / "unmounted"
    for folder in LAYOUT.required():
        (root / folder).mkdir(parents=True, exist_ok=True)
    drop = RecordingDrop(root)
    pump = Pump(store, drop, SELLER, None, random.Random(2), batch=BATCH)
    root.rename(away)  # Turnkey's share is gone before the first sale

    every = AWAY / COUNT
    numbers: list[str] = []
    tries = ticks = 0
    for step in range(1, AWAY // TICK + 1):
        tick_at = START + step * TICK
        while len(numbers) < COUNT and START + len(numbers) * every <= tick_at:
            n = len(numbers)
            clock.set(START + n * every)
            doc = b2b_sale(f"OUT-{n:05d}") if n % B2B_EVERY == B2B_EVERY - 1 else sale(f"OUT-{n:05d}")
            numbers.append(service.issue(doc).body["invoice_number"])
        clock.set(tick_at)
        report = pump.tick(clock.now())
        assert report.dropped == 0
        tries += bool(report.error)
        check_deadlines(store, clock.now(), POLICY)
        ticks += 1
    end = clock.now()
    assert len(numbers) == COUNT and end == START + AWAY
    status = health(store, end, pump)
    print(f"\n[outage] issued {COUNT} over {AWAY}; {ticks} ticks of {TICK}; the pump tried the drop {tries} times; "
          f"waiting {status['outbox']['waiting']}; alerts {status['alerts']}")
    assert status["outbox"]["waiting"] == COUNT and "SRC folder missing" in status["drop"]["pump_error"]
    assert tries >= ticks // 3  # it kept trying all along: the backoff is capped at 10 minutes
    checked = _check_alerts(store, end)

    away.rename(root)  # Turnkey is back
    clock.set(max(end + TICK, pump.resume_at or end))
    drained = pump.tick(clock.now())
    assert drained.dropped == COUNT and drained.error == ""
    _check_order(store, drop, numbers)
    taken = _take_all(root)
    counts = Watch(store, drop, SELLER.identifier, policy=POLICY).tick(clock.now())
    print(f"[outage] drained {drained.dropped} in order; Turnkey took {taken}; watch {counts}; alerts checked "
          f"{checked}")
    overdue = _overdue(store, clock.now())  # no platform verdict 24 h after their deadline: unknown
    assert taken == COUNT and counts["accepted_local"] == COUNT and counts["cleared"] == checked
    assert counts.get("unknown", 0) == overdue > 0
    assert health(store, clock.now(), pump)["alerts"] == {"verdict.missing": overdue}
    pump.close()
    store.close()


def _check_alerts(store: Store, end: datetime) -> int:
    """Each invoice's deadline alerts against the exact times; returns how many alerts were compared."""
    invoices = {r["id"]: (datetime.fromisoformat(r["issued_at"]), r["buyer_ban"] is not None) for r in store.read(
        "SELECT id, issued_at, buyer_ban FROM invoices")}
    alerts = store.read("SELECT kind, entity_id, raised_at, due_at FROM alerts WHERE entity = 'invoice'")
    raised = {(r["kind"], int(r["entity_id"])): datetime.fromisoformat(r["raised_at"]) for r in alerts}
    expected: dict[tuple[str, int], datetime] = {}
    for invoice_id, (issued_at, business) in invoices.items():
        deadline = upload_deadline(issued_at, business)
        for kind, due in POLICY.warnings(issued_at, deadline):
            if due <= end:
                expected[(kind, invoice_id)] = due
        if deadline <= end:
            expected[("deadline.missed", invoice_id)] = deadline
    assert set(raised) == set(expected), sorted(set(raised) ^ set(expected))[:5]
    late = [(key, raised[key] - due) for key, due in expected.items() if not due <= raised[key] < due + TICK]
    assert late == []  # every alert within one tick of its exact time
    kinds = Counter(kind for kind, _ in raised)
    business = [key for key in raised if invoices[key[1]][1]]
    print(f"[outage] alerts {dict(kinds)}, each within {TICK} of its deadline; business buyers alerted: "
          f"{len(business)}")
    assert business == [] and kinds["deadline.missed"] > 0
    assert kinds["deadline.half"] > kinds["deadline.near"] > kinds["deadline.missed"]
    assert store.read("SELECT count(*) FROM invoices WHERE status <> 'queued'")[0][0] == 0
    return len(raised)


def _overdue(store: Store, now: datetime) -> int:
    rows = store.read("SELECT issued_at, buyer_ban FROM invoices")
    return sum(upload_deadline(datetime.fromisoformat(r["issued_at"]), r["buyer_ban"] is not None)
               + POLICY.verdict_grace <= now for r in rows)


def _check_order(store: Store, drop: RecordingDrop, numbers: list[str]) -> None:
    rows = store.read("SELECT id, reference, file_name, dropped_at, state FROM outbox ORDER BY id")
    assert [r["state"] for r in rows] == ["DONE"] * COUNT
    assert [r["reference"] for r in rows] == numbers == sorted(numbers)  # ids follow the numbering
    assert drop.order == [r["file_name"] for r in rows]  # SRC saw them in that order
    assert drop.order == [file_name("F0401", number, i) for i, number in enumerate(numbers, 1)]
    assert len(set(drop.order)) == COUNT
    stamps = [r["dropped_at"] for r in rows]
    assert stamps == sorted(stamps)
    assert len(os.listdir(drop.root / LAYOUT.folder("SRC", "F0401"))) == COUNT
