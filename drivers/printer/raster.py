"""Bit images for the printer: the QR pair, a Code 39 drawn in dots, text drawn with a font, and ``GS v 0``.

Pure functions of their arguments (no files, no devices). A row of dots is an ``int`` whose most significant
bit is the leftmost dot of a ``width``-dot line; ``GS v 0`` wants 1 = black, 8 dots per byte, MSB first.

The QR matrices come from zxing-cpp's writer (``zxingcpp.create_barcode``, C++ over zint): about 0.5 ms a code
where segno, in pure Python, took 6 ms (it was the whole cost of a proof). Same rules as before: the left code
at version 6 or more, the right one at the same version, error level at least L (zint raises it to M, Q or H
when the data still fits the same version, as segno's ``boost_error`` did), byte data without an ECI header, so
a reader gets back exactly the bytes we gave (tests/unit/test_qr_matrix.py decodes them with zxing-cpp's reader).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import zxingcpp

if TYPE_CHECKING:
    from PIL.Image import Image

GS = b"\x1d"
ESC = b"\x1b"
DOTS_PER_MM = 8  # 203 dpi
QUIET = 2 * DOTS_PER_MM  # 0.2 cm quiet zone around each QR code
MIN_QR_DOTS = 15 * DOTS_PER_MM  # each code at least 1.5 cm wide
MIN_QR_VERSION = 6  # left QR at least version 6 (41 x 41)
# byte-mode capacity (bytes) of versions 1-40 at error level L (ISO/IEC 18004:2015 table 7)
BYTES_AT_L = (17, 32, 53, 78, 106, 134, 154, 192, 230, 271, 321, 367, 425, 458, 520, 586, 644, 718, 792, 858, 929,
              1003, 1091, 1171, 1273, 1367, 1465, 1528, 1628, 1732, 1840, 1952, 2068, 2188, 2303, 2431, 2563, 2699,
              2809, 2953)
MAX_RASTER_ROWS = 256  # rows per GS v 0 command: small enough for any printer's buffer

# Code 39, one entry per character: the 9 elements bar, space, bar, ... bar; "w" wide (3 dots), "n" narrow (1).
CODE39 = {
    "0": "nnnwwnwnn", "1": "wnnwnnnnw", "2": "nnwwnnnnw", "3": "wnwwnnnnn", "4": "nnnwwnnnw", "5": "wnnwwnnnn",
    "6": "nnwwwnnnn", "7": "nnnwnnwnw", "8": "wnnwnnwnn", "9": "nnwwnnwnn", "A": "wnnnnwnnw", "B": "nnwnnwnnw",
    "C": "wnwnnwnnn", "D": "nnnnwwnnw", "E": "wnnnwwnnn", "F": "nnwnwwnnn", "G": "nnnnnwwnw", "H": "wnnnnwwnn",
    "I": "nnwnnwwnn", "J": "nnnnwwwnn", "K": "wnnnnnnww", "L": "nnwnnnnww", "M": "wnwnnnnwn", "N": "nnnnwnnww",
    "O": "wnnnwnnwn", "P": "nnwnwnnwn", "Q": "nnnnnnwww", "R": "wnnnnnwwn", "S": "nnwnnnwwn", "T": "nnnnwnwwn",
    "U": "wwnnnnnnw", "V": "nwwnnnnnw", "W": "wwwnnnnnn", "X": "nwnnwnnnw", "Y": "wwnnwnnnn", "Z": "nwwnwnnnn",
    "-": "nwnnnnwnw", ".": "wwnnnnwnn", " ": "nwwnnnwnn", "*": "nwnnwnwnn", "$": "nwnwnwnnn", "/": "nwnwnnnwn",
    "+": "nwnnnwnwn", "%": "nnnwnwnwn",
}


def raster(rows: Sequence[int], width: int) -> bytes:
    """``GS v 0`` commands printing ``rows`` (``width`` dots wide, a multiple of 8), in fragments."""
    per_row = width // 8
    return packed(b"".join(row.to_bytes(per_row, "big") for row in rows), width)


def packed(data: bytes, width: int) -> bytes:
    """``GS v 0`` commands printing ``data``, rows of ``width`` dots packed 8 to a byte (1 = black), in fragments."""
    per_row = width // 8
    out = bytearray()
    for start in range(0, len(data) // per_row, MAX_RASTER_ROWS):
        part = data[start * per_row:(start + MAX_RASTER_ROWS) * per_row]
        out += GS + b"v0\x00" + per_row.to_bytes(2, "little") + (len(part) // per_row).to_bytes(2, "little") + part
    return bytes(out)


def feed_dots(dots: int) -> bytes:
    """``ESC J n``: feed paper ``dots`` dots (in steps of at most 255)."""
    return b"".join(ESC + b"J" + bytes([min(255, dots - done)]) for done in range(0, dots, 255))


_QR = zxingcpp.BarcodeFormat.QRCode
_DOTS = bytes.maketrans(b"\x00\xff", b"10")  # zxing-cpp's image: 0 = dark module, 255 = light


@dataclass(frozen=True)
class QrMatrix:
    """One QR code as zxing-cpp built it; ``version`` 1-40 (``modules`` = 17 + 4 x version)."""

    code: zxingcpp.Barcode
    modules: int

    @property
    def version(self) -> int:
        return (self.modules - 17) // 4

    @property
    def ec_level(self) -> str:
        return self.code.ec_level

    def rows(self, size: int) -> list[bytes]:
        """Each module row once, as ASCII ``0``/``1`` with every module ``size`` dots wide."""
        plain = bytes(memoryview(self.code.to_image(add_quiet_zones=False)))  # type: ignore[arg-type]
        dots = plain.translate(_DOTS).replace(b"1", b"1" * size).replace(b"0", b"0" * size)
        side = self.modules * size
        return [dots[start:start + side] for start in range(0, len(dots), side)]


def qr_matrix(data: bytes, version: int | None = None) -> QrMatrix:
    """``data`` as a QR code at ``version`` (None: the smallest that holds it at level L); ``ValueError`` when
    it does not fit.

    ``eci=0``: bytes given to zxing-cpp's writer otherwise get an ECI 899 ("binary") header, which segno never
    wrote and which changes what a reader reports; without it the symbol carries only our bytes (AIM ``]Q1``), as
    before. No ``ec_level`` on purpose: zint then starts from L and raises the level as far as the version allows
    (an explicit ``ec_level="L"`` would stay at L).
    """
    code = zxingcpp.create_barcode(data, _QR, eci=0, **({} if version is None else {"version": version}))
    corners = code.position  # the symbol's corners in module units, so its side without drawing it
    return QrMatrix(code, corners.top_right.x - corners.top_left.x + 1)


EMPTY_RIGHT = b"**"  # the right code of a proof whose items all fit the left one: the same symbol every time


@functools.lru_cache(maxsize=8)
def empty_right(version: int) -> QrMatrix:
    """The right code that only says ``**``, made once per version (most proofs: a handful of items)."""
    return qr_matrix(EMPTY_RIGHT, version)


def qr_version(*payloads: bytes) -> int:
    """The smallest version, at least 6, whose byte-mode capacity at level L holds each of ``payloads``.

    Byte mode is an upper bound (zint may pack digits and capitals tighter), so both codes fit at once and no
    attempt has to fail first; it is also the version segno chose before, as it wrote bytes in byte mode."""
    longest = max(len(data) for data in payloads)
    for version, room in enumerate(BYTES_AT_L[MIN_QR_VERSION - 1:], MIN_QR_VERSION):
        if longest <= room:
            return version
    raise ValueError(f"{longest} bytes do not fit a QR code (at most {BYTES_AT_L[-1]} at level L)")


def qr_codes(left: bytes, right: bytes) -> tuple[QrMatrix, QrMatrix]:
    """Both QR codes at one version, at least 6 (error level at least L, raised where it fits free)."""
    version = qr_version(left, right)
    first = qr_matrix(left, version)
    return first, empty_right(version) if right == EMPTY_RIGHT else qr_matrix(right, version)


def module_size(modules: int, width: int) -> int:
    """Dots per module so that two codes and their quiet zones fit ``width`` (4, 3, else 2)."""
    for size in (4, 3):
        if 2 * modules * size + 4 * QUIET <= width:
            return size
    return 2


def qr_pair_bitmap(left: QrMatrix, right: QrMatrix, width: int, paper: int | None = None) -> tuple[bytes, int]:
    """The two codes side by side, top-aligned, centred in ``width`` dots with their quiet zones, that frame
    centred on ``paper`` dots (default ``width``): packed rows, 1 = black (``GS v 0``), and their number."""
    paper = paper or width
    modules = left.modules
    size = module_size(modules, width)
    side = size * modules
    margin = (width - 2 * side - 2 * QUIET) // 2 + (paper - width) // 2
    lead, gap, tail = b"0" * margin, b"0" * (2 * QUIET), b"0" * (paper - margin - 2 * side - 2 * QUIET)
    per_row = paper // 8
    data = b"".join(int(lead + row_l + gap + row_r + tail, 2).to_bytes(per_row, "big") * size
                    for row_l, row_r in zip(left.rows(size), right.rows(size), strict=True))
    return data, side


def qr_pair_rows(left: QrMatrix, right: QrMatrix, width: int) -> list[int]:
    """``qr_pair_bitmap`` as one ``int`` per row."""
    data, height = qr_pair_bitmap(left, right, width)
    step = width // 8
    return [int.from_bytes(data[y * step:(y + 1) * step], "big") for y in range(height)]


def code39_bits(data: str) -> str:
    """The dots of ``*data*``: 1 dot per narrow element, 3 per wide, one narrow space between characters."""
    chars = []
    for char in f"*{data}*":
        pattern = CODE39[char]
        chars.append("".join(("1" if i % 2 == 0 else "0") * (3 if e == "w" else 1) for i, e in enumerate(pattern)))
    return "0".join(chars)


def code39_rows(data: str, width: int, height: int) -> list[int]:
    """Code 39 as a centred raster (for printers used without their own barcode command)."""
    bits = code39_bits(data)
    if len(bits) > width:
        raise ValueError(f"the Code 39 of {data!r} is {len(bits)} dots, wider than the paper ({width})")
    margin = (width - len(bits)) // 2
    row = int(bits, 2) << (width - margin - len(bits))
    return [row] * height


def image_rows(image: Image, width: int) -> list[int]:
    """A Pillow image (black text on white) as raster rows ``width`` dots wide, left-aligned."""
    mono = image.convert("1")
    if mono.width > width:
        mono = mono.crop((0, 0, width, mono.height))
    row_bytes = (mono.width + 7) // 8
    data = mono.tobytes()  # mode "1": 1 = white, rows padded to whole bytes
    shift, mask = width - row_bytes * 8, (1 << (row_bytes * 8)) - 1  # width is whole bytes: shift >= 0
    rows = []
    for y in range(mono.height):
        chunk = int.from_bytes(data[y * row_bytes:(y + 1) * row_bytes], "big")
        rows.append((~chunk & mask) << shift)
    return rows
