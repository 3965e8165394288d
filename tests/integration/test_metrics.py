"""`GET /metrics` scraped over loopback HTTP from the real app: every family has HELP and TYPE, and the samples
count what the store and the scan hub hold after invoices, a void, a drop, results, print jobs, scans, alerts."""

from __future__ import annotations

import random
import re
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from api_harness import KEYS, SECRETS
from conftest import KEY, SELLER, sale

from daemon.alerts import raise_alert
from daemon.api.app import ServerThread, create_app
from daemon.api.context import ApiContext
from daemon.client import Client
from daemon.printing import PrintPolicy, PrintQueue, ProofBuilder
from daemon.scans import ScanHub
from daemon.services import InvoiceService
from daemon.store import stamp
from daemon.wiring.printer import DevicePrinter, slip_encoder
from daemon.workers import Pump
from drivers.printer.device import EscposPrinter
from drivers.printer.encode import PrinterProfile
from hw_sim.clock import FakeClock
from hw_sim.drop import MemoryDrop
from hw_sim.printer import SimPrinter, SimTransport
from hw_sim.scanner import garble

SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (-?[0-9.e+]+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Prometheus text format 0.0.4: each sample's family announced by # HELP and # TYPE first."""
    samples: Samples = {}
    announced: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            word, name = line.split(" ")[1:3]
            announced.setdefault(name, set()).add(word)
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        assert announced.get(name) == {"HELP", "TYPE"}, f"{name} sampled before its HELP and TYPE"
        key = (name, frozenset(LABEL.findall(labels or "")))
        assert key not in samples, f"{line!r} twice"
        samples[key] = float(value)
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def scraped(service: InvoiceService, clock: FakeClock) -> Iterator[tuple[Samples, str]]:
    hub = ScanHub(clock.now)
    context = ApiContext.build(service, KEYS, scans=hub, now=lambda: clock.now().timestamp())
    server = ServerThread(create_app(context))
    url = server.start()
    client = Client(url, "manager", SECRETS["manager"].encode(), now=lambda: clock.now().timestamp())
    try:
        numbers = []
        for n in range(3):
            status, body = client.request("POST", "/v1/invoices", sale(f"M-{n}"))
            assert status == 201, body
            numbers.append(body["invoice_number"])
        assert client.request("POST", f"/v1/invoices/{numbers[2]}/void", {"reason": "輸入錯誤"})[0] == 200
        _happenings(service, clock, hub)
        clock.advance(timedelta(seconds=90))
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            kind = response.headers["Content-Type"]
            yield parse(response.read().decode("utf-8")), kind
    finally:
        client.close()
        server.stop()
        context.close()


def _happenings(service: InvoiceService, clock: FakeClock, hub: ScanHub) -> None:
    """One F0401 dropped, proofs printed, result files read, scans and alerts: each by the code that does it."""
    store = service.store
    pump = Pump(store, MemoryDrop(), SELLER, None, random.Random(1))
    pump.start(clock.now())
    assert pump.tick(clock.now(), limit=1).dropped == 1
    policy = PrintPolicy()
    printer = EscposPrinter(lambda: SimTransport(SimPrinter()))
    PrintQueue(store, ProofBuilder(SELLER, KEY, "1", slip_encoder(PrinterProfile()), policy), DevicePrinter(printer),
               clock).tick()
    with store.write() as tx:  # what ResultFiles records for each result file it read
        for path, outcome in (("S1.xml", "applied"), ("S2.xml", "applied"), ("P1.xml", "unreadable")):
            kind = "SummaryResult" if path.startswith("S") else "ProcessResult"
            tx.execute("INSERT INTO results_seen (path, kind, size, seen_at, outcome) VALUES (?, ?, 1, ?, ?)",
                       (path, kind, stamp(clock.now()), outcome))
        raise_alert(tx, "ranges.low", "period", "11512", clock.now(), "only 47 numbers left")
        raise_alert(tx, "result.unreadable", "result", "P1.xml", clock.now(), "unreadable")
        raise_alert(tx, "result.unreadable", "result", "P0.xml", clock.now(), "unreadable, since cleared")
        tx.execute("UPDATE alerts SET cleared_at = ? WHERE entity_id = 'P0.xml'", (stamp(clock.now()),))
    for raw in ("/ABC1234\r", garble("/XYZ.987", "host:fr") + "\r", "hello\r"):
        hub.publish("front", raw)


def test_metrics_count_what_the_box_holds(scraped: tuple[Samples, str]) -> None:
    samples, kind = scraped
    assert kind.startswith("text/plain") and "version=0.0.4" in kind
    assert value(samples, "einvd_invoices_issued_total") == 3
    assert value(samples, "einvd_invoices", state="issued") == 2
    assert value(samples, "einvd_invoices", state="voided") == 1
    assert value(samples, "einvd_outbox_queued", type="F0401") == 2
    assert value(samples, "einvd_outbox_queued", type="F0501") == 1
    assert value(samples, "einvd_outbox_queued", type="G0401") == 0
    assert value(samples, "einvd_outbox_oldest_queued_age_seconds") == 90
    assert value(samples, "einvd_dropped_total", type="F0401") == 1
    assert value(samples, "einvd_outbox", type="F0401", state="DONE") == 1
    assert value(samples, "einvd_results_received_total", kind="SummaryResult", outcome="applied") == 2
    assert value(samples, "einvd_results_received_total", kind="ProcessResult", outcome="unreadable") == 1
    assert value(samples, "einvd_print_jobs", kind="proof", state="printed") == 3
    assert value(samples, "einvd_scanner_events_total") == 3
    assert value(samples, "einvd_scanner_events_by_kind_total", kind="mobile_barcode") == 2
    assert value(samples, "einvd_scanner_events_by_kind_total", kind="unknown") == 1
    assert value(samples, "einvd_scanner_dropped_total") == 0
    assert value(samples, "einvd_alerts_open", kind="ranges.low") == 1
    assert value(samples, "einvd_alerts_open", kind="result.unreadable") == 1


def test_an_idle_box_reports_zeros_not_nothing(service: InvoiceService, clock: FakeClock) -> None:
    context = ApiContext.build(service, KEYS, now=lambda: clock.now().timestamp())
    server = ServerThread(create_app(context))
    url = server.start()
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            samples = parse(response.read().decode("utf-8"))
    finally:
        server.stop()
        context.close()
    assert value(samples, "einvd_invoices_issued_total") == 0
    assert value(samples, "einvd_outbox_oldest_queued_age_seconds") == 0
    assert {value(samples, "einvd_outbox_queued", type=t) for t in ("F0401", "F0501", "F0701", "G0401")} == {0}
    assert value(samples, "einvd_scanner_events_total") == 0
