"""Group commit of API issuing (daemon/api/batch.py) on a real SQLite file: requests that reach the event loop
together share one transaction, each a savepoint of its own."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import sale

from daemon.api.auth import AuthError, NonceGuard, Signed
from daemon.api.batch import IssueBatcher
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
