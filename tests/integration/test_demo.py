"""`einvd demo --once` end to end: the outcome is read from the database and the simulated Turnkey tree (and
the PNGs of the virtual printer), never from the words the demo prints."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image, ImageChops, ImageOps

from daemon import __main__ as cli
from daemon import wiring
from daemon.config import Settings, load
from daemon.demo import SCANNED_CARRIER, SCANNER_GARBLING, VOID_REASON
from daemon.outbox import InvoiceColumns
from hw_sim.scanner import garble
from turnkey.carrier import MOBILE_BARCODE, normalise_scan
from turnkey.mig import parse
from turnkey.model import Allowance, Invoice, Void


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, sqlite3.Connection]]:
    root = tmp_path_factory.mktemp("demo") / "day"
    assert cli.main(["demo", "--dir", str(root), "--once"]) == 0
    conn = sqlite3.connect(root / "einvd.sqlite3")
    conn.row_factory = sqlite3.Row
    yield root, conn
    conn.close()


def rows(conn: sqlite3.Connection, sql: str, *params: object) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


def invoices(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """The demo's invoices by what was sold (their order id ends with the sale's label)."""
    return {r["order_id"].rsplit("-", 1)[1]: {**dict(r), "doc": json.loads(r["document"])}
            for r in rows(conn, "SELECT * FROM invoices")}


def messages(root: Path, code: str) -> list[Any]:
    files = sorted((root / "turnkey").glob(f"UpCast/*/{code}/BAK/*/*/*.xml"))
    return [parse(path.read_bytes()) for path in files]


def test_every_invoice_is_confirmed_and_nothing_waits(demo: tuple[Path, sqlite3.Connection]) -> None:
    _, conn = demo
    sold = invoices(conn)
    assert set(sold) == {"latte", "carrier", "donation", "business", "mixed"}
    assert {r["status"] for r in sold.values()} == {"confirmed"}
    outbox = rows(conn, "SELECT message_type, state, outcome FROM outbox ORDER BY id")
    assert sorted(r["message_type"] for r in outbox) == ["F0401"] * 5 + ["F0501", "G0401"]
    assert {(r["state"], r["outcome"]) for r in outbox} == {("DONE", "accepted_local")}
    assert rows(conn, "SELECT count(*) FROM outbox WHERE state IN ('READY', 'LOCKED', 'FAILED')")[0][0] == 0
    results = rows(conn, "SELECT kind, outcome FROM results_seen")
    assert results and {(r["kind"], r["outcome"]) for r in results} == {("SummaryResult", "applied"),
                                                                   ("ProcessResult", "applied")}
    assert rows(conn, "SELECT count(*) FROM alerts WHERE cleared_at IS NULL")[0][0] == 0


def test_the_scanned_carrier_is_the_normalised_scan(demo: tuple[Path, sqlite3.Connection]) -> None:
    _, conn = demo
    garbled = garble(SCANNED_CARRIER, SCANNER_GARBLING)
    assert garbled != SCANNED_CARRIER and normalise_scan(garbled).value == SCANNED_CARRIER
    carrier = invoices(conn)["carrier"]
    assert carrier["doc"]["carrier"] == {"type": MOBILE_BARCODE, "id": SCANNED_CARRIER}
    assert carrier["print_requested"] == 0


def test_f0401_files_in_bak_hold_the_sales(demo: tuple[Path, sqlite3.Connection]) -> None:
    root, conn = demo
    sold = invoices(conn)
    found = {m.number: m for m in messages(root, "F0401")}
    assert all(isinstance(m, Invoice) for m in found.values())
    assert set(found) == {r["number"] for r in sold.values()}
    for label, row in sold.items():
        message = found[row["number"]]
        assert message.random_number == row["random_number"] and message.amounts.total == row["total"], label
    carrier = found[sold["carrier"]["number"]]
    assert (carrier.carrier_type, carrier.carrier_id1, carrier.print_mark) == (MOBILE_BARCODE, SCANNED_CARRIER, False)
    assert found[sold["donation"]["number"]].npoban == "168001"
    assert found[sold["business"]["number"]].buyer.identifier == "53538851"
    assert found[sold["latte"]["number"]].print_mark is True
    assert not list((root / "turnkey").glob("UpCast/*/*/ERR/**/*.xml")), "Turnkey refused a file"


def test_the_void_reached_turnkey_and_its_lifecycle_is_recorded(demo: tuple[Path, sqlite3.Connection]) -> None:
    root, conn = demo
    mixed = invoices(conn)["mixed"]
    assert mixed["lifecycle"] == "voided" and mixed["lifecycle_at"]
    actions = rows(conn, "SELECT a.kind, a.reason, o.message_type, o.state FROM invoice_actions a "
                   "JOIN outbox o ON o.id = a.outbox_id WHERE a.invoice_id = ?", mixed["id"])
    assert [tuple(a) for a in actions] == [("void", VOID_REASON, "F0501", "DONE")]
    assert "voided" in [e["kind"] for e in rows(conn, "SELECT kind FROM events WHERE entity_id = ?", mixed["number"])]
    (void,) = messages(root, "F0501")
    assert isinstance(void, Void)
    assert (void.number, void.reason, void.buyer_id) == (mixed["number"], VOID_REASON, "0000000000")


def test_the_allowance_row_and_its_g0401(demo: tuple[Path, sqlite3.Connection]) -> None:
    root, conn = demo
    business = invoices(conn)["business"]
    (allowance,) = rows(conn, "SELECT * FROM allowances")
    assert (allowance["invoice_id"], allowance["state"]) == (business["id"], "live")
    (line,) = rows(conn, "SELECT * FROM allowance_lines WHERE allowance_id = ?", allowance["id"])
    assert (line["original_sequence"], line["quantity"], line["amount"], line["tax"]) == ("001", "2", "200", 10)
    (message,) = messages(root, "G0401")
    assert isinstance(message, Allowance)
    assert (message.number, message.tax_amount, message.buyer.identifier) == (allowance["number"], 10, "53538851")
    assert [(i.original_invoice_number, i.quantity) for i in message.items] == [(business["number"], 2)]


def _render(settings: Settings, row: dict[str, Any], copy: bool) -> tuple[Image.Image, list[str]]:
    """The first slip of ``row`` as the production encoder prints it on a fresh virtual printer."""
    opened = wiring.open_printer(settings, "sim:")
    printer, sim = opened.printer, opened.sim
    assert sim is not None
    stored = InvoiceColumns(row["document"], row["number"], row["random_number"], row["issued_at"])
    printer.print_job(wiring.proof_builder(settings).job_bytes(stored, copy))
    return sim.slips[0].image, sim.slips[0].lines


def same(png: Path, image: Image.Image) -> bool:
    return ImageChops.difference(Image.open(png).convert("L"), image.convert("L")).getbbox() is None


def test_the_reprint_is_recorded_and_its_png_says_copy(demo: tuple[Path, sqlite3.Connection]) -> None:
    root, conn = demo
    latte = invoices(conn)["latte"]
    assert [a["kind"] for a in rows(conn, "SELECT kind FROM invoice_actions WHERE invoice_id = ?", latte["id"])] == [
        "reprint"]
    jobs = rows(conn, "SELECT kind, copy, state FROM print_jobs WHERE invoice_id = ? ORDER BY id", latte["id"])
    assert [tuple(j) for j in jobs] == [("proof", 0, "printed"), ("proof", 1, "printed")]
    number = latte["number"]
    pngs = sorted((root / "proofs").glob(f"*-{number[:2]}-{number[2:]}.png"))
    assert len(pngs) == 2
    settings = load(root / "einvd.toml")
    original, original_lines = _render(settings, latte, copy=False)
    copy, copy_lines = _render(settings, latte, copy=True)
    assert (original_lines[1], copy_lines[1]) == ("電子發票證明聯", "電子發票證明聯補印")
    assert same(pngs[0], original) and same(pngs[1], copy) and not same(pngs[1], original)


def test_every_slip_owed_became_a_png(demo: tuple[Path, sqlite3.Connection]) -> None:
    root, conn = demo
    assert {tuple(r) for r in rows(conn, "SELECT DISTINCT state FROM print_jobs")} == {("printed",)}
    kinds = sorted((r["kind"], r["copy"]) for r in rows(conn, "SELECT kind, copy FROM print_jobs"))
    # consumer proofs (latte, mixed, business with its detail slip), information slips (carrier, donation), 補印
    assert kinds == [("info", 0), ("info", 0), ("proof", 0), ("proof", 0), ("proof", 0), ("proof", 1)]
    assert len(list((root / "proofs").glob("*.png"))) == 7


def tesseract_chi_tra() -> str:
    """The tesseract binary, or skip: the OCR check needs Debian's tesseract-ocr and tesseract-ocr-chi-tra."""
    found = shutil.which("tesseract")
    if found is None:
        pytest.skip("tesseract not installed (Debian tesseract-ocr): the proofs' Chinese cannot be read back")
    langs = subprocess.run([found, "--list-langs"], capture_output=True, text=True, check=False).stdout.split()
    if "chi_tra" not in langs:
        pytest.skip("tesseract has no Traditional Chinese data (Debian tesseract-ocr-chi-tra)")
    return found


def ocr_lines(tesseract: str, png: Path, work: Path) -> list[str]:
    """The lines tesseract reads on ``png`` (a white margin added, as on paper), spaces removed."""
    framed = work / f"ocr-{png.name}"
    ImageOps.expand(Image.open(png).convert("L"), 20, fill=255).save(framed)
    out = subprocess.run([tesseract, str(framed), "-", "-l", "chi_tra", "--psm", "6"], capture_output=True,
                         text=True, check=True).stdout
    return ["".join(line.split()) for line in out.splitlines() if line.strip()]


def near(line: str, text: str) -> bool:
    """``line`` is ``text`` with at most one character read wrong (same length, one position differs)."""
    return len(line) == len(text) and sum(a != b for a, b in zip(line, text, strict=True)) <= 1


def test_the_demos_pngs_are_legible_chinese(demo: tuple[Path, sqlite3.Connection], tmp_path: Path) -> None:
    """Issue #16: read back with an OCR engine, not by our own decoder: the heading of the proofs (each PNG with
    the two QR codes) and the item names of the detail and information slips."""
    tesseract = tesseract_chi_tra()
    root, conn = demo
    pngs = sorted((root / "proofs").glob("*.png"))
    read = {png: ocr_lines(tesseract, png, tmp_path) for png in pngs}
    proofs = [png for png in pngs if len(zxingcpp.read_barcodes(Image.open(png).convert("L"),
                                                                formats=zxingcpp.BarcodeFormat.QRCode)) == 2]
    # the heading, alone on its line: OCR of a thermal bitmap font misreads a glyph now and then (章 for 電, seen
    # here), so a line at most one character off counts; empty boxes (no CJK font) read as nothing like it
    originals = [png for png in proofs if any(near(line, "電子發票證明聯") for line in read[png])]
    assert len(originals) >= 3, {png.name: read[png][:4] for png in proofs}  # latte, mixed, business
    assert any("電子發票證明聯" in read[png] for png in proofs), {png.name: read[png][:4] for png in proofs}
    items = {line["description"] for inv in invoices(conn).values() for line in inv["doc"]["items"]}
    seen = {item for item in items for lines in read.values() if any(item in line for line in lines)}
    assert len(seen) >= 2, (items, read)
