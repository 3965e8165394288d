"""The cash drawer (#16): ``open_drawer`` on a sale kicks it (ESC p) after the slip printed, on the virtual printer
over a real TCP socket; never before the proof, never on a reprint, and a failed kick never fails the sale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, SELLER, sale

from daemon import config
from daemon.printing import PrintPolicy, PrintQueue, ProofBuilder
from daemon.services import InvoiceService
from daemon.wiring import open_transport
from daemon.wiring.printer import DevicePrinter, cash_drawer, slip_encoder
from drivers.printer.device import EscposPrinter
from drivers.printer.encode import PrinterProfile
from hw_sim.clock import FakeClock
from hw_sim.printer import SimPrinter, TcpPrinterServer
from turnkey.errors import InvoiceInvalid

CUT = b"\x1dV"


def device(url: str) -> DevicePrinter:
    return DevicePrinter(EscposPrinter(lambda: open_transport(url, 2.0), status_timeout=2.0))


def settings(tmp_path: Path, model: str = "") -> config.Settings:
    path = tmp_path / "einvd.toml"
    path.write_text(f'[printer]\nmodel = "{model}"\n' if model else "", encoding="utf-8")
    return config.load(path)


def queue(service: InvoiceService, clock: FakeClock, url: str, drawer_url: str | None = None,
          conf: config.Settings | None = None) -> PrintQueue:
    policy = PrintPolicy(retry_delay=10.0, max_attempts=3)
    builder = ProofBuilder(SELLER, KEY, "1", slip_encoder(PrinterProfile()), policy)
    printer = device(url)
    drawer = cash_drawer(conf or config.load(None), device(drawer_url) if drawer_url else printer)
    return PrintQueue(service.store, builder, printer, clock, policy, drawer=drawer)


def events(service: InvoiceService, number: str) -> list[tuple[str, str]]:
    rows = service.store.read("SELECT kind, reason FROM events WHERE entity = 'invoice' AND entity_id = ? "
                              "AND kind LIKE 'drawer%' ORDER BY id", (number,))
    return [(row["kind"], row["reason"]) for row in rows]


@pytest.fixture
def sim() -> SimPrinter:
    return SimPrinter()


@pytest.fixture
def tcp(sim: SimPrinter) -> Iterator[TcpPrinterServer]:
    with TcpPrinterServer(sim) as server:
        yield server


def test_the_drawer_opens_after_the_proof_and_not_on_a_reprint(service: InvoiceService, clock: FakeClock,
                                                               sim: SimPrinter, tcp: TcpPrinterServer,
                                                               tmp_path: Path) -> None:
    body = service.issue(sale("D-1", open_drawer=True)).body
    jobs = queue(service, clock, tcp.url, conf=settings(tmp_path, "TM-T88VI"))
    assert jobs.tick() == [{"job": 1, "state": "printed"}]
    assert sim.interpreter.drawer_kicks == [(1, 0, 50, 50)]  # after the one cut slip: pin 2, 100 ms
    received = bytes(sim.received)
    assert received.index(b"\x1bp\x00\x32\x32") > received.rindex(CUT)
    assert events(service, body["invoice_number"]) == [("drawer_opened", "")]
    assert jobs.request(body["invoice_number"]) == "printed"  # a reprint (補印) is not a sale
    assert len(sim.interpreter.drawer_kicks) == 1 and len(sim.slips) == 2


def test_no_kick_without_open_drawer_or_while_the_proof_has_not_printed(service: InvoiceService, clock: FakeClock,
                                                                        sim: SimPrinter,
                                                                        tcp: TcpPrinterServer) -> None:
    service.issue(sale("D-2"))
    body = service.issue(sale("D-3", open_drawer=True)).body
    jobs = queue(service, clock, tcp.url)
    sim.paper_out = True
    assert {r["state"] for r in jobs.tick()} == {"queued"}
    assert sim.interpreter.drawer_kicks == [] and b"\x1bp" not in bytes(sim.received)
    sim.paper_out = False
    clock.advance(seconds=60)
    assert {r["state"] for r in jobs.tick()} == {"printed"}
    assert sim.interpreter.drawer_kicks == [(2, 0, 50, 50)]  # once, after both proofs (D-3's is the second)
    assert events(service, body["invoice_number"]) == [("drawer_opened", "")]


def test_a_failed_kick_leaves_the_sale_printed(service: InvoiceService, clock: FakeClock, sim: SimPrinter,
                                               tcp: TcpPrinterServer) -> None:
    body = service.issue(sale("D-4", open_drawer=True)).body
    with socket_closed() as dead:
        assert queue(service, clock, tcp.url, drawer_url=dead).tick()[0]["state"] == "printed"
    [(kind, reason)] = events(service, body["invoice_number"])
    assert kind == "drawer_failed" and reason
    row = service.store.read("SELECT print_status FROM invoices WHERE number = ?", (body["invoice_number"],))[0]
    assert row["print_status"] == "printed" and sim.interpreter.drawer_kicks == []


def test_open_drawer_must_be_a_boolean(service: InvoiceService) -> None:
    with pytest.raises(InvoiceInvalid) as bad:
        service.issue(sale("D-5", open_drawer="yes"))
    assert [p.code for p in bad.value.problems] == ["open_drawer.type"]


class socket_closed:
    """A loopback URL nobody listens on (a port bound, then closed)."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return f"tcp://127.0.0.1:{port}"

    def __exit__(self, *exc: Any) -> None:
        return None


def test_open_drawer_over_the_api(service: InvoiceService, clock: FakeClock, sim: SimPrinter,
                                  tcp: TcpPrinterServer) -> None:
    from api_harness import running

    with running(service, clock) as api:
        assert api.codes("POST", "/v1/invoices", sale("D-6", open_drawer="yes")) == (422, ["open_drawer.type"])
        status, body = api.call("POST", "/v1/invoices", sale("D-6", open_drawer=True))
        assert status == 201
        document = api.client.get("/openapi.json").json()
    schema = document["components"]["schemas"]["InvoiceDocument"]["properties"]["open_drawer"]
    assert schema["type"] == "boolean" and schema["default"] is False
    assert queue(service, clock, tcp.url).tick()[0]["state"] == "printed"
    assert sim.interpreter.drawer_kicks == [(1, 0, 50, 50)]
    assert events(service, body["invoice_number"]) == [("drawer_opened", "")]
