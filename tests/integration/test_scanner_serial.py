"""The real serial driver on a real pty: scans arrive normalised at the hub, once each, in order; an unplug and
replug loses nothing scanned after the replug."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import KEY, SELLER

from daemon.api.app import ServerThread, create_app
from daemon.api.context import ApiContext
from daemon.api.keys import ApiKey
from daemon.client import Client
from daemon.clock import SystemClock
from daemon.scans import ScanHub
from daemon.services import InvoiceService
from daemon.store import Store
from drivers.scanner.serial import SerialScanner
from hw_sim.scanner import SimScanner, garble
from turnkey.period import TAIPEI

WAIT = 5.0
SECRET = b"scanner-test-secret-0123456789-abcdef"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[SimScanner, SerialScanner, ScanHub]]:
    sim = SimScanner(tmp_path)
    hub = ScanHub(lambda: datetime.now(TAIPEI))
    driver = SerialScanner(sim.path, lambda raw: hub.publish("front", raw), backoff=(0.02, 0.1), poll=0.02)
    driver.start()
    assert driver.connected.wait(WAIT)
    yield sim, driver, hub
    driver.stop()
    sim.close()


def collect(hub: ScanHub, count: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    while len(found) < count:
        batch = hub.take(WAIT)
        assert batch, f"only {len(found)} of {count} scans arrived"
        found += [d.as_dict() for d in batch]
    return found


def test_scans_arrive_normalised_once_and_in_order(rig: tuple[SimScanner, SerialScanner, ScanHub]) -> None:
    sim, _, hub = rig
    script = [
        ("/ABC1234", "cr"), (garble("/AB.C+12", "host:fr"), "crlf"), (garble("/17MEWYP", "full-ascii"), "lf"),
        (garble("/ABC1234", "full-width"), "tab"), (garble("/XYZ.987", "caps-lock"), "cr"), ("168001", "cr"),
        ("53538851", "cr"), (garble("/AB.C+12", "zhuyin"), "cr"), ("-ABC123", "cr"),
    ]
    for text, terminator in script:
        sim.scan(text, terminator)
    found = collect(hub, len(script))
    assert [(d["kind"], d["value"]) for d in found] == [
        ("mobile_barcode", "/ABC1234"), ("mobile_barcode", "/AB.C+12"), ("mobile_barcode", "/17MEWYP"),
        ("mobile_barcode", "/ABC1234"), ("mobile_barcode", "/XYZ.987"), ("love_code", "168001"),
        ("business_number", "53538851"), ("mobile_barcode", "/AB.C+12"), ("unknown", "-ABC123"),
    ]
    assert [d["id"] for d in found] == list(range(1, len(script) + 1))
    assert {d["scanner"] for d in found} == {"front"}
    assert hub.take(0.05) == [], "a scan was delivered twice"


def test_unplug_and_replug_lose_nothing_scanned_after_the_replug(
    rig: tuple[SimScanner, SerialScanner, ScanHub],
) -> None:
    sim, driver, hub = rig
    sim.scan("/BEFORE1")
    assert [d.scan.value for d in hub.take(WAIT)] == ["/BEFORE1"]
    sim.unplug()
    for _ in range(200):
        if not driver.connected.is_set():
            break
        hub.take(0.01)
    assert not driver.connected.is_set(), "the driver did not notice the unplug"
    sim.plug()
    sim.scan("/AFTER01")
    sim.scan("/AFTER02")
    assert driver.connected.wait(WAIT)
    sim.scan("/AFTER03")
    found = collect(hub, 3)
    assert [d["value"] for d in found] == ["/AFTER01", "/AFTER02", "/AFTER03"]
    assert driver.reconnects == 1


def test_a_missing_device_is_retried_until_it_appears(tmp_path: Path) -> None:
    hub = ScanHub(lambda: datetime.now(TAIPEI))
    link = tmp_path / "ttyLater"
    driver = SerialScanner(str(link), lambda raw: hub.publish("back", raw), backoff=(0.02, 0.05), poll=0.02)
    driver.start()
    try:
        assert not driver.connected.wait(0.1)
        sim = SimScanner(tmp_path, "ttyLater")
        assert driver.connected.wait(WAIT)
        sim.scan("AB12345678901234")
        assert [(d.scanner, d.scan.kind) for d in hub.take(WAIT)] == [("back", "citizen_certificate")]
        sim.close()
    finally:
        driver.stop()


def test_scans_reach_pos_software_at_the_api_once_each(tmp_path: Path, store: Store) -> None:
    """Through the real serial driver on a pty, the hub and the HTTP API (long poll): normalised, in order, once;
    an unplug and replug loses nothing scanned after the replug."""
    hub = ScanHub(lambda: datetime.now(TAIPEI))
    service = InvoiceService(store, SystemClock(), random.Random(1), SELLER, KEY)
    context = ApiContext.build(service, {"pos": ApiKey("pos", SECRET, frozenset({"issue"}))}, scans=hub)
    server = ServerThread(create_app(context))
    client = Client(server.start(), "pos", SECRET)
    sim = SimScanner(tmp_path)
    driver = SerialScanner(sim.path, lambda raw: hub.publish("front", raw), backoff=(0.02, 0.1))
    driver.start()
    try:
        assert driver.connected.wait(WAIT)
        for raw in ("/ABC1234", garble("/AB.C+12", "fr-scanner"), garble("/17MEWYP", "ja-ime"), "8999"):
            sim.scan(raw)
        assert api_scans(client, 4) == ["/ABC1234", "/AB.C+12", "/17MEWYP", "8999"]
        sim.unplug()
        sim.plug()
        sim.scan("/AFTER01")
        assert api_scans(client, 1) == ["/AFTER01"]
        status, body = client.request("GET", "/v1/scans?wait=0.2")
        assert status == 200 and body["scans"] == [], "a scan was delivered twice"
    finally:
        driver.stop()
        sim.close()
        client.close()
        server.stop()
        context.close()


def api_scans(client: Client, count: int) -> list[str]:
    values: list[str] = []
    while len(values) < count:
        status, body = client.request("GET", f"/v1/scans?wait={WAIT}")
        assert status == 200 and body["scans"], f"only {len(values)} of {count} scans reached the API"
        values += [scan["value"] for scan in body["scans"]]
    return values
