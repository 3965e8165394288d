"""The sales query modules of daemon/store on a real SQLite file: typed frozen records, each write read back."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest
from conftest import KEY, SELLER, START, hold, sale

from daemon.services import InvoiceService
from daemon.store import Store, invoices, nonces, print_jobs, stamp, tracks
from hw_sim.clock import FakeClock
from turnkey.period import Period


def test_tracks_insert_and_read_back(store: Store) -> None:
    with store.write() as tx:
        first = tracks.insert(tx, "11512", "07", "AB", 0, 49, "test", stamp(START))
        tracks.insert(tx, "11512", "07", "AA", 100, 149, "E0501", stamp(START))
    ranges = tracks.every_range(store.connection())
    assert [(r.track, r.begin_no, r.source) for r in ranges] == [("AA", 100, "E0501"), ("AB", 0, "test")]
    assert dataclasses.is_dataclass(ranges[0]) and not hasattr(ranges[0], "__dict__")  # frozen, slots
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(ranges[0], "last_no", 1)  # noqa: B010 (a frozen record refuses it: that is what is tested)
    with store.write() as tx:
        tracks.advance(tx, first, 7, stamp(START))
        opened = tracks.open_range(tx, "11512", "07")
    assert opened is not None and opened.track == "AA"  # ranges are used in track/begin order
    assert [r.last_no for r in tracks.ranges_of(store.connection(), "11512", "07") if r.id == first] == [7]


def test_invoice_records_are_typed(store: Store, clock: FakeClock) -> None:
    hold(store, Period.of(START), "AB", 1000, 1049)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    number = service.issue(sale("POS1-1")).body["invoice_number"]
    conn = store.connection()
    record = invoices.by_number(conn, number)
    assert record is not None and record == invoices.newest_by_number(conn, number) == invoices.by_id(conn, record.id)
    assert record == invoices.by_order_id(conn, "POS1-1")
    assert record.print_requested is True and record.print_status == "pending" and record.lifecycle == "issued"
    assert [line.amount for line in invoices.lines_of(conn, record.id)] == ["130"]
    assert [m.message_type for m in invoices.messages_of(conn, record.id)] == ["F0401"]
    assert invoices.by_number(conn, "ZZ00000000") is None


def test_print_jobs_claim_settle_and_recover(store: Store, clock: FakeClock) -> None:
    hold(store, Period.of(START), "AB", 1000, 1049)
    InvoiceService(store, clock, random.Random(1), SELLER, KEY).issue(sale("POS1-1"))
    at, conn = stamp(START), store.connection()
    assert print_jobs.owed(conn, at, info_slips=False)
    with store.write() as tx:
        assert print_jobs.adopt(tx, at, at, info_slips=True) == 1
    assert not print_jobs.owed(conn, at, info_slips=True)
    assert print_jobs.due(conn, stamp(START - timedelta(seconds=1)), 10) == []  # not before its time
    [waiting] = print_jobs.due(conn, at, 10)
    with store.write() as tx:
        job = print_jobs.claim(tx, waiting, at)
        assert print_jobs.claim(tx, waiting, at) is None  # claimed once
    assert job is not None and (job.state, job.copy, job.kind) == ("printing", False, "proof")
    with store.write() as tx:
        assert print_jobs.recover(tx, at) == 1
    assert print_jobs.jobs_of(conn, job.invoice_id)[0].copy is True
    with store.write() as tx:
        print_jobs.failed(tx, job.id, "failed", 1, True, at, "print.paper_out: out", at)
        print_jobs.set_print_status(tx, job.invoice_id, "failed")
    assert print_jobs.state_of(conn, job.id) == "failed" and print_jobs.state_of(conn, 999) is None
    record = invoices.by_id(conn, job.invoice_id)
    assert record is not None and record.print_status == "failed"


def test_nonces_refuse_a_replay_and_prune_the_old(store: Store) -> None:
    with store.write() as tx:
        nonces.admit(tx, "pos1", "n" * 16, 1000)
    with pytest.raises(nonces.NonceSeen), store.write() as tx:
        nonces.admit(tx, "pos1", "n" * 16, 1001)
    with store.write() as tx:
        nonces.admit(tx, "pos1", "m" * 16, 2000, prune_before=1500)  # the first one is pruned: may come again
        nonces.admit(tx, "pos1", "n" * 16, 2001)
