"""An ESC/POS interpreter: bytes in, virtual paper out (Pillow images, one per cut slip).

Written from the command reference, not from our encoder (it shares no code with ``drivers.printer``), so a
wrong byte in the encoder shows up as wrong paper here. It understands the subset receipt printers share:
text (single-byte cp437; Kanji mode ``FS &``/``FS .`` two-byte cp950 or gb18030), ``ESC @ a ! E d J 2 3``,
``GS !``, raster ``GS v 0``, barcodes ``GS k`` (Code 39, bars from python-barcode's table), cuts ``GS V`` and
real-time status ``DLE EOT n`` (answered through ``status``). Any other command raises ``UnknownCommand``, so
tests notice bytes nobody meant to send. Input may arrive in any pieces: an incomplete command waits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = (  # (path, face index): Taiwan glyph forms first; Debian fonts-noto-cjk, fonts-wqy-microhei, -zenhei
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 3),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 1),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)
FONT_PACKAGE = "fonts-wqy-microhei"  # the small one (5 MB) that scripts/demo and scripts/test install
PROBE = "電聯"  # two Han characters: a font without them draws the same empty box for both
INVERT = bytes(255 - b for b in range(256))
ONE_ARG_ESC = frozenset(b"aE!GM-tR3dJV{ ")
ONE_ARG_GS = frozenset(b"!hwHfBb")
SHORT_CUTS = frozenset((0, 1, 48, 49))
FEED_CUTS = frozenset((65, 66, 97, 98, 103, 104))


class UnknownCommand(ValueError):
    """A byte sequence this printer model does not know."""


class MissingFont(FileNotFoundError):
    """No font that draws Chinese: the virtual printer refuses to start rather than print empty boxes."""


class _Incomplete(Exception):
    pass


def load_font(size: int = 22, fonts: tuple[tuple[str, int], ...] = FONTS) -> ImageFont.FreeTypeFont:
    """The first of ``fonts`` that exists and draws Chinese; ``MissingFont`` (naming the package) otherwise.

    A real printer has its Chinese font in ROM; a virtual one without a CJK font would draw 電子發票證明聯 and every
    item name as empty boxes, so that a newcomer's first proof looks broken (issue #16)."""
    for path, index in fonts:
        if Path(path).is_file():
            font = ImageFont.truetype(path, size, index=index)
            if draws_chinese(font):
                return font
    looked = ", ".join(path for path, _ in fonts)
    raise MissingFont(f"the virtual printer needs a font with Chinese characters and found none ({looked}): "
                      f"install the Debian package {FONT_PACKAGE} (sudo apt-get install {FONT_PACKAGE}, or run "
                      f"scripts/system-packages {FONT_PACKAGE}), or give one with --font")


def draws_chinese(font: ImageFont.FreeTypeFont) -> bool:
    """Whether ``font`` has Han glyphs: two different characters must not come out as the same (or no) mark."""
    marks = [font.getmask(char, mode="1") for char in PROBE]
    return all(mark.getbbox() for mark in marks) and bytes(marks[0]) != bytes(marks[1])


@dataclass
class Mode:
    align: int = 0
    width: int = 1
    height: int = 1
    bold: bool = False
    kanji: bool = False
    spacing: int = 30
    bar_height: int = 162
    bar_module: int = 3


@dataclass
class Slip:
    image: Image.Image
    lines: list[str] = field(default_factory=list)


class Interpreter:
    def __init__(self, width: int = 384, kanji_codec: str = "cp950",
                 status: Callable[[int], bytes] = lambda n: b"\x12",
                 fonts: tuple[tuple[str, int], ...] = FONTS) -> None:
        self.width, self.codec, self.status = width, kanji_codec, status
        self.mode = Mode()
        self.slips: list[Slip] = []
        self.kanji_segments: list[bytes] = []
        self.drawer_kicks: list[tuple[int, int, int, int]] = []  # (slips cut before it, m, t1, t2) per ESC p
        self._buf = bytearray()
        self._bands: list[Image.Image] = []
        self._lines: list[str] = []
        self._line: list[tuple[str, int, int, int, bool]] = []  # char, dots, width x, height x, bold
        self._kanji_raw = bytearray()
        self._font = load_font(fonts=fonts)
        self._glyphs: dict[tuple[str, int, bool], Image.Image] = {}

    # --- input -------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Interpret what is complete; returns the printer's answers (status bytes)."""
        self._buf += data
        replies, pos = bytearray(), 0
        while pos < len(self._buf):
            try:
                pos = self._step(pos, replies)
            except _Incomplete:
                break
        del self._buf[:pos]
        return bytes(replies)

    def _need(self, pos: int, count: int) -> bytes:
        if pos + count > len(self._buf):
            raise _Incomplete
        return bytes(self._buf[pos:pos + count])

    def _step(self, pos: int, replies: bytearray) -> int:
        byte = self._buf[pos]
        if byte == 0x0A:
            self._print_line()
            return pos + 1
        if byte in (0x0D, 0x09):
            return pos + 1
        if byte == 0x10:
            return self._dle(pos, replies)
        if byte == 0x1B:
            return self._esc(pos)
        if byte == 0x1C:
            return self._fs(pos)
        if byte == 0x1D:
            return self._gs(pos)
        if byte < 0x20:
            raise UnknownCommand(f"control byte 0x{byte:02x}")
        return self._char(pos)

    def _dle(self, pos: int, replies: bytearray) -> int:
        _, kind, n = self._need(pos, 3)
        if kind != 0x04:
            raise UnknownCommand(f"DLE 0x{kind:02x}")
        replies += self.status(n)
        return pos + 3

    def _esc(self, pos: int) -> int:
        cmd = self._need(pos, 2)[1]
        if cmd == ord("@"):
            self._print_line_if_any()
            self.mode = Mode()
            return pos + 2
        if cmd == ord("2"):
            self.mode.spacing = 30
            return pos + 2
        if cmd == ord("p"):  # ESC p m t1 t2: drawer kick pulse, m 0/48 pin 2, 1/49 pin 5 (Epson ESC/POS reference)
            _, _, m, t1, t2 = self._need(pos, 5)
            if m not in (0, 1, 48, 49):
                raise UnknownCommand(f"ESC p with m = {m}")
            self.drawer_kicks.append((len(self.slips), m % 48, t1, t2))
            return pos + 5
        if cmd not in ONE_ARG_ESC:
            raise UnknownCommand(f"ESC {chr(cmd)!r}")
        self._esc_arg(chr(cmd), self._need(pos, 3)[2])
        return pos + 3

    def _esc_arg(self, cmd: str, n: int) -> None:
        mode = self.mode
        if cmd == "a":
            mode.align = n - 48 if n >= 48 else n
        elif cmd == "!":
            mode.width, mode.height, mode.bold = 2 if n & 0x20 else 1, 2 if n & 0x10 else 1, bool(n & 0x08)
        elif cmd == "E":
            mode.bold = bool(n & 1)
        elif cmd == "3":
            mode.spacing = n
        elif cmd == "d":
            self._print_line_if_any()
            self._blank(n * mode.spacing)
        elif cmd == "J":
            self._print_line_if_any()
            self._blank(n)

    def _fs(self, pos: int) -> int:
        cmd = self._need(pos, 2)[1]
        if cmd == ord("&"):
            self.mode.kanji, self._kanji_raw = True, bytearray()
            return pos + 2
        if cmd == ord("."):
            if self.mode.kanji:
                self.kanji_segments.append(bytes(self._kanji_raw))
            self.mode.kanji = False
            return pos + 2
        if cmd in b"!C":
            self._need(pos, 3)
            return pos + 3
        raise UnknownCommand(f"FS {chr(cmd)!r}")

    def _gs(self, pos: int) -> int:
        cmd = self._need(pos, 2)[1]
        if cmd in ONE_ARG_GS:
            n = self._need(pos, 3)[2]
            if cmd == ord("!"):
                self.mode.width, self.mode.height = (n >> 4) + 1, (n & 0x0F) + 1
            elif cmd == ord("h"):
                self.mode.bar_height = n
            elif cmd == ord("w"):
                self.mode.bar_module = n
            return pos + 3
        if cmd == ord("v"):
            return self._raster(pos)
        if cmd == ord("k"):
            return self._barcode(pos)
        if cmd == ord("V"):
            return self._cut(pos)
        raise UnknownCommand(f"GS {chr(cmd)!r}")

    # --- text --------------------------------------------------------------------------------------------
    def _char(self, pos: int) -> int:
        byte = self._buf[pos]
        if not (self.mode.kanji and byte >= 0x80):
            self._add(bytes([byte]).decode("cp437"), 12)
            return pos + 1
        size = 4 if self.codec == "gb18030" and 0x30 <= self._need(pos, 2)[1] <= 0x39 else 2
        raw = self._need(pos, size)
        self._kanji_raw += raw
        self._add(raw.decode(self.codec, errors="replace"), 24)
        return pos + size

    def _add(self, char: str, dots: int) -> None:
        mode = self.mode
        used = sum(d * w for _, d, w, _, _ in self._line)
        if used + dots * mode.width > self.width:
            self._print_line()
        self._line.append((char, dots, mode.width, mode.height, mode.bold))

    def _glyph(self, char: str, dots: int, bold: bool) -> Image.Image:
        key = (char, dots, bold)
        if key not in self._glyphs:
            cell = Image.new("1", (dots, 24), 1)
            draw = ImageDraw.Draw(cell)
            draw.fontmode = "1"
            for dx in (0, 1) if bold else (0,):
                draw.text((dx, 1), char, font=self._font, fill=0)
            self._glyphs[key] = cell
        return self._glyphs[key]

    def _print_line_if_any(self) -> None:
        if self._line:
            self._print_line()

    def _print_line(self) -> None:
        line, self._line = self._line, []
        self._lines.append("".join(c for c, *_ in line))
        tall = max((24 * h for *_, h, _ in line), default=0)
        band = Image.new("1", (self.width, max(self.mode.spacing, tall)), 1)
        x = self._x(sum(d * w for _, d, w, _, _ in line))
        for char, dots, wide, high, bold in line:
            glyph = self._glyph(char, dots, bold).resize((dots * wide, 24 * high), Image.Resampling.NEAREST)
            band.paste(glyph, (x, band.height - glyph.height))
            x += glyph.width
        self._bands.append(band)

    def _x(self, used: int) -> int:
        free = max(self.width - used, 0)
        return {0: 0, 1: free // 2}.get(self.mode.align, free)

    def _blank(self, dots: int) -> None:
        if dots:
            self._bands.append(Image.new("1", (self.width, dots), 1))

    # --- images, barcodes, cuts ----------------------------------------------------------------------------
    def _raster(self, pos: int) -> int:
        head = self._need(pos, 8)
        if head[2] not in (0x00, 0x30):
            raise UnknownCommand("GS v with a function other than 0")
        xbytes, rows = head[4] | head[5] << 8, head[6] | head[7] << 8
        data = self._need(pos + 8, xbytes * rows)
        self._print_line_if_any()
        image = Image.frombytes("1", (xbytes * 8, rows), data.translate(INVERT))
        self._place(image)
        return pos + 8 + xbytes * rows

    def _barcode(self, pos: int) -> int:
        kind = self._need(pos, 3)[2]
        if kind <= 6:
            end = self._buf.find(0, pos + 3)
            if end < 0:
                raise _Incomplete
            data, after = bytes(self._buf[pos + 3:end]), end + 1
        else:
            length = self._need(pos, 4)[3]
            data, after = self._need(pos + 4, length), pos + 4 + length
        if kind not in (4, 69):
            raise UnknownCommand(f"barcode system {kind} (only Code 39 is modelled)")
        self._print_line_if_any()
        self._place(code39_image(data.decode("ascii"), self.mode.bar_module, self.mode.bar_height))
        return after

    def _place(self, image: Image.Image) -> None:
        band = Image.new("1", (self.width, image.height), 1)
        band.paste(image.crop((0, 0, min(image.width, self.width), image.height)), (self._x(image.width), 0))
        self._bands.append(band)

    def _cut(self, pos: int) -> int:
        kind = self._need(pos, 3)[2]
        if kind not in SHORT_CUTS | FEED_CUTS:
            raise UnknownCommand(f"GS V {kind}")
        size = 4 if kind in FEED_CUTS else 3
        if kind in (65, 66):
            self._print_line_if_any()
            self._blank(self._need(pos, 4)[3])
        self._print_line_if_any()
        self.slips.append(Slip(self.paper(), self._lines))
        self._bands, self._lines = [], []
        return pos + size

    # --- output --------------------------------------------------------------------------------------------
    def paper(self) -> Image.Image:
        """The paper printed since the last cut, as one image."""
        height = sum(band.height for band in self._bands)
        image = Image.new("1", (self.width, max(height, 1)), 1)
        y = 0
        for band in self._bands:
            image.paste(band, (0, y))
            y += band.height
        return image


def code39_image(data: str, module: int, height: int) -> Image.Image:
    """Bars of ``*data*`` (no check character), ``module`` dots per narrow element."""
    # python-barcode ships no types and no stub package exists for it (PyPI has no types-python-barcode)
    import barcode  # type: ignore[import-untyped]
    from barcode.errors import IllegalCharacterError  # type: ignore[import-untyped]

    text = data[1:-1] if len(data) > 1 and data[0] == data[-1] == "*" else data  # the printer adds * itself
    try:
        bits: str = barcode.get_barcode_class("code39")(text, add_checksum=False).build()[0]
    except IllegalCharacterError as error:
        raise UnknownCommand(f"Code 39 data {data!r}: {error}") from error
    row = bytes(0 if bit == "1" else 255 for bit in bits for _ in range(module))
    return Image.frombytes("L", (len(row), 1), row).resize((len(row), max(height, 1))).convert("1")
