"""Byte transports to devices, each with a timeout on every write and read, and the parsing of their URLs.
(Which scheme opens which transport is decided by the composition root, ``daemon/wiring``.)

- ``tcp://HOST[:PORT]``: raw TCP, port 9100 by default (network printers, and the virtual printer);
- ``serial://PATH?baudrate=N``: a serial port or pty through pyserial's ``serial_for_url`` (any pyserial URL
  after ``serial:`` also works, e.g. ``serial:rfc2217://host:port``);
- ``usb://VID:PID[?interface=N&in_ep=0x81&out_ep=0x02&serial=S]`` (hex ids): USB through python-escpos and pyusb
  (detaches the usblp kernel driver; endpoints from the descriptors unless given; ``serial`` picks one of two
  identical printers);
- ``file:///dev/usb/lp0``: a device file (usblp), no libusb needed.

``read`` returns what arrived within its timeout, possibly nothing; ``write`` sends everything or raises
``TransportError``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass
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
_PICKLE_DIR = "ESCPOS_CAPABILITIES_PICKLE_DIR"
_USB_CLASSES: list[Any] = []


def escpos_usb_class(cache_dir: Path) -> Any:
    """python-escpos's ``Usb``, imported once, leaving the process's settings as they were.

    Importing escpos 3.1 runs ``escpos/capabilities.py``, which
    - calls ``logging.basicConfig()``: while it imports, a ``NullHandler`` sits on a root logger that has no
      handler, so that is a no-op (a root logger the application configured is not touched);
    - writes its capabilities pickle into ``$ESCPOS_CAPABILITIES_PICKLE_DIR``: ``cache_dir`` for the import
      unless the variable is set, and unset again afterwards;
    - evaluates ``mkdtemp()`` (the default of that lookup) in every case: one empty directory in the system temp
      dir per process, discarded with the service's private /tmp (``PrivateTmp=yes``). Pointing
      ``tempfile.tempdir`` elsewhere meanwhile would move every other thread's temporary files too: not done.
    The composition root calls this when it builds a ``usb://`` printer, before the print thread runs.
    """
    with _ESCPOS_LOCK:
        loaded = sys.modules.get("escpos.printer")
        if loaded is not None:
            return loaded.Usb
        cache_dir.mkdir(parents=True, exist_ok=True)
        root = logging.getLogger()
        guard = None if root.handlers else logging.NullHandler()
        ours = _PICKLE_DIR not in os.environ
        if guard is not None:
            root.addHandler(guard)
        if ours:
            os.environ[_PICKLE_DIR] = str(cache_dir)
        try:
            from escpos.printer import Usb  # type: ignore[import-untyped]
        finally:
            if ours:
                os.environ.pop(_PICKLE_DIR, None)
            if guard is not None:
                root.removeHandler(guard)
        return Usb


def _usb_printer_class(cache_dir: Path) -> Any:
    """``Usb`` detaching the kernel driver (usblp) from the interface used, whatever pyusb's backend: escpos 3.1
    looks at interface 0 only, and only under pyusb's libusb1 backend."""
    if _USB_CLASSES:
        return _USB_CLASSES[0]
    base = escpos_usb_class(cache_dir)

    class EinvdUsb(base):  # type: ignore[misc,valid-type]
        wanted_interface: int | None = None
        intf: Any = None

        def _check_driver(self) -> None:  # called by ``open()`` between finding and configuring the device
            self.intf = printer_interface(self.device, self.wanted_interface)
            number = self.intf.bInterfaceNumber
            try:
                if self.device.is_kernel_driver_active(number):
                    self.device.detach_kernel_driver(number)
            except NotImplementedError:  # backends without kernel drivers (libusb0, Windows)
                pass

    _USB_CLASSES.append(EinvdUsb)
    return EinvdUsb


@dataclass(frozen=True)
class UsbAddress:
    """Which USB printer, interface and endpoints; None: the printer-class interface (else interface 0) and
    its bulk endpoints, as the device describes them."""

    vendor: int
    product: int
    interface: int | None = None
    in_ep: int | None = None
    out_ep: int | None = None
    serial: str | None = None

    @property
    def name(self) -> str:
        return f"USB printer {self.vendor:04x}:{self.product:04x}" + (f" serial {self.serial}" if self.serial else "")

    def matches(self, device: Any) -> bool:
        """Whether ``device`` (pyusb) is this printer: its serial number, when one is asked for."""
        return self.serial is None or _SerialMatch(self.serial)(device)


@dataclass(frozen=True)
class _SerialMatch:
    """pyusb ``custom_match`` by serial number (python-escpos logs it as ``serial=...``)."""

    serial: str

    def __call__(self, device: Any) -> bool:
        return bool(device.serial_number == self.serial)

    def __repr__(self) -> str:
        return f"serial={self.serial}"


_USB_KEYS = {"interface": (0, 255), "in_ep": (0x81, 0x8F), "out_ep": (0x01, 0x0F)}


def parse_usb_url(url: str) -> UsbAddress:
    """``usb://VID:PID[?interface=N&in_ep=0x81&out_ep=0x02&serial=S]``; ``ValueError`` naming the bad part."""
    parts = urlsplit(url)
    ids = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", parts.netloc)
    if parts.scheme != "usb" or ids is None:
        raise ValueError(f"{url}: a USB printer is usb://VID:PID with 4 hex digits each, e.g. usb://0483:5743")
    query = parse_qs(parts.query, keep_blank_values=True)
    values: dict[str, Any] = {}
    for key, given in query.items():
        if key == "serial" and given[-1]:
            values[key] = given[-1]
            continue
        if key not in _USB_KEYS:
            raise ValueError(f"{url}: unknown parameter {key!r} (interface, in_ep, out_ep, serial)")
        low, high = _USB_KEYS[key]
        try:
            values[key] = int(given[-1], 0)
        except ValueError:
            values[key] = -1
        if not low <= values[key] <= high:
            raise ValueError(f"{url}: {key} must be a number from {low:#04x} to {high:#04x}, got {given[-1]!r}")
    return UsbAddress(int(ids.group(1), 16), int(ids.group(2), 16), **values)


def printer_interface(device: Any, wanted: int | None) -> Any:
    """The interface to print on: ``wanted``, else the first printer-class (7) one, else the first one."""
    interfaces = [i for i in device[0] if i.bAlternateSetting == 0]
    if not interfaces:
        raise TransportError(f"{device.idVendor:04x}:{device.idProduct:04x} has no interface to print on")
    if wanted is None:
        return next((i for i in interfaces if i.bInterfaceClass == 7), interfaces[0])
    found = next((i for i in interfaces if i.bInterfaceNumber == wanted), None)
    if found is None:
        numbers = ", ".join(str(i.bInterfaceNumber) for i in interfaces)
        raise TransportError(f"{device.idVendor:04x}:{device.idProduct:04x} has no interface {wanted} "
                             f"(it has {numbers})")
    return found


def _bulk(interface: Any, inward: bool) -> list[Any]:
    return [e for e in interface if e.bmAttributes & 0x03 == 0x02 and bool(e.bEndpointAddress & 0x80) == inward]


def _usb_why(error: Exception) -> str:
    number = getattr(error, "errno", None)
    hint = {errno.ENODEV: "unplugged or switched off", errno.EBUSY: "another program or driver holds it",
            errno.EACCES: "no permission: install the udev rule (GROUP=\"lp\") and add the user to lp",
            errno.ETIMEDOUT: "the printer took nothing in time (offline, cover open, paper jam?)"}.get(number or 0)
    return f"{hint} ({error})" if hint else str(error)


class UsbTransport:
    """A USB printer through python-escpos's ``Usb`` over pyusb. ``backend`` None: pyusb's own choice (libusb
    1.0); a simulator passes its pyusb backend here (``hw_sim.usb_printer.SimUsbBus``), the one seam.

    Opening finds the device (by serial number if asked), detaches usblp from the interface, checks the asked
    endpoints against the descriptors and claims the interface, each failure a ``TransportError`` naming the
    device, interface and endpoints. Reads go through one packet-sized buffer (libusb reports an overflow when a
    packet is longer than the buffer); a read that times out returns nothing.
    """

    CHUNK = 4096

    def __init__(self, address: UsbAddress, timeout: float, cache_dir: Path, backend: Any = None) -> None:
        import usb.core  # type: ignore[import-untyped]
        import usb.util  # type: ignore[import-untyped]

        self.address, self.name, self._usb = address, address.name, usb.core
        self._claim_interface = usb.util.claim_interface
        self.timeout, self._ms = timeout, max(1, round(timeout * 1000))
        self.in_ep: int | None = None
        self.out_ep, self.packet, self._pending = 0, 64, bytearray()
        usb_args: dict[str, Any] = {} if address.serial is None else {"custom_match": _SerialMatch(address.serial)}
        if backend is not None:
            usb_args["backend"] = backend
        self.printer = _usb_printer_class(cache_dir)(address.vendor, address.product, usb_args=usb_args,
                                                     timeout=self._ms)
        self.printer.wanted_interface = address.interface
        try:
            self.printer.open()
            self._claim(self.printer.device, self.printer.intf)
        except TransportError:
            self.close()
            raise
        except usb.core.NoBackendError as error:
            raise TransportError(f"cannot open {self.name}: libusb 1.0 is not installed "
                                 f"(Debian: apt-get install libusb-1.0-0)") from error
        except Exception as error:  # escpos's DeviceNotFoundError, pyusb's USBError
            self.close()
            cause = error.__context__ if isinstance(error.__context__, usb.core.USBError) else error
            raise TransportError(f"cannot open {self.name}: {self._absent(backend) or _usb_why(cause)}") from error

    def _absent(self, backend: Any) -> str:
        """Why the device was not found, when it was not: what is on the bus with these ids instead."""
        try:
            found = list(self._usb.find(find_all=True, backend=backend, idVendor=self.address.vendor,
                                        idProduct=self.address.product))
            if any(self.address.matches(d) for d in found):
                return ""
            serials = ", ".join(sorted(str(d.serial_number) for d in found))
        except (self._usb.USBError, ValueError):  # no backend, or a device that does not give its serial number
            return ""
        if not found:
            return "not on the USB bus (unplugged or switched off?)"
        return f"no printer with serial number {self.address.serial}; present: {serials}"

    def _claim(self, device: Any, interface: Any) -> None:
        number = interface.bInterfaceNumber
        outs, ins = _bulk(interface, False), _bulk(interface, True)
        have = ", ".join([f"OUT {e.bEndpointAddress:#04x}" for e in outs] +
                         [f"IN {e.bEndpointAddress:#04x}" for e in ins])
        where = f"{self.name} interface {number}"
        out = [e for e in outs if self.address.out_ep in (None, e.bEndpointAddress)][:1]
        into = [e for e in ins if self.address.in_ep in (None, e.bEndpointAddress)][:1]
        if not out:
            asked = f" {self.address.out_ep:#04x}" if self.address.out_ep is not None else ""
            raise TransportError(f"{where} has no bulk OUT endpoint{asked} (it has {have or 'none'}): fix out_ep=")
        if self.address.in_ep is not None and not into:
            raise TransportError(f"{where} has no bulk IN endpoint {self.address.in_ep:#04x} (it has {have}): "
                                 f"fix in_ep=")
        self.out_ep = self.printer.out_ep = out[0].bEndpointAddress
        if into:
            self.in_ep = self.printer.in_ep = into[0].bEndpointAddress
            self.packet = into[0].wMaxPacketSize
        try:
            self._claim_interface(device, number)
        except self._usb.USBError as error:
            raise TransportError(f"cannot claim {where}: {_usb_why(error)}") from error

    def write(self, data: bytes) -> None:
        """``data`` in pieces of ``CHUNK`` bytes, the timeout for each: a long raster job on a printer whose buffer
        is full takes as long as the printing (python-escpos 3.1 sends one transfer and times out on big images)."""
        for start in range(0, len(data), self.CHUNK):
            try:
                self.printer._raw(data[start:start + self.CHUNK])
            except self._usb.USBError as error:
                raise TransportError(f"{self.name}: write to OUT endpoint {self.out_ep:#04x} failed after "
                                     f"{start} of {len(data)} bytes: {_usb_why(error)}") from error

    def read(self, size: int, timeout: float) -> bytes:
        """Up to ``size`` bytes from the IN endpoint within ``timeout``; nothing when the printer has none."""
        if self.in_ep is None:
            return b""
        if not self._pending:
            try:
                packet = self.printer.device.read(self.in_ep, self.packet, max(1, round(timeout * 1000)))
            except self._usb.USBTimeoutError:
                return b""
            except self._usb.USBError as error:
                raise TransportError(f"{self.name}: read from IN endpoint {self.in_ep:#04x} failed: "
                                     f"{_usb_why(error)}") from error
            self._pending += bytes(packet)
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def close(self) -> None:
        """Releases the interface and the device handle (nothing to release on a device that has gone)."""
        with contextlib.suppress(self._usb.USBError):
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


def usb_transport(url: str, timeout: float, cache_dir: Path, backend: Any = None) -> UsbTransport:
    """``usb://VID:PID[?interface=&in_ep=&out_ep=&serial=]``; python-escpos keeps its capabilities pickle in
    ``cache_dir``; ``backend``: a pyusb backend other than libusb's (a simulator)."""
    return UsbTransport(parse_usb_url(url), timeout, cache_dir, backend)
