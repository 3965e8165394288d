"""ESC/POS real-time status (``DLE EOT n``): the query bytes and what the answers mean. Pure.

Each answer is one byte with bits 1 and 4 set and bits 0 and 7 clear (``0x12`` = all well):
- n = 1 printer status: bit 3 offline;
- n = 2 offline cause: bit 2 cover open, bit 3 paper fed by the button, bit 5 stopped at paper end, bit 6 error;
- n = 4 roll paper sensor: bits 2-3 paper near its end, bits 5-6 paper out.
"""

from __future__ import annotations

from dataclasses import dataclass

DLE_EOT = b"\x10\x04"
QUERY = DLE_EOT + b"\x01" + DLE_EOT + b"\x02" + DLE_EOT + b"\x04"
REPLY_LENGTH = 3
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12


class StatusUnreadable(ValueError):
    """The answer is not a status byte sequence (wrong length or fixed bits)."""


@dataclass(frozen=True)
class PrinterStatus:
    online: bool
    cover_open: bool
    paper_out: bool
    paper_near_end: bool
    error: bool
    known: bool = True  # False: the printer did not answer (``UNKNOWN``)

    @property
    def problem(self) -> str | None:
        """The error code that stops printing, or None when the printer can print (or did not say)."""
        if not self.known:
            return None
        if self.paper_out:
            return "printer.paper_out"
        if self.cover_open:
            return "printer.cover_open"
        if self.error:
            return "printer.error"
        if not self.online:
            return "printer.offline"
        return None


UNKNOWN = PrinterStatus(online=True, cover_open=False, paper_out=False, paper_near_end=False, error=False, known=False)
"""A printer that does not answer the status query on a line where that proves nothing (USB)."""


def parse_status(reply: bytes) -> PrinterStatus:
    """The three answers to ``QUERY`` (printer, offline cause, paper sensor)."""
    if len(reply) != REPLY_LENGTH or any(b & _FIXED_MASK != _FIXED_BITS for b in reply):
        raise StatusUnreadable(f"not an ESC/POS status reply: {reply.hex(' ') or 'nothing'}")
    printer, cause, paper = reply
    return PrinterStatus(
        online=not printer & 0x08,
        cover_open=bool(cause & 0x04),
        paper_out=bool(paper & 0x60) or bool(cause & 0x20),
        paper_near_end=bool(paper & 0x0C),
        error=bool(cause & 0x40),
    )
