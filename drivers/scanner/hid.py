"""USB HID keyboard-wedge scanners through evdev: key events -> text, with an exclusive grab.

The decoder is pure and keyed by Linux input event codes (linux/input-event-codes.h), so it runs on recorded or
synthetic events without evdev installed; only ``open_device`` (used by ``HidScanner``) needs the ``evdev`` package
(extra ``hid``).
The scanner should be programmed for the US layout; what other layouts do to "/" is undone by
``turnkey.carrier.normalise_scan``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

EV_KEY = 1
KEY_ENTER, KEY_TAB, KEY_KPENTER = 28, 15, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
_LETTERS = dict(zip((30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17,
                     45, 21, 44), "abcdefghijklmnopqrstuvwxyz", strict=True))
_DIGITS = dict(zip((11, 2, 3, 4, 5, 6, 7, 8, 9, 10), "0123456789", strict=True))
_SHIFTED_DIGITS = dict(zip("1234567890", "!@#$%^&*()", strict=True))
_PUNCTUATION = {12: ("-", "_"), 13: ("=", "+"), 52: (".", ">"), 53: ("/", "?"), 57: (" ", " "), 51: (",", "<"),
                39: (";", ":"), 40: ("'", '"'), 26: ("[", "{"), 27: ("]", "}"), 43: ("\\", "|"), 41: ("`", "~")}
_KEYPAD = {98: "/", 74: "-", 78: "+", 83: ".", 82: "0", 79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6",
           71: "7", 72: "8", 73: "9"}
US_KEYMAP: dict[int, tuple[str, str]] = (
    {code: (ch, ch.upper()) for code, ch in _LETTERS.items()}
    | {code: (d, _SHIFTED_DIGITS[d]) for code, d in _DIGITS.items()}
    | _PUNCTUATION
    | {code: (ch, ch) for code, ch in _KEYPAD.items()}
)
END_KEYS = frozenset({KEY_ENTER, KEY_KPENTER, KEY_TAB})


class KeyEvent(Protocol):
    type: int
    code: int
    value: int


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


class HidUnavailable(RuntimeError):
    """The optional ``evdev`` package (extra ``hid``) is not installed."""


def open_device(path: str) -> Any:  # pragma: no cover - needs a real /dev/input device and the evdev package
    """The evdev device at ``path``, grabbed so keystrokes never reach a console or desktop."""
    try:
        import evdev  # optional (extra "hid", in the test extras), imported only when configured
    except ImportError as error:
        raise HidUnavailable("a hid: scanner needs the evdev package: install einvd with the extra [hid]") from error
    device = evdev.InputDevice(path)
    device.grab()
    return device


def read_scans(device: Any, decoder: KeyDecoder) -> Iterator[str]:  # pragma: no cover - real device loop
    """Scans from a grabbed device until it goes away (OSError on unplug)."""
    for event in device.read_loop():
        yield from decoder.feed([event])


class HidScanner:
    """A keyboard-wedge scanner at an evdev ``path``, read in a thread; reopened with backoff after an unplug.
    Same start/stop/connected shape as ``SerialScanner``."""

    def __init__(self, path: str, on_scan: Callable[[str], None], *, backoff: tuple[float, float] = (0.5, 30.0),
                 opener: Callable[[str], Any] = open_device) -> None:
        self.path, self.on_scan, self.backoff, self.opener = path, on_scan, backoff, opener
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._device: Any = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"scanner {self.path}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        device = self._device
        if device is not None:
            device.close()  # ends read_loop with OSError
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            try:
                self._device = self.opener(self.path)
            except OSError as error:
                log.warning("scanner %s not available: %s", self.path, error)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            delay = self.backoff[0]
            self._read(self._device)

    def _read(self, device: Any) -> None:
        self.connected.set()
        try:
            for scan in read_scans(device, KeyDecoder()):
                self.on_scan(scan)
        except OSError as error:
            log.warning("scanner %s went away: %s", self.path, error)
        finally:
            self.connected.clear()
            self._device = None
            with contextlib.suppress(OSError):
                device.close()  # gives up the grab and the file descriptor
