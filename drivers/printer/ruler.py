"""The self-test slip's ruler and code-page lines: ESC/POS bytes for ``einvd printer test``. Pure.

The ruler is drawn in the printer's own dots (``dpi``), a tick per millimetre, longer every 5 and 10: laid
against a real ruler it shows whether the model's density is right (a 180 dpi printer driven as 203 dpi prints
everything 13 % wider). It is 57 mm (the proof's 5.7 cm) where the print head is that wide, else the head's
whole width (58 mm paper: 47 mm of its 48). Sent as one raster bit image, ``GS v 0`` (Epson ESC/POS reference).
"""

from __future__ import annotations

GS, FS, LF = b"\x1d", b"\x1c", b"\n"
PROOF_MM = 57
HEIGHT = 28  # dots: 1 mm ticks 8, 5 mm ticks 16, 10 mm ticks 24, a 2-dot base line


def ruler_mm(dpi: int, dots: int) -> int:
    """Whole millimetres the ruler spans: 57, or as many as ``dots`` at ``dpi`` hold with the last (2-dot) tick
    on the head (58 mm paper at 203 dpi: 47)."""
    return min(PROOF_MM, int((dots - 2) * 25.4 / dpi))


def _tick(mm: int) -> int:
    return 24 if mm % 10 == 0 else 16 if mm % 5 == 0 else 8


def ruler(dpi: int, dots: int) -> bytes:
    """``GS v 0`` of a ``ruler_mm`` ruler, ``dots`` wide (its left end at the print head's left edge)."""
    length = ruler_mm(dpi, dots)
    width = (dots + 7) // 8
    marks = {round(mm * dpi / 25.4): _tick(mm) for mm in range(length + 1)}
    end = max(marks)
    heights = {x: size for at, size in marks.items() for x in (at, at + 1) if x < dots}  # ticks 2 dots wide
    rows = []
    for y in range(HEIGHT):
        row = bytearray(width)
        for x in range(min(end + 2, dots)):
            on_base = y >= HEIGHT - 2 and x <= end
            if on_base or (x in heights and y >= HEIGHT - heights[x]):
                row[x // 8] |= 0x80 >> (x % 8)
        rows.append(bytes(row))
    return GS + b"v0\x00" + bytes([width % 256, width // 256, HEIGHT % 256, HEIGHT // 256]) + b"".join(rows)


def codec_line(label: str, text: str, codec: str) -> bytes:
    """``label`` (ASCII), then ``text`` in ``codec`` between ``FS &`` and ``FS .``: the same Chinese line in Big5 and in
    GB18030, one of which the printer prints right (its firmware's setting, which ESC/POS cannot ask)."""
    return label.encode("ascii") + FS + b"&" + text.encode(codec) + FS + b"." + LF
