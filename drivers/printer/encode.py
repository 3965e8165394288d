"""ProofDoc + PrinterProfile -> the ESC/POS bytes of the job. Pure: no device, no files, no clock.

Chinese text is our own path, not python-escpos's: python-escpos 3.1 sends any text with Han characters as
GB18030 (``MagicEncode.write``), which a Taiwan Big5 printer prints as garbage. Here each run of non-ASCII
characters is encoded in the profile's codec (cp950 = Big5 with the ETEN extensions, or gb18030) between
``FS &`` (Kanji mode on) and ``FS .`` (off); ASCII stays in the single-byte font. Printers without a Chinese
font use the ``raster`` profile: every line is drawn with a font and sent as a bit image.

Text the printer's code page cannot hold never fails a job (issue #15.7): a line with such a character is drawn
as a bit image when the profile has a font, or the character is printed as ``？``; ``notes`` says which
characters and what was done, for the print job's note.

The Code 39 goes out as the printer's own ``GS k`` (function B, CODE39) with a 1-dot narrow module so the
19 characters (335 dots) fit 58 mm paper; the two QR codes as one bit image (see ``raster``), their bytes in
Big5 (cp950) when the QR encoding flag is ``0`` and UTF-8 otherwise (``QrPair.encoding``, chosen per invoice).

The 證明聯 is a 5.7 cm format whatever the roll (domain.md §6.1; issue #15.8): on 80 mm paper the proof slip is laid
out 384 dots wide (48 mm, the printable width of a 57/58 mm roll) and centred, each line shifted by spaces or
blank dots rather than by ``GS L``, whose motion unit differs between models; detail and information slips use
the full width.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from drivers.printer import raster
from turnkey.proof_layout import CENTER, Barcode39, Element, ProofDoc, QrPair, Rule, Text

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
PROOF_DOTS = 384  # the 證明聯 layout: 48 mm at 8 dots/mm, centred on wider paper
PROOF_KINDS = frozenset({"proof"})
QR_CODECS = {"0": "cp950"}  # QR encoding flag -> bytes; "1" UTF-8, "2" Base64 (ASCII, so UTF-8 too)
_RUNS = re.compile(r"([^\x00-\x7f]+)")
_CONTROLS = dict.fromkeys([*range(0x20), 0x7F], " ")
_SIZES = {(w, h): GS + b"!" + bytes([(w - 1) << 4 | (h - 1)]) for w in (1, 2) for h in (1, 2)}  # GS ! n


@dataclass(frozen=True)
class PrinterProfile:
    """How one printer wants its bytes.

    ``text``: ``cp950`` (Big5, Taiwan firmware), ``gb18030`` (mainland firmware) or ``raster`` (no Chinese font:
    every line is drawn with ``font``, a Pillow font of about 24 px). ``paper``: 58 or 80 mm. ``font`` in a
    ``cp950``/``gb18030`` profile draws the lines that hold a character the code page lacks; without it such a
    character is printed as ``？``.
    """

    text: str = "cp950"
    paper: int = 58
    font: BaseImageFont | None = None
    barcode_height: int = 64

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
class Frame:
    """Where a slip is laid out on the paper: ``dots`` wide, ``offset`` blank dots from the left edge."""

    dots: int
    offset: int = 0

    @property
    def paper(self) -> int:
        """The paper's width when the frame is centred on it."""
        return self.dots + 2 * self.offset


def frame(kind: str, profile: PrinterProfile) -> Frame:
    """The proof keeps its 5.7 cm layout, centred; other slips take the paper's full width."""
    dots = min(PROOF_DOTS, profile.dots) if kind in PROOF_KINDS else profile.dots
    return Frame(dots, (profile.dots - dots) // 2)


class Placed(NamedTuple):
    """A line after layout: left text, right text, alignment and the size multipliers."""

    text: str
    right: str
    align: str
    width: int
    height: int


def clean(text: str) -> str:
    """Control characters would be printer commands: they become spaces."""
    return text.translate(_CONTROLS) if text else text


def text_width(text: str) -> int:
    """Dots at size 1: ASCII one cell, everything else two."""
    return CELL * (2 * len(text) - len(text.encode("ascii", "ignore")))


def wrap(text: str, limit: int) -> Iterator[str]:
    """``text`` in pieces at most ``limit`` dots wide."""
    if text_width(text) <= limit:
        yield text
        return
    piece, used = "", 0
    for char in text:
        step = text_width(char)
        if used + step > limit and piece:
            yield piece
            piece, used = "", 0
        piece, used = piece + char, used + step
    yield piece


def place(element: Text, dots: int) -> list[Placed]:
    """Sizes, wrapping and right columns for one text element."""
    text, right = clean(element.text), clean(element.right)
    height = 2 if element.large else 1
    used = text_width(text)
    width = 2 if element.large and 2 * used <= dots else 1
    if right and used + CELL + text_width(right) <= dots // width:
        return [Placed(text, right, element.align, width, height)]
    if used <= dots // width:
        placed = [Placed(text, "", element.align, width, height)]
    else:
        placed = [Placed(piece, "", element.align, width, height) for piece in wrap(text, dots // width)]
    if right:
        placed.append(Placed(right, "", "right", width, height))
    return placed


def outside(text: str, codec: str) -> str:
    """The characters of ``text`` that ``codec`` cannot encode, each once, in order of appearance."""
    if text.isascii():
        return ""
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return "".join(dict.fromkeys(c for c in text if not _holds(c, codec)))
    return ""


def _holds(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def encode_chinese(run: str, codec: str) -> bytes:
    """A run of non-ASCII characters in ``codec``; a character the codec lacks becomes ``？``."""
    try:
        return run.encode(codec)
    except UnicodeEncodeError:
        return b"".join(c.encode(codec) if _holds(c, codec) else REPLACEMENT.encode(codec) for c in run)


def encode_text(text: str, codec: str) -> bytes:
    """ASCII as is; each run of other characters in ``codec`` between ``FS &`` and ``FS .``."""
    if text.isascii():
        return text.encode("ascii")
    parts = _RUNS.split(text)  # even places: ASCII; odd places: the runs of other characters
    return b"".join(KANJI_ON + encode_chinese(run, codec) + KANJI_OFF if at % 2 else run.encode("ascii")
                    for at, run in enumerate(parts) if run)


def _lead(line: Placed, body: str, box: Frame) -> tuple[bytes, str]:
    """Alignment command and leading spaces that put ``body`` (left or right) where ``line.align`` wants it inside
    ``box``, a frame narrower than the paper."""
    cell = CELL * line.width
    start = box.offset if line.align == "left" else box.offset + box.dots - text_width(body) * line.width
    return ALIGN["left"], " " * (max(start, 0) // cell) + body


def _text_line(line: Placed, profile: PrinterProfile, box: Frame) -> bytes:
    text, right, align, width, height = line
    if profile.font is not None and outside(text + right, profile.text):
        return _raster_line(line, profile, box)
    body = text
    if right:
        cells = (box.dots // width - text_width(text) - text_width(right)) // CELL
        body = f"{text}{' ' * cells}{right}"
    command = ALIGN[align]
    if box.offset and align != CENTER:  # a centred frame: centred on the paper is centred in the frame
        command, body = _lead(line, body, box)
    data = command + _SIZES[width, height]
    if height > 1:
        return data + BOLD_ON + encode_text(body, profile.text) + LF + BOLD_OFF
    return data + encode_text(body, profile.text) + LF


def _raster_line(line: Placed, profile: PrinterProfile, box: Frame) -> bytes:
    from PIL import Image, ImageDraw

    font = profile.font
    canvas = Image.new("1", (box.dots // line.width, LINE_DOTS), 1)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"
    used = int(draw.textlength(line.text, font=font))
    x = {"left": 0, CENTER: (canvas.width - used) // 2, "right": canvas.width - used}[line.align]
    draw.text((max(x, 0), 3), line.text, font=font, fill=0)
    if line.right:
        draw.text((canvas.width - int(draw.textlength(line.right, font=font)), 3), line.right, font=font, fill=0)
    scaled = canvas.resize((canvas.width * line.width, canvas.height * line.height), Image.Resampling.NEAREST)
    return _image(raster.image_rows(scaled, box.dots), box)


def _image(rows: list[int], box: Frame) -> bytes:
    """Rows ``box.dots`` wide as a raster across the paper, ``box.offset`` dots in."""
    shift = box.paper - box.offset - box.dots
    return raster.raster([row << shift for row in rows] if shift else rows, box.paper)


def encode_element(element: Element, profile: PrinterProfile, box: Frame | None = None) -> bytes:
    box = box or Frame(profile.dots)
    if isinstance(element, Rule):
        element = Text("-" * (box.dots // CELL))
    if isinstance(element, Text):
        line = _raster_line if profile.text == "raster" else _text_line
        placed = place(element, box.dots)
        return line(placed[0], profile, box) if len(placed) == 1 else b"".join(
            line(one, profile, box) for one in placed)
    if isinstance(element, Barcode39):
        return barcode(element.data, profile, box)
    return qr_pair(element, box)


def qr_pair(pair: QrPair, box: Frame) -> bytes:
    """Both QR codes as one image, their text in the bytes of the pair's encoding flag."""
    codec = QR_CODECS.get(pair.encoding, "utf-8")
    codes = raster.qr_codes(pair.left.encode(codec), pair.right.encode(codec))
    quiet = raster.feed_dots(raster.QUIET)
    data, _ = raster.qr_pair_bitmap(*codes, box.dots, box.paper)
    return quiet + raster.packed(data, box.paper) + quiet


def barcode(data: str, profile: PrinterProfile, box: Frame | None = None) -> bytes:
    """Native ``GS k`` CODE39 (no human-readable text), or dots in the raster profile."""
    box = box or Frame(profile.dots)
    if profile.text == "raster":
        rows = raster.code39_rows(data, box.dots, profile.barcode_height)
        return raster.feed_dots(8) + _image(rows, box) + raster.feed_dots(8)
    payload = data.encode("ascii")
    setup = GS + b"h" + bytes([profile.barcode_height]) + GS + b"w" + bytes([NARROW]) + GS + b"H\x00"
    return (raster.feed_dots(8) + ALIGN[CENTER] + setup + GS + b"k" + bytes([69, len(payload)]) + payload
            + raster.feed_dots(8))


def encode(doc: ProofDoc, profile: PrinterProfile) -> bytes:
    """Every slip of ``doc``, each ended by a cut."""
    out = bytearray()
    for slip in doc.slips:
        box = frame(slip.kind, profile)
        out += INIT
        for element in slip.elements:
            out += encode_element(element, profile, box)
        out += ALIGN["left"] + CUT
    return bytes(out)


def notes(doc: ProofDoc, profile: PrinterProfile) -> tuple[str, ...]:
    """What the print job should say about text the printer's code page cannot hold (empty: nothing)."""
    if profile.text == "raster":
        return ()
    texts = (clean(e.text) + clean(e.right) for slip in doc.slips for e in slip.elements if isinstance(e, Text))
    missing = outside("".join(texts), profile.text)
    if not missing:
        return ()
    how = "drawn as an image" if profile.font is not None else f"printed as {REPLACEMENT}"
    return (f"text outside the printer's code page ({profile.text}) {how}: {missing}",)


class SlipEncoder:
    """``encode`` and ``notes`` for one profile: the daemon's ``ports.Encoder``, with the notes for the job."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile

    def __call__(self, doc: ProofDoc) -> bytes:
        return encode(doc, self.profile)

    def notes(self, doc: ProofDoc) -> tuple[str, ...]:
        return notes(doc, self.profile)
