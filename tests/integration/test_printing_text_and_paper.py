"""Issue #15 items 7 and 8 on the virtual printer: text a code page cannot hold never fails a proof, and on 80 mm
paper the proof keeps its 5.7 cm layout, centred (measured in dots on the printed raster)."""

from __future__ import annotations

import random
from typing import Any

import pytest
import zxingcpp
from conftest import KEY, SELLER, START, hold, sale
from PIL import Image, ImageOps

from daemon.printing import PrintPolicy, PrintQueue, ProofBuilder
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.wiring.printer import DevicePrinter, slip_encoder
from drivers.printer.device import EscposPrinter
from drivers.printer.encode import PrinterProfile
from drivers.printer.fonts import raster_font
from hw_sim.clock import FakeClock
from hw_sim.printer import SimPrinter, SimTransport
from turnkey.period import Period

CAFE = {"description": "Café 拿鐵", "quantity": 1, "unit_price": 65, "amount": 65}


def big5_service(store: Store, clock: FakeClock) -> InvoiceService:
    """QR encoding flag 0 (Big5) configured, as a shop whose scanners expect Big5 would."""
    hold(store, Period.of(START), "AB", 1000, 1049)
    return InvoiceService(store, clock, random.Random(1), SELLER, KEY, "0")


def queue(service: InvoiceService, sim: SimPrinter, clock: FakeClock, profile: PrinterProfile,
          qr_encoding: str = "0") -> PrintQueue:
    policy = PrintPolicy(details=True)
    builder = ProofBuilder(SELLER, KEY, qr_encoding, slip_encoder(profile), policy)
    return PrintQueue(service.store, builder, DevicePrinter(EscposPrinter(lambda: SimTransport(sim))), clock, policy)


def qr_bytes(image: Any) -> list[bytes]:
    """The raw bytes of the two QR codes of a slip, left first (no text guessing by the reader)."""
    found = [r for r in zxingcpp.read_barcodes(image.convert("L")) if r.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(found) == 2, [r.text for r in found]
    return [r.bytes for r in sorted(found, key=lambda r: r.position.top_left.x)]


def ink(image: Image.Image) -> tuple[int, int]:
    """(first, last + 1) column with a black dot: the printed width of a slip, in dots."""
    box = ImageOps.invert(image.convert("L")).getbbox()
    assert box is not None
    return box[0], box[2]


# --- #15.7: text a code page cannot hold ------------------------------------------------------------------------

@pytest.mark.parametrize("font", [True, False], ids=["drawn", "replaced"])
def test_an_item_outside_big5_prints_with_a_utf8_qr_and_a_note(store: Store, clock: FakeClock, font: bool) -> None:
    service = big5_service(store, clock)
    body = service.issue(sale("F-1", items=[CAFE])).body
    assert body["qr_left"].split(":")[4] == "1" and body["qr_left"].endswith(":Café 拿鐵:1:65")
    sim = SimPrinter()
    jobs = queue(service, sim, clock, PrinterProfile(font=raster_font() if font else None))
    assert jobs.tick() == [{"job": 1, "state": "printed"}]
    assert jobs.request(body["invoice_number"]) == "printed"  # every reprint too
    for proof in (sim.slips[0], sim.slips[2]):
        assert qr_bytes(proof.image) == [body["qr_left"].encode("utf-8"), body["qr_right"].encode("utf-8")]
    details = sim.slips[1].lines
    notes = [job["note"] for job in jobs.jobs(body["invoice_number"])]
    assert all("QR items in UTF-8 (encoding flag 1), not Big5: cp950 cannot hold é" in n for n in notes)
    if font:  # the whole line drawn as an image: no printer text for it at all
        assert not any("Caf" in line for line in details)
        assert all("(cp950) drawn as an image: é" in n for n in notes)
    else:  # replaced visibly
        assert "Caf？ 拿鐵" in details
        assert all("(cp950) printed as ？: é" in n for n in notes)


def test_a_big5_invoice_keeps_its_big5_qr_and_gets_no_note(store: Store, clock: FakeClock) -> None:
    service = big5_service(store, clock)
    body = service.issue(sale("F-2")).body
    sim = SimPrinter()
    jobs = queue(service, sim, clock, PrinterProfile(font=raster_font()))
    assert jobs.tick()[0]["state"] == "printed"
    assert body["qr_left"].split(":")[4] == "0"
    assert qr_bytes(sim.slips[0].image) == [body["qr_left"].encode("cp950"), body["qr_right"].encode("cp950")]
    assert [job["note"] for job in jobs.jobs(body["invoice_number"])] == [None]
    assert "拿鐵" in sim.slips[1].lines  # printed as Big5 text, not drawn


# --- #15.8: the 5.7 cm proof on 80 mm paper ----------------------------------------------------------------------

@pytest.mark.parametrize(("paper", "dots", "text"), [(80, 576, "cp950"), (80, 576, "raster"), (58, 384, "cp950")])
def test_the_proof_keeps_its_57_mm_layout_centred_and_details_use_the_paper(
        service: InvoiceService, clock: FakeClock, paper: int, dots: int, text: str) -> None:
    body = service.issue(sale("W-1", buyer={"ban": "53538851", "name": "買方公司"})).body  # business: + details
    sim = SimPrinter(dots)
    profile = PrinterProfile(text=text, paper=paper, font=raster_font() if text == "raster" else None)
    jobs = queue(service, sim, clock, profile, qr_encoding="1")
    assert jobs.tick()[0]["state"] == "printed"
    proof, details = sim.slips[0].image, sim.slips[1].image
    assert proof.width == details.width == dots
    left, right = ink(proof)
    assert 360 <= right - left <= 384  # 45-48 mm: the 5.7 cm roll's printable width, whatever the roll
    assert abs(left - (dots - right)) <= 12  # centred
    assert qr_bytes(proof) == [body["qr_left"].encode("utf-8"), body["qr_right"].encode("utf-8")]
    detail_left, detail_right = ink(details)
    assert detail_right - detail_left >= dots - 24  # the detail slip's rules run across the whole paper
    assert detail_left < 12
