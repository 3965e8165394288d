"""Bytes from a scanner -> complete scans. Pure: reading is elsewhere, time is an argument.

A scan ends at CR, LF, CRLF or TAB (whatever suffix the scanner is programmed with). Scanners with no suffix
are framed by silence: ``idle(now)`` closes a partial scan once nothing arrived for ``gap`` seconds.
"""

from __future__ import annotations

import re

_TERMINATORS = re.compile(rb"[\r\n\t]+")
MAX_SCAN = 256


class Framer:
    def __init__(self, gap: float | None = None, encoding: str = "utf-8") -> None:
        self.gap = gap
        self.encoding = encoding
        self._partial = b""
        self._last = 0.0

    def feed(self, data: bytes, now: float) -> list[str]:
        """Scans completed by ``data`` (which may hold several, or a part of one)."""
        self._last = now
        pieces = _TERMINATORS.split(self._partial + data)
        self._partial = pieces.pop()[-MAX_SCAN:]
        return [self._text(p) for p in pieces if p]

    def idle(self, now: float) -> list[str]:
        """The partial scan, when the scanner has been silent for ``gap`` seconds (and a gap is configured)."""
        if self.gap is None or not self._partial or now - self._last < self.gap:
            return []
        return self.flush()

    def flush(self) -> list[str]:
        """Whatever is buffered, as a scan (used when the device goes away)."""
        partial, self._partial = self._partial, b""
        return [self._text(partial)] if partial else []

    def _text(self, raw: bytes) -> str:
        return raw.decode(self.encoding, errors="replace")
