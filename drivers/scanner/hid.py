"""USB HID keyboard-wedge scanners read from the kernel's evdev node (/dev/input/by-id/...-event-kbd).

The node is opened and grabbed exclusively (EVIOCGRAB), so no keystroke reaches a console or the POS window;
the kernel's ``struct input_event`` records (linux/input.h: struct timeval, __u16 type, __u16 code, __s32 value;
``struct.calcsize("llHHi")`` bytes on this architecture) are read straight from it, no library needed. Keys are
decoded with the layout the scanner is programmed for (default US; ``turnkey/keymaps.py``, from the XKB
database): Shift is held while its value is not 0, other keys count on key-down, Enter/Tab end a scan.
What a host layout did to a scan typed elsewhere is undone by ``turnkey.carrier.normalise_scan``.

When the scanner is unplugged the read fails (ENODEV; EIO or end of file on the pty the tests use): the node is
closed, which ends the grab, and reopened with backoff until the scanner is back.

The two ioctls only a real input device answers (grab, name) sit behind ``Ioctls``; everything else runs
unchanged on a pty standing in for the device node (hw_sim/hid.py).
"""

from __future__ import annotations

import fcntl
import logging
import os
import select
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from turnkey.keymaps import LAYOUTS

log = logging.getLogger(__name__)

EVENT = struct.Struct("llHHi")  # struct input_event as this architecture lays it out
EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
KEY_ENTER, KEY_TAB, KEY_KPENTER = 28, 15, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
END_KEYS = frozenset({KEY_ENTER, KEY_KPENTER, KEY_TAB})
# linux/input-event-codes.h: the keypad types the same characters whatever the layout and Shift (NumLock on).
_KEYPAD = {98: "/", 55: "*", 74: "-", 78: "+", 83: ".", 82: "0", 79: "1", 80: "2", 81: "3", 75: "4", 76: "5",
           77: "6", 71: "7", 72: "8", 73: "9"}
# linux/input.h: EVIOCGRAB = _IOW('E', 0x90, int), EVIOCGNAME(len) = _IOC(_IOC_READ, 'E', 0x06, len)
EVIOCGRAB = (1 << 30) | (struct.calcsize("i") << 16) | (ord("E") << 8) | 0x90
NAME_LENGTH = 256
EVIOCGNAME = (2 << 30) | (NAME_LENGTH << 16) | (ord("E") << 8) | 0x06


def keymap(layout: str = "us") -> dict[int, tuple[str, str]]:
    """Key code -> (character, character with Shift) for a scanner programmed for ``layout`` (dead keys type
    nothing here: a scanner never sends the key that follows to complete them)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown keyboard layout {layout!r} (one of {', '.join(LAYOUTS)})")
    typed = {code: (_typed(first), _typed(second)) for code, (first, second) in LAYOUTS[layout].items()}
    return typed | {code: (char, char) for code, char in _KEYPAD.items()}


def _typed(level: str) -> str:
    return "" if level.startswith("dead_") else level


US_KEYMAP = keymap("us")


@dataclass(frozen=True)
class InputEvent:
    """One ``struct input_event``."""

    sec: int
    usec: int
    type: int
    code: int
    value: int


def parse_events(data: bytes) -> tuple[list[InputEvent], bytes]:
    """Whole records in ``data``, and the bytes of an incomplete last one."""
    whole = len(data) - len(data) % EVENT.size
    return [InputEvent(*fields) for fields in EVENT.iter_unpack(data[:whole])], data[whole:]


class KeyEvent(Protocol):
    @property
    def type(self) -> int: ...

    @property
    def code(self) -> int: ...

    @property
    def value(self) -> int: ...


class KeyDecoder:
    """Key events -> scans. Shift is held while its value is not 0; other keys count on key-down only."""

    def __init__(self, keymap: dict[int, tuple[str, str]] | None = None) -> None:
        self.keymap = keymap or US_KEYMAP
        self._shift = 0
        self._text: list[str] = []

    def feed(self, events: Iterable[KeyEvent]) -> list[str]:
        scans = []
        for event in events:
            scan = self._one(event)
            if scan:
                scans.append(scan)
        return scans

    def _one(self, event: KeyEvent) -> str | None:
        if event.type != EV_KEY:
            return None
        if event.code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            self._shift = max(0, self._shift + (1 if event.value == 1 else -1 if event.value == 0 else 0))
            return None
        if event.value != 1:
            return None
        if event.code in END_KEYS:
            scan, self._text = "".join(self._text), []
            return scan or None
        pair = self.keymap.get(event.code)
        if pair is not None:
            self._text.append(pair[1] if self._shift else pair[0])
        return None


class Ioctls(Protocol):
    """What only a real input device answers."""

    def grab(self, fd: int) -> None: ...

    def name(self, fd: int) -> str: ...


class KernelIoctls:
    """EVIOCGRAB and EVIOCGNAME on a /dev/input/event* node."""

    def grab(self, fd: int) -> None:
        """Exclusive: while held, no other reader (console, X, Wayland) sees the keys. Closing the node ends it;
        EBUSY when someone else holds it."""
        fcntl.ioctl(fd, EVIOCGRAB, 1)

    def name(self, fd: int) -> str:
        buffer = bytearray(NAME_LENGTH)
        fcntl.ioctl(fd, EVIOCGNAME, buffer)
        return buffer.split(b"\0", 1)[0].decode("utf-8", errors="replace")


class HidScanner:
    """A keyboard-wedge scanner at an evdev ``path``, read in a thread; reopened with backoff after an unplug.
    Same start/stop/connected shape as ``SerialScanner``."""

    def __init__(self, path: str, on_scan: Callable[[str], None], *, layout: str = "us",
                 backoff: tuple[float, float] = (0.5, 30.0), poll: float = 0.2,
                 ioctls: Ioctls | None = None) -> None:
        self.path, self.on_scan, self.backoff, self.poll = path, on_scan, backoff, poll
        self.keymap = keymap(layout)
        self.ioctls: Ioctls = ioctls or KernelIoctls()
        self.connected = threading.Event()
        self.device_name = ""
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"scanner {self.path}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            fd = self._open()
            if fd is None:
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            delay = self.backoff[0]
            try:
                self._read(fd)
            finally:
                self.connected.clear()
                os.close(fd)  # ends the grab

    def _open(self) -> int | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as error:
            log.warning("scanner %s not available: %s", self.path, error)
            return None
        try:
            self.ioctls.grab(fd)
            self.device_name = self.ioctls.name(fd)
        except OSError as error:
            os.close(fd)
            log.warning("scanner %s cannot be grabbed (%s): another program holds it?", self.path, error)
            return None
        self.connected.set()
        return fd

    def _read(self, fd: int) -> None:
        decoder, pending = KeyDecoder(self.keymap), b""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(self.poll * 1000):
                continue
            try:
                data = os.read(fd, EVENT.size * 64)
            except OSError as error:  # ENODEV from a real node, EIO from the tests' pty
                data, why = b"", str(error)
            else:
                why = "end of file"
            if not data:  # unplugged: the partial scan is dropped, like the serial reader's
                log.warning("scanner %s went away: %s", self.path, why)
                self.reconnects += 1
                return
            events, pending = parse_events(pending + data)
            for scan in decoder.feed(events):
                self.on_scan(scan)
