"""``einvd printer test``: the self-test slip on the virtual printer (PNG, read back with zxing-cpp and the
interpreter's text) and on a configured TCP printer (status read back, paper out); ``invoice issue --open-drawer``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from daemon import __main__ as cli
from daemon.config import EXIT_CONFIG
from hw_sim.printer import SimPrinter, TcpPrinterServer
from turnkey.period import TAIPEI, Period
from turnkey.selftest import ASCII, COMMON, RARE_ETEN, RARE_LEVEL2

CONFIG = ('[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市"\n\n[store]\npath = "einvd.sqlite3"\n\n'
          '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n\n[printer]\n')


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, Any]:
    code = cli.main(["--config", str(config), *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else out


def configure(tmp_path: Path, printer: str) -> Path:
    path = tmp_path / "einvd.toml"
    path.write_text(CONFIG + printer + "\n", encoding="utf-8")
    return path


def test_selftest_png_on_the_virtual_printer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = configure(tmp_path, 'model = "XP-58IIH"')
    code, answer = run(capsys, config, "printer", "test", "--png", str(tmp_path / "test.png"))
    assert code == 0 and answer["status_before"] == answer["status_after"] == "ready, paper ok"
    assert answer["profile"][0] == "Model: Xprinter XP-58IIH (xp-58iih)" and "Profile: gb18030, layout 58 mm" in \
        answer["profile"]
    found = zxingcpp.read_barcodes(Image.open(answer["png"]).convert("L"))
    code39 = [r.text for r in found if r.format == zxingcpp.BarcodeFormat.Code39]
    qrs = [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(code39) == 1 and code39[0].endswith("AA000000000000") and len(qrs) == 2
    assert any(q.startswith("AA00000000") for q in qrs) and any(q.startswith("**") for q in qrs)


def test_selftest_text_and_ruler_through_the_interpreter(tmp_path: Path) -> None:
    from daemon import config as conf
    from daemon.printer_test import printer_test
    from daemon.wiring.printer import open_printer

    settings = conf.load(configure(tmp_path, 'model = "TM-m30III"\nurl = "sim:"'))
    answer = printer_test(settings, tmp_path / "slip.png", datetime(2026, 12, 3, 12, tzinfo=TAIPEI))
    assert answer["bytes"] > 0 and Path(answer["png"]).is_file()
    sim = open_printer(settings, "sim:").sim
    assert sim is not None
    from daemon.wiring.printer import selftest_bytes, selftest_lines
    from turnkey.selftest import selftest_doc

    profile, ruler = selftest_lines(settings)
    sim.interpreter.feed(selftest_bytes(settings, selftest_doc(profile, ["Status: ready"], ruler, ())))
    text = "".join(sim.interpreter.slips[0].lines).replace(" ", "")
    for wanted in (ASCII, COMMON, RARE_LEVEL2, RARE_ETEN, "57 mm", "Big5: 電子發票 統一編號",
                   "Ruler above: 57 mm at 203 dpi", "Status: ready"):
        assert wanted.replace(" ", "") in text, wanted


def test_selftest_on_a_tcp_printer_reads_its_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = SimPrinter()
    with TcpPrinterServer(sim) as server:
        config = configure(tmp_path, f'url = "{server.url}"')
        code, answer = run(capsys, config, "printer", "test")
        assert code == 0 and answer["printer"] == server.url and answer["status_before"] == "ready, paper ok"
        assert len(sim.slips) == 1 and "印表機測試 PRINTER TEST" in "".join(sim.slips[0].lines)
        sim.paper_out = True
        code, answer = run(capsys, config, "printer", "test")
    assert code == 1 and answer["status_before"].startswith("printer.paper_out")
    assert answer["error"]["code"] == "printer.paper_out" and len(sim.slips) == 1


def test_selftest_needs_a_printer_or_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(configure(tmp_path, "")), "printer", "test"]) == EXIT_CONFIG
    assert "printer.url is empty" in capsys.readouterr().err
    assert cli.main(["--config", str(configure(tmp_path, 'model = "TM-T99"')), "printer", "test", "--png",
                     str(tmp_path / "x.png")]) == EXIT_CONFIG
    assert "printer.model 'TM-T99'" in capsys.readouterr().err


def test_issue_open_drawer_kicks_after_the_proof(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = SimPrinter()
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps({"order_id": "DRAWER-1", "items": [{"description": "拿鐵", "quantity": 1,
                                                                   "unit_price": 65}]}), encoding="utf-8")
    with TcpPrinterServer(sim) as server:
        config = configure(tmp_path, f'url = "{server.url}"\nmodel = "TM-T88VI"')
        period = Period.of(datetime.now(TAIPEI)).code
        run(capsys, config, "tracks", "add", "--period", period, "--track", "AB", "--begin", "00001000", "--end",
            "00001049")
        code, issued = run(capsys, config, "invoice", "issue", str(doc), "--open-drawer")
        assert code == 0 and issued["print"]["status"] == "printed"
        assert sim.interpreter.drawer_kicks == [(1, 0, 50, 50)]
        code, again = run(capsys, config, "invoice", "issue", str(doc))  # without the flag: another document
    assert code == 1 and again["errors"][0]["code"] == "order_id.conflict"
