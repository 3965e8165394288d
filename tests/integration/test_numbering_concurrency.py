"""No number twice and none outside a range: 8 threads, 2 processes, and random histories (hypothesis)."""

from __future__ import annotations

import multiprocessing
import random
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from conftest import KEY, SELLER, START, hold, sale
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.services import InvoiceService
from daemon.store import Store
from hw_sim.clock import FakeClock
from turnkey.errors import TrackError
from turnkey.numbers import split_number
from turnkey.period import TAIPEI, Period


class WallClock:
    def now(self) -> datetime:
        return datetime.now(TAIPEI)


def check_invariants(store: Store, ranges: list[tuple[str, int, int]]) -> list[str]:
    """Every number once, inside a held range, and ascending with issue time inside each track."""
    rows = store.read("SELECT number, issued_at, id FROM invoices ORDER BY id")
    numbers = [r["number"] for r in rows]
    assert len(numbers) == len(set(numbers)), "a number was issued twice"
    for number in numbers:
        track, n = split_number(number)
        assert any(t == track and b <= n <= e for t, b, e in ranges), f"{number} is outside every range"
    by_track: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        track, n = split_number(r["number"])
        by_track.setdefault(track, []).append((n, r["issued_at"]))
    for issued in by_track.values():
        ordered = sorted(issued)
        assert [t for _, t in ordered] == sorted(t for _, t in ordered), "numbers do not follow issue time"
    outbox = store.read("SELECT count(*) FROM outbox")[0][0]
    assert outbox == len(numbers), "an invoice without its outbox row"
    return numbers


def test_eight_threads_share_one_range_without_collisions(store: Store) -> None:
    hold(store, Period.of(datetime.now(TAIPEI)), "AB", 0, 399)
    service = InvoiceService(store, WallClock(), random.Random(3), SELLER, KEY)

    def worker(w: int) -> list[str]:
        return [service.issue(sale(f"T{w}-{n}")).body["invoice_number"] for n in range(50)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [n for batch in pool.map(worker, range(8)) for n in batch]
    numbers = check_invariants(store, [("AB", 0, 399)])
    assert sorted(results) == sorted(numbers) == [f"AB{n:08d}" for n in range(400)]


def test_fifty_concurrent_identical_requests_make_one_invoice(store: Store) -> None:
    hold(store, Period.of(datetime.now(TAIPEI)), "AB", 0, 99)
    service = InvoiceService(store, WallClock(), random.Random(3), SELLER, KEY)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: service.issue(sale("SAME-ORDER")), range(50)))
    assert sum(r.created for r in results) == 1
    assert {r.body["invoice_number"] for r in results} == {"AB00000000"}
    assert check_invariants(store, [("AB", 0, 99)]) == ["AB00000000"]


def _process_worker(path: str, worker: int, count: int) -> list[str]:
    store = Store(path)
    service = InvoiceService(store, WallClock(), random.Random(worker), SELLER, KEY)
    try:
        return [service.issue(sale(f"P{worker}-{n}")).body["invoice_number"] for n in range(count)]
    finally:
        store.close()


def test_two_processes_issue_into_one_database_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    store = Store(path)
    hold(store, Period.of(datetime.now(TAIPEI)), "AB", 0, 299)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        batches = pool.starmap(_process_worker, [(str(path), 1, 150), (str(path), 2, 150)])
    numbers = check_invariants(store, [("AB", 0, 299)])
    store.close()
    assert sorted(batches[0] + batches[1]) == numbers == [f"AB{n:08d}" for n in range(300)]


ranges_strategy = st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=3)
steps_strategy = st.lists(st.tuples(st.integers(min_value=0, max_value=3600), st.booleans()), max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=ranges_strategy, steps=steps_strategy)
def test_random_histories_keep_every_invariant(sizes: list[int], steps: list[tuple[int, bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "h.sqlite3")
        clock = FakeClock(START)
        held, begin = [], 0
        for i, size in enumerate(sizes):
            track = "AB" if i % 2 == 0 else "CD"
            hold(store, Period.of(START), track, begin, begin + size - 1)
            held.append((track, begin, begin + size - 1))
            begin += size + 5
        service = InvoiceService(store, clock, random.Random(0), SELLER, KEY)
        issued = 0
        for n, (wait, replay) in enumerate(steps):
            clock.advance(timedelta(seconds=wait))
            order = f"H-{n - 1 if replay and n else n}"
            try:
                issued += service.issue(sale(order)).created
            except TrackError as refused:
                assert refused.problems[0].code == "track.exhausted"
                assert issued == sum(sizes)
        assert len(check_invariants(store, held)) == issued
        store.close()
