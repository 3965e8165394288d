"""ProofDoc + PrinterProfile -> the ESC/POS bytes of the job. Pure: no device, no files, no clock.

Chinese text is our own path, not python-escpos's: python-escpos 3.1 sends any text with Han characters as
GB18030 (``MagicEncode.write``), which a Taiwan Big5 printer prints as garbage. Here each run of non-ASCII
characters is encoded in the profile's codec (cp950 = Big5 with the ETEN extensions, or gb18030) between
``FS &`` (Kanji mode on) and ``FS .`` (off); ASCII stays in the single-byte font. Printers without a Chinese
font use the ``raster`` profile: every line is drawn with a font and sent as a bit image.

The Code 39 goes out as the printer's own ``GS k`` (function B, CODE39) with a 1-dot narrow module so the
19 characters (335 dots) fit 58 mm paper; the two QR codes as one bit image (see ``raster``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drivers.printer import raster
from turnkey.proof_layout import CENTER, Barcode39, Element, ProofDoc, Rule, Text

if TYPE_CHECKING:
    from PIL.ImageFont import BaseImageFont

ESC, GS, FS, LF = b"\x1b", b"\x1d", b"\x1c", b"\n"
INIT = ESC + b"@"
KANJI_ON, KANJI_OFF = FS + b"&", FS + b"."
ALIGN = {"left": ESC + b"a\x00", CENTER: ESC + b"a\x01", "right": ESC + b"a\x02"}
BOLD_ON, BOLD_OFF = ESC + b"E\x01", ESC + b"E\x00"
CUT = ESC + b"d\x03" + GS + b"V\x01"  # feed 3 lines past the cutter, partial cut
NARROW = 1
CELL = 12  # Font A: 12 x 24 dots; a Chinese character takes two cells
LINE_DOTS = 30  # default line spacing
REPLACEMENT = "？"
TEXT_MODES = ("cp950", "gb18030", "raster")
PAPER_DOTS = {58: 384, 80: 576}


@dataclass(frozen=True)
class PrinterProfile:
    """How one printer wants its bytes.

    ``text``: ``cp950`` (Big5, Taiwan firmware), ``gb18030`` (mainland firmware) or ``raster`` (no Chinese font:
    ``font`` is then a Pillow font of about 24 px). ``paper``: 58 or 80 mm. ``qr_codec``: the bytes of the QR
    text (``cp950`` for QR encoding flag 0, else ``utf-8``).
    """

    text: str = "cp950"
    paper: int = 58
    font: BaseImageFont | None = None
    barcode_height: int = 64
    qr_codec: str = "utf-8"

    def __post_init__(self) -> None:
        if self.text not in TEXT_MODES:
            raise ValueError(f"printer text mode must be one of {', '.join(TEXT_MODES)}")
        if self.paper not in PAPER_DOTS:
            raise ValueError("paper must be 58 or 80 (mm)")
        if self.text == "raster" and self.font is None:
            raise ValueError("the raster profile needs a font")

    @property
    def dots(self) -> int:
        return PAPER_DOTS[self.paper]


@dataclass(frozen=True)
class Placed:
    """A line after layout: left text, right text, alignment and the size multipliers."""

    text: str
    right: str
    align: str
    width: int
    height: int


def clean(text: str) -> str:
    """Control characters would be printer commands: they become spaces."""
    return "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def text_width(text: str) -> int:
    """Dots at size 1: ASCII one cell, everything else two."""
    return sum(CELL if ord(c) < 0x80 else 2 * CELL for c in text)


def wrap(text: str, limit: int) -> Iterator[str]:
    """``text`` in pieces at most ``limit`` dots wide."""
    piece, used = "", 0
    for char in text:
        step = text_width(char)
        if used + step > limit and piece:
            yield piece
            piece, used = "", 0
        piece, used = piece + char, used + step
    yield piece


def place(element: Text, dots: int) -> Iterator[Placed]:
    """Sizes, wrapping and right columns for one text element."""
    text, right = clean(element.text), clean(element.right)
    height = 2 if element.large else 1
    width = 2 if element.large and 2 * text_width(text) <= dots else 1
    if right and text_width(text) + CELL + text_width(right) <= dots // width:
        yield Placed(text, right, element.align, width, height)
        return
    for piece in wrap(text, dots // width):
        yield Placed(piece, "", element.align, width, height)
    if right:
        yield Placed(right, "", "right", width, height)


def _one(char: str, codec: str) -> bytes:
    try:
        return char.encode(codec)
    except UnicodeEncodeError:
        return REPLACEMENT.encode(codec)


def encode_chinese(run: str, codec: str) -> bytes:
    """A run of non-ASCII characters in ``codec``; a character the codec lacks becomes ``？``."""
    try:
        return run.encode(codec)
    except UnicodeEncodeError:
        return b"".join(_one(char, codec) for char in run)


def encode_text(text: str, codec: str) -> bytes:
    """ASCII as is; each run of other characters in ``codec`` between ``FS &`` and ``FS .``."""
    out, start = bytearray(), 0
    while start < len(text):
        wide = ord(text[start]) >= 0x80
        end = start
        while end < len(text) and (ord(text[end]) >= 0x80) == wide:
            end += 1
        run = text[start:end]
        out += KANJI_ON + encode_chinese(run, codec) + KANJI_OFF if wide else run.encode("ascii")
        start = end
    return bytes(out)


def _text_line(line: Placed, profile: PrinterProfile) -> bytes:
    size = GS + b"!" + bytes([(line.width - 1) << 4 | (line.height - 1)])
    body = line.text
    if line.right:
        cells = (profile.dots // line.width - text_width(line.text) - text_width(line.right)) // CELL
        body = f"{line.text}{' ' * cells}{line.right}"
    bold = (BOLD_ON, BOLD_OFF) if line.height > 1 else (b"", b"")
    return ALIGN[line.align] + size + bold[0] + encode_text(body, profile.text) + LF + bold[1]


def _raster_line(line: Placed, profile: PrinterProfile) -> bytes:
    from PIL import Image, ImageDraw

    dots, font = profile.dots, profile.font
    canvas = Image.new("1", (dots // line.width, LINE_DOTS), 1)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"
    used = int(draw.textlength(line.text, font=font))
    x = {"left": 0, CENTER: (canvas.width - used) // 2, "right": canvas.width - used}[line.align]
    draw.text((max(x, 0), 3), line.text, font=font, fill=0)
    if line.right:
        draw.text((canvas.width - int(draw.textlength(line.right, font=font)), 3), line.right, font=font, fill=0)
    scaled = canvas.resize((canvas.width * line.width, canvas.height * line.height), Image.Resampling.NEAREST)
    return raster.raster(raster.image_rows(scaled, dots), dots)


def encode_element(element: Element, profile: PrinterProfile) -> bytes:
    if isinstance(element, Rule):
        element = Text("-" * (profile.dots // CELL))
    if isinstance(element, Text):
        line = _raster_line if profile.text == "raster" else _text_line
        return b"".join(line(placed, profile) for placed in place(element, profile.dots))
    if isinstance(element, Barcode39):
        return barcode(element.data, profile)
    return raster.qr_pair(element.left.encode(profile.qr_codec), element.right.encode(profile.qr_codec),
                          profile.dots)


def barcode(data: str, profile: PrinterProfile) -> bytes:
    """Native ``GS k`` CODE39 (no human-readable text), or dots in the raster profile."""
    if profile.text == "raster":
        rows = raster.code39_rows(data, profile.dots, profile.barcode_height)
        return raster.feed_dots(8) + raster.raster(rows, profile.dots) + raster.feed_dots(8)
    payload = data.encode("ascii")
    setup = GS + b"h" + bytes([profile.barcode_height]) + GS + b"w" + bytes([NARROW]) + GS + b"H\x00"
    return (raster.feed_dots(8) + ALIGN[CENTER] + setup + GS + b"k" + bytes([69, len(payload)]) + payload
            + raster.feed_dots(8))


def encode(doc: ProofDoc, profile: PrinterProfile) -> bytes:
    """Every slip of ``doc``, each ended by a cut."""
    out = bytearray()
    for slip in doc.slips:
        out += INIT
        for element in slip.elements:
            out += encode_element(element, profile)
        out += ALIGN["left"] + CUT
    return bytes(out)

