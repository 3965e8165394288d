"""Drain queued F0401 invoices into Turnkey's SRC: the local drop and the SFTP drop (a real sshd on loopback).

    python -m bench.drain [--count 10000] [--rounds 10] [--dir DIR] [--no-sftp]

``count`` invoices are issued once through the service into a SQLite file, copied for each drop, and drained by
the outbox pump (claim, rebuild, render, XSD + Turnkey pre-flight check, put, sync, record). Floors, measured
in the same run with the same bytes, alternating with the drain in ``rounds`` blocks so both see the same
machine: a bare write + fsync + rename loop (local) and a bare paramiko ``putfo`` + ``posix_rename`` loop
(SFTP). Target: files/s >= 50 % of each floor. ``main()`` returns the rows for a bench runner.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import ROOT
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.tracks import add
from daemon.workers import Pump
from drivers.drop.local import LocalDrop
from drivers.drop.sftp import SftpDrop, SftpTarget, connect
from drivers.files import write_synced
from turnkey.layout import Layout
from turnkey.mig import Schemas, required_sources
from turnkey.model import Party
from turnkey.numbers import TrackRange
from turnkey.period import TAIPEI, Period

SELLER = Party("12345676", "基準商店", "台北市信義區示範路1號")
KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
SCHEMA_DIR = ROOT.parent / "shared" / "spec" / "mig41"
TARGET = 0.5
LAYOUT = Layout()


class WallClock:
    def now(self) -> datetime:
        return datetime.now(TAIPEI)


def _document(n: int) -> dict[str, Any]:
    return {"order_id": f"DRAIN-{n:08d}", "items": [
        {"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65, "amount": 130},
        {"description": "可頌", "quantity": 1, "unit_price": 55},
    ]}


def queue(path: Path, count: int) -> None:
    """``count`` issued invoices, each with its READY F0401 outbox row."""
    store = Store(path)
    now = WallClock().now()
    add(store, [TrackRange(Period.of(now), "07", "AB", 0, (count // 50 + 1) * 50 - 1)], "bench", now)
    service = InvoiceService(store, WallClock(), random.Random(7), SELLER, KEY)
    for n in range(count):
        service.issue(_document(n))
    store.close()


def copy_db(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def schemas() -> Schemas | None:
    if not SCHEMA_DIR.is_dir():
        return None
    return Schemas.from_sources({name: (SCHEMA_DIR / name).read_bytes() for name in required_sources()})


def install(root: Path) -> None:
    for folder in [*LAYOUT.required(), "floor/staging", "floor/SRC"]:
        (root / folder).mkdir(parents=True, exist_ok=True)


def sample_xml(db: Path) -> bytes:
    """The bytes of one message as the pump renders it (the floors write files of the same size)."""
    from hw_sim.drop import MemoryDrop

    store, drop = Store(copy_db(db, db.with_suffix(".sample"))), MemoryDrop()
    pump = Pump(store, drop, SELLER, None, random.Random(1))
    pump.tick(WallClock().now(), limit=1)
    pump.close()
    store.close()
    return next(iter(drop.src["F0401"].values()))


def alternate(floor: Callable[[int, int], None], drain: Callable[[int], int], count: int,
              rounds: int) -> tuple[float, float]:
    """Files/s of the floor and of the drain, run in alternating blocks."""
    floor_time = drain_time = 0.0
    done = 0
    for block in range(rounds):
        size = count // rounds + (1 if block < count % rounds else 0)
        start = time.perf_counter()
        floor(done, size)
        floor_time += time.perf_counter() - start
        start = time.perf_counter()
        drained = drain(size)
        drain_time += time.perf_counter() - start
        if drained != size:
            raise RuntimeError(f"drained {drained} of {size}")
        done += size
    return count / floor_time, count / drain_time


def local_case(directory: Path, db: Path, data: bytes, count: int, rounds: int) -> dict[str, Any]:
    root = directory / "local"
    install(root)
    store = Store(copy_db(db, directory / "local.sqlite3"))
    pump = Pump(store, LocalDrop(root, LAYOUT), SELLER, schemas(), random.Random(1))

    def floor(start: int, size: int) -> None:
        for n in range(start, start + size):
            staged = root / "floor/staging" / f"F0401_{n}.xml"
            write_synced(staged, data)
            os.rename(staged, root / "floor/SRC" / f"F0401_{n}.xml")

    try:
        floor_rate, rate = alternate(floor, lambda size: pump.tick(WallClock().now(), limit=size).dropped, count,
                                     rounds)
    finally:
        pump.close()
        store.close()
    return _row("local drop (write+fsync+rename)", count, rate, floor_rate, "bare write + fsync + rename")


def _sshd_peer() -> ModuleType:
    """The integration tests' loopback sshd (tests/integration/sshd_peer.py), loaded from its file: tests/ is not
    a package, and this keeps it off ``sys.path``."""
    if "sshd_peer" in sys.modules:
        return sys.modules["sshd_peer"]
    spec = importlib.util.spec_from_file_location("sshd_peer", ROOT / "tests" / "integration" / "sshd_peer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sshd_peer"] = module  # before running it: its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def sftp_case(directory: Path, db: Path, data: bytes, count: int, rounds: int) -> dict[str, Any] | None:
    peer = _sshd_peer()
    Sshd, SshdMissing = peer.Sshd, peer.SshdMissing

    try:
        server = Sshd.start(directory / "sshd")
    except SshdMissing as missing:
        print(f"sftp: skipped: {missing}")
        return None
    try:
        install(server.root)
        target = SftpTarget.from_url(server.url, server.client_key, server.known_hosts)
        store = Store(copy_db(db, directory / "sftp.sqlite3"))
        pump = Pump(store, SftpDrop(target, LAYOUT), SELLER, schemas(), random.Random(1))
        sftp = connect(target)

        def floor(start: int, size: int) -> None:
            for n in range(start, start + size):
                staged = f"{server.root}/floor/staging/F0401_{n}.xml"
                sftp.putfo(io.BytesIO(data), staged)
                sftp.posix_rename(staged, f"{server.root}/floor/SRC/F0401_{n}.xml")

        try:
            floor_rate, rate = alternate(floor, lambda size: pump.tick(WallClock().now(), limit=size).dropped,
                                         count, rounds)
        finally:
            sftp.close()
            pump.close()
            pump.drop.close()
            store.close()
    finally:
        server.kill()
    return _row("sftp drop (loopback sshd)", count, rate, floor_rate, "bare paramiko put + rename")


def _row(name: str, count: int, rate: float, floor: float, floor_name: str) -> dict[str, Any]:
    return {"figure": f"{name} files/s", "count": count, "value": rate, "floor": floor, "floor_name": floor_name,
            "ratio": rate / floor, "target": f">= {TARGET:.0%} of floor", "ok": rate >= TARGET * floor}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temp dir)")
    parser.add_argument("--no-sftp", action="store_true", help="local drop only")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="einvd-drain-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        queue(directory / "queued.sqlite3", args.count)
        print(f"queued {args.count} F0401 in {time.perf_counter() - started:.1f} s "
              f"(XSD check: {'on' if SCHEMA_DIR.is_dir() else 'off, no schema dir'})")
        data = sample_xml(directory / "queued.sqlite3")
        rounds = max(1, min(args.rounds, args.count))
        rows.append(local_case(directory, directory / "queued.sqlite3", data, args.count, rounds))
        sftp = None if args.no_sftp else sftp_case(directory, directory / "queued.sqlite3", data, args.count, rounds)
        rows += [sftp] if sftp else []
    print(f"\n{'case':<36}{'files':>7}{'files/s':>10}{'floor/s':>10}{'ratio':>8}  floor")
    for row in rows:
        print(f"{row['figure'].removesuffix(' files/s'):<36}{row['count']:>7}{row['value']:>10.0f}"
              f"{row['floor']:>10.0f}{row['ratio']:>8.0%}  {row['floor_name']}")
    for row in rows:
        verdict = "PASS" if row["ok"] else "MISS"
        print(f"{row['figure']}: {row['ratio']:.0%} of floor (target >= {TARGET:.0%}): {verdict}")
    return rows


if __name__ == "__main__":
    main()
