"""``einvd demo``: a scripted sale day in a fresh directory, with every device and Turnkey simulated.

The day runs through the same code as the daemon: the issue service, the lifecycle and allowance services the
API uses, the print queue with the virtual printer (each slip a PNG), the serial scanner driver reading a
simulated scanner on a real pty (its scan garbled the way mis-configured scanners garble them, then
normalised), and the Turnkey pump and watcher draining to a simulated Turnkey through an outage until its
SummaryResult confirms every invoice. It ends with a summary and the paths of what it wrote.

The directory is left ready for ``einvd --config DIR/einvd.toml run``: its configuration names an API key file
(``api-keys.toml``, mode 0600) holding one key, ``demo``. Running the demo again in the same directory keeps that
key, the QR key and the API address (unless ``--listen`` asks for another). Both files land durably (temporary
file, fsync, rename, fsync of the folder).
"""

from __future__ import annotations

import json
import random
import secrets
import shlex
import shutil
import sys
import tempfile
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon import deliveries, wiring
from daemon.allowances import AllowanceRequest, AllowanceService
from daemon.api.keys import load_keys
from daemon.clock import SystemClock
from daemon.commands import add_track, list_tracks
from daemon.config import ConfigError, Settings, load
from daemon.console import progress, table
from daemon.lifecycle import LifecycleService
from daemon.ports import RandomSource
from daemon.scans import ScanHub
from daemon.services import InvoiceService
from daemon.store import Store, stats
from drivers.files import write_atomic
from turnkey import lifecycle as rules
from turnkey.carrier import Scan
from turnkey.period import Period

DEMO_SELLER = "12345676"
SCANNED_CARRIER = "/AB.C+12"
SCANNER_GARBLING = "host:fr"  # a US-layout scanner on a French (AZERTY) host: "/AB.C+12" arrives as "!QB:C+&é"
SCAN_WAIT = 5.0
DRAIN_ROUNDS = 12  # simulated minutes between rounds grow; the SummaryResult comes 10 minutes after pickup
VOID_REASON = "品項輸入錯誤"
DEMO_LISTEN = "127.0.0.1:8470"
KEYS_FILE = "api-keys.toml"
DEMO_KEY_ID = "demo"
DEMO_KEY_PERMISSIONS = ("issue", "void", "admin")

LATTE = {"items": [{"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65}]}
CROISSANT = {"print": False, "items": [{"description": "可頌", "quantity": 1, "unit_price": 55}]}
DONATION = {"donation": {"love_code": "168001"}, "print": False,
            "items": [{"description": "美式咖啡", "quantity": 1, "unit_price": 45}]}
BUSINESS = {"buyer": {"ban": "53538851", "name": "買方公司"},
            "items": [{"description": "會議餐盒", "quantity": 10, "unit_price": 100}]}
MIXED = {"items": [{"description": "咖啡豆", "quantity": 1, "unit_price": 300},
                   {"description": "鮮乳", "quantity": 1, "unit_price": 80, "tax_type": "3"}]}


@dataclass
class Day:
    """What the scripted day did, for the summary (and for people reading the code: the script's facts)."""

    root: Path
    settings: Settings
    store: Store
    run: str = field(default_factory=lambda: secrets.token_hex(3))
    numbers: dict[str, str] = field(default_factory=dict)
    scan: Scan | None = None
    allowance: str = ""
    reprint_pngs: list[Path] = field(default_factory=list)
    api_key: str = DEMO_KEY_ID

    def order(self, label: str) -> str:
        return f"DEMO-{self.run}-{label}"


def _earlier(config: Path, table: str, key: str) -> str | None:
    """A setting an earlier run of the demo wrote into ``config`` (None: no such file or setting)."""
    try:
        value = tomllib.loads(config.read_text(encoding="utf-8")).get(table, {}).get(key)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def _write_config(root: Path, listen: str | None = None) -> Path:
    """The demo's ``einvd.toml``, written durably. An earlier run's QR key (its invoices' QR codes and reprints
    depend on it) and API address are kept; ``listen`` replaces the address."""
    config = root / "einvd.toml"
    qr_key = _earlier(config, "qr", "key") or secrets.token_hex(16).upper()
    address = listen or _earlier(config, "api", "listen") or DEMO_LISTEN
    text = (
        f'[seller]\nban = "{DEMO_SELLER}"\nname = "示範商店"\naddress = "台北市信義區示範路1號"\n\n'
        f'[store]\npath = "einvd.sqlite3"\n\n[qr]\nkey = {json.dumps(qr_key)}\n\n'
        '[printer]\n# the virtual printer: each printed slip becomes a PNG in proofs/\nurl = "sim:proofs"\n\n'
        '[turnkey]\n# a simulated Turnkey serving the folder turnkey/\ndrop = "sim:turnkey"\n\n'
        '[scanner]\n# a simulated serial scanner on a pty in dev/\nurl = "sim:dev"\n\n'
        f'[api]\n# where POS software reaches the daemon (einvd run)\nlisten = {json.dumps(address)}\n'
        f'# the API keys requests are signed with (mode 0600: readable by this user only)\n'
        f'keys_file = "{KEYS_FILE}"\n'
    )
    return write_atomic(config, text.encode("utf-8"))


def _api_key(settings: Settings) -> str:
    """The id of the key POS software signs with: the one already in the key file, or a new ``demo`` key with a
    fresh secret, written durably with mode 0600. An existing file is never rewritten (nor its secret changed)."""
    path = settings.api.keys_file
    if path is None:
        raise ConfigError("the demo's configuration names no api.keys_file")
    if not path.exists():
        secret = secrets.token_urlsafe(32)  # 43 characters of A-Z a-z 0-9 - _
        permissions = ", ".join(json.dumps(p) for p in DEMO_KEY_PERMISSIONS)
        text = (f"# einvd demo: the API key POS software signs requests with (keep it secret)\n"
                f'[keys.{DEMO_KEY_ID}]\nsecret = "{secret}"\npermissions = [{permissions}]\n')
        write_atomic(path, text.encode("ascii"), mode=0o600)
    keys = load_keys(path)  # the checks einvd run makes: this user's file, readable by it only, well-formed
    if not keys:
        raise ConfigError(f"API key file {path} holds no key")
    return DEMO_KEY_ID if DEMO_KEY_ID in keys else sorted(keys)[0]


def _proofs_dir(settings: Settings) -> Path:
    base = settings.source.parent if settings.source else Path.cwd()
    return base / settings.printer.url.removeprefix("sim:")


# --- the scanner: a real pty, the real serial driver, the scan hub ------------------------------------------


def scan_carrier(settings: Settings, hub: ScanHub, text: str = SCANNED_CARRIER, how: str = SCANNER_GARBLING) -> Scan:
    """Scan ``text`` on the configured simulated scanner (``sim:``), garbled like a mis-configured device; the
    serial driver reads the pty and the hub normalises the scan."""
    from hw_sim.scanner import garble

    def publish(raw: str) -> None:
        hub.publish(settings.scanner.name, raw)

    opened = wiring.open_scanner(settings, publish)
    if opened is None or opened.sim is None:
        raise RuntimeError(f"the demo scans with a simulated scanner (sim:), not {settings.scanner.url!r}")
    sim, driver = opened.sim, opened.scanner
    driver.start()
    try:
        if not driver.connected.wait(SCAN_WAIT):
            raise RuntimeError(f"the simulated scanner {sim.path} could not be opened")
        sim.scan(garble(text, how))
        delivered = hub.take(SCAN_WAIT, settings.scanner.name)
    finally:
        driver.stop()
        sim.close()
    if not delivered:
        raise RuntimeError("the simulated scanner's scan did not arrive")
    return delivered[0].scan


# --- the sales and what happens to them ---------------------------------------------------------------------


def _sell(day: Day, service: InvoiceService, label: str, doc: dict[str, Any], what: str) -> str:
    body = service.issue({"order_id": day.order(label), **doc}).body
    day.numbers[label] = body["invoice_number"]
    print(f"  {body['invoice_number']}  {body['amounts']['total']:>6} NT$  {what}")
    return str(body["invoice_number"])


def _sales(day: Day, service: InvoiceService, scan: Scan) -> None:
    _sell(day, service, "latte", LATTE, "consumer, printed proof")
    carrier = {"type": scan.carrier_type, "id": scan.value}
    _sell(day, service, "carrier", {"carrier": carrier, **CROISSANT}, f"consumer, mobile barcode {scan.value}")
    _sell(day, service, "donation", DONATION, "donation to love code 168001")
    _sell(day, service, "business", BUSINESS, "business buyer 53538851 (格式 25)")
    _sell(day, service, "mixed", MIXED, "mixed taxable and exempt")


def _after_sales(day: Day, lifecycle: LifecycleService, allowances: AllowanceService) -> None:
    """The void, the allowance and the reprint, through the services behind the API's routes."""
    voided = lifecycle.void(day.numbers["mixed"], VOID_REASON)
    print(f"  {voided['invoice_number']}  voided (F0501): {VOID_REASON}")
    request = AllowanceRequest(day.numbers["business"], (rules.Requested("001", Decimal(2)),), day.order("allowance"))
    issued = allowances.issue(request).body
    day.allowance = issued["allowance_number"]
    print(f"  {issued['allowance_number']}  allowance (G0401) on {issued['invoice_number']}: "
          f"2 meal boxes returned, {issued['total_amount']} NT$ + tax {issued['tax_amount']}")
    proofs = _proofs_dir(day.settings)
    before = set(proofs.glob("*.png"))
    reprint = lifecycle.reprint(day.numbers["latte"])
    day.reprint_pngs = sorted(set(proofs.glob("*.png")) - before)
    shown = ", ".join(p.name for p in day.reprint_pngs) or "no slip"
    print(f"  {reprint['invoice_number']}  reprinted (補印), job {reprint['status']}: {shown}")


def _print_proofs(settings: Settings, store: Store) -> None:
    """Every slip owed goes to the virtual printer, which saves it as a PNG."""
    queue = wiring.print_queue(settings, store)
    if queue is None:
        return
    jobs = queue.tick()
    printed = sum(j["state"] == "printed" for j in jobs)
    print(f"  virtual printer: {len(jobs)} print jobs, {printed} printed")


# --- Turnkey: an outage, then the drain and the results -----------------------------------------------------


def _settled(store: Store) -> bool:
    return stats.unsettled(store.connection()) == 0


def _rounds(store: Store, start: datetime) -> Iterator[datetime]:
    """Simulated times of the drain, until everything is settled: a minute apart at first, then further apart
    (results take minutes)."""
    at = start
    for n in range(DRAIN_ROUNDS):
        if _settled(store):
            return
        at += timedelta(minutes=1 if n < 4 else 5)
        yield at


def deliver(settings: Settings, store: Store, rng: RandomSource) -> int:
    """The outbox drains to the simulated Turnkey: first while it is down (files wait in SRC), then after it
    comes back (BAK), until its SummaryResult confirms every invoice. Returns the rounds it took."""
    drop, simulator = wiring.open_drop(settings), wiring.open_simulator(settings)
    if drop is None or simulator is None:
        return 0
    now = SystemClock().now()
    pump = wiring.pump_worker(settings, store, drop, rng)
    watch = wiring.watch_worker(settings, store, drop)
    pump.start(now)
    try:
        simulator.down = True
        report = pump.tick(now)
        simulator.tick(now)
        watch.tick(now)
        print(f"  Turnkey down: {report.dropped} messages dropped into SRC and wait there; "
              "voids and allowances wait for their invoice")
        simulator.down = False
        rounds = 0
        for at in progress(_rounds(store, now), DRAIN_ROUNDS, "  drain rounds"):
            rounds += 1
            pump.tick(at)
            simulator.tick(at)
            watch.tick(at)
    finally:
        pump.close()
    return rounds


# --- the summary --------------------------------------------------------------------------------------------


def _summary(day: Day) -> None:
    store, settings = day.store, day.settings
    conn = store.connection()
    invoices = stats.invoices_by_status_and_lifecycle(conn)
    print()
    table("invoices by state", ("delivery", "lifecycle", "count"),
          [(status, life, n) for (status, life), n in sorted(invoices.items())])
    sent = [(code, state, n) for code, states in deliveries.counts(conn).items() for state, n in states.items() if n]
    table("messages by delivery state", ("message", "delivery", "count"), sent)  # as einvd status counts them
    jobs = Counter({f"{kind}{' 補印' if copy != '0' else ''} {state}": n
                    for (kind, copy, state), n in stats.print_jobs_by_kind_copy_and_state(conn).items()})
    pngs = sorted(_proofs_dir(settings).glob("*.png"))
    table("proofs", ("print job", "count"), [*sorted(jobs.items()), ("PNG files written", len(pngs))])
    backlog = stats.waiting_messages(conn)
    results = {kind: n for (kind,), n in stats.results_by_kind(conn).items()}
    table("Turnkey", ("", "count"), [("backlog (messages waiting)", backlog),
                                     *((f"{kind} files read", n) for kind, n in sorted(results.items()))])
    print("\nnumber ranges")
    for row in list_tracks(settings):
        print(f"  {row['period']} {row['track']} {row['begin']}-{row['end']}  next {row['next']}  "
              f"left {row['remaining']}")


def _paths(day: Day) -> None:
    """Where to look: the Turnkey folders holding the XML, the PNG proofs and the database."""
    tree = day.root / day.settings.turnkey.drop.removeprefix("sim:")
    print("\nfiles")
    for code in ("F0401", "F0501", "G0401"):
        folders = sorted({p.parent for p in tree.glob(f"UpCast/*/{code}/BAK/*/*/*.xml")})
        for folder in folders:
            print(f"  {code} XML:       {folder}")
    print(f"  SummaryResult:   {tree / 'Unpack' / 'BAK' / 'SummaryResult'}")
    print(f"  PNG proofs:      {_proofs_dir(day.settings)}")
    for png in day.reprint_pngs:
        print(f"  reprint (補印):  {png}")
    print(f"  database:        {day.settings.store_path}\n  config:          {day.settings.source}")
    print(f"  API key:         id {day.api_key}, its secret in {day.settings.api.keys_file} (mode 0600)")


def einvd_command() -> str:
    """How a shell starts this einvd: ``einvd`` when that is the one on PATH, else the console script that is
    running (``scripts/demo`` starts ``.venv/bin/einvd``, rarely on PATH), else ``python -m daemon``."""
    found = shutil.which("einvd")
    script = Path(sys.argv[0]).absolute() if sys.argv and Path(sys.argv[0]).name == "einvd" else None
    if found and (script is None or Path(found).resolve() == script.resolve()):
        return "einvd"
    if script is not None:
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m daemon"


def run_demo(directory: Path | None, listen: str | None = None) -> int:
    root = (directory or Path(tempfile.mkdtemp(prefix="einvd-demo-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    settings = load(_write_config(root, listen))
    key_id = _api_key(settings)
    period = Period.of(SystemClock().now())
    for code, track in ((period.code, "AB"), (period.next().code, "AC")):
        if not any(t["period"] == code for t in list_tracks(settings)):
            add_track(settings, code, "07", track, 1000, 1049)
    rng = random.SystemRandom()
    store = wiring.open_store(settings)
    day = Day(root, settings, store, api_key=key_id)
    try:
        _day(day, rng)
    finally:
        store.close()
    api = settings.api  # the next step, for a newcomer too (``--once``, what scripts/demo runs)
    print(f"\nstart the daemon on this directory with: {einvd_command()} --config "
          f"{shlex.quote(str(settings.source))} run\n"
          f"then POS software signs its requests to http://{api.host}:{api.port} with the key "
          f"{key_id!r} (its secret is in {api.keys_file})", file=sys.stderr)
    sys.stdout.flush()
    return 0


def _day(day: Day, rng: RandomSource) -> None:
    settings, store = day.settings, day.store
    service = wiring.invoice_service(settings, rng, store=store)
    print(f"einvd demo in {day.root}\n")
    hub = ScanHub(service.clock.now)
    scan = scan_carrier(settings, hub)
    day.scan = scan
    print(f"  scanner: read {scan.raw.strip()!r}, normalised to {scan.kind} {scan.value} ({scan.note or 'as is'})")
    if scan.carrier_type is None:
        raise RuntimeError(f"the scan {scan.raw!r} was not read as a carrier: {scan.note}")
    _sales(day, service, scan)
    _print_proofs(settings, store)
    _after_sales(day, *wiring.corrections(settings, service, wiring.proof_printer(settings, store)))
    replay = service.issue({"order_id": day.order("latte"), **LATTE})
    print(f"  {replay.body['invoice_number']}  replayed order {day.order('latte')}: same invoice, "
          f"created={replay.created}\n")
    rounds = deliver(settings, store, rng)
    print(f"  Turnkey back: files moved to BAK, SummaryResult read, {rounds} rounds")
    _summary(day)
    _paths(day)
