"""Scan latency: from the last byte a scanner writes on its (pseudo-)terminal to the scan's delivery on the
long-poll endpoint ``GET /v1/scans?wait=``, through the real serial driver, hub and API over loopback HTTP.

Floor, measured in the same run: the bare pty hop (write on the master, read on the slave). Target: p99 <= 20 ms.

    python -m bench.scan [--count 300]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.api.app import ServerThread, create_app
from daemon.api.context import ApiContext
from daemon.api.keys import ApiKey
from daemon.client import Client
from daemon.clock import SystemClock
from daemon.scans import ScanHub
from daemon.services import InvoiceService
from daemon.store import Store
from drivers.scanner.serial import SerialScanner
from hw_sim.scanner import SimScanner
from turnkey.model import Party
from turnkey.period import TAIPEI

SECRET = b"bench-secret-0123456789-abcdefghijkl"
TARGET_P99_MS = 20.0


def _now() -> datetime:
    return datetime.now(TAIPEI)


def _summary(name: str, samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {"name": name, "count": len(ordered), "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, "max_ms": ordered[-1] * 1000}


def pty_floor(count: int) -> dict[str, Any]:
    master, slave = os.openpty()
    samples = []
    for n in range(count):
        data = f"/FLOOR{n % 10:02d}\r".encode()
        t0 = time.perf_counter()
        os.write(master, data)
        os.read(slave, 64)
        samples.append(time.perf_counter() - t0)
    os.close(master)
    os.close(slave)
    return _summary("floor: bare pty write -> read", samples)


def _poller(url: str, expected: int, arrivals: dict[str, float], done: threading.Event) -> None:
    client = Client(url, "bench", SECRET)
    while len(arrivals) < expected and not done.is_set():
        _, body = client.request("GET", "/v1/scans?wait=5")
        stamp = time.perf_counter()
        for scan in body["scans"]:
            arrivals[scan["raw"].strip()] = stamp
    client.close()


def through_api(directory: Path, count: int) -> dict[str, Any]:
    store = Store(directory / "scan.sqlite3")
    service = InvoiceService(store, SystemClock(), random.Random(1),
                             Party("12345676", "商店", "台北市"), bytes(16))
    hub = ScanHub(_now)
    context = ApiContext.build(service, {"bench": ApiKey("bench", SECRET, frozenset({"admin"}))}, scans=hub)
    server = ServerThread(create_app(context))
    url = server.start()
    sim = SimScanner(directory)

    def publish(raw: str) -> None:
        hub.publish("front", raw)

    driver = SerialScanner(sim.path, publish)  # the production defaults
    driver.start()
    driver.connected.wait(5)
    arrivals: dict[str, float] = {}
    written: dict[str, float] = {}
    done = threading.Event()
    poller = threading.Thread(target=_poller, args=(url, count, arrivals, done), daemon=True)
    poller.start()
    time.sleep(0.2)
    for n in range(count):
        text = f"/{n:07d}"
        sim.write(text.encode() + b"\r")
        written[text] = time.perf_counter()
        time.sleep(0.02 + random.random() * 0.02)
    deadline = time.monotonic() + 10
    while len(arrivals) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    driver.stop()
    sim.close()
    server.stop()
    context.close()
    store.close()
    samples = [arrivals[text] - written[text] for text in written if text in arrivals]
    lost = count - len(samples)
    result = _summary("scan: pty last byte -> long-poll delivery", samples)
    result["lost"] = lost
    return result


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="einvd-scan-") as tmp:
        floor = pty_floor(args.count)
        ours = through_api(Path(tmp), args.count)
    print(f"{'case':<44}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for row in (floor, ours):
        print(f"{row['name']:<44}{row['count']:>7}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}{row['max_ms']:>9.3f}")
    ok = ours["p99_ms"] <= TARGET_P99_MS and ours["lost"] == 0
    print(f"\nscans lost: {ours['lost']}")
    print(f"p99 {ours['p99_ms']:.2f} ms (target <= {TARGET_P99_MS:.0f} ms, none lost): {'PASS' if ok else 'MISS'}")
    return [{"figure": "scan delivery p99 (ms)", "value": ours["p99_ms"], "floor": floor["p99_ms"],
             "target": "<= 20 ms", "ok": ok}]


if __name__ == "__main__":
    main()
