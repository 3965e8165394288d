"""A full disk under ``einvd run``: the database's filesystem, then the Turnkey folder's, on a small tmpfs filled to
the last page.

Store full: issuing answers 503 ``store.full`` (never a 500, never a half-written invoice), the file stays whole,
the numbers refused are not used up, and issuing resumes as soon as space returns, continuing the number
sequence. Drop full: invoices are still issued (the database is elsewhere), the pump keeps its rows and retries,
SRC never holds a partial file, and once space returns every invoice arrives exactly once. And, in process: the
database filling between the pump's claim and its record must not strand the claimed rows.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from conftest import sale as sale_with
from harness import Box, Load, check, fill, frozen, log, sale, small_filesystem, wait_until

from daemon.services import InvoiceService
from daemon.store import Store, StoreUnavailable
from daemon.workers import Pump
from hw_sim.clock import FakeClock
from hw_sim.drop import MemoryDrop

pytestmark = pytest.mark.faults
ATTEMPTS = 3000  # issues tried on the full disk before giving up on seeing a refusal


def test_full_store_answers_503_keeps_the_file_whole_and_resumes(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small", "8m") as small:
        box = Box(tmp_path, store_dir=small)
        daemon = box.start()
        load = Load(box.url, "D", threads=1, stop_on_refusal=True)
        client = box.client()
        try:
            for n in range(20):
                assert load.record(f"before-{n}", client)
            daemon.drain()
            filler = fill(small, leave=128 * 1024)  # room for a few more commits, then SQLITE_FULL
            accepted = len(load.acked)
            for n in range(ATTEMPTS):
                if not load.record(f"full-{n}", client):
                    break
            accepted = len(load.acked) - accepted
            assert not load.unanswered, daemon.log_tail()
            assert list(load.refused.values()) == [(503, "store.full")], (load.refused, daemon.log_tail())
            for n in range(8):  # it stays refused, the same way, through a few pump and watch ticks
                time.sleep(0.5)
                load.record(f"still-full-{n}", client)
            assert set(load.refused.values()) == {(503, "store.full")} and len(load.refused) == 9, load.refused
            with frozen(daemon.process.pid):
                full = check(box, load.acked)
                with box.db() as conn:
                    stray = [o for o in load.refused
                             if conn.execute("SELECT 1 FROM invoices WHERE order_id = ?", (o,)).fetchone()]
            assert not stray, f"refused orders stored: {stray}"
            last = max(int(number[2:]) for number in load.acked.values())
            filler.unlink()
            status, body = client.request("POST", "/v1/invoices", sale("after-0"))
            assert status == 201, (status, body, daemon.log_tail())
            assert int(body["invoice_number"][2:]) == last + 1, (body["invoice_number"], last)
            load.acked["after-0"] = body["invoice_number"]
            refused = sorted(load.refused)
            for order_id in refused:  # the refused orders go through now, as new invoices
                status, body = client.request("POST", "/v1/invoices", sale(order_id))
                assert status == 201, (status, body)
                load.acked[order_id] = body["invoice_number"]
            daemon.drain()
            assert daemon.stop() == 0, daemon.log_tail()
            final = check(box, load.acked, drained=True)
            failed = [line for line in daemon.log_tail(10_000).splitlines() if line.endswith(" failed")]
        finally:
            client.close()
            daemon.kill()
            box.close()
    log(f"store full: {accepted} invoices issued after the filler went in, then {len(refused)} answers 503 "
        f"store.full; on the full disk: {full}; after freeing space: issued {len(refused) + 1} more, the next "
        f"number {last + 1} first; after the drain: {final}; worker ticks that failed meanwhile: "
        f"{len(failed)} ({sorted(set(failed))})")
    assert final.invoices == len(load.acked) and final.src + final.bak == final.invoices


def test_full_turnkey_folder_delays_delivery_and_loses_nothing(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small", "4m") as small:
        box = Box(tmp_path, turnkey_dir=small / "turnkey",
                  turnkey_extra="backoff_seconds = 1\nbackoff_max_seconds = 2\n")
        daemon = box.start()
        # At most 400 orders: their files (a 4 KiB tmpfs page each, SRC then BAK) take 1.6 of the 4 MiB once the
        # filler goes; unbounded, a fast machine issues over 1000 in the second and BAK fills the disk again.
        # A handful of files already fill what the filler leaves, so 400 still run into the full disk.
        load = Load(box.url, "T", threads=2, limit=400)
        try:
            filler = fill(small, leave=6 * 4096)  # a few files fit, then a write fails part-way
            load.start()
            time.sleep(1.0)
            load.stop()
            assert not load.refused and not load.unanswered, (load.refused, load.unanswered)
            error = wait_until(lambda: (box.health() or {}).get("backlog", {}).get("last_error"), 30)
            assert "No space left" in error, error
            with frozen(daemon.process.pid):
                full = check(box, load.acked)
            assert full.waiting > 0, full
            filler.unlink()
            daemon.drain()  # the same process: the pump's next try after its backoff goes through
            assert daemon.stop() == 0, daemon.log_tail()
            final = check(box, load.acked, drained=True)
            with box.db() as conn:
                retried = conn.execute("SELECT count(*) FROM outbox WHERE attempts > 1").fetchone()[0]
        finally:
            daemon.kill()
            box.close()
    log(f"drop full: {len(load.acked)} invoices issued onto a full Turnkey folder; while full (pump error "
        f"{error!r}): {full}; after freeing space, without a restart ({retried} rows needed more than one try): "
        f"{final}")
    assert retried > 0
    assert final.invoices == len(load.acked) and final.src + final.bak == final.invoices


class FillsOnSync(MemoryDrop):
    """A drop whose ``sync`` is when the database's disk fills: the file's size is frozen (``max_page_count``), so
    the next page SQLite needs fails with SQLITE_FULL, as on a full disk."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store, self.full = store, True

    def sync(self) -> None:
        super().sync()
        if self.full:
            conn = self.store.connection()
            conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")


def test_rows_claimed_when_the_database_fills_are_requeued_not_stranded(
        service: InvoiceService, store: Store, clock: FakeClock) -> None:
    """The pump claims (LOCKED, committed), drops and syncs, then cannot record: the database is full. Once space
    returns the same process must finish those rows (found in SRC, not dropped twice), not leave them LOCKED until
    a restart."""
    for n in range(40):
        service.issue(sale_with(f"FILL-{n}", remark="x" * 200))
    drop = FillsOnSync(store)
    pump = Pump(store, drop, service.seller, None, random.Random(1))
    pump.start(clock.now())
    with pytest.raises(StoreUnavailable):
        pump.tick(clock.now())
    locked = store.read("SELECT count(*) FROM outbox WHERE state = 'LOCKED'")[0][0]
    drop.full = False
    store.connection().execute("PRAGMA max_page_count=1073741823")
    report = pump.tick(clock.now())
    states = {r[0]: r[1] for r in store.read("SELECT state, count(*) FROM outbox GROUP BY state")}
    log(f"database full between claim and record: {locked} rows left LOCKED by the failed tick; the next tick "
        f"found {report.found} of them in SRC and dropped {report.dropped}; outbox now {states}; "
        f"{len(drop.log)} files put in all")
    assert locked == 40 and states == {"DONE": 40}
    assert report.found == 40 and len(drop.log) == 40
