"""A USB HID keyboard-wedge scanner as the kernel presents it: a node that yields ``struct input_event`` records.

A pseudo-terminal in raw mode stands in for /dev/input/by-id/...-event-kbd (a stable symlink, replaced on
replug as udev does); the simulator writes to its master what the kernel's evdev layer would deliver for each
key the scanner presses. From linux/input.h and Documentation/input/event-codes.rst: every record is
``struct input_event {struct timeval time; __u16 type; __u16 code; __s32 value;}`` in native layout
(``struct.calcsize("llHHi")``); a USB keyboard reports each key as EV_MSC/MSC_SCAN (the HID usage, page 7),
then EV_KEY (1 press, 0 release), then EV_SYN/SYN_REPORT. Shift is a key of its own held around the keys it
shifts. The keys for each character come from the layout the scanner is programmed for (hw_sim/keyboard.py,
libxkbcommon over the XKB database); the scan ends with Enter.

Unplugging closes the pty: the reader's next read fails (EIO here, ENODEV on a real node). ``SimIoctls`` answers
the two ioctls a pty cannot (EVIOCGRAB, EVIOCGNAME) the way evdev does: a second grab is refused with EBUSY
until the first holder closes the node (evdev_grab() in drivers/input/evdev.c).
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

from hw_sim.keyboard import Stroke
from hw_sim.scanner import PtyNode, keyboard

EVENT = struct.Struct("llHHi")
EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
SYN_REPORT, MSC_SCAN = 0, 4
KEY_ENTER, KEY_LEFTSHIFT = 28, 42
# USB HID Usage Tables, keyboard page (0x07): the usages of the keys a scanner presses, for MSC_SCAN.
_HID_USAGE = {**{code: 0x70000 + usage for code, usage in zip(
    (30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44),
    range(0x04, 0x1E), strict=True)},
    **{code: 0x70000 + usage for code, usage in zip(range(2, 12), range(0x1E, 0x28), strict=True)},
    KEY_ENTER: 0x70028, 12: 0x7002D, 13: 0x7002E, 26: 0x7002F, 27: 0x70030, 43: 0x70031, 39: 0x70033,
    40: 0x70034, 41: 0x70035, 51: 0x70036, 52: 0x70037, 53: 0x70038, 57: 0x7002C, 86: 0x70064, KEY_LEFTSHIFT: 0x700E1}


class SimIoctls:
    """EVIOCGRAB and EVIOCGNAME as evdev answers them, for the pty standing in for the node."""

    def __init__(self, name: str = "hw_sim Barcode Scanner") -> None:
        self.device_name = name
        self.grabs: list[int] = []  # every fd that grabbed, in order
        self.held_elsewhere = False  # another program (a desktop session) holds the grab

    def grab(self, fd: int) -> None:
        if self.held_elsewhere:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
        self.grabs.append(fd)

    def name(self, fd: int) -> str:
        return self.device_name


class SimHidScanner(PtyNode):
    def __init__(self, directory: Path, name: str = "usb-hw_sim_Scanner-event-kbd", layout: str = "us") -> None:
        self.layout = layout
        self.clock = 1_700_000_000.0  # event time stamps: they only have to rise
        super().__init__(directory, name, raw=True)

    def events(self, text: str, enter: bool = True) -> list[tuple[int, int, int]]:
        """(type, code, value) of every event the kernel reports while the scanner types ``text``."""
        board = keyboard(self.layout)
        strokes = [board.strokes(char) for char in text] + ([Stroke(KEY_ENTER, False)] if enter else [])
        events: list[tuple[int, int, int]] = []
        for stroke in strokes:
            if stroke.shift:
                events += self._key(KEY_LEFTSHIFT, 1)
            events += self._key(stroke.code, 1) + self._key(stroke.code, 0)
            if stroke.shift:
                events += self._key(KEY_LEFTSHIFT, 0)
        return events

    @staticmethod
    def _key(code: int, value: int) -> list[tuple[int, int, int]]:
        return [(EV_MSC, MSC_SCAN, _HID_USAGE.get(code, 0)), (EV_KEY, code, value), (EV_SYN, SYN_REPORT, 0)]

    def record(self, events: list[tuple[int, int, int]]) -> bytes:
        """The bytes of ``events`` as struct input_event records."""
        out = bytearray()
        for kind, code, value in events:
            self.clock += 0.004  # a scanner types a key every few milliseconds
            out += EVENT.pack(int(self.clock), int(self.clock % 1 * 1_000_000), kind, code, value)
        return bytes(out)

    def scan(self, text: str) -> None:
        """The scanner reads a barcode holding ``text`` and types it, then Enter."""
        self.write(self.record(self.events(text)))
