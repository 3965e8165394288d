"""Printer models as data (drivers/printer/profiles.toml), the drawer kick bytes, ``[printer] model`` in the
configuration and the ``open_drawer`` field of the invoice document."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon import config
from daemon.wiring.printer import GENERIC_KICK, printer_model, printer_profile, printer_settings
from drivers.printer import profiles
from drivers.printer.profiles import BadProfile, UnknownModel, drawer_kick, find_model, parse_models
from turnkey.errors import InvoiceInvalid
from turnkey.validate import parse_document

LISTED = {"tm-t82iii": ("Epson TM-T82III", "cp950", 80, 512), "tm-t88vi": ("Epson TM-T88VI", "cp950", 80, 512),
          "tm-m30iii": ("Epson TM-m30III", "cp950", 80, 576), "xp-58iih": ("Xprinter XP-58IIH", "gb18030", 58, 384),
          "xp-80c": ("Xprinter XP-80C", "gb18030", 80, 576), "mc-print3": ("Star mC-Print3", "raster", 80, 576)}

TABLE = """
[one]
name = "Vendor One"
text = "cp950"
code_page = 0
paper = 58
dpi = 203
dots = 384
code39 = true
qr = false
cutter = "none"
drawer_pin = 5
pulse_on = 25
pulse_off = 250
verified = false
source = "a test"
"""


def test_the_issue_s_six_models_are_shipped_with_their_sources() -> None:
    shipped = profiles.models()
    for key, (name, text, paper, dots) in LISTED.items():
        model = shipped[key]
        assert (model.name, model.text, model.paper, model.dots) == (name, text, paper, dots)
        assert model.source and model.drawer_kick() == b"\x1bp\x00\x32\x32"
        assert not model.capabilities  # none of the six is in python-escpos 3.1's database


def test_models_named_after_python_escpos_profiles_take_its_values() -> None:
    database = profiles.escpos_capabilities()
    if not database:
        pytest.skip("python-escpos is not installed: its capabilities database is read from the package")
    tm_t88v = profiles.models()["tm-t88v"]
    media = database["TM-T88V"]["media"]
    assert (tm_t88v.dpi, tm_t88v.dots) == (media["dpi"], media["width"]["pixels"]) == (180, 512)
    assert tm_t88v.qr and tm_t88v.code39 and tm_t88v.cutter == "partial"
    fake = {"X": {"media": {"dpi": 203, "width": {"pixels": 384}}, "features": {"paperFullCut": True}}}
    table = TABLE.replace('dpi = 203\ndots = 384\ncode39 = true\nqr = false\ncutter = "none"\n', 'capabilities = "X"\n')
    model = parse_models(table, fake)["one"]
    assert (model.dots, model.code39, model.qr, model.cutter) == (384, False, False, "full")
    with pytest.raises(BadProfile, match="no profile 'Y'"):
        parse_models(table.replace('"X"', '"Y"'), fake)
    with pytest.raises(BadProfile, match="gives no dpi"):
        parse_models(table, {"X": {"media": {"dpi": "Unknown", "width": {"pixels": "Unknown"}}}})
    with pytest.raises(BadProfile, match="takes dots from python-escpos"):
        parse_models(table + "dots = 1\n", fake)


def test_find_model_by_key_name_or_name_without_the_maker() -> None:
    for spelling in ("TM-T88VI", "Epson TM-T88VI", "tm t88vi", "tm-t88vi"):
        assert find_model(spelling).key == "tm-t88vi"
    assert find_model("mC-Print3").key == "mc-print3"
    with pytest.raises(UnknownModel, match=r"TM-T99.*tm-m30iii"):
        find_model("TM-T99")


def test_drawer_kick_bytes_and_a_pin_5_model() -> None:
    model = parse_models(TABLE)["one"]
    assert model.drawer_kick() == drawer_kick(5, 25, 250) == b"\x1bp\x01\x19\xfa"
    assert "drawer: pin 5, 50 ms" in " ".join(model.lines())
    assert parse_models(TABLE.replace("drawer_pin = 5", "drawer_pin = 0"))["one"].drawer_kick() == b""
    for bad in ((3, 50, 50), (2, 0, 50), (2, 50, 256)):
        with pytest.raises(ValueError):
            drawer_kick(*bad)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('text = "cp950"', 'text = "big5"', "text must be"), ('cutter = "none"', 'cutter = "x"', "cutter must be"),
    ("paper = 58", "paper = 57", "paper must be"), ("drawer_pin = 5", "drawer_pin = 3", "drawer_pin must be"),
    ('source = "a test"', "", "lacks source"), ("verified = false", 'verified = false\ncolour = "red"', "unexpected"),
])
def test_bad_tables_name_the_model_and_the_key(old: str, new: str, message: str) -> None:
    with pytest.raises(BadProfile, match=rf"'one'.*{message}"):
        parse_models(TABLE.replace(old, new))


def test_a_model_must_be_a_table() -> None:
    with pytest.raises(BadProfile, match="must be a table"):
        parse_models('one = "x"')


def load(tmp_path: Path, text: str) -> config.Settings:
    path = tmp_path / "einvd.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path)


def test_the_model_fills_in_what_the_file_left_out(tmp_path: Path) -> None:
    plain = load(tmp_path, "")
    assert printer_model(plain) is None and printer_settings(plain) == plain.printer
    xprinter = printer_settings(load(tmp_path, '[printer]\nmodel = "XP-80C"\n'))
    assert (xprinter.profile, xprinter.paper) == ("gb18030", 80)
    own = printer_settings(load(tmp_path, '[printer]\nmodel = "XP-80C"\nprofile = "cp950"\npaper = 58\n'))
    assert (own.profile, own.paper) == ("cp950", 58)  # a Taiwan firmware on a mainland model: the file wins
    star = load(tmp_path, '[printer]\nmodel = "mC-Print3"\n')
    assert printer_settings(star).profile == "raster" and printer_profile(star).text == "raster"
    epson = printer_settings(load(tmp_path, '[printer]\nmodel = "TM-T88VI"\n'))
    assert (epson.profile, epson.paper) == ("cp950", 58)  # 512 dots: laid out at 384, never wrapped
    assert printer_settings(load(tmp_path, '[printer]\nmodel = "TM-m30III"\n')).paper == 80
    with pytest.raises(config.ConfigError, match=r"printer\.model 'TM-T99'"):
        printer_settings(load(tmp_path, '[printer]\nmodel = "TM-T99"\n'))
    assert GENERIC_KICK == b"\x1bp\x00\x32\x32"


def test_open_drawer_in_the_invoice_document() -> None:
    doc = {"order_id": "A-1", "items": [{"description": "x", "quantity": 1, "unit_price": 10}]}
    parse_document({**doc, "open_drawer": True})
    parse_document({**doc, "open_drawer": False})
    with pytest.raises(InvoiceInvalid) as bad:
        parse_document({**doc, "open_drawer": 1})
    assert [(p.code, p.field) for p in bad.value.problems] == [("open_drawer.type", "open_drawer")]
