"""The self-test slip's layout (turnkey/selftest.py) and its ruler bytes (drivers/printer/ruler.py)."""

from __future__ import annotations

import pytest

from drivers.printer.ruler import HEIGHT, codec_line, ruler, ruler_mm
from turnkey.proof_layout import Barcode39, ProofDoc, QrPair, Rule, Slip, Text
from turnkey.selftest import ASCII, HEADING, KIND, RARE_ETEN, RARE_LEVEL2, sample_codes, selftest_doc

CODES = (Barcode39("11512AA000000000000"), QrPair("left", "right"))


def test_the_slip_holds_profile_status_characters_and_the_sample_codes() -> None:
    doc = selftest_doc(["Model: X"], ["Status: ready"], "Ruler above: 48 mm", CODES)
    [slip] = doc.slips
    assert slip.kind == KIND == "proof" and doc.number == "AA00000000"
    texts = [e.text for e in slip.elements if isinstance(e, Text)]
    assert texts[0] == HEADING and "Model: X" in texts and "Status: ready" in texts and "Ruler above: 48 mm" in texts
    assert ASCII in texts and RARE_LEVEL2 in texts and RARE_ETEN in texts and len(ASCII) == 94
    assert slip.elements[-2:] == CODES
    without = selftest_doc([], [], "", ())
    assert not any(isinstance(e, Barcode39 | QrPair) for e in without.slips[0].elements)
    assert isinstance(without.slips[0].elements[-1], Rule)


def test_sample_codes_take_the_barcodes_of_the_first_slip_in_order() -> None:
    proof = ProofDoc("AB12345678", (Slip("proof", (Text("x"), *CODES, Text("y"))), Slip("details", (Text("z"),))))
    assert sample_codes(proof) == CODES


def test_rare_characters_are_big5_with_the_eten_extension() -> None:
    RARE_ETEN.encode("cp950")
    RARE_LEVEL2.encode("cp950")
    with pytest.raises(UnicodeEncodeError):
        RARE_ETEN.encode("big5")  # why the encoder says cp950, not big5


@pytest.mark.parametrize(("dpi", "dots", "mm"), [(203, 384, 47), (203, 576, 57), (180, 512, 57), (180, 360, 50)])
def test_ruler_length_and_ticks_in_the_printer_s_own_dots(dpi: int, dots: int, mm: int) -> None:
    data = ruler(dpi, dots)
    width = (dots + 7) // 8
    assert ruler_mm(dpi, dots) == mm
    assert data[:8] == b"\x1dv0\x00" + bytes([width % 256, width // 256, HEIGHT, 0])
    rows = [data[8 + y * width:8 + (y + 1) * width] for y in range(HEIGHT)]
    assert len(data) == 8 + width * HEIGHT

    def black(x: int, y: int) -> bool:
        return bool(rows[y][x // 8] & (0x80 >> (x % 8)))

    ten_mm = round(10 * dpi / 25.4)
    assert black(0, HEIGHT - 24) and black(ten_mm, HEIGHT - 24) and not black(ten_mm, HEIGHT - 25)
    assert black(round(5 * dpi / 25.4), HEIGHT - 16) and not black(round(5 * dpi / 25.4), HEIGHT - 17)
    assert black(round(1 * dpi / 25.4), HEIGHT - 8) and not black(round(1 * dpi / 25.4), HEIGHT - 9)
    end = round(mm * dpi / 25.4)
    assert black(end, HEIGHT - 1) and (end + 2 >= dots or not black(end + 2, HEIGHT - 1))


def test_codec_line_is_kanji_mode_in_the_named_codec() -> None:
    assert codec_line("B: ", "電子", "cp950") == b"B: \x1c&" + "電子".encode("cp950") + b"\x1c.\n"
    assert codec_line("G: ", "電子", "gb18030") == b"G: \x1c&" + "電子".encode("gb18030") + b"\x1c.\n"
