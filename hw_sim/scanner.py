"""A serial barcode scanner on a real pseudo-terminal, reachable through a stable symlink (like
/dev/serial/by-id/...), that plays scripted scans and can be unplugged and plugged in again.

``garble`` reproduces what keyboard layouts, IMEs and Code 39 Full-ASCII decoding do to a mobile barcode. Keyboard
layouts are typed for real, key by key, through libxkbcommon and the XKB database (hw_sim/keyboard.py), not from a
table einvd keeps; IMEs and Full ASCII as the field notes describe them. Nothing here comes from einvd's
normaliser.
"""

from __future__ import annotations

import functools
import os
import tty
from pathlib import Path

from hw_sim.keyboard import Keyboard, layout_names

TERMINATORS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "tab": b"\t", "none": b""}
_LEADING = {"shift": "?", "ja-ime": "・", "zhuyin": "ㄥ"}
_NAMED = {"de-host": "host:de", "fr-host": "host:fr", "de-scanner": "scanner:de", "fr-scanner": "scanner:fr"}


@functools.cache
def keyboard(spec: str) -> Keyboard:
    """The layout ``us``, ``de``, ``jp(106)``, ``us(dvorak)``... compiled once."""
    return Keyboard(*layout_names(spec))


def type_on_host(text: str, layout: str, composer: str = "compose") -> str:
    """A scanner set to US types ``text`` (the keys US types it with) into a host whose layout is ``layout``."""
    us = keyboard("us")
    return keyboard(layout).type([us.strokes(char) for char in text], composer)


def type_from_scanner(text: str, layout: str, shift_lost: bool = False) -> str:
    """A scanner set to ``layout`` types ``text``; the keys are read back with the US layout (as einvd's HID
    decoder reads them), optionally with every Shift lost."""
    us, scanner = keyboard("us"), keyboard(layout)
    strokes = [scanner.strokes(char) for char in text]
    return us.type([type(stroke)(stroke.code, stroke.shift and not shift_lost) for stroke in strokes])


def garble(text: str, how: str) -> str:
    """``text`` as a mis-configured scanner or host would deliver it: ``host:LAYOUT[:COMPOSER]``,
    ``scanner:LAYOUT[:shift-lost]``, or one of the named garblings."""
    how = _NAMED.get(how, how)
    side, _, rest = how.partition(":")
    if side == "host":
        layout, _, composer = rest.partition(":")
        return type_on_host(text, layout, composer or "compose")
    if side == "scanner":
        layout, _, shift = rest.partition(":")
        return type_from_scanner(text, layout, shift == "shift-lost")
    if how in _LEADING:
        return _LEADING[how] + text[1:]
    if how == "full-ascii":
        return chr(ord(text[1]) - 32) + text[2:] if text[1] in "ABCDEFGHIJKLMNO" else text
    if how == "caps-lock":
        return text.lower()
    if how == "full-width":
        return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)
    if how == "no-slash":
        return text[1:]
    raise ValueError(f"unknown garbling {how!r}")


class PtyNode:
    """A device node played by a pseudo-terminal behind a stable symlink (as udev's by-id names are), replaced on
    each plug: a replugged USB device gets a new node. ``raw``: binary records pass untouched (no echo, no CR/LF
    translation or signal characters), as an input event node delivers them."""

    def __init__(self, directory: Path, name: str, raw: bool = False) -> None:
        self.link = Path(directory) / name
        self.raw = raw
        self._master: int | None = None
        self._slave: int | None = None
        self.plug()

    @property
    def path(self) -> str:
        return str(self.link)

    def plug(self) -> None:
        """A new pty behind the stable name."""
        self._master, self._slave = os.openpty()
        if self.raw:
            tty.setraw(self._slave)
        temporary = self.link.with_name(self.link.name + ".new")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(os.ttyname(self._slave))
        temporary.replace(self.link)

    def unplug(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def write(self, data: bytes) -> None:
        if self._master is None:
            raise OSError("the simulated scanner is unplugged")
        os.write(self._master, data)

    def close(self) -> None:
        self.unplug()
        self.link.unlink(missing_ok=True)


class SimScanner(PtyNode):
    def __init__(self, directory: Path, name: str = "ttyScanner", terminator: str = "cr") -> None:
        self.terminator = TERMINATORS[terminator]
        super().__init__(directory, name)

    def scan(self, text: str, terminator: str | None = None) -> None:
        """One scan as the scanner sends it: the text (UTF-8) and its suffix."""
        suffix = self.terminator if terminator is None else TERMINATORS[terminator]
        self.write(text.encode("utf-8") + suffix)
