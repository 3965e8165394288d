"""Over a real uvicorn server: 50 identical requests at once make one invoice; a full disk answers 503 store.full
and leaves nothing half-written."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

from api_harness import SECRETS, build_context
from conftest import KEY, SELLER, START, hold, sale

from daemon.api.app import ServerThread, create_app
from daemon.client import Client
from daemon.services import InvoiceService
from daemon.store import Store
from hw_sim.clock import FakeClock
from turnkey.period import Period


class FillableStore(Store):
    """A real SQLite file whose size can be frozen (``PRAGMA max_page_count`` on every connection): the next page
    it needs fails with SQLITE_FULL, exactly as on a full disk."""

    limit: int | None = None

    def connection(self) -> sqlite3.Connection:
        conn = super().connection()
        if self.limit is not None:
            conn.execute(f"PRAGMA max_page_count={self.limit}")
        return conn


def _serve(store: Store, clock: FakeClock) -> tuple[ServerThread, str, Any]:
    hold(store, Period.of(START), "AB", 1000, 1999)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    context = build_context(service, clock)
    server = ServerThread(create_app(context))
    return server, server.start(), context


def test_fifty_identical_requests_make_one_invoice(tmp_path: Path, clock: FakeClock) -> None:
    server, url, context = _serve(Store(tmp_path / "race.sqlite3"), clock)
    results: list[tuple[int, Any]] = []
    barrier = threading.Barrier(50)

    def post() -> None:
        client = Client(url, "pos", SECRETS["pos"].encode(), now=lambda: clock.now().timestamp())
        barrier.wait()
        results.append(client.request("POST", "/v1/invoices", sale("RACE-1")))
        client.close()

    threads = [threading.Thread(target=post) for _ in range(50)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        server.stop()
        context.close()
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 49 + [201]
    assert len({body["invoice_number"] for _, body in results}) == 1
    store = context.invoices.store
    assert store.read("SELECT count(*) FROM invoices")[0][0] == 1
    assert store.read("SELECT count(*) FROM outbox")[0][0] == 1
    assert store.read("SELECT last_no FROM tracks")[0][0] == 1000
    store.close()


def test_full_disk_answers_503_and_leaves_nothing_half_written(tmp_path: Path, clock: FakeClock) -> None:
    store = FillableStore(tmp_path / "full.sqlite3")
    server, url, context = _serve(store, clock)
    client = Client(url, "pos", SECRETS["pos"].encode(), now=lambda: clock.now().timestamp())
    try:
        assert client.request("POST", "/v1/invoices", sale("FULL-0"))[0] == 201
        store.limit = store.read("PRAGMA page_count")[0][0]
        answers = []
        for n in range(1, 400):
            status, body = client.request("POST", "/v1/invoices", sale(f"FULL-{n}", remark="x" * 200))
            answers.append((status, body))
            if status != 201:
                break
    finally:
        server.stop()
        context.close()
    status, body = answers[-1]
    assert (status, body["errors"][0]["code"]) == (503, "store.full"), answers[-1]
    issued = len(answers)  # FULL-0 and every 201 before the refusal
    store.limit = None
    check = Store(tmp_path / "full.sqlite3")
    assert check.read("PRAGMA integrity_check")[0][0] == "ok"
    assert check.read("SELECT count(*) FROM invoices")[0][0] == issued
    assert check.read("SELECT count(*) FROM outbox")[0][0] == issued
    assert check.read("SELECT count(DISTINCT invoice_id) FROM invoice_lines")[0][0] == issued
    assert check.read("SELECT last_no FROM tracks")[0][0] == 1000 + issued - 1
    assert check.read("SELECT count(*) FROM invoices WHERE order_id = ?", (f"FULL-{issued}",))[0][0] == 0
    check.close()
    store.close()
