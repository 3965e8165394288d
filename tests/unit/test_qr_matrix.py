"""The QR matrices from zxing-cpp's writer, read back with zxing-cpp's reader: every payload decodes to exactly
the bytes given (the bytes segno's matrices gave before the switch, checked at the switch for these vectors), with
no ECI header, at the versions and error levels domain.md §6.3 sets (left >= version 6, both the same size, >= L)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
import zxingcpp
from PIL import Image
from test_core_support import needs_vectors, vectors

from drivers.printer import raster
from turnkey.model import CONSUMER_ID, Line
from turnkey.money import Amounts
from turnkey.period import TAIPEI
from turnkey.proof import ProofFacts, QrCipher, payloads

KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
CODEC = {"0": "cp950", "1": "utf-8", "2": "ascii"}
WIDTH = 384


def proof_pairs() -> list[tuple[bytes, bytes]]:
    """QR pairs as the printer sends them: short, long (past version 6), each encoding, Big5 ETEN characters."""
    names = [("拿鐵", "可頌"), tuple(f"商品{i:02d} 特大號" for i in range(9)), ("碁銹裏墻恒粧嫺", "Latte (L)"),
             ("乾電池", "口罩", "牛奶")]
    pairs = []
    for items in names:
        lines = tuple(Line(f"{i:03d}", n, Decimal(2), Decimal(65), Decimal(130)) for i, n in enumerate(items, 1))
        facts = ProofFacts("AB12345678", datetime(2026, 11, 21, 14, 3, tzinfo=TAIPEI), "7213", CONSUMER_ID,
                           "12345676", Amounts(130 * len(items), 0, 0, 0, 130 * len(items)), Decimal("0.05"), lines)
        for encoding in ("0", "1", "2"):
            proof = payloads(facts, QrCipher(KEY), encoding)
            codec = CODEC[proof.encoding]
            pairs.append((proof.qr_left.encode(codec), proof.qr_right.encode(codec)))
    return pairs


def official_pairs() -> list[tuple[bytes, bytes]]:
    right = vectors("Right QR for the same example")[0]
    found = []
    for keyword, encoding in (("Left QR, official spec example", "1"), ("Big5 parameter (0)", "0"),
                              ("Base64 parameter (2)", "2")):
        lines, codec = vectors(keyword), CODEC[encoding]
        found.append((lines[0].encode(codec), (lines[1] if len(lines) > 1 else right).encode(codec)))
    return found


def printed(left: raster.QrMatrix, right: raster.QrMatrix) -> Image.Image:
    """The pair as the printer's raster rows, as a picture (1 = black in the rows, 0 = black for Pillow)."""
    rows = raster.qr_pair_rows(left, right, WIDTH)
    data = b"".join((~row & ((1 << WIDTH) - 1)).to_bytes(WIDTH // 8, "big") for row in rows)
    return Image.frombytes("1", (WIDTH, len(rows)), data)


def read_pair(image: Image.Image) -> list[zxingcpp.Barcode]:
    found = [r for r in zxingcpp.read_barcodes(image.convert("L")) if r.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(found) == 2
    return sorted(found, key=lambda r: r.position.top_left.x)


def check(left: bytes, right: bytes) -> None:
    codes = raster.qr_codes(left, right)
    assert codes[0].version == codes[1].version >= raster.MIN_QR_VERSION
    assert {code.ec_level for code in codes} <= {"L", "M", "Q", "H"}
    image = printed(*codes)
    for code, sent in zip(read_pair(image), (left, right), strict=True):
        assert code.bytes == sent
        assert code.extra["Version"] == str(codes[0].version)
    heads = [r.text[:8] for r in zxingcpp.read_barcodes(image.convert("L"), text_mode=zxingcpp.TextMode.HexECI)]
    assert heads == ["5D 51 31"] * 2  # "]Q1": no ECI designator in either symbol, as segno wrote them


@pytest.mark.parametrize("pair", proof_pairs(), ids=lambda pair: f"{len(pair[0])}+{len(pair[1])} bytes")
def test_proof_payloads_read_back_byte_for_byte(pair: tuple[bytes, bytes]) -> None:
    check(*pair)


@needs_vectors
def test_the_official_examples_read_back_byte_for_byte() -> None:
    for pair in official_pairs():
        check(*pair)


def test_utf8_text_reads_back_as_text_and_sizes_follow_the_spec() -> None:
    left = "AB12345678:**********:1:1:1:拿鐵:2:65".encode()
    codes = raster.qr_codes(left, b"**")
    assert read_pair(printed(*codes))[0].text == left.decode()
    assert raster.module_size(codes[0].modules, WIDTH) * codes[0].modules >= raster.MIN_QR_DOTS  # >= 1.5 cm
    with pytest.raises(ValueError, match="too long"):
        raster.qr_matrix(b"x" * 3000)


def test_the_byte_capacity_table_is_zints_and_picks_the_version() -> None:
    """Each version holds exactly its table's bytes at level L (one more does not fit), so ``qr_codes`` never has
    to try a version that fails; 0xA4 is neither a digit, a capital nor half of a Kanji pair: byte mode."""
    for version, room in enumerate(raster.BYTES_AT_L, 1):
        raster.qr_matrix(b"\xa4" * room, version)  # fits (zint picks L or better)
        with pytest.raises(ValueError, match="too long"):
            raster.qr_matrix(b"\xa4" * (room + 1), version)
    assert raster.qr_version(b"x" * 10, b"**") == 6 and raster.qr_version(b"x" * 135, b"**") == 7
    assert raster.qr_version(b"**", b"y" * 300) == 11
    with pytest.raises(ValueError, match="do not fit"):
        raster.qr_version(b"x" * 2954)
