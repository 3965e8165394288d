"""``einvd proof preview``, printing after ``invoice issue``, the [printer] settings and the interpreter's edges."""

from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from daemon import __main__ as cli
from daemon.config import EXIT_CONFIG, ConfigError, load
from hw_sim.escpos_decode import Interpreter, UnknownCommand
from hw_sim.printer import SimPrinter
from turnkey.period import TAIPEI, Period

DOC = {"order_id": "CLI-1", "buyer": {"ban": "53538851", "name": "買方公司"},
       "items": [{"description": "會議餐盒", "quantity": 10, "unit_price": 100}]}


def setup(tmp: Path, printer: str = "") -> Path:
    config = tmp / "einvd.toml"
    config.write_text(
        '[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市"\n\n[store]\npath = "einvd.sqlite3"\n\n'
        f'[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n\n[printer]\n{printer}\n', encoding="utf-8")
    (tmp / "doc.json").write_text(json.dumps(DOC, ensure_ascii=False), encoding="utf-8")
    return config


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = cli.main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else out


def codes(path: Path) -> list[str]:
    return sorted(r.text for r in zxingcpp.read_barcodes(Image.open(path).convert("L")))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_preview_of_a_document_and_of_an_issued_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(setup(tmp_path, f'url = "tcp://127.0.0.1:{closed_port()}"\ntimeout = 0.5'))
    code, out = run(capsys, "--config", config, "proof", "preview", str(tmp_path / "doc.json"), "--png",
                    str(tmp_path / "doc.png"), "--number", "AB12345678", "--random-number", "1234")
    assert code == 0 and out["slips"] == ["proof", "details"] and out["invoice_number"] == "AB12345678"
    found = codes(tmp_path / "doc.png")
    assert "**" in found and any(text.startswith("AB123456781") for text in found)
    assert any(text.endswith("AB123456781234") and len(text) == 19 for text in found)

    period = Period.of(datetime.now(TAIPEI)).code
    assert run(capsys, "--config", config, "tracks", "add", "--period", period, "--track", "AB", "--begin",
               "00001000", "--end", "00001049")[0] == 0
    code, issued = run(capsys, "--config", config, "invoice", "issue", str(tmp_path / "doc.json"))
    assert code == 0 and issued["print"] == {"requested": True, "status": "queued"}  # printer down: sale stands
    code, out = run(capsys, "--config", config, "proof", "preview", issued["invoice_number"], "--png",
                    str(tmp_path / "copy.png"), "--copy")
    assert code == 0 and issued["barcode"] in codes(tmp_path / "copy.png")
    code, out = run(capsys, "--config", config, "proof", "preview", "ZZ00000000", "--png", str(tmp_path / "x.png"))
    assert code == 1 and out["errors"][0]["code"] == "invoice.not_found"


def test_issue_prints_through_the_virtual_printer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(setup(tmp_path, 'url = "sim:paper"\ndetails = true'))
    period = Period.of(datetime.now(TAIPEI)).code
    run(capsys, "--config", config, "tracks", "add", "--period", period, "--track", "AB", "--begin", "00001000",
        "--end", "00001049")
    code, issued = run(capsys, "--config", config, "invoice", "issue", str(tmp_path / "doc.json"))
    assert code == 0 and issued["print"]["status"] == "printed"
    pngs = sorted((tmp_path / "paper").glob("*.png"))
    assert [p.name for p in pngs] == ["0001-AB-00001000.png", "0002-AB-00001000.png"]
    assert issued["barcode"] in codes(pngs[0])


@pytest.mark.parametrize(("line", "message"), [
    ('url = "lpt:1"', "printer.url"), ('profile = "big5"', "printer.profile"), ("paper = 76", "printer.paper"),
    ("timeout = 0.0", "printer.timeout"), ("max_attempts = 0", "printer.max_attempts"),
    ('timeout = "5"', "printer.timeout must be a float"), ("colour = true", "unknown configuration key"),
])
def test_printer_settings_are_checked(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(setup(tmp_path, line))


def test_printer_settings_load_and_bad_config_exits_78(tmp_path: Path) -> None:
    settings = load(setup(tmp_path, 'url = "usb://04b8:0202"\nprofile = "raster"\nfont = "f.ttf"\npaper = 80'))
    assert settings.printer.url == "usb://04b8:0202" and settings.printer.font == tmp_path / "f.ttf"
    assert settings.printer.paper == 80
    assert load(setup(tmp_path, "timeout = 5")).printer.timeout == 5, "a whole number is fine for a float setting"
    config = setup(tmp_path, 'profile = "big5"')
    assert cli.main(["--config", str(config), "proof", "preview", "doc.json", "--png", "x.png"]) == EXIT_CONFIG


def test_interpreter_takes_bytes_in_any_pieces_and_refuses_unknown_commands() -> None:
    data = b"\x1b@\x1ba\x01\x1c&" + "證明".encode("cp950") + b"\x1c.AB\n\x10\x04\x01\x1dV\x41\x03"
    whole, pieces = Interpreter(), Interpreter()
    assert whole.feed(data) == b"\x12"
    replies = b"".join(pieces.feed(data[i:i + 1]) for i in range(len(data)))
    assert replies == b"\x12" and pieces.slips[0].lines == whole.slips[0].lines == ["證明AB"]
    assert pieces.kanji_segments == ["證明".encode("cp950")]
    for bad in (b"\x1b\x7f", b"\x1d\x7f", b"\x1c\x7f", b"\x01", b"\x10\x05\x01", b"\x1dV\x07",
                b"\x1dk\x49\x01A", b"\x1dk\x45\x01~", b"\x1dv1\x00\x01\x00\x01\x00\x00"):
        with pytest.raises(UnknownCommand):
            Interpreter().feed(bad)


def test_interpreter_wraps_feeds_and_prints_function_a_barcodes() -> None:
    printer = Interpreter()
    printer.feed(b"\x1b!\x30" + b"W" * 20 + b"\n\x1b3\x40\x1bd\x02\x1bJ\x10\x1d!\x00\x1bE\x01B\x1bE\x00\x1b2\r\t\n")
    printer.feed(b"\x1dh\x20\x1dw\x02\x1dk\x04*1A*\x00\x1cC\x00\x1c!\x00\x1dV\x00")
    assert printer.slips[0].lines == ["W" * 16, "W" * 4, "B"]
    found = zxingcpp.read_barcodes(printer.slips[0].image.convert("L"))
    assert [r.text for r in found] == ["1A"]


def test_stopped_printer_still_answers_status(tmp_path: Path) -> None:
    sim = SimPrinter(out_dir=tmp_path)
    sim.cover_open = True
    assert sim.feed(b"ABC\x10\x04\x01\x10\x04\x02xyz\x10\x04\x04\x10\x04\x03") == b"\x1a\x16\x12\x12"
    assert sim.dropped == 6 and sim.received == b""
    sim.cover_open = False
    sim.feed(b"no cut yet\n")
    assert sim.save_png(tmp_path / "all.png").is_file() and sim.saved == []


def test_python_escpos_is_imported_without_side_effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging
    import sys

    from drivers.transport import escpos_usb_class

    monkeypatch.setenv("ESCPOS_CAPABILITIES_PICKLE_DIR", str(tmp_path))
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as in a process that has not configured logging yet
    level, fresh = root.level, "escpos.capabilities" not in sys.modules
    usb = escpos_usb_class(tmp_path / "cache")
    assert usb.__name__ == "Usb" and root.handlers == [] and root.level == level
    if fresh:  # the first import in this process wrote its pickle here, not into the system temp dir
        assert list(tmp_path.glob("*.capabilities.pickle"))
