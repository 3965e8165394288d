"""Issue invoices through the HTTP API (real uvicorn on 127.0.0.1) with 1 and 8 client processes.

Floors measured in the same run: a bare signed echo endpoint on the same server (HTTP + signature + nonce) and a
bare durable SQLite commit (WAL, synchronous=FULL) on the same filesystem. Clients keep their connection alive
and sign every request. Targets: one client (a till) p50 <= echo p50 + commit p50 + 1 ms and p99 <= 10 ms;
>= 500 invoices/s with 8 clients (their p99 is reported beside the echo's own x8 p99).

The single till's three cases run in alternating blocks (echo, commit, issue, echo, ...) from one client process,
as bench/issue_core.py alternates its floor and issue: on a shared machine whose speed drifts from minute to
minute, a case measured in one stretch and its floor in another would compare two different machines.

The e首發票 layer (#18) is measured in the same alternation: ``systemlead issue x1`` issues the same sale through
``POST /systemlead/Append/Invoices`` (invoice mode: the till numbers it from its own range); its p50 must stay
within 0.5 ms of einvd's own ``issue x1`` p50 in the same run.

    python -m bench.api [--count 4000] [--seconds 10] [--rounds 8] [--dir DIR]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import random
import statistics
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.issue_core import SELLER, Floor, WallClock
from daemon import compat
from daemon.api.app import ServerThread, create_app
from daemon.api.context import ApiContext
from daemon.api.keys import ApiKey
from daemon.client import Client
from daemon.compat import systemlead_wire
from daemon.config import CompatSection, CompatSettings
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.tracks import add
from turnkey.numbers import TrackRange
from turnkey.period import TAIPEI, Period

KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
SECRET = b"bench-secret-0123456789-0123456789"
ECHO, COMMIT, ISSUE = "echo x1", "durable commit", "issue x1"
SYSTEMLEAD = "systemlead issue x1"
SL_COMPANY, SL_SALT, SL_POS, SL_TRACK = SELLER.identifier, "bench-salt", "bench-pos", "SL"


def _document(run: str, n: int) -> dict[str, Any]:
    return {
        "order_id": f"{run}-{n:08d}",
        "items": [
            {"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65, "amount": 130},
            {"description": "可頌", "quantity": 1, "unit_price": 55},
        ],
    }


def _request(client: Client, path: str, run: str, n: int) -> None:
    body = _document(run, n) if path == "/v1/invoices" else {"n": n}
    status, _ = client.request("POST", path, body)
    if status not in (200, 201):
        raise SystemExit(f"{path} answered {status}")


def _till(url: str, floor_path: Path, run: str, count: int, rounds: int, seconds: float, out: Any) -> None:
    """One client: ``rounds`` rounds of an echo block, a durable-commit block and an issue block."""
    client = Client(url, "bench", SECRET)
    client.request("POST", "/v1/echo", {"warm": True})
    floor = Floor(floor_path)
    latencies: dict[str, list[float]] = {ECHO: [], COMMIT: [], ISSUE: []}
    spent = dict.fromkeys(latencies, 0.0)
    actions: dict[str, Callable[[int], object]] = {
        ECHO: lambda n: _request(client, "/v1/echo", run, n), COMMIT: lambda n: floor(),
        ISSUE: lambda n: _request(client, "/v1/invoices", run, n)}
    latencies[SYSTEMLEAD], actions[SYSTEMLEAD] = [], _systemlead_till(url)
    spent[SYSTEMLEAD] = 0.0
    actions[SYSTEMLEAD](-1)  # warm: the layer's first request, not timed
    deadline = time.monotonic() + seconds
    block = max(count // rounds, 1)
    for first in range(0, block * rounds, block):
        for name, action in actions.items():
            began = time.perf_counter()
            for n in range(first, first + block):
                start = time.perf_counter()
                action(n)
                latencies[name].append(time.perf_counter() - start)
            spent[name] += time.perf_counter() - began
        if time.monotonic() > deadline:
            break
    client.close()
    floor.conn.close()
    out.send([_summary(name, values, spent[name]) for name, values in latencies.items()])


def _busy(url: str, path: str, run: str, first: int, count: int, seconds: float, start: Any, out: Any) -> None:
    """One of the eight clients: requests back to back from the common start."""
    client = Client(url, "bench", SECRET)
    client.request("POST", "/v1/echo", {"warm": True})
    latencies = []
    start.wait()
    deadline = time.monotonic() + seconds
    for n in range(first, first + count):
        began = time.perf_counter()
        _request(client, path, run, n)
        latencies.append(time.perf_counter() - began)
        if time.monotonic() > deadline:
            break
    client.close()
    out.send(latencies)


def _single(url: str, workdir: Path, count: int, rounds: int, seconds: float, run: str) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    proc = context.Process(target=_till, args=(url, workdir / "floor.sqlite3", run, count, rounds, seconds * 3,
                                               send))
    proc.start()
    rows: list[dict[str, Any]] = receive.recv()
    proc.join()
    return rows


def _eight(url: str, path: str, count: int, seconds: float, run: str, clients: int = 8) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    start = context.Event()
    pipes, procs = [], []
    for index in range(clients):
        receive, send = context.Pipe(duplex=False)
        proc = context.Process(target=_busy, args=(url, path, run, index * count, count // clients, seconds,
                                                   start, send))
        proc.start()
        pipes.append(receive)
        procs.append(proc)
    time.sleep(0.3)
    began = time.perf_counter()
    start.set()
    latencies = [value for pipe in pipes for value in pipe.recv()]
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    name = "issue" if path == "/v1/invoices" else "echo"
    return _summary(f"{name} x{clients}", latencies, elapsed)


def _summary(name: str, latencies: list[float], elapsed: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {"name": name, "count": len(ordered), "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000, "per_s": len(ordered) / elapsed}


def _server(workdir: Path) -> tuple[ServerThread, str, ApiContext]:
    store = Store(workdir / "einvd.sqlite3", background_checkpoint=True)  # as the daemon opens it
    now = WallClock().now()
    add(store, [TrackRange(Period.of(now), "07", "AB", 0, 99_999_999)], "bench", now)
    service = InvoiceService(store, WallClock(), random.Random(1), SELLER, KEY)
    context = ApiContext.build(service, {"bench": ApiKey("bench", SECRET, frozenset({"issue"}))}, echo=True)
    app = create_app(context)
    _mount_systemlead(app, context, store)
    server = ServerThread(app)
    return server, server.start(), context


def _mount_systemlead(app: Any, context: ApiContext, store: Store) -> None:
    """The e首發票 layer on the same app, with a range its till numbers itself."""
    now = WallClock().now()
    add(store, [TrackRange(Period.of(now), "07", SL_TRACK, 0, 99_999_999)], "bench", now, numbered_by=SL_POS)
    compat.mount(app, context, CompatSettings(systemlead=CompatSection("systemlead", SL_COMPANY, SL_SALT,
                                                                       pos=SL_POS)))


def _systemlead_till(url: str) -> Callable[[int], object]:
    """An e首發票 POS on one kept-alive connection: it numbers its invoices itself (next number each time), signs
    the envelope (SHA256(Timestamp + Salt)) and reads the per-item answer."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    taken = itertools.count()

    def issue(n: int) -> None:
        at = WallClock().now()
        stamp = str(int(at.timestamp()))
        data = {"CompanyID": SL_COMPANY, "InvoiceID": f"{SL_TRACK}{next(taken):08d}",
                "InvoiceDateTime": at.astimezone(TAIPEI).strftime("%Y-%m-%dT%H:%M:%S"), "BuyerID": "0000000000",
                "PrintMark": "Y", "RandomNumber": "1234", "SalesAmount": 185, "TaxType": "1", "TaxAmount": 0,
                "TotalAmount": 185, "Details": [
                    {"ProductName": "拿鐵", "Quantity": 2, "UnitPrice": 65, "SubTotal": 130},
                    {"ProductName": "可頌", "Quantity": 1, "UnitPrice": 55, "SubTotal": 55}]}
        envelope = {"CompanyID": SL_COMPANY, "Timestamp": stamp, "Signature": systemlead_wire.signature(
            stamp, SL_SALT), "Data": data}
        body = json.dumps(envelope)
        try:
            conn.request("POST", "/systemlead/Append/Invoices", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conn.close()  # the server closed the idle kept-alive connection between blocks: open it again
            conn.request("POST", "/systemlead/Append/Invoices", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
        answer = json.loads(response.read())
        if response.status != 200 or "AuthCode" not in answer[0]:
            raise SystemExit(f"/systemlead/Append/Invoices answered {response.status} {answer}")

    return issue


def _systemlead_figures(by: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The layer's target: its issue p50 within 0.5 ms of einvd's own issue p50 in the same run."""
    if SYSTEMLEAD not in by:
        return []
    value, own = by[SYSTEMLEAD]["p50_ms"], by[ISSUE]["p50_ms"]
    return [{"figure": "systemlead issue x1 p50 (ms)", "value": value, "floor": own, "target": "<= issue + 0.5 ms",
             "ok": value <= own + 0.5}]


def figures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets as the runner's rows (figure, value, floor, target, ok; ``reported``: no target)."""
    by = {row["name"]: row for row in rows}
    x1, x8, echo1, echo8 = by[ISSUE], by["issue x8"], by[ECHO], by["echo x8"]
    floor = echo1["p50_ms"] + by[COMMIT]["p50_ms"]
    return [
        {"figure": "issue x1 p50 (ms)", "value": x1["p50_ms"], "floor": floor,
         "target": "<= echo + commit + 1 ms", "ok": x1["p50_ms"] <= floor + 1},
        {"figure": "issue x1 p99 (ms)", "value": x1["p99_ms"], "floor": echo1["p99_ms"], "target": "<= 10 ms",
         "ok": x1["p99_ms"] <= 10},
        {"figure": "issue x8 invoices/s", "value": x8["per_s"], "floor": echo8["per_s"], "target": ">= 500/s",
         "ok": x8["per_s"] >= 500},
        {"figure": "issue x8 p50 (ms)", "value": x8["p50_ms"], "floor": echo8["p50_ms"], "target": "reported"},
        {"figure": "issue x8 p99 (ms)", "value": x8["p99_ms"], "floor": echo8["p99_ms"], "target": "reported"},
        *_systemlead_figures(by),
    ]


def _verdicts(rows: list[dict[str, Any]]) -> list[str]:
    by = {row["name"]: row for row in rows}
    floor = by[ECHO]["p50_ms"] + by[COMMIT]["p50_ms"] + 1
    checks = [
        (f"issue x1 p50 {by[ISSUE]['p50_ms']:.2f} ms <= echo p50 + commit p50 + 1 ms = {floor:.2f} ms",
         by[ISSUE]["p50_ms"] <= floor),
        (f"issue x1 p99 {by[ISSUE]['p99_ms']:.2f} ms <= 10 ms", by[ISSUE]["p99_ms"] <= 10),
        (f"issue x8 {by['issue x8']['per_s']:.0f} invoices/s >= 500", by["issue x8"]["per_s"] >= 500),
    ]
    # The latency targets are the single till's (x1). With 8 clients that never pause, a request waits for the
    # other seven: by Little's law mean latency = 8 / throughput, so p99 <= 10 ms would need well over 1,000
    # invoices/s; the bare signed echo's own x8 p99 is printed beside ours for that reason.
    note = (f"info  issue x8 p99 {by['issue x8']['p99_ms']:.2f} ms (echo x8 p99 {by['echo x8']['p99_ms']:.2f} ms; "
            f"8 / {by['issue x8']['per_s']:.0f} per s = {8000 / by['issue x8']['per_s']:.1f} ms mean by Little's law)")
    checks += [(f"{f['figure']} {f['value']:.2f} <= issue x1 p50 + 0.5 ms = {f['floor'] + 0.5:.2f} ms", f["ok"])
               for f in _systemlead_figures(by)]
    return [f"{'PASS' if ok else 'MISS'}  {text}" for text, ok in checks] + [note]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4000, help="requests per case (split among the clients)")
    parser.add_argument("--seconds", type=float, default=10.0, help="at most this long per client and case")
    parser.add_argument("--rounds", type=int, default=8, help="alternating blocks of the single till's cases")
    parser.add_argument("--dir", type=Path, help="working directory (default: a new temporary directory)")
    args = parser.parse_args(argv)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="einvd-bench-api-"))
    workdir.mkdir(parents=True, exist_ok=True)
    server, url, context = _server(workdir)
    run = f"B{int(time.time())}"
    try:
        rows = _single(url, workdir, args.count, args.rounds, args.seconds, f"{run}x1")
        rows.append(_eight(url, "/v1/echo", args.count, args.seconds, f"{run}e8"))
        rows.append(_eight(url, "/v1/invoices", args.count, args.seconds, f"{run}i8"))
    finally:
        server.stop()
        context.close()
        context.invoices.store.close()
    print(f"{'':16} {'count':>7} {'p50 ms':>8} {'p99 ms':>8} {'per s':>8}")
    for row in rows:
        print(f"{row['name']:16} {row['count']:7d} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['per_s']:8.0f}")
    print(f"(x1: {args.rounds} rounds of echo, commit and issue blocks from one client; per s = back to back)")
    for line in _verdicts(rows):
        print(line)
    print(f"(at {time.strftime('%Y-%m-%d %H:%M %Z', time.localtime())}, in {workdir})")
    return figures(rows)


if __name__ == "__main__":
    main()
