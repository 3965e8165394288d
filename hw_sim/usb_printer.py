"""A USB receipt printer at the libusb level: a pyusb backend (``usb.backend.IBackend``) that enumerates
simulated printers, so python-escpos -> pyusb -> backend runs exactly as with libusb, only the bus is simulated.

Pass the bus as pyusb's ``backend`` (``usb.core.find(backend=bus)``); everything written to a printer's bulk OUT
endpoint goes into the virtual printer of ``hw_sim.printer`` (the ESC/POS decoder of ``hw_sim.escpos_decode``),
and its answers to ``DLE EOT n`` come back on the bulk IN endpoint, as packets the host reads.

Descriptors: a real Xprinter XP-T58H (芯烨) 58 mm receipt printer, from the descriptor dump published in
https://github.com/sintrb/USB-Printer-Descriptors (README.md, "芯烨-XP-T58H", commit 1e99df8): VID 0483, PID 5743,
USB 2.00, bcdDevice 2.00, bMaxPacketSize0 64, strings "Xprinter " / "USB Printer P" / "00000000051C", one
configuration (value 1, self powered 0xc0, bMaxPower 0x10 = 32 mA) with one interface 0, class 7 (printer)
subclass 1 protocol 2 (bidirectional), bulk OUT 0x02 and bulk IN 0x81, 64-byte packets, bInterval 0. (So
python-escpos's default endpoints, OUT 0x01 / IN 0x82, are wrong for this printer, as for many others.)

What libusb does, and so what this bus does (libusb 1.0 API reference, libusb.sourceforge.io/api-1.0, and
the Linux usbfs driver, drivers/usb/core/devio.c; error texts and errno values as pyusb's libusb1 backend maps
them, usb/backend/libusb1.py):
- an unplugged device is no longer enumerated, and every call on a handle opened before raises
  LIBUSB_ERROR_NO_DEVICE (``USBError`` errno 19, ENODEV); a write cut by the unplug delivers what went before;
- replugged, it enumerates again at a new device address; old handles stay dead; usblp binds again;
- ``libusb_claim_interface`` fails with LIBUSB_ERROR_BUSY (errno 16) while a kernel driver (usblp) or another
  program holds the interface; ``libusb_set_configuration`` likewise while any interface is claimed
  (devio.c ``proc_setconfig``: "interface %d claimed by %s while '%s' sets config");
- ``libusb_detach_kernel_driver`` fails with LIBUSB_ERROR_NOT_FOUND when no driver is bound;
- a bulk IN read waits up to its timeout (LIBUSB_ERROR_TIMEOUT, ``USBTimeoutError`` errno 110) and ends at the
  first short packet; a packet longer than the buffer is LIBUSB_ERROR_OVERFLOW.

Faults, set any time: ``unplug()`` / ``replug()``, ``unplug_after(n)`` (the cable comes out after n more bytes),
``usblp`` (the kernel driver binds on plug), ``held_elsewhere`` (another program claimed the interface),
``answers_status`` False (a printer that never answers DLE EOT), ``paper_near_end``; paper out and cover open are
the virtual printer's own (``printer.paper_out``, ``printer.cover_open``).
"""

from __future__ import annotations

import array
import contextlib
import errno
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import usb.backend  # type: ignore[import-untyped]
import usb.core  # type: ignore[import-untyped]

from hw_sim.printer import SimPrinter

# libusb error codes, their texts and errno values (pyusb usb/backend/libusb1.py, _str_error_map/_libusb_errno)
NO_DEVICE, NOT_FOUND, BUSY, TIMEOUT, OVERFLOW, PIPE, INVALID_PARAM = -4, -5, -6, -7, -8, -9, -2
_ERRORS = {
    NO_DEVICE: ("No such device (it may have been disconnected)", errno.ENODEV),
    NOT_FOUND: ("Entity not found", errno.ENOENT),
    BUSY: ("Resource busy", errno.EBUSY),
    TIMEOUT: ("Operation timed out", errno.ETIMEDOUT),
    OVERFLOW: ("Overflow", errno.EOVERFLOW),
    PIPE: ("Pipe error", errno.EPIPE),
    INVALID_PARAM: ("Invalid parameter", errno.EINVAL),
}


def _fail(code: int) -> usb.core.USBError:
    text, number = _ERRORS[code]
    kind = usb.core.USBTimeoutError if code == TIMEOUT else usb.core.USBError
    return kind(text, code, number)


@dataclass(frozen=True)
class Endpoint:
    address: int
    attributes: int = 0x02  # bulk
    max_packet: int = 64
    interval: int = 0


@dataclass(frozen=True)
class Model:
    """The descriptors of one printer model (one configuration, one interface, alternate setting 0)."""

    vendor: int
    product: int
    manufacturer: str
    name: str
    serial: str
    bcd_usb: int = 0x0200
    bcd_device: int = 0x0200
    device_class: tuple[int, int, int] = (0, 0, 0)  # "specified at interface"
    max_packet0: int = 64
    config_attributes: int = 0xC0
    max_power: int = 0x10  # in 2 mA units
    interface_class: tuple[int, int, int] = (7, 1, 2)  # printer, printer, bidirectional
    endpoints: tuple[Endpoint, ...] = ()


XPRINTER_XP_T58H = Model(0x0483, 0x5743, "Xprinter ", "USB Printer P", "00000000051C",
                         endpoints=(Endpoint(0x02), Endpoint(0x81)))
"""Xprinter XP-T58H, from the published descriptor dump cited at the top of this module."""


class _Descriptor:
    """Field bag: pyusb reads descriptor fields as attributes."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields, extra_descriptors=[])


@dataclass(eq=False)
class _Handle:
    printer: SimUsbPrinter
    plug: int  # the plug-in this handle was opened in; dead after an unplug
    claimed: set[int] = field(default_factory=set)


class SimUsbPrinter:
    """One simulated USB printer on a ``SimUsbBus``; ``printer`` is the virtual printer behind its OUT endpoint."""

    def __init__(self, printer: SimPrinter | None = None, model: Model = XPRINTER_XP_T58H, serial: str | None = None,
                 usblp: bool = False) -> None:
        self.printer, self.model = printer or SimPrinter(), model
        self.serial = model.serial if serial is None else serial
        self.usblp, self.kernel_driver = usblp, usblp
        self.plugged, self.address, self.plug = True, 0, 0
        self.held_elsewhere = False
        self.answers_status = True
        self.paper_near_end = False
        self.resets = 0
        self.transfers: list[int] = []  # the length of each bulk OUT transfer, in order
        self._cut_after: int | None = None
        self._in = bytearray()
        self._claims: dict[int, _Handle] = {}
        self._lock = threading.Condition()
        base = self.printer.interpreter.status
        self.printer.interpreter.status = lambda n: self._status(base, n)

    def _status(self, base: Any, n: int) -> bytes:
        # DLE EOT 4, bits 2-3: roll paper near-end sensor (Epson ESC/POS command reference)
        reply: bytes = base(n)
        return bytes([reply[0] | 0x0C]) if n == 4 and self.paper_near_end else reply

    # --- faults -------------------------------------------------------------------------------------------
    def unplug(self) -> None:
        with self._lock:
            self.plugged, self._cut_after = False, None
            self._claims.clear()
            self._in.clear()
            self._lock.notify_all()

    def replug(self) -> None:
        with self._lock:
            self.plugged, self.plug, self.address = True, self.plug + 1, self.address + 1
            self.kernel_driver = self.usblp

    def unplug_after(self, count: int) -> None:
        """The cable comes out after ``count`` more bytes reached the OUT endpoint."""
        self._cut_after = count

    # --- what the bus asks of the device ---------------------------------------------------------------------
    def strings(self) -> dict[int, str]:
        return {1: self.model.manufacturer, 2: self.model.name, 3: self.serial}

    def alive(self, handle: _Handle) -> None:
        if not self.plugged or handle.plug != self.plug:
            raise _fail(NO_DEVICE)

    def interface(self, number: int) -> None:
        if number != 0:
            raise _fail(NOT_FOUND)

    def claim(self, handle: _Handle, number: int) -> None:
        with self._lock:
            self.alive(handle)
            self.interface(number)
            holder = self._claims.get(number)
            if self.kernel_driver or self.held_elsewhere or (holder is not None and holder is not handle):
                raise _fail(BUSY)
            self._claims[number] = handle
            handle.claimed.add(number)

    def release(self, handle: _Handle, number: int) -> None:
        with self._lock:
            handle.claimed.discard(number)
            if self._claims.get(number) is handle:
                del self._claims[number]
            self.alive(handle)

    def set_configuration(self, handle: _Handle, value: int) -> None:
        with self._lock:
            self.alive(handle)
            if value not in (0, 1):
                raise _fail(NOT_FOUND)
            if self.kernel_driver or self.held_elsewhere or self._claims:
                raise _fail(BUSY)

    def detach(self, handle: _Handle) -> None:
        with self._lock:
            self.alive(handle)
            if not self.kernel_driver:
                raise _fail(NOT_FOUND)
            self.kernel_driver = False

    def attach(self, handle: _Handle) -> None:
        with self._lock:
            self.alive(handle)
            if self._claims or self.held_elsewhere:
                raise _fail(BUSY)
            self.kernel_driver = True

    def write(self, handle: _Handle, interface: int, data: bytes) -> int:
        with self._lock:
            self.alive(handle)
            self.transfers.append(len(data))
            if self._claims.get(interface) is not handle:
                raise _fail(BUSY)  # usbfs claims on first use; held by someone else, it refuses
            cut = self._cut_after
            if cut is not None and cut < len(data):
                self._deliver(data[:cut])
                self.plugged, self._cut_after = False, None
                self._claims.clear()
                self._lock.notify_all()
                raise _fail(NO_DEVICE)
            if cut is not None:
                self._cut_after = cut - len(data)
            self._deliver(data)
            return len(data)

    def _deliver(self, data: bytes) -> None:
        replies = self.printer.feed(data)
        if self.answers_status and replies:
            self._in += replies
            self._lock.notify_all()

    def read(self, handle: _Handle, buffer: Any, timeout_ms: int, max_packet: int) -> int:
        with self._lock:
            self.alive(handle)
            self._lock.wait_for(lambda: self._in or not self.plugged, timeout_ms / 1000 if timeout_ms else None)
            self.alive(handle)
            if not self._in:
                raise _fail(TIMEOUT)
            packet = bytes(self._in[:max_packet])
            del self._in[:max_packet]
            if len(packet) > len(buffer):
                raise _fail(OVERFLOW)
            buffer[:len(packet)] = array.array("B", packet)
            return len(packet)


class SimUsbBus(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend whose bus holds ``printers`` (plugged ones are enumerated)."""

    def __init__(self, *printers: SimUsbPrinter) -> None:
        super().__init__()
        self.printers = list(printers)
        for index, printer in enumerate(self.printers):
            printer.address = 10 + 10 * index

    def add(self, printer: SimUsbPrinter) -> SimUsbPrinter:
        printer.address = 10 + 10 * len(self.printers)
        self.printers.append(printer)
        return printer

    def enumerate_devices(self) -> Iterator[SimUsbPrinter]:
        return iter([p for p in self.printers if p.plugged])

    def get_device_descriptor(self, dev: SimUsbPrinter) -> _Descriptor:
        m = dev.model
        return _Descriptor(
            bLength=18, bDescriptorType=1, bcdUSB=m.bcd_usb, bDeviceClass=m.device_class[0],
            bDeviceSubClass=m.device_class[1], bDeviceProtocol=m.device_class[2], bMaxPacketSize0=m.max_packet0,
            idVendor=m.vendor, idProduct=m.product, bcdDevice=m.bcd_device, iManufacturer=1, iProduct=2,
            iSerialNumber=3 if dev.serial else 0, bNumConfigurations=1, bus=1, address=dev.address,
            port_number=1 + dev.address // 10, port_numbers=(1 + dev.address // 10,), speed=2)  # full speed

    def get_configuration_descriptor(self, dev: SimUsbPrinter, config: int) -> _Descriptor:
        if config != 0:
            raise IndexError("configuration index out of range")
        total = 9 + 9 + 7 * len(dev.model.endpoints)
        return _Descriptor(bLength=9, bDescriptorType=2, wTotalLength=total, bNumInterfaces=1, bConfigurationValue=1,
                           iConfiguration=0, bmAttributes=dev.model.config_attributes, bMaxPower=dev.model.max_power)

    def get_interface_descriptor(self, dev: SimUsbPrinter, intf: int, alt: int, config: int) -> _Descriptor:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError("interface index out of range")
        klass, sub, proto = dev.model.interface_class
        return _Descriptor(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
                           bNumEndpoints=len(dev.model.endpoints), bInterfaceClass=klass, bInterfaceSubClass=sub,
                           bInterfaceProtocol=proto, iInterface=0)

    def get_endpoint_descriptor(self, dev: SimUsbPrinter, ep: int, intf: int, alt: int, config: int) -> _Descriptor:
        if (intf, alt, config) != (0, 0, 0) or not 0 <= ep < len(dev.model.endpoints):
            raise IndexError("endpoint index out of range")
        e = dev.model.endpoints[ep]
        return _Descriptor(bLength=7, bDescriptorType=5, bEndpointAddress=e.address, bmAttributes=e.attributes,
                           wMaxPacketSize=e.max_packet, bInterval=e.interval, bRefresh=0, bSynchAddress=0)

    def open_device(self, dev: SimUsbPrinter) -> _Handle:
        if not dev.plugged:
            raise _fail(NO_DEVICE)
        return _Handle(dev, dev.plug)

    def close_device(self, dev_handle: _Handle) -> None:
        for number in list(dev_handle.claimed):  # libusb_close never fails, unplugged or not
            with contextlib.suppress(usb.core.USBError):
                dev_handle.printer.release(dev_handle, number)

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        dev_handle.printer.set_configuration(dev_handle, config_value)

    def get_configuration(self, dev_handle: _Handle) -> int:
        dev_handle.printer.alive(dev_handle)
        return 1  # configured by the kernel when it enumerated the device

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        dev_handle.printer.alive(dev_handle)
        dev_handle.printer.interface(intf)
        if altsetting != 0:
            raise _fail(NOT_FOUND)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.printer.claim(dev_handle, intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.printer.release(dev_handle, intf)

    def bulk_write(self, dev_handle: _Handle, ep: int, intf: int, data: Any, timeout: int) -> int:
        return dev_handle.printer.write(dev_handle, intf, bytes(data))

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: Any, timeout: int) -> int:
        packet = next(e.max_packet for e in dev_handle.printer.model.endpoints if e.address == ep)
        return dev_handle.printer.read(dev_handle, buff, timeout, packet)

    def ctrl_transfer(self, dev_handle: _Handle, bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                      data: Any, timeout: int) -> int:
        """GET_DESCRIPTOR (string) only: the language list, then UTF-16LE strings; other requests stall."""
        printer = dev_handle.printer
        printer.alive(dev_handle)
        if (bmRequestType, bRequest, wValue >> 8) != (0x80, 0x06, 0x03):
            raise _fail(PIPE)
        index = wValue & 0xFF
        if index == 0:
            body = (0x0409).to_bytes(2, "little")  # English (United States)
        elif index in printer.strings() and printer.strings()[index]:
            body = printer.strings()[index].encode("utf-16-le")
        else:
            raise _fail(PIPE)
        reply = (bytes([2 + len(body), 0x03]) + body)[:len(data)]
        data[:len(reply)] = array.array("B", reply)
        return len(reply)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        dev_handle.printer.alive(dev_handle)

    def reset_device(self, dev_handle: _Handle) -> None:
        """A port reset; the descriptors do not change, so the device keeps its address and handles."""
        dev_handle.printer.alive(dev_handle)
        dev_handle.printer.resets += 1

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        dev_handle.printer.alive(dev_handle)
        dev_handle.printer.interface(intf)
        return dev_handle.printer.kernel_driver

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.printer.interface(intf)
        dev_handle.printer.detach(dev_handle)

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.printer.interface(intf)
        dev_handle.printer.attach(dev_handle)
