"""The ESC/POS encoder, raster helpers and status parsing, byte for byte (pure: no device, no files)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from PIL import ImageFont

from drivers.printer import raster
from drivers.printer.encode import (
    KANJI_OFF,
    KANJI_ON,
    Placed,
    PrinterProfile,
    clean,
    encode,
    encode_text,
    place,
    text_width,
)
from drivers.printer.status import QUERY, StatusUnreadable, parse_status
from turnkey.model import Party
from turnkey.period import TAIPEI
from turnkey.proof import QrCipher, proof_payloads
from turnkey.proof_layout import Barcode39, ProofDoc, ProofOptions, QrPair, Slip, Text, proof_doc
from turnkey.validate import build_invoice, parse_document

SELLER = Party("12345676", "測試商店", "台北市信義區測試路1號")
KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
AT = datetime(2026, 11, 21, 14, 3, 9, tzinfo=TAIPEI)


def doc(reprint: bool = False, **extra: Any) -> ProofDoc:
    draft = parse_document({"order_id": "E-1", "items": [{"description": "拿鐵", "quantity": 2, "unit_price": 65}],
                            **extra})
    inv = build_invoice(draft, number="AB12345678", random_number="7213", issued_at=AT, seller=SELLER)
    return proof_doc(inv, proof_payloads(inv, QrCipher(KEY)), ProofOptions(reprint=reprint))


def kanji_runs(data: bytes) -> list[bytes]:
    return re.findall(re.escape(KANJI_ON) + b"(.*?)" + re.escape(KANJI_OFF), data, re.S)


def test_title_is_big5_between_fs_and_and_fs_dot() -> None:
    data = encode(doc(reprint=True), PrinterProfile())
    assert "電子發票證明聯補印".encode("cp950") in kanji_runs(data)
    assert "電子發票證明聯".encode("gb18030") not in data
    assert data.startswith(b"\x1b@") and data.endswith(b"\x1bd\x03\x1dV\x01")


def test_gb18030_profile_sends_the_same_text_in_gb18030() -> None:
    data = encode(doc(), PrinterProfile(text="gb18030"))
    assert "電子發票證明聯".encode("gb18030") in kanji_runs(data)
    assert "電子發票證明聯".encode("cp950") not in data


def test_code39_is_native_gs_k_with_a_one_dot_module() -> None:
    data = encode(doc(), PrinterProfile(barcode_height=50))
    assert b"\x1dh\x32\x1dw\x01\x1dH\x00\x1dk\x45\x1311512AB123456787213" in data


def test_text_runs_unencodable_characters_and_control_bytes() -> None:
    assert encode_text("隨機碼 7213", "cp950") == KANJI_ON + "隨機碼".encode("cp950") + KANJI_OFF + b" 7213"
    assert encode_text("碁𠀀A", "cp950") == KANJI_ON + "碁？".encode("cp950") + KANJI_OFF + b"A"
    assert clean("a\x1bb\nc\x7f") == "a b c "
    assert text_width("AB-1") == 48 and text_width("電子") == 48


def test_layout_sizes_wraps_and_right_columns() -> None:
    assert list(place(Text("AB-12345678", large=True), 384)) == [Placed("AB-12345678", "", "left", 2, 2)]
    title = list(place(Text("測試電子發票證明聯補印", large=True, align="center"), 384))
    assert [(p.width, p.height) for p in title] == [(1, 2)]
    assert [p.text for p in place(Text("品" * 20), 384)] == ["品" * 16, "品" * 4]
    squeezed = list(place(Text("品" * 14, right="1000"), 384))
    assert [(p.text, p.align) for p in squeezed] == [("品" * 14, "left"), ("1000", "right")]
    assert list(place(Text("總計", right="130"), 384)) == [Placed("總計", "130", "left", 1, 1)]


def test_right_column_is_padded_to_the_paper_edge() -> None:
    data = encode(ProofDoc("X", (Slip("details", (Text("A", right="B"),)),)), PrinterProfile(paper=80))
    assert b"\x1ba\x00\x1d!\x00A" + b" " * 46 + b"B\n" in data


def test_on_80_mm_paper_the_proof_keeps_its_57_mm_frame_centred() -> None:
    data = encode(ProofDoc("X", (Slip("proof", (Text("A", right="B"), Text("C", align="right"),
                                                Text("D", large=True))),)), PrinterProfile(paper=80))
    assert b"\x1ba\x00\x1d!\x00" + b" " * 8 + b"A" + b" " * 30 + b"B\n" in data  # 96 dots in, 384 wide
    assert b"\x1ba\x00\x1d!\x00" + b" " * 39 + b"C\n" in data  # ends 96 dots before the right edge
    assert b"\x1ba\x00\x1d!\x11\x1bE\x01" + b" " * 4 + b"D\n" in data  # double width: 4 cells of 24 dots


def test_qr_codes_are_at_least_version_6_and_the_same_size() -> None:
    left, right = raster.qr_codes(b"short", b"**")
    assert left.version == right.version == 6
    big_left, big_right = raster.qr_codes(b"x" * 60, b"**" + b"y" * 300)
    assert big_left.version == big_right.version > 6
    grown, _ = raster.qr_codes(b"z" * 200, b"**")
    assert grown.version > 6


def test_qr_pair_raster_fits_the_paper_with_quiet_zones() -> None:
    left, right = raster.qr_codes(b"AB12345678", b"**")
    rows = raster.qr_pair_rows(left, right, 384)
    assert len(rows) == 41 * 3 and all(row < 1 << 384 for row in rows)
    first = format(rows[0], "0384b")
    assert first.index("1") >= raster.QUIET and first.rindex("1") <= 384 - raster.QUIET
    assert raster.module_size(41, 576) == 4 and raster.module_size(41, 384) == 3 and raster.module_size(77, 384) == 2
    assert raster.MIN_QR_DOTS <= 41 * 3


def test_raster_fragments_and_feeds() -> None:
    data = raster.raster([1] * 300, 16)
    assert data.count(b"\x1dv0\x00") == 2 and data.startswith(b"\x1dv0\x00\x02\x00\x00\x01")
    assert raster.feed_dots(300) == b"\x1bJ\xff\x1bJ\x2d"


def test_code39_raster_is_335_dots_for_the_proof_barcode() -> None:
    bits = raster.code39_bits("11512AB123456787213")
    assert len(bits) == 335 and bits.startswith("1000101110111010")
    rows = raster.code39_rows("11512AB123456787213", 384, 2)
    assert len(rows) == 2 and rows[0].bit_length() <= 384
    with pytest.raises(ValueError, match="wider than the paper"):
        raster.code39_rows("1" * 30, 384, 1)


def test_raster_profile_sends_no_text_commands() -> None:
    font = ImageFont.load_default(22)
    data = encode(doc(), PrinterProfile(text="raster", font=font))
    assert KANJI_ON not in data and b"\x1dk" not in data and data.count(b"\x1dv0") > 8


def test_profile_checks() -> None:
    with pytest.raises(ValueError, match="text mode"):
        PrinterProfile(text="big5")
    with pytest.raises(ValueError, match="58 or 80"):
        PrinterProfile(paper=76)
    with pytest.raises(ValueError, match="needs a font"):
        PrinterProfile(text="raster")
    assert PrinterProfile(paper=80).dots == 576


def test_each_slip_is_cut() -> None:
    two = ProofDoc("X", (Slip("proof", (Barcode39("1"), QrPair("a", "**"))), Slip("details", (Text("b"),))))
    assert encode(two, PrinterProfile()).count(b"\x1dV\x01") == 2


def test_status_replies() -> None:
    assert QUERY == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"
    ready = parse_status(b"\x12\x12\x12")
    assert ready.problem is None and ready.online
    assert parse_status(b"\x1a\x32\x72").problem == "printer.paper_out"
    assert parse_status(b"\x1a\x16\x12").problem == "printer.cover_open"
    assert parse_status(b"\x12\x52\x12").problem == "printer.error"
    assert parse_status(b"\x1a\x12\x12").problem == "printer.offline"
    assert parse_status(b"\x12\x12\x1e").paper_near_end
    for bad in (b"", b"\x12\x12", b"\x13\x12\x12", b"\x92\x12\x12"):
        with pytest.raises(StatusUnreadable):
            parse_status(bad)
