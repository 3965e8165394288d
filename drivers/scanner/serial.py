"""A serial barcode scanner (pyserial URL: a device path, /dev/serial/by-id/..., rfc2217://, ...).

A reader thread frames bytes into scans and hands each to ``on_scan``. When the device goes away (unplug:
pyserial raises SerialException/OSError) it closes the port and re-opens it with exponential backoff, so a
scanner that comes back is used again without a restart. A partial scan cut by the unplug is discarded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import serial

from drivers.scanner.framing import Framer

log = logging.getLogger(__name__)
Opener = Callable[..., Any]


class KeepInputSerial(serial.Serial):
    """pyserial's ``open()`` flushes the input buffer; scans that arrived between a replug and our re-open
    would be thrown away, so that one flush is skipped."""

    _opening = False

    def open(self) -> None:
        self._opening = True
        try:
            super().open()
        finally:
            self._opening = False

    def _reset_input_buffer(self) -> None:  # pyserial 3.5 serialposix: open() calls this private helper
        if not self._opening:
            super()._reset_input_buffer()  # type: ignore[misc]  # serialposix-only, not in types-pyserial


def open_port(url: str, **settings: Any) -> Any:
    """A device path opens without the input flush; other pyserial URLs (rfc2217://, socket://) as usual."""
    if "://" in url:
        return serial.serial_for_url(url, **settings)
    return KeepInputSerial(url, **settings)


class SerialScanner:
    def __init__(self, url: str, on_scan: Callable[[str], None], *, baudrate: int = 9600, gap: float | None = None,
                 backoff: tuple[float, float] = (0.5, 30.0), poll: float = 0.05,
                 opener: Opener = open_port, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.url, self.on_scan, self.baudrate, self.gap = url, on_scan, baudrate, gap
        self.backoff, self.poll, self.opener, self.monotonic = backoff, poll, opener, monotonic
        self.connected = threading.Event()
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"scanner {self.url}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            port = self._open()
            if port is None:
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            delay = self.backoff[0]
            self._read(port)

    def _open(self) -> Any | None:
        try:
            port = self.opener(self.url, baudrate=self.baudrate, timeout=self.poll, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as error:
            log.warning("scanner %s not available: %s", self.url, error)
            return None
        self.connected.set()
        return port

    def _read(self, port: Any) -> None:
        framer = Framer(self.gap)
        try:
            while not self._stop.is_set():
                data = port.read(port.in_waiting or 1)
                now = self.monotonic()
                for scan in framer.feed(data, now) if data else framer.idle(now):
                    self.on_scan(scan)
        except (serial.SerialException, OSError) as error:
            log.warning("scanner %s went away: %s", self.url, error)
            self.reconnects += 1
        finally:
            self.connected.clear()
            port.close()
