"""``einvd demo``: a scripted sale day in a fresh directory, with nothing real needed.

Today it exercises what exists: configuration, number ranges, validation, numbering, the store, the outbox
and the proof payloads. Later capabilities (Turnkey simulator, virtual printer and scanner, the API) join it.
"""

from __future__ import annotations

import random
import secrets
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from daemon.app import (
    add_track,
    invoice_service,
    list_tracks,
    open_drop,
    open_simulator,
    print_queue,
    pump_worker,
    watch_worker,
)
from daemon.clock import SystemClock
from daemon.config import Settings, load
from daemon.store import Store
from turnkey.errors import TurnkeyError
from turnkey.period import Period

DEMO_SELLER = "12345676"

SALES: list[tuple[str, dict[str, Any]]] = [
    ("consumer, printed proof", {"items": [{"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65}]}),
    ("consumer, mobile barcode", {"carrier": {"type": "3J0002", "id": "/ABC1234"}, "print": False,
                                  "items": [{"description": "可頌", "quantity": 1, "unit_price": 55}]}),
    ("donation", {"donation": {"love_code": "168001"}, "print": False,
                  "items": [{"description": "美式咖啡", "quantity": 1, "unit_price": 45}]}),
    ("business buyer (格式 25)", {"buyer": {"ban": "53538851", "name": "買方公司"},
                                "items": [{"description": "會議餐盒", "quantity": 10, "unit_price": 100}]}),
    ("mixed taxable and exempt", {"items": [
        {"description": "咖啡豆", "quantity": 1, "unit_price": 300},
        {"description": "鮮乳", "quantity": 1, "unit_price": 80, "tax_type": "3"},
    ]}),
]


def _write_config(root: Path) -> Path:
    config = root / "einvd.toml"
    config.write_text(
        f'[seller]\nban = "{DEMO_SELLER}"\nname = "示範商店"\naddress = "台北市信義區示範路1號"\n\n'
        f'[store]\npath = "einvd.sqlite3"\n\n[qr]\nkey = "{secrets.token_hex(16).upper()}"\n\n'
        '[printer]\n# the virtual printer: each printed slip becomes a PNG in proofs/\nurl = "sim:proofs"\n\n'
        '[turnkey]\n# a simulated Turnkey serving the folder turnkey/\ndrop = "sim:turnkey"\n',
        encoding="utf-8",
    )
    return config


def _table(title: str, counts: Counter[str]) -> None:
    print(f"\n{title}")
    for key, value in sorted(counts.items()):
        print(f"  {key:<24}{value:>6}")


def _print_proofs(settings: Settings, store: Store) -> None:
    """Every slip owed goes to the virtual printer, which saves it as a PNG."""
    queue = print_queue(settings, store)
    if queue is None:
        return
    jobs = queue.tick()
    out = settings.source.parent / "proofs" if settings.source else Path("proofs")
    print(f"\n  virtual printer: {len(jobs)} print jobs, "
          f"{sum(j['state'] == 'printed' for j in jobs)} printed, slips in {out}")


def _deliver(settings: Settings, store: Store) -> None:
    """The outbox drains to the simulated Turnkey: first while it is down (files wait in SRC), then after it
    comes back (BAK), and once its SummaryResult arrives (confirmed)."""
    drop, simulator = open_drop(settings), open_simulator(settings)
    if drop is None or simulator is None:
        return
    now = SystemClock().now()
    pump = pump_worker(settings, store, drop, random.SystemRandom())
    watch = watch_worker(settings, store, drop)
    pump.start(now)
    simulator.down = True
    report = pump.tick(now)
    simulator.tick(now)
    print(f"\n  Turnkey down: {report.dropped} messages dropped into SRC, waiting there")
    simulator.down = False
    for later in (now + timedelta(minutes=1), now + timedelta(minutes=15)):
        simulator.tick(later)
        watch.tick(later)
    pump.close()
    print(f"  Turnkey back: files moved to BAK, SummaryResult read; Turnkey tree in {simulator.root}")


def run_demo(directory: Path | None, once: bool) -> int:
    root = directory or Path(tempfile.mkdtemp(prefix="einvd-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    settings = load(_write_config(root))
    period = Period.of(SystemClock().now())
    for code, track in ((period.code, "AB"), (period.next().code, "AC")):
        if not any(t["period"] == code for t in list_tracks(settings)):
            add_track(settings, code, "07", track, 1000, 1049)
    service = invoice_service(settings, random.SystemRandom())
    run = secrets.token_hex(3)
    print(f"einvd demo in {root}\n")
    for n, (label, doc) in enumerate(SALES, start=1):
        try:
            issued = service.issue({"order_id": f"DEMO-{run}-{n:04d}", **doc})
        except TurnkeyError as error:
            print(f"  refused {label}: {error}")
            continue
        body = issued.body
        print(f"  {body['invoice_number']}  {body['amounts']['total']:>6} NT$  {label}")
    _print_proofs(settings, service.store)
    _deliver(settings, service.store)
    replay = service.issue({"order_id": f"DEMO-{run}-0001", **SALES[0][1]})
    print(f"  {replay.body['invoice_number']}  replayed order DEMO-{run}-0001: same invoice, created={replay.created}")
    store = service.store
    _table("invoices by state", Counter(r["status"] for r in store.read("SELECT status FROM invoices")))
    _table("outbox by state", Counter(f"{r[0]} {r[1]}" for r in store.read("SELECT message_type, state FROM outbox")))
    print("\nnumber ranges")
    for row in list_tracks(settings):
        span = f"{row['period']} {row['track']} {row['begin']}-{row['end']}"
        print(f"  {span}  next {row['next']}  left {row['remaining']}")
    print(f"\ndatabase: {settings.store_path}\nconfig:   {settings.source}")
    if not once:
        print("\nstart the daemon on this directory with: einvd --config "
              f"{settings.source} run", file=sys.stderr)
    store.close()
    sys.stdout.flush()
    return 0


