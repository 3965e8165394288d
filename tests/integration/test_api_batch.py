"""Group commit of API issuing (daemon/api/batch.py) on a real SQLite file: requests that reach the event loop
together share one transaction, each a savepoint of its own."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import sale

from daemon.api.auth import AuthError, NonceGuard, Signed
from daemon.api.batch import Finisher, IssueBatcher, Later
from daemon.api.keys import ApiKey
from daemon.services import InvoiceService
from daemon.store import Store, StoreUnavailable
from daemon.tracks import add
from turnkey.errors import InvoiceInvalid
from turnkey.model import Party
from turnkey.numbers import TrackRange
from turnkey.period import TAIPEI, Period

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=TAIPEI)
KEY = ApiKey("pos", b"x" * 32, frozenset({"issue"}))
SELLER = Party("12345676", "測試商店", "台北市信義區測試路1號")


class Clock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture
def parts(tmp_path: Path) -> Any:
    store = Store(tmp_path / "einvd.sqlite3")
    add(store, [TrackRange(Period.of(NOW), "07", "AB", 1000, 1999)], "test", NOW)
    service = InvoiceService(store, Clock(), random.Random(1), SELLER, bytes(16))
    guard = NonceGuard(store.path)
    batcher = IssueBatcher(store, guard, lambda: NOW.timestamp())
    yield store, service, batcher
    guard.close()
    store.close()


def _signed(nonce: str) -> Signed:
    return Signed(KEY, int(NOW.timestamp()), nonce)


async def _all(batcher: IssueBatcher, jobs: list[tuple[str, Any]]) -> list[Any]:
    return await asyncio.gather(*(batcher.submit(_signed(nonce), work) for nonce, work in jobs),
                                return_exceptions=True)


def test_one_batch_one_savepoint_each(parts: Any) -> None:
    """Ten requests submitted together: one transaction; the bad document and the replayed nonce are refused
    alone, the same order twice is one invoice, the others get consecutive numbers."""
    store, service, batcher = parts
    jobs = [(f"n{i}", lambda i=i: service.issue(sale(f"B-{i}"))) for i in range(6)]
    jobs.append(("bad", lambda: service.issue({"order_id": "B-bad", "items": []})))
    jobs.append(("n1", lambda: service.issue(sale("B-replayed-nonce"))))
    jobs.append(("again", lambda: service.issue(sale("B-0"))))
    results = asyncio.run(_all(batcher, jobs))
    assert batcher.batches == 1 and batcher.requests == 9
    numbers = [r.body["invoice_number"] for r in results[:6]]
    assert numbers == [f"AB{n:08d}" for n in range(1000, 1006)]
    assert isinstance(results[6], InvoiceInvalid)
    assert isinstance(results[7], AuthError) and results[7].code == "auth.replay"
    assert results[8].created is False and results[8].body["invoice_number"] == "AB00001000"
    assert store.read("SELECT count(*) FROM invoices")[0][0] == 6
    assert store.read("SELECT count(*) FROM outbox")[0][0] == 6
    # a refused request's nonce is kept too: it cannot be replayed either
    assert {r[0] for r in store.read("SELECT nonce FROM api_nonces")} == {
        "n0", "n1", "n2", "n3", "n4", "n5", "bad", "again"}


def test_a_full_database_fails_the_whole_batch_and_keeps_nothing(parts: Any) -> None:
    """SQLITE_FULL (the page limit stands in for a full disk): every request of the batch gets store.full, no
    invoice, line, outbox row or nonce of it remains, and the next batch issues the same numbers."""
    store, service, batcher = parts
    conn = store.connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")
    many = [{"description": f"品項{n} " + "長" * 400, "quantity": 1, "unit_price": 10} for n in range(40)]
    jobs = [(f"f{i}", lambda i=i: service.issue(sale(f"FULL-{i}", items=many))) for i in range(20)]
    results = asyncio.run(_all(batcher, jobs))
    assert all(isinstance(r, StoreUnavailable) and r.code == "store.full" for r in results), results
    for table in ("invoices", "invoice_lines", "outbox", "api_nonces"):
        assert store.read(f"SELECT count(*) FROM {table}")[0][0] == 0, table
    conn.execute("PRAGMA max_page_count=1073741823")
    again = asyncio.run(_all(batcher, [("g0", lambda: service.issue(sale("FULL-0")))]))
    assert again[0].body["invoice_number"] == "AB00001000"
    assert store.read("PRAGMA integrity_check")[0][0] == "ok"


def test_more_than_the_limit_goes_in_several_batches(parts: Any) -> None:
    _, service, batcher = parts
    batcher.limit = 4
    jobs = [(f"m{i}", lambda i=i: service.issue(sale(f"M-{i}"))) for i in range(10)]
    results = asyncio.run(_all(batcher, jobs))
    assert [r.body["invoice_number"] for r in results] == [f"AB{n:08d}" for n in range(1000, 1010)]
    assert batcher.batches == 3


def test_answers_are_built_while_the_commit_syncs(parts: Any) -> None:
    """A lone request's ``Later`` step runs on the finisher thread, during the commit; a busy batch's run on the loop's
    thread after it. A step that fails answers its own request with its error; its invoice stays committed."""
    store, service, batcher = parts
    batcher.finisher = Finisher()
    threads: list[str] = []
    here = threading.current_thread().name

    def later(order: str) -> Later[Any]:
        finish = service.prepare(sale(order))
        return Later(lambda: (threads.append(threading.current_thread().name), finish())[1])

    def broken() -> Later[Any]:
        service.prepare(sale("L-broken"))
        return Later(lambda: 1 / 0)

    jobs: list[tuple[str, Any]] = [(f"l{i}", lambda i=i: later(f"L-{i}")) for i in range(3)]
    jobs += [("lx", broken), ("lp", lambda: service.issue(sale("L-plain"))), ("l0", lambda: later("L-9"))]
    results = asyncio.run(_all(batcher, jobs))
    assert batcher.batches == 1
    assert [r.body["invoice_number"] for r in results[:3]] == ["AB00001000", "AB00001001", "AB00001002"]
    assert isinstance(results[3], ZeroDivisionError)
    assert results[4].body["invoice_number"] == "AB00001004"
    assert isinstance(results[5], AuthError) and results[5].code == "auth.replay"
    assert threads == [here] * 3
    alone = asyncio.run(_all(batcher, [("m0", lambda: later("L-alone"))]))
    assert alone[0].body["invoice_number"] == "AB00001005" and threads[-1].startswith("einvd-finish")
    assert isinstance(asyncio.run(_all(batcher, [("m1", broken)]))[0], ZeroDivisionError)  # L-broken: replayed
    batcher.finisher.close()  # a closed finisher runs the step at once, on the caller's thread
    alone = asyncio.run(_all(batcher, [("m2", lambda: later("L-closed"))]))
    assert alone[0].body["invoice_number"] == "AB00001006" and threads[-1] == here
    batcher.finisher = None
    alone = asyncio.run(_all(batcher, [("m3", lambda: later("L-inline"))]))
    assert alone[0].body["invoice_number"] == "AB00001007" and threads[-1] == here
    assert store.read("SELECT count(*) FROM invoices")[0][0] == 8  # the broken answer's invoice is stored


def test_a_failed_commit_drops_what_the_finisher_built(parts: Any) -> None:
    """The commit itself fails (a foreign key deferred to COMMIT stands in for a disk that fills at the last
    write) after the lone request's answer went to the finisher: the request gets the error, nothing is kept, the
    connection is not left inside the failed transaction, and the next request gets the same number."""
    store, service, batcher = parts
    batcher.finisher = Finisher()
    conn = store.connection()

    def doomed() -> Later[Any]:
        conn.execute("PRAGMA defer_foreign_keys=ON")
        conn.execute("INSERT INTO outbox (message_type, reference, invoice_id, not_before, created_at, updated_at) "
                     "VALUES ('F0401', 'x', 999999, 'x', 'x', 'x')")
        return Later(service.prepare(sale("D-0")))

    results = asyncio.run(_all(batcher, [("d0", doomed)]))
    assert isinstance(results[0], sqlite3.IntegrityError), results
    assert not conn.in_transaction
    for table in ("invoices", "outbox", "api_nonces"):
        assert store.read(f"SELECT count(*) FROM {table}")[0][0] == 0, table
    again = asyncio.run(_all(batcher, [("d1", lambda: Later(service.prepare(sale("D-0"))))]))
    assert again[0].created and again[0].body["invoice_number"] == "AB00001000"
    batcher.finisher.close()
