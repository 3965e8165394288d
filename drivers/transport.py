"""Byte transports to devices, each with a timeout on every write and read, and the parsing of their URLs.
(Which scheme opens which transport is decided by the composition root, ``daemon/wiring``.)

- ``tcp://HOST[:PORT]``: raw TCP, port 9100 by default (network printers, and the virtual printer);
- ``serial://PATH?baudrate=N``: a serial port or pty through pyserial's ``serial_for_url`` (any pyserial URL
  after ``serial:`` also works, e.g. ``serial:rfc2217://host:port``);
- ``usb://VID:PID`` (hex): USB through python-escpos and pyusb (detaches the usblp kernel driver);
- ``file:///dev/usb/lp0``: a device file (usblp), no libusb needed.

``read`` returns what arrived within its timeout, possibly nothing; ``write`` sends everything or raises
``TransportError``.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

DEFAULT_TCP_PORT = 9100


class TransportError(OSError):
    """The device cannot be reached or did not take the bytes in time."""


class ByteTransport(Protocol):
    def write(self, data: bytes) -> None: ...

    def read(self, size: int, timeout: float) -> bytes: ...

    def close(self) -> None: ...


class TcpTransport:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise TransportError(f"cannot connect to {host}:{port}: {error}") from error
        self.timeout = timeout

    def write(self, data: bytes) -> None:
        self.sock.settimeout(self.timeout)
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise TransportError(f"write failed: {error}") from error

    def read(self, size: int, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(size)
        except TimeoutError:
            return b""
        except OSError as error:
            raise TransportError(f"read failed: {error}") from error

    def close(self) -> None:
        self.sock.close()


class SerialTransport:
    """pyserial ``serial_for_url``: ``write_timeout`` on writes, ``timeout`` per read."""

    def __init__(self, url: str, baudrate: int, timeout: float) -> None:
        import serial

        self._errors: tuple[type[Exception], ...] = (serial.SerialException, OSError)
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, write_timeout=timeout)
        except self._errors as error:
            raise TransportError(f"cannot open {url}: {error}") from error

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except self._errors as error:
            raise TransportError(f"write failed: {error}") from error

    def read(self, size: int, timeout: float) -> bytes:
        self.port.timeout = timeout
        try:
            data: bytes = self.port.read(size)
        except self._errors as error:
            raise TransportError(f"read failed: {error}") from error
        return data

    def close(self) -> None:
        self.port.close()


class FileTransport:
    """A device file such as ``/dev/usb/lp0``, non-blocking, with ``select`` for the timeouts."""

    def __init__(self, path: str, timeout: float) -> None:
        self.timeout = timeout
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as error:
            raise TransportError(f"cannot open {path}: {error}") from error

    def write(self, data: bytes) -> None:
        view, deadline = memoryview(data), time.monotonic() + self.timeout
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self.fd], [], left)[1]:
                raise TransportError(f"write timed out with {len(view)} of {len(data)} bytes unsent")
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                continue
            except OSError as error:
                raise TransportError(f"write failed: {error}") from error

    def read(self, size: int, timeout: float) -> bytes:
        if not select.select([self.fd], [], [], timeout)[0]:
            return b""
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            return b""
        except OSError as error:
            raise TransportError(f"read failed: {error}") from error

    def close(self) -> None:
        os.close(self.fd)


_ESCPOS_LOCK = threading.Lock()


def escpos_usb_class(cache_dir: Path) -> Any:
    """python-escpos's ``Usb``, imported without its side effects on the process.

    Importing escpos calls ``logging.basicConfig()`` (a root handler is in place while importing, so that is a
    no-op) and writes a capabilities pickle into ``ESCPOS_CAPABILITIES_PICKLE_DIR`` (set to ``cache_dir``); its
    ``mkdtemp()`` default is evaluated anyway, so temporary directories point into ``cache_dir`` meanwhile and
    the empty one it makes is removed.
    """
    with _ESCPOS_LOCK:
        cache_dir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(cache_dir))
        root, guard, saved = logging.getLogger(), logging.NullHandler(), tempfile.tempdir
        before = set(cache_dir.iterdir())
        root.addHandler(guard)
        tempfile.tempdir = str(cache_dir)
        try:
            from escpos.printer import Usb  # type: ignore[import-untyped]
        finally:
            tempfile.tempdir = saved
            root.removeHandler(guard)
            for stray in set(cache_dir.iterdir()) - before:
                if stray.is_dir() and not any(stray.iterdir()):
                    stray.rmdir()
        return Usb


class UsbTransport:  # pragma: no cover - needs a USB printer and libusb
    def __init__(self, vendor: int, product: int, timeout: float, cache_dir: Path) -> None:
        usb_class = escpos_usb_class(cache_dir)
        try:
            self.printer = usb_class(vendor, product, timeout=max(1, int(timeout * 1000)))
            self.printer.open()
        except Exception as error:  # pyusb raises its own USBError/NoBackendError types
            raise TransportError(f"cannot open USB printer {vendor:04x}:{product:04x}: {error}") from error

    def write(self, data: bytes) -> None:
        try:
            self.printer._raw(data)
        except Exception as error:
            raise TransportError(f"USB write failed: {error}") from error

    def read(self, size: int, timeout: float) -> bytes:
        try:
            return bytes(self.printer.device.read(self.printer.in_ep, size, max(1, int(timeout * 1000))))
        except Exception:
            return b""

    def close(self) -> None:
        self.printer.close()


def tcp_transport(url: str, timeout: float) -> TcpTransport:
    """``tcp://HOST[:PORT]`` (port 9100 by default)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"{url}: a tcp:// URL needs a host")
    return TcpTransport(parts.hostname, parts.port or DEFAULT_TCP_PORT, timeout)


def serial_transport(url: str, timeout: float) -> SerialTransport:
    """``serial://PATH?baudrate=N`` or ``serial:`` followed by any pyserial URL."""
    target, _, query = url[len("serial:"):].partition("?")
    target = target[2:] if target.startswith("//") else target  # serial:///dev/ttyS0 -> /dev/ttyS0
    baudrate = int(parse_qs(query).get("baudrate", ["9600"])[0])
    return SerialTransport(target, baudrate, timeout)


def file_transport(url: str, timeout: float) -> FileTransport:
    """``file:///dev/usb/lp0``: the device file of the URL's path."""
    return FileTransport(urlsplit(url).path, timeout)


def usb_transport(url: str, timeout: float, cache_dir: Path) -> UsbTransport:  # pragma: no cover - needs libusb
    """``usb://VID:PID`` in hex; python-escpos keeps its capabilities pickle in ``cache_dir``."""
    vendor, _, product = urlsplit(url).netloc.partition(":")
    return UsbTransport(int(vendor, 16), int(product, 16), timeout, cache_dir)
