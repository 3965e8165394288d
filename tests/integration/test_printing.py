"""Proofs printed by the production driver into the virtual printer (real TCP socket, real pty), read back
from the PNG with a real barcode reader (zxing-cpp): exact Code 39 and QR texts, the AES field, Big5 titles."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import zxingcpp
from conftest import KEY, SELLER, sale
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daemon.printing import PrintPolicy, PrintQueue, ProofBuilder
from daemon.services import InvoiceService
from daemon.wiring import open_transport
from daemon.wiring.printer import DevicePrinter, slip_encoder
from drivers.printer.device import EscposPrinter, PrintFailed
from drivers.printer.encode import PrinterProfile
from drivers.transport import TransportError
from hw_sim.clock import FakeClock
from hw_sim.printer import PtyPrinter, SimPrinter, SimTransport, TcpPrinterServer
from turnkey.proof import QR_IV

TITLE_BIG5 = "電子發票證明聯".encode("cp950")


def read_codes(image: Any) -> tuple[str, list[str]]:
    """(Code 39 text, [left QR, right QR]) read from a slip image."""
    found = zxingcpp.read_barcodes(image.convert("L"))
    code39 = [r.text for r in found if r.format == zxingcpp.BarcodeFormat.Code39]
    qrs = sorted((r for r in found if r.format == zxingcpp.BarcodeFormat.QRCode), key=lambda r: r.position.top_left.x)
    assert len(code39) == 1 and len(qrs) == 2, [(r.format, r.text) for r in found]
    return code39[0], [r.text for r in qrs]


def decrypt(field: str) -> str:
    decryptor = Cipher(algorithms.AES(KEY), modes.CBC(QR_IV)).decryptor()
    plain = decryptor.update(base64.b64decode(field)) + decryptor.finalize()
    return plain[:-plain[-1]].decode("ascii")


def assert_proof(slip: Any, body: dict[str, Any]) -> None:
    barcode, (left, right) = read_codes(slip.image)
    assert barcode == body["barcode"]
    assert left == body["qr_left"] and right == body["qr_right"]
    assert decrypt(left[53:77]) == body["invoice_number"] + body["random_number"]


def queue(service: InvoiceService, printer: Any, clock: FakeClock, **policy: Any) -> PrintQueue:
    pol = PrintPolicy(**{"retry_delay": 10.0, "max_attempts": 3, **policy})
    builder = ProofBuilder(SELLER, KEY, "1", slip_encoder(PrinterProfile()), pol)
    return PrintQueue(service.store, builder, DevicePrinter(printer), clock, pol)


def tcp_printer(url: str, timeout: float = 2.0) -> EscposPrinter:
    return EscposPrinter(lambda: open_transport(url, timeout), status_timeout=timeout)


@pytest.fixture
def sim() -> SimPrinter:
    return SimPrinter()


@pytest.fixture
def tcp(sim: SimPrinter) -> Iterator[TcpPrinterServer]:
    with TcpPrinterServer(sim) as server:
        yield server


def invoice_row(service: InvoiceService, number: str) -> Any:
    return service.store.read("SELECT * FROM invoices WHERE number = ?", (number,))[0]


def test_proof_over_tcp_reads_back_exactly(service: InvoiceService, clock: FakeClock, sim: SimPrinter,
                                           tcp: TcpPrinterServer) -> None:
    body = service.issue(sale("P-1")).body
    assert body["print"]["status"] == "pending"
    results = queue(service, tcp_printer(tcp.url), clock).tick()
    assert results == [{"job": 1, "state": "printed"}]
    assert len(sim.slips) == 1
    assert_proof(sim.slips[0], body)
    assert TITLE_BIG5 in sim.interpreter.kanji_segments
    assert "電子發票證明聯" in sim.text() and "補印" not in "".join(sim.text())
    assert invoice_row(service, body["invoice_number"])["print_status"] == "printed"


def test_proof_over_a_pty_serial_line(service: InvoiceService, clock: FakeClock, sim: SimPrinter) -> None:
    body = service.issue(sale("P-2", buyer={"ban": "53538851", "name": "買方公司"})).body
    with PtyPrinter(sim) as pty:
        assert queue(service, tcp_printer(pty.url), clock).tick()[0]["state"] == "printed"
    assert [slip.lines[0] for slip in sim.slips] == ["測試商店", "測試商店"]
    assert_proof(sim.slips[0], body)
    assert any("格式 25" in line for line in sim.slips[0].lines)
    assert "交易明細" in sim.slips[1].lines


def test_device_file_transport_on_a_pty(service: InvoiceService, clock: FakeClock, sim: SimPrinter) -> None:
    body = service.issue(sale("P-3")).body
    with PtyPrinter(sim) as pty:
        assert queue(service, tcp_printer(f"file://{pty.path}"), clock).tick()[0]["state"] == "printed"
    assert_proof(sim.slips[0], body)


def test_reprint_says_buyin_and_keeps_the_original_status(service: InvoiceService, clock: FakeClock,
                                                           sim: SimPrinter, tcp: TcpPrinterServer) -> None:
    body = service.issue(sale("P-4")).body
    jobs = queue(service, tcp_printer(tcp.url), clock)
    jobs.tick()
    assert jobs.request(body["invoice_number"]) == "printed"
    assert "電子發票證明聯補印".encode("cp950") in sim.interpreter.kanji_segments
    assert sim.slips[1].lines[1] == "電子發票證明聯補印"
    assert_proof(sim.slips[1], body)
    assert [(j["kind"], j["copy"], j["state"]) for j in jobs.jobs(body["invoice_number"])] == [
        ("proof", False, "printed"), ("proof", True, "printed")]


def test_paper_out_leaves_the_job_queued_and_the_sale_issued(service: InvoiceService, clock: FakeClock,
                                                             sim: SimPrinter, tcp: TcpPrinterServer) -> None:
    sim.paper_out = True
    body = service.issue(sale("P-5")).body
    jobs = queue(service, tcp_printer(tcp.url), clock)
    assert jobs.tick() == [{"job": 1, "state": "queued"}]
    row = invoice_row(service, body["invoice_number"])
    assert row["print_status"] == "queued" and row["status"] == "queued"
    assert service.store.read("SELECT count(*) FROM outbox WHERE reference = ?", (body["invoice_number"],))[0][0] == 1
    [job] = jobs.jobs(body["invoice_number"])
    assert job["state"] == "queued" and job["attempts"] == 1 and job["last_error"].startswith("printer.paper_out")
    assert sim.slips == [] and sim.received == b""
    assert jobs.tick() == []  # not due before the retry delay
    sim.paper_out = False
    clock.advance(seconds=10)
    assert jobs.tick() == [{"job": 1, "state": "printed"}]
    assert sim.slips[0].lines[1] == "電子發票證明聯"  # nothing had been sent: still the original
    assert invoice_row(service, body["invoice_number"])["print_status"] == "printed"


def test_offline_printer_times_out_then_the_job_is_reported_failed(service: InvoiceService, clock: FakeClock,
                                                                   sim: SimPrinter, tcp: TcpPrinterServer) -> None:
    sim.offline = True
    body = service.issue(sale("P-6")).body
    jobs = queue(service, tcp_printer(tcp.url, timeout=0.2), clock, max_attempts=2)
    assert jobs.tick()[0]["state"] == "queued"
    clock.advance(timedelta(seconds=10))
    assert jobs.tick()[0]["state"] == "failed"
    assert invoice_row(service, body["invoice_number"])["print_status"] == "failed"
    kinds = [r["kind"] for r in service.store.read("SELECT kind FROM events WHERE entity_id = ?",
                                                    (body["invoice_number"],))]
    assert kinds[-2:] == ["print_retry", "print_failed"]


class PaperRunsOutDuringTheJob(SimTransport):
    def write(self, data: bytes) -> None:
        super().write(data)
        if len(data) > 100:
            self.printer.paper_out = True


def test_a_failure_after_bytes_went_out_is_retried_as_a_copy(service: InvoiceService, clock: FakeClock,
                                                             sim: SimPrinter) -> None:
    body = service.issue(sale("P-7")).body
    flaky = queue(service, EscposPrinter(lambda: PaperRunsOutDuringTheJob(sim)), clock)
    assert flaky.tick()[0]["state"] == "queued"
    sim.paper_out = False
    clock.advance(seconds=10)
    assert queue(service, EscposPrinter(lambda: SimTransport(sim)), clock).tick()[0]["state"] == "printed"
    assert [slip.lines[1] for slip in sim.slips] == ["電子發票證明聯", "電子發票證明聯補印"]
    assert_proof(sim.slips[1], body)


def test_donated_and_carrier_invoices_get_an_information_slip(service: InvoiceService, clock: FakeClock,
                                                              sim: SimPrinter) -> None:
    donated = service.issue(sale("P-8", donation={"love_code": "168001"}, print=False)).body
    service.issue(sale("P-9", carrier={"type": "3J0002", "id": "/ABC1234"}, print=False))
    jobs = queue(service, EscposPrinter(lambda: SimTransport(sim)), clock)
    assert [r["state"] for r in jobs.tick()] == ["printed", "printed"]
    masked = donated["invoice_number"][:2] + "-" + donated["invoice_number"][2:7] + "***"
    assert f"發票號碼 {masked}" in sim.slips[0].lines and "已存入載具 手機條碼" in sim.slips[1].lines
    assert zxingcpp.read_barcodes(sim.slips[0].image.convert("L")) == []
    assert invoice_row(service, donated["invoice_number"])["print_status"] == "not_requested"
    clock.advance(seconds=3600)
    service.issue(sale("P-10", donation={"love_code": "168001"}, print=False))
    assert len(jobs.tick()) == 1  # recent ones only; old ones are never adopted again
    assert queue(service, EscposPrinter(lambda: SimTransport(sim)), clock, info_slips=False).adopt() == 0


def test_recover_turns_an_interrupted_job_into_a_copy(service: InvoiceService, clock: FakeClock,
                                                      sim: SimPrinter) -> None:
    service.issue(sale("P-11"))
    jobs = queue(service, EscposPrinter(lambda: SimTransport(sim)), clock)
    jobs.adopt()
    with service.store.write() as tx:
        tx.execute("UPDATE print_jobs SET state = 'printing'")
    assert jobs.tick() == [] and jobs.recover() == 1
    assert jobs.tick()[0]["state"] == "printed" and sim.slips[0].lines[1] == "電子發票證明聯補印"


def test_raster_and_80mm_gb18030_profiles_read_back(service: InvoiceService, clock: FakeClock) -> None:
    from drivers.printer.fonts import raster_font

    body = service.issue(sale("P-12")).body
    for profile, sim in ((PrinterProfile(text="raster", font=raster_font()), SimPrinter()),
                         (PrinterProfile(text="gb18030", paper=80), SimPrinter(576, "gb18030"))):
        builder = ProofBuilder(SELLER, KEY, "1", slip_encoder(profile), PrintPolicy())
        PrintQueue(service.store, builder, DevicePrinter(EscposPrinter(lambda s=sim: SimTransport(s))), clock).request(
            body["invoice_number"], copy=False)
        assert_proof(sim.slips[0], body)
    assert "電子發票證明聯".encode("gb18030") in sim.interpreter.kanji_segments


def test_unreachable_printer_and_unknown_urls() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PrintFailed) as failure:
        tcp_printer(f"tcp://127.0.0.1:{port}", 0.5).print_job(b"x")
    assert failure.value.code == "printer.unreachable" and not failure.value.sent
    with pytest.raises(TransportError):
        open_transport("file:///nonexistent/lp0", 0.1)
    with pytest.raises(ValueError, match="no transport"):
        open_transport("lpt:1", 0.1)


class Scripted:
    """A transport that answers status queries with ``reply`` and can refuse writes of job data."""

    def __init__(self, reply: bytes, refuse_jobs: bool = False) -> None:
        self.reply, self.refuse_jobs, self.closed = reply, refuse_jobs, False

    def write(self, data: bytes) -> None:
        if self.refuse_jobs and not data.startswith(b"\x10\x04"):
            raise TransportError("cable pulled")

    def read(self, size: int, timeout: float) -> bytes:
        data, self.reply = self.reply[:size], self.reply[size:]
        return data

    def close(self) -> None:
        self.closed = True


def test_device_edges_with_injected_transports() -> None:
    with pytest.raises(PrintFailed) as garbled:
        EscposPrinter(lambda: Scripted(b"\xff\xff\xff")).status()
    assert garbled.value.code == "printer.status"
    with pytest.raises(PrintFailed) as pulled:
        EscposPrinter(lambda: Scripted(b"\x12\x12\x12", refuse_jobs=True)).print_job(b"job")
    assert pulled.value.code == "printer.write" and pulled.value.sent
    assert EscposPrinter(lambda: Scripted(b""), status_query=False).print_job(b"job") is None
    assert EscposPrinter(lambda: Scripted(b"\x12\x12\x12")).status().problem is None  # type: ignore[union-attr]


def test_queue_edges(service: InvoiceService, clock: FakeClock, sim: SimPrinter) -> None:
    from daemon.printing import PrintUnknown

    body = service.issue(sale("P-13")).body
    jobs = queue(service, EscposPrinter(lambda: SimTransport(sim)), clock)
    with pytest.raises(PrintUnknown):
        jobs.request("ZZ00000000")
    assert jobs.state(999) == "unknown"
    with service.store.write() as tx:
        tx.execute("UPDATE invoices SET document = '{}' WHERE number = ?", (body["invoice_number"],))
    assert jobs.tick()[0]["state"] == "failed"  # a document that no longer validates: no retry helps
    [job] = jobs.jobs(body["invoice_number"])
    assert job["attempts"] == 1 and job["last_error"].startswith("print.layout")
    with service.store.write() as tx:
        tx.execute("UPDATE print_jobs SET state = 'printing'")
    assert jobs._run(job["job"], clock.now()) == "printing"  # claimed by another worker: left alone
