"""USB printers end to end on a simulated USB bus: the production path python-escpos -> pyusb -> backend runs
unchanged, only the backend is ``hw_sim.usb_printer`` (a real receipt printer's descriptors, the virtual
printer's ESC/POS decoder behind the bulk OUT endpoint, DLE EOT answers on bulk IN)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from conftest import KEY, SELLER, sale

from daemon.config import Settings, load
from daemon.printing import PrintPolicy, PrintQueue, ProofBuilder
from daemon.services import InvoiceService
from daemon.wiring import open_printer
from daemon.wiring.printer import DevicePrinter, open_transport, slip_encoder
from drivers.printer.device import EscposPrinter, PrintFailed
from drivers.printer.encode import PrinterProfile
from drivers.printer.status import QUERY
from drivers.transport import TransportError, parse_usb_url
from hw_sim.clock import FakeClock
from hw_sim.printer import SimPrinter, SimTransport
from hw_sim.usb_printer import XPRINTER_XP_T58H, SimUsbBus, SimUsbPrinter

URL = "usb://0483:5743"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    config = tmp_path / "einvd.toml"
    config.write_text(f'[store]\npath = "einvd.sqlite3"\n[printer]\nurl = "{URL}"\ntimeout = 1.0\n'
                      'status_timeout = 0.2\n', encoding="utf-8")
    return load(config)


def usb_printer(settings: Settings, bus: SimUsbBus, url: str = URL) -> EscposPrinter:
    return open_printer(settings, url, usb_backend=bus).printer


def queue(service: InvoiceService, printer: EscposPrinter, clock: FakeClock) -> PrintQueue:
    policy = PrintPolicy(retry_delay=10.0, max_attempts=5)
    builder = ProofBuilder(SELLER, KEY, "1", slip_encoder(PrinterProfile()), policy)
    return PrintQueue(service.store, builder, DevicePrinter(printer), clock, policy)


def codes(image: Any) -> list[tuple[str, str]]:
    return sorted((str(r.format), r.text) for r in zxingcpp.read_barcodes(image.convert("L")))


def test_a_proof_over_usb_decodes_like_the_virtual_printers(settings: Settings, service: InvoiceService,
                                                          clock: FakeClock) -> None:
    device = SimUsbPrinter(usblp=True)  # the kernel's usblp driver holds the printer, as after plugging it in
    body = service.issue(sale("U-1")).body
    assert queue(service, usb_printer(settings, SimUsbBus(device)), clock).tick() == [{"job": 1, "state": "printed"}]
    assert not device.kernel_driver  # detached to print
    direct = SimPrinter()
    queue(service, EscposPrinter(lambda: SimTransport(direct)), clock).request(body["invoice_number"], copy=False)
    [slip], [same] = device.printer.slips, direct.slips
    assert slip.lines == same.lines and slip.lines[1] == "電子發票證明聯"
    assert slip.image.tobytes() == same.image.tobytes()
    found = codes(slip.image)
    assert (str(zxingcpp.BarcodeFormat.Code39), body["barcode"]) in found
    assert {body["qr_left"], body["qr_right"]} <= {text for _, text in found}
    assert device.printer.received.startswith(QUERY)  # the status was asked before the job, over the IN endpoint
    job = device.transfers[1:-1]  # between the two status queries: the job, in transfers of at most 4 KiB
    assert len(job) > 1 and max(job) == 4096 and sum(job) == len(device.printer.received) - 2 * len(QUERY)


def test_status_is_read_back_over_the_in_endpoint(settings: Settings) -> None:
    device = SimUsbPrinter()
    printer = usb_printer(settings, SimUsbBus(device))
    status = printer.status()
    assert status is not None and status.known and status.problem is None and not status.paper_near_end
    device.paper_near_end = True
    near = printer.status()
    assert near is not None and near.paper_near_end and near.problem is None
    for fault, code in (("paper_out", "printer.paper_out"), ("cover_open", "printer.cover_open")):
        setattr(device.printer, fault, True)
        with pytest.raises(PrintFailed) as stopped:
            printer.print_job(b"\x1b@not printed\n")
        assert stopped.value.code == code and not stopped.value.sent
        setattr(device.printer, fault, False)
    assert device.printer.text() == []


def test_a_printer_that_never_answers_has_status_unknown_and_prints(settings: Settings) -> None:
    device = SimUsbPrinter()
    device.answers_status = False
    printer = usb_printer(settings, SimUsbBus(device))
    status = printer.print_job(b"\x1b@still printed\n\x1dVA\x03")
    assert status is not None and not status.known and status.problem is None
    assert device.printer.slips[0].lines == ["still printed"]
    # over TCP the same silence means a printer that is not there (a network box in front of it): a failure
    assert not EscposPrinter(lambda: SimTransport(device.printer)).silence_is_unknown


def test_unplugged_mid_job_then_replugged_prints_once_more_as_a_copy(settings: Settings, service: InvoiceService,
                                                                     clock: FakeClock) -> None:
    device = SimUsbPrinter(usblp=True)
    bus = SimUsbBus(device)
    jobs = queue(service, usb_printer(settings, bus), clock)
    body = service.issue(sale("U-2")).body
    device.unplug_after(len(QUERY) + 40)  # the status query, then the first 40 bytes of the job (text lines)
    assert jobs.tick() == [{"job": 1, "state": "queued"}]
    [job] = jobs.jobs(body["invoice_number"])
    assert job["copy"] and "printer.write" in job["last_error"] and "unplugged" in job["last_error"]
    assert "OUT endpoint 0x02" in job["last_error"] and not device.plugged
    clock.advance(timedelta(seconds=10))
    assert jobs.tick() == [{"job": 1, "state": "queued"}]  # still unplugged: nothing sent, nothing printed
    assert "not on the USB bus" in jobs.jobs(body["invoice_number"])[0]["last_error"]
    device.replug()  # a new device address; usblp binds again and is detached again
    assert device.kernel_driver
    clock.advance(timedelta(seconds=30))
    assert jobs.tick() == [{"job": 1, "state": "printed"}]
    [slip] = device.printer.slips  # the cut-off original never reached the cutter
    assert slip.lines.count("電子發票證明聯補印") == 1 and "電子發票證明聯" not in slip.lines
    assert codes(slip.image).count((str(zxingcpp.BarcodeFormat.Code39), body["barcode"])) == 1
    assert service.store.read("SELECT print_status FROM invoices WHERE number = ?",
                              (body["invoice_number"],))[0][0] == "printed"


def test_a_busy_interface_is_a_clear_error(settings: Settings) -> None:
    device = SimUsbPrinter()
    device.held_elsewhere = True  # CUPS's usb backend, or another program, claimed the interface
    with pytest.raises(PrintFailed) as busy:
        usb_printer(settings, SimUsbBus(device)).print_job(b"x")
    assert busy.value.code == "printer.unreachable" and not busy.value.sent
    assert "USB printer 0483:5743 interface 0" in str(busy.value) and "Resource busy" in str(busy.value)
    device.held_elsewhere = False
    assert usb_printer(settings, SimUsbBus(device)).print_job(b"\x1b@ok\n") is not None


@pytest.mark.parametrize(("query", "named"), [
    ("?out_ep=0x01&in_ep=0x82", "no bulk OUT endpoint 0x01 (it has OUT 0x02, IN 0x81)"),  # python-escpos's defaults
    ("?in_ep=0x82", "no bulk IN endpoint 0x82 (it has OUT 0x02, IN 0x81)"),
    ("?interface=1", "has no interface 1 (it has 0)"),
])
def test_wrong_endpoints_or_interface_are_named(settings: Settings, query: str, named: str) -> None:
    device = SimUsbPrinter()
    with pytest.raises(PrintFailed) as wrong:
        usb_printer(settings, SimUsbBus(device), URL + query).print_job(b"x")
    assert named in str(wrong.value) and "0483:5743" in str(wrong.value)
    assert device.printer.received == b""


def test_explicit_right_endpoints_work(settings: Settings) -> None:
    device = SimUsbPrinter()
    url = URL + "?interface=0&out_ep=0x02&in_ep=0x81"
    usb_printer(settings, SimUsbBus(device), url).print_job(b"\x1b@ep\n\x1dVA\x03")
    assert device.printer.text() == ["ep"]


def test_two_identical_printers_are_told_apart_by_serial_number(settings: Settings) -> None:
    first, second = SimUsbPrinter(serial="00000000051C"), SimUsbPrinter(serial="00000000077A")
    bus = SimUsbBus(first, second)
    usb_printer(settings, bus, URL + "?serial=00000000077A").print_job(b"\x1b@second\n\x1dVA\x03")
    usb_printer(settings, bus, URL).print_job(b"\x1b@first found\n\x1dVA\x03")
    assert (first.printer.text(), second.printer.text()) == (["first found"], ["second"])
    with pytest.raises(PrintFailed) as missing:
        usb_printer(settings, bus, URL + "?serial=X1").print_job(b"x")
    assert "no printer with serial number X1; present: 00000000051C, 00000000077A" in str(missing.value)


def test_an_absent_printer_and_a_transport_opened_directly(settings: Settings, tmp_path: Path) -> None:
    bus = SimUsbBus()
    with pytest.raises(PrintFailed) as absent:
        usb_printer(settings, bus).status()
    assert "USB printer 0483:5743: not on the USB bus" in str(absent.value)
    device = bus.add(SimUsbPrinter())
    transport = open_transport(URL, 0.5, tmp_path / "cache", usb_backend=bus)
    transport.write(QUERY)
    assert transport.read(1, 0.5) + transport.read(2, 0.5) == b"\x12\x12\x12"
    assert transport.read(3, 0.05) == b""  # nothing more to say within the timeout
    device.unplug()
    with pytest.raises(OSError, match="IN endpoint 0x81 failed: unplugged"):
        transport.read(3, 0.05)
    transport.close()  # nothing to release on a device that has gone: no error


def test_without_a_simulator_the_real_libusb_is_asked(tmp_path: Path) -> None:
    """No backend given: pyusb's libusb 1.0 (Debian libusb-1.0-0); no such printer on this machine's bus."""
    with pytest.raises(TransportError, match=r"cannot open USB printer 0483:5743 serial NONE-HERE: "
                                             r"(not on the USB bus|libusb 1.0 is not installed)"):
        open_transport(URL + "?serial=NONE-HERE", 0.2, tmp_path / "cache")


def test_the_simulated_descriptors_are_the_published_ones(tmp_path: Path) -> None:
    import usb.core  # type: ignore[import-untyped]

    dev = usb.core.find(idVendor=0x0483, idProduct=0x5743, backend=SimUsbBus(SimUsbPrinter()))
    assert (dev.manufacturer, dev.product, dev.serial_number) == ("Xprinter ", "USB Printer P", "00000000051C")
    assert (dev.bcdUSB, dev.bDeviceClass, dev.bMaxPacketSize0, dev.bNumConfigurations) == (0x0200, 0, 64, 1)
    cfg = dev[0]
    assert (cfg.bConfigurationValue, cfg.bmAttributes, cfg.bMaxPower, cfg.wTotalLength) == (1, 0xC0, 0x10, 32)
    intf = cfg[(0, 0)]
    assert (intf.bInterfaceClass, intf.bInterfaceSubClass, intf.bInterfaceProtocol) == (7, 1, 2)
    assert [(e.bEndpointAddress, e.bmAttributes, e.wMaxPacketSize) for e in intf] == [(0x02, 2, 64), (0x81, 2, 64)]
    assert XPRINTER_XP_T58H.endpoints[0].address == 0x02


@pytest.mark.parametrize(("url", "field"), [
    ("usb://483:5743", "usb://VID:PID"), ("usb://0483-5743", "usb://VID:PID"),
    ("usb://0483:5743?in_ep=0x02", "in_ep"), ("usb://0483:5743?out_ep=0x81", "out_ep"),
    ("usb://0483:5743?interface=x", "interface"), ("usb://0483:5743?speed=1", "'speed'"),
])
def test_bad_usb_urls_name_the_part(settings: Settings, url: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        open_printer(settings, url)


def test_usb_url_parts() -> None:
    address = parse_usb_url("usb://04B8:0E28?interface=0&in_ep=0x82&out_ep=1&serial=X9")
    assert (address.vendor, address.product, address.interface, address.in_ep, address.out_ep, address.serial) == (
        0x04B8, 0x0E28, 0, 0x82, 0x01, "X9")
    assert address.name == "USB printer 04b8:0e28 serial X9"


IMPORT_PROBE = """
import json, logging, os, sys, tempfile
from pathlib import Path
made = []
sys.addaudithook(lambda event, args: made.append(args[0]) if event == "tempfile.mkdtemp" else None)
from drivers.transport import escpos_usb_class
cache = Path(sys.argv[1])
usb = escpos_usb_class(cache)
print(json.dumps({"name": usb.__name__, "handlers": len(logging.getLogger().handlers), "tempdir": tempfile.tempdir,
                  "env": os.environ.get("ESCPOS_CAPABILITIES_PICKLE_DIR"), "made": made,
                  "default": tempfile.gettempdir(), "pickles": [p.name for p in cache.glob("*.pickle")]}))
"""


def test_python_escpos_is_imported_without_changing_the_process(tmp_path: Path) -> None:
    """In a fresh interpreter: no root handler left, the environment as it was, the pickle in the cache dir, and
    no temporary directory redirected (another thread's temporary files would have followed)."""
    env = {k: v for k, v in os.environ.items() if k != "ESCPOS_CAPABILITIES_PICKLE_DIR"}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run([sys.executable, "-c", IMPORT_PROBE, str(tmp_path / "cache")], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    seen = json.loads(run.stdout)
    for made in seen["made"]:
        Path(made).rmdir()  # escpos 3.1's mkdtemp() default, made in the system temp dir, left empty
    assert seen["name"] == "Usb" and seen["handlers"] == 0 and seen["env"] is None
    assert seen["tempdir"] == seen["default"] or seen["tempdir"] is None
    assert seen["made"] and all(Path(m).parent == Path(seen["default"]) for m in seen["made"])
    assert seen["pickles"]
