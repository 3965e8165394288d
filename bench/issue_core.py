"""Issue 20,000 invoices through the service into a real SQLite file; compare with a bare durable commit.

Floor, measured in the same run on the same filesystem: a single-row INSERT committed with the same pragmas
(WAL, synchronous=FULL). Floor and issue run in alternating blocks so both see the same machine conditions.
Targets: p50 <= floor p50 + 0.5 ms, throughput >= 25 % of the floor's commits/s.

    python -m bench.issue_core [--count 20000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.services import InvoiceService
from daemon.store import PRAGMAS, Store
from daemon.tracks import add
from turnkey.model import Party
from turnkey.numbers import TrackRange
from turnkey.period import TAIPEI, Period

SELLER = Party("12345676", "基準商店", "台北市信義區示範路1號")
KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")


class WallClock:
    def now(self) -> datetime:
        return datetime.now(TAIPEI)


def _document(n: int) -> dict[str, Any]:
    return {
        "order_id": f"BENCH-{n:08d}",
        "items": [
            {"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65, "amount": 130},
            {"description": "可頌", "quantity": 1, "unit_price": 55},
            {"description": "鮮乳", "quantity": 1, "unit_price": 80, "tax_type": "3"},
        ],
    }


def _summary(name: str, latencies: list[float], elapsed: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "name": name,
        "count": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "per_s": len(ordered) / elapsed,
    }


class Floor:
    """A bare single-row INSERT committed with the daemon's pragmas."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in PRAGMAS:
            self.conn.execute(pragma)
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        self.n = 0

    def __call__(self) -> None:
        self.n += 1
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO t (v) VALUES (?)", (f"row {self.n}",))
        self.conn.execute("COMMIT")


class Issuer:
    """The issue use case on a real store, with a range large enough for the run."""

    def __init__(self, path: Path, count: int) -> None:
        self.store = Store(path)
        now = WallClock().now()
        add(self.store, [TrackRange(Period.of(now), "07", "AB", 0, count + 10)], "bench", now)
        self.service = InvoiceService(self.store, WallClock(), random.Random(7), SELLER, KEY)
        self.docs = iter([_document(n) for n in range(count)])

    def __call__(self) -> None:
        self.service.issue(next(self.docs))


def _block(action: Any, size: int, latencies: list[float]) -> float:
    start = time.perf_counter()
    for _ in range(size):
        t0 = time.perf_counter()
        action()
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - start


def measure(directory: Path, count: int, rounds: int = 20) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alternate blocks of floor commits and issues, so both see the same disk and CPU conditions."""
    floor, issuer = Floor(directory / "floor.sqlite3"), Issuer(directory / "issue.sqlite3", count)
    floor_lat: list[float] = []
    issue_lat: list[float] = []
    floor_time = issue_time = 0.0
    for block in range(rounds):
        size = count // rounds + (1 if block < count % rounds else 0)
        floor_time += _block(floor, size, floor_lat)
        issue_time += _block(issuer, size, issue_lat)
    floor.conn.close()
    issuer.store.close()
    return (_summary("floor: bare INSERT + durable commit", floor_lat, floor_time),
            _summary("issue (validate+number+store+outbox)", issue_lat, issue_time))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the database files go (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="einvd-bench-") as tmp:
        base, ours = measure(Path(tmp), args.count)
    print(f"{'case':<40}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'per s':>10}")
    for row in (base, ours):
        print(f"{row['name']:<40}{row['count']:>8}{row['p50_ms']:>10.3f}{row['p99_ms']:>10.3f}{row['per_s']:>10.0f}")
    p50_gap = ours["p50_ms"] - base["p50_ms"]
    ratio = ours["per_s"] / base["per_s"]
    print(f"\np50 over floor: {p50_gap:+.3f} ms (target <= +0.5 ms): {'PASS' if p50_gap <= 0.5 else 'MISS'}")
    print(f"throughput vs floor: {ratio:.0%} (target >= 25%): {'PASS' if ratio >= 0.25 else 'MISS'}")
    return [
        {"figure": "issue p50 (ms)", "value": ours["p50_ms"], "floor": base["p50_ms"],
         "target": "<= floor + 0.5 ms", "ok": p50_gap <= 0.5},
        {"figure": "issue invoices/s", "value": ours["per_s"], "floor": base["per_s"],
         "target": ">= 25 % of floor", "ok": ratio >= 0.25},
    ]


if __name__ == "__main__":
    main()
