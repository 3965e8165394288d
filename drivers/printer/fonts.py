"""The font for the raster profile (printers without a Chinese font) and for the lines a code-page printer
cannot hold (``fallback_font``): a given file, or a CJK font found in the usual Debian locations (Noto Sans CJK
TC for Taiwan glyph forms first)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

CANDIDATES = (
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 3),
    (Path("/usr/share/fonts/truetype/arphic/uming.ttc"), 0),
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
)
SIZE = 22  # drawn in a 24-dot line, like the printer's own 24 x 24 Chinese font


def raster_font(path: Path | None = None, size: int = SIZE) -> FreeTypeFont:
    """A Pillow font; ``FileNotFoundError`` when no CJK font is installed and none was given."""
    from PIL import ImageFont

    if path is not None:
        return ImageFont.truetype(str(path), size)
    for candidate, index in CANDIDATES:
        if candidate.is_file():
            return ImageFont.truetype(str(candidate), size, index=index)
    raise FileNotFoundError("no CJK font found for the raster printer profile: install fonts-noto-cjk or "
                            "fonts-wqy-microhei, or set printer.font")


def fallback_font(path: Path | None = None, size: int = SIZE) -> FreeTypeFont | None:
    """The font that draws a line holding characters the printer's code page lacks, or None when no CJK font is
    installed (the encoder then prints those characters as ``？`` and notes it in the job)."""
    try:
        return raster_font(path, size)
    except FileNotFoundError:
        return None
