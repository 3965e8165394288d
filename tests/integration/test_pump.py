"""The outbox pump on a real SQLite file and the in-memory drop: order, dependencies, backoff, failures, recovery."""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import SELLER, START, sale, spec_schemas
from lxml import etree

from daemon.messages import BUILDERS, Builder, build_f0401
from daemon.outbox import Backoff, Claimed, claim, file_name
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.workers import Pump, Watch, health
from hw_sim.clock import FakeClock
from hw_sim.drop import MemoryDrop
from turnkey.model import CONSUMER_ID, Message, Party, Void


def build_void(conn: sqlite3.Connection, row: Claimed, seller: Party) -> Message:
    invoice = conn.execute("SELECT number, issued_at FROM invoices WHERE id = ?", (row.invoice_id,)).fetchone()
    return Void(invoice["number"], date.fromisoformat(invoice["issued_at"][:10]), CONSUMER_ID, seller.identifier,
                START + timedelta(hours=1), "作廢發票")


WITH_VOIDS: dict[str, Builder] = {**BUILDERS, "F0501": build_void}


def pump(store: Store, drop: MemoryDrop, builders: dict[str, Builder] | None = None, batch: int = 200) -> Pump:
    backoff = Backoff(timedelta(seconds=5), timedelta(minutes=1))
    return Pump(store, drop, SELLER, spec_schemas(), random.Random(7), backoff, batch, builders or WITH_VOIDS)


def issue(service: InvoiceService, clock: FakeClock, count: int, start: int = 0) -> list[str]:
    numbers = []
    for n in range(start, start + count):
        clock.advance(seconds=1)
        numbers.append(service.issue(sale(f"POS1-{n:04d}")).body["invoice_number"])
    return numbers


def enqueue_void(store: Store, number: str, at: str) -> int:
    with store.write() as tx:
        invoice_id = tx.execute("SELECT id FROM invoices WHERE number = ?", (number,)).fetchone()[0]
        cursor = tx.execute("INSERT INTO outbox (message_type, reference, invoice_id, not_before, created_at, "
                            "updated_at) VALUES ('F0501', ?, ?, ?, ?, ?)", (number, invoice_id, at, at, at))
        return int(cursor.lastrowid or 0)


def states(store: Store) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in store.read("SELECT message_type, reference, state FROM outbox ORDER BY id")]


def test_drops_every_due_message_in_issue_order(service: InvoiceService, store: Store, clock: FakeClock) -> None:
    numbers = issue(service, clock, 5)
    drop = MemoryDrop()
    report = pump(store, drop, batch=2).tick(clock.now())
    assert (report.dropped, report.failed, report.error) == (5, 0, "")
    assert drop.log == [("F0401", file_name("F0401", n, i)) for i, n in enumerate(numbers, 1)]
    assert drop.synced == 3
    xml = drop.src["F0401"][f"F0401_{numbers[0]}_1.xml"]
    assert etree.fromstring(xml).findtext("{*}Main/{*}InvoiceNumber") == numbers[0]
    assert {r[2] for r in states(store)} == {"DONE"}
    assert {r[0] for r in store.read("SELECT status FROM invoices")} == {"dropped"}
    assert pump(store, drop).tick(clock.now()).dropped == 0


def test_issuing_goes_on_while_the_drop_is_down_and_nothing_is_lost(service: InvoiceService, store: Store,
                                                                     clock: FakeClock) -> None:
    drop = MemoryDrop()
    drop.down = ConnectionError("share not mounted")
    worker = pump(store, drop)
    numbers = issue(service, clock, 3)
    report = worker.tick(clock.now())
    assert report.dropped == 0 and report.error.startswith("ConnectionError")
    first_wait = report.resume_at - clock.now()
    assert timedelta(seconds=2.5) <= first_wait < timedelta(seconds=5)
    numbers += issue(service, clock, 3, start=3)
    assert worker.tick(clock.now()).resume_at == report.resume_at  # resting: no attempt before the backoff
    row = store.read("SELECT attempts, last_error FROM outbox ORDER BY id LIMIT 1")[0]
    assert row["attempts"] == 1 and "share not mounted" in row["last_error"]
    waits = []
    for _ in range(6):
        clock.set(worker.resume_at)
        waits.append(worker.tick(clock.now()).resume_at - clock.now())
    assert all(timedelta(seconds=30) <= wait <= timedelta(minutes=1) for wait in waits[3:])  # capped
    assert len(set(waits)) == len(waits)  # jittered
    status = health(store, clock.now(), worker)
    assert status["outbox"]["waiting"] == 6 and status["outbox"]["oldest_age_seconds"] > 60
    assert "share not mounted" in status["drop"]["pump_error"]
    drop.down = None
    clock.set(worker.resume_at)
    assert worker.tick(clock.now()).dropped == 6
    assert [name for _, name in drop.log] == [file_name("F0401", n, i) for i, n in enumerate(numbers, 1)]
    assert health(store, clock.now(), worker)["outbox"]["waiting"] == 0


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff, rng = Backoff(timedelta(seconds=5), timedelta(minutes=10)), random.Random(3)
    for attempts, low, high in ((1, 2.5, 5), (2, 5, 10), (3, 10, 20), (8, 300, 600), (30, 300, 600)):
        delays = {backoff.delay(attempts, rng).total_seconds() for _ in range(50)}
        assert all(low <= d < high for d in delays) and len(delays) > 40


def test_a_waiting_row_holds_back_its_type_only(service: InvoiceService, store: Store, clock: FakeClock) -> None:
    numbers = issue(service, clock, 3)
    drop = MemoryDrop()
    pump(store, drop).tick(clock.now())
    drop.take_all()
    Watch(store, drop, SELLER.identifier).tick(clock.now())
    numbers += issue(service, clock, 2, start=3)
    later = (clock.now() + timedelta(minutes=5)).isoformat()
    with store.write() as tx:
        tx.execute("UPDATE outbox SET not_before = ? WHERE reference = ?", (later, numbers[3]))
    enqueue_void(store, numbers[0], clock.now().isoformat())
    rows = claim(store, clock.now(), 10)
    assert [(r.code, r.reference) for r in rows] == [("F0501", numbers[0])]  # numbers[4] waits behind numbers[3]
    clock.advance(minutes=5)
    assert [r.reference for r in claim(store, clock.now(), 10)] == numbers[3:]


def test_a_void_never_leaves_before_turnkey_took_its_invoice(service: InvoiceService, store: Store,
                                                              clock: FakeClock) -> None:
    first, second = issue(service, clock, 2)
    drop = MemoryDrop()
    worker, watch = pump(store, drop), Watch(store, drop, SELLER.identifier)
    enqueue_void(store, first, clock.now().isoformat())
    enqueue_void(store, second, clock.now().isoformat())
    worker.tick(clock.now())
    assert [code for code, _ in drop.log] == ["F0401", "F0401"]  # both voids wait: their F0401 is only in SRC
    drop.take("F0401", file_name("F0401", second, 2))
    watch.tick(clock.now())
    worker.tick(clock.now())
    assert drop.log[-1] == ("F0501", file_name("F0501", second, 4))  # the later void passes the blocked one
    drop.take("F0401", file_name("F0401", first, 1), accept=False)
    watch.tick(clock.now())
    clock.advance(hours=1)
    worker.tick(clock.now())
    assert len(drop.log) == 3  # the void of an invoice Turnkey refused stays, for a person to resolve
    assert store.read("SELECT state FROM outbox WHERE id = 3")[0][0] == "READY"


def test_a_message_that_fails_its_check_is_failed_with_an_alert(service: InvoiceService, store: Store,
                                                                 clock: FakeClock) -> None:
    numbers = issue(service, clock, 3)
    with store.write() as tx:
        tx.execute("UPDATE invoices SET random_number = '12345' WHERE number = ?", (numbers[1],))
        tx.execute("INSERT INTO outbox (message_type, reference, not_before, created_at, updated_at) "
                   "VALUES ('E0402', 'X', '2000-01-01', '2000-01-01', '2000-01-01')")
    drop = MemoryDrop()
    report = pump(store, drop, {"F0401": build_f0401}).tick(clock.now())  # a type with no builder
    assert (report.dropped, report.failed) == (2, 2)
    failed = store.read("SELECT reference, last_error FROM outbox WHERE state = 'FAILED' ORDER BY id")
    assert failed[0]["reference"] == numbers[1] and "RandomNumber" in failed[0]["last_error"]
    assert "cannot build E0402" in failed[1]["last_error"]
    alerts = store.read("SELECT kind, entity_id FROM alerts ORDER BY id")
    assert sorted(tuple(a) for a in alerts) == [("outbox.failed", "2"), ("outbox.failed", "4")]
    assert health(store, clock.now())["outbox"]["failed"] == 2


def test_rows_locked_by_a_dead_process_are_not_dropped_twice(service: InvoiceService, store: Store,
                                                             clock: FakeClock) -> None:
    numbers = issue(service, clock, 4)
    drop = MemoryDrop()
    claimed = claim(store, clock.now(), 10)  # the process dies after claiming: rows stay LOCKED
    drop.put("F0401", claimed[0].file_name, b"<x/>")  # ... after putting the first file in SRC
    drop.put("F0401", claimed[1].file_name, b"<x/>")  # ... and the second, which Turnkey already took
    drop.take("F0401", claimed[1].file_name)
    worker = pump(store, drop)
    assert worker.start(clock.now()) == 4
    report = worker.tick(clock.now())
    assert (report.found, report.dropped) == (2, 2)
    assert [name for _, name in drop.log].count(claimed[0].file_name) == 1
    assert [name for _, name in drop.log][2:] == [file_name("F0401", n, i) for i, n in enumerate(numbers, 1)][2:]
    assert store.read("SELECT count(*) FROM outbox WHERE state = 'DONE' AND uncertain = 0")[0][0] == 4


class FlakySync(MemoryDrop):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def sync(self) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError(5, "I/O error on fsync")
        super().sync()


def test_a_failed_sync_records_nothing_and_the_retry_finds_the_files(service: InvoiceService, store: Store,
                                                                      clock: FakeClock) -> None:
    """The renames happened but their sync failed: the rows go back uncertain, and the retry syncs and counts the
    files it finds in SRC instead of putting them a second time (Turnkey may have taken them meanwhile)."""
    issue(service, clock, 3)
    drop = FlakySync()
    worker = pump(store, drop)
    assert worker.tick(clock.now()).dropped == 0
    assert store.read("SELECT count(*) FROM outbox WHERE state = 'READY' AND uncertain = 1")[0][0] == 3
    clock.set(worker.resume_at)
    report = worker.tick(clock.now())
    assert (report.dropped, report.found) == (0, 3)
    assert len(drop.pending("F0401")) == 3 and len(drop.log) == 3 and drop.synced == 1
    assert store.read("SELECT count(*) FROM outbox WHERE state = 'DONE'")[0][0] == 3


def test_a_failed_sync_is_owed_until_it_succeeds(tmp_path: Path) -> None:
    """The local drop keeps a folder whose fsync failed on its list: the next sync() does it again."""
    from drivers.drop.local import LocalDrop
    from turnkey.layout import Layout

    drop = LocalDrop(tmp_path, Layout())
    src = tmp_path / Layout().folder("SRC", "F0401")
    src.mkdir(parents=True)
    drop.put_many([("F0401", "F0401_X_1.xml", b"<x/>")])
    src.rename(tmp_path / "away")
    with pytest.raises(OSError):
        drop.sync()
    (tmp_path / "away").rename(src)
    drop.sync()
    drop.sync()  # nothing owed any more


def test_limit_and_builders(service: InvoiceService, store: Store, clock: FakeClock, tmp_path: Path) -> None:
    issue(service, clock, 3)
    worker = pump(store, MemoryDrop(), builders={"F0401": build_f0401})
    assert worker.tick(clock.now(), limit=2).dropped == 2
    assert worker.tick(clock.now(), limit=2).dropped == 1
    worker.close()


@pytest.mark.parametrize("reference", ["AB00001000", "12345676-11510/07"])
def test_file_names_are_ascii_and_stable(reference: str) -> None:
    name = file_name("E0402", reference, 7)
    assert name == file_name("E0402", reference, 7) and name.isascii() and "/" not in name
