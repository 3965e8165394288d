"""Composition root, printing: the printer URL table (``tcp:``, ``serial:``, ``usb:``, ``file:``, ``sim:``), the
proof builder and the print queue.

Like pyserial's ``serial_for_url``: one table maps a URL scheme to the function that opens it; ``sim:[DIR]`` is
the virtual printer of ``hw_sim`` (each slip a PNG in DIR, relative to the configuration file).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import ports
from daemon.clock import SystemClock
from daemon.config import ConfigError, PrinterSettings, Settings
from daemon.ports import Clock, Encoder
from daemon.printing import PrintPolicy, PrintQueue, ProofBuilder
from daemon.store import Store
from drivers.printer.device import EscposPrinter
from drivers.printer.device import PrintFailed as DevicePrintFailed
from drivers.printer.encode import PrinterProfile, SlipEncoder, encode
from drivers.printer.fonts import fallback_font, raster_font
from drivers.printer.profiles import BadProfile, Model, UnknownModel, drawer_kick, find_model
from drivers.printer.ruler import codec_line, ruler, ruler_mm
from drivers.printer.status import PrinterStatus
from drivers.transport import (
    ByteTransport,
    escpos_usb_class,
    file_transport,
    parse_usb_url,
    serial_transport,
    tcp_transport,
    usb_transport,
)
from turnkey.proof_layout import ProofDoc

if TYPE_CHECKING:
    from hw_sim.printer import SimPrinter

__all__ = ["TRANSPORTS", "DevicePrintFailed", "DevicePrinter", "OpenedPrinter", "cash_drawer", "open_printer",
           "open_transport", "print_policy", "print_preview", "print_queue", "printer_model", "printer_profile",
           "printer_settings", "printer_status", "proof_builder", "proof_printer", "selftest_bytes",
           "selftest_lines", "slip_encoder"]

TransportOpener = Callable[[str, float, Path, Any], ByteTransport]

TRANSPORTS: dict[str, TransportOpener] = {
    "tcp": lambda url, timeout, _cache, _usb: tcp_transport(url, timeout),
    "serial": lambda url, timeout, _cache, _usb: serial_transport(url, timeout),
    "file": lambda url, timeout, _cache, _usb: file_transport(url, timeout),
    "usb": usb_transport,
}
"""Printer URL scheme -> transport; ``sim:`` is handled by ``open_printer`` (it also returns the simulator)."""

SILENCE_IS_UNKNOWN = frozenset({"usb"})
"""Schemes on which a printer that never answers the status query has status unknown, not a failure: a USB
device that takes the bytes is there (many answer nothing on their IN endpoint)."""


def open_transport(url: str, timeout: float, cache_dir: Path | None = None, usb_backend: Any = None) -> ByteTransport:
    """The transport for ``url`` by its scheme; ``ValueError`` for a URL of no known kind. ``usb_backend``: a
    pyusb backend for ``usb://`` other than libusb (the simulated bus of ``hw_sim.usb_printer``)."""
    opener = TRANSPORTS.get(url.partition(":")[0])
    if opener is None:
        raise ValueError(f"no transport for {url!r}: use tcp://, serial://, usb://, file:// or sim:")
    return opener(url, timeout, cache_dir or Path(tempfile.gettempdir()) / "einvd-escpos", usb_backend)


@dataclass(frozen=True)
class OpenedPrinter:
    """A printer and, for ``sim:``, the virtual printer behind it (to save its slips or read them)."""

    printer: EscposPrinter
    sim: SimPrinter | None = None


def _sim_printer(settings: Settings, url: str) -> OpenedPrinter:
    from hw_sim.printer import SimPrinter, SimTransport

    conf = printer_settings(settings)
    base = settings.source.parent if settings.source else Path.cwd()
    out = base / url[4:] if url[4:] else None
    sim = SimPrinter(576 if conf.paper == 80 else 384, "gb18030" if conf.profile == "gb18030" else "cp950", out)
    return OpenedPrinter(EscposPrinter(lambda: SimTransport(sim)), sim)


def open_printer(settings: Settings, url: str | None = None, usb_backend: Any = None) -> OpenedPrinter:
    """The printer at ``url`` (default: the configured one); ``usb_backend`` as for ``open_transport``.

    A ``usb://`` URL is checked and python-escpos imported here, in the thread that builds the daemon, not in the
    print thread at the first job."""
    conf, url = settings.printer, url if url is not None else settings.printer.url
    if url.startswith("sim:"):
        return _sim_printer(settings, url)
    scheme = url.partition(":")[0]
    if scheme not in TRANSPORTS:
        raise ValueError(f"no printer for {url!r}: use tcp://, serial://, usb://, file:// or sim:")
    cache = settings.store_path.parent / "escpos-cache"
    if scheme == "usb":
        parse_usb_url(url)
        escpos_usb_class(cache)
    printer = EscposPrinter(lambda: open_transport(url, conf.timeout, cache, usb_backend),
                            status_query=conf.status_query, status_timeout=conf.status_timeout,
                            silence_is_unknown=scheme in SILENCE_IS_UNKNOWN)
    return OpenedPrinter(printer)


class DevicePrinter:
    """The daemon's ``ports.Printer`` over an ESC/POS device: the driver's failure becomes the port's."""

    def __init__(self, device: EscposPrinter) -> None:
        self.device = device

    def print_job(self, data: bytes) -> None:
        try:
            self.device.print_job(data)
        except DevicePrintFailed as failure:
            raise ports.PrintFailed(failure.code, str(failure), failure.sent) from failure


def slip_encoder(profile: PrinterProfile) -> Encoder:
    """The production ESC/POS encoder for ``profile`` as the daemon's ``ports.Encoder``."""
    return SlipEncoder(profile)


def print_preview(settings: Settings, doc: ProofDoc, png: Path) -> int:
    """``doc`` encoded by the production encoder, printed into the virtual printer and saved as one PNG; returns
    the number of bytes sent (``einvd proof preview``)."""
    data = encode(doc, printer_profile(settings))
    opened = open_printer(settings, "sim:")
    assert opened.sim is not None
    opened.printer.print_job(data)
    opened.sim.save_png(png)
    return len(data)


def printer_profile(settings: Settings) -> PrinterProfile:
    conf = printer_settings(settings)
    font = raster_font(conf.font) if conf.profile == "raster" else fallback_font(conf.font)
    return PrinterProfile(conf.profile, conf.paper, font)


def print_policy(settings: Settings) -> PrintPolicy:
    conf = settings.printer
    return PrintPolicy(conf.max_attempts, conf.retry_delay, conf.details, conf.info_slips, conf.info_slip_window,
                       conf.test_mode)


def proof_builder(settings: Settings) -> ProofBuilder:
    seller, key = settings.require_issuer()
    return ProofBuilder(seller, key, settings.qr_encoding, slip_encoder(printer_profile(settings)),
                        print_policy(settings))


def print_queue(settings: Settings, store: Store, clock: Clock | None = None,
                usb_backend: Any = None) -> PrintQueue | None:
    """The print queue of the configured printer; None when no printer is configured."""
    if not settings.printer.url:
        return None
    printer = DevicePrinter(open_printer(settings, None, usb_backend).printer)
    return PrintQueue(store, proof_builder(settings), printer, clock or SystemClock(),
                      drawer=cash_drawer(settings, printer))


def proof_printer(settings: Settings, store: Store, clock: Clock | None = None) -> Callable[[str, bool], str] | None:
    """``lifecycle.ProofPrinter`` for reprints (``POST /v1/invoices/{number}/print``): prints now, returns the
    job's state (printed, queued or failed); None when no printer is configured."""
    queue = print_queue(settings, store, clock)
    return queue.request if queue is not None else None


# --- printer models (drivers/printer/profiles.toml) and the cash drawer (#16) -----------------------------------

GENERIC_KICK = drawer_kick(2, 50, 50)
"""The drawer kick without a model: pin 2, 100 ms on, 100 ms off (python-escpos's ``CD_KICK_2``)."""


def printer_model(settings: Settings) -> Model | None:
    """The configured ``[printer] model`` (None: none configured); ``ConfigError`` naming the key otherwise."""
    if not settings.printer.model:
        return None
    try:
        return find_model(settings.printer.model)
    except (UnknownModel, BadProfile) as error:
        raise ConfigError(str(error)) from error


def printer_settings(settings: Settings) -> PrinterSettings:
    """The ``[printer]`` table with the model's values for what the configuration file left out: ``profile`` (how
    the firmware takes Chinese) and ``paper``. ``paper`` is the layout width of the encoder (58: 384 dots,
    80: 576 dots): a model that prints fewer dots on 80 mm paper than 576 (Epson's 180 dpi TM-T88VI and
    TM-T82III: 512) is laid out at 384 dots, which it prints whole, rather than have it wrap every long line."""
    conf, model = settings.printer, printer_model(settings)
    if model is None:
        return conf
    paper = conf.paper if "paper" in conf.given else model.paper
    if paper == 80 and model.paper == 80 and model.dots < 576:
        paper = 58
    return replace(conf, profile=conf.profile if "profile" in conf.given else model.text, paper=paper)


def cash_drawer(settings: Settings, printer: DevicePrinter) -> Callable[[], None]:
    """Kicks the drawer through ``printer``: ``ESC p`` with the model's pin and pulse (``ports.PrintFailed`` when
    the printer cannot be reached; ``PrintQueue`` logs it and the sale stands)."""
    model = printer_model(settings)
    kick = GENERIC_KICK if model is None else model.drawer_kick()
    return lambda: printer.print_job(kick) if kick else None


# --- the printer self-test slip (``einvd printer test``) ---------------------------------------------------------

GENERIC_DPI = 203  # 8 dots/mm: what a printer without a model is taken to have (58 mm: 384 dots, 80 mm: 576)
CODEC_SAMPLE = "電子發票 統一編號"


def _density(settings: Settings) -> tuple[int, int]:
    model, conf = printer_model(settings), printer_settings(settings)
    return (model.dpi, model.dots) if model is not None else (GENERIC_DPI, 576 if conf.paper == 80 else 384)


def selftest_lines(settings: Settings) -> tuple[list[str], str]:
    """The profile in use, in words, and what the ruler shows (for ``turnkey.selftest.selftest_doc``)."""
    conf, model = printer_settings(settings), printer_model(settings)
    dpi, dots = _density(settings)
    lines = model.lines() if model is not None else [
        "Model: generic ESC/POS (no printer.model)", f"Paper: {conf.paper} mm, {dots} dots, {dpi} dpi (assumed)"]
    lines += [f"Profile: {conf.profile}, layout {conf.paper} mm", f"URL: {conf.url or '(none)'}"]
    return lines, f"Ruler above: {ruler_mm(dpi, dots)} mm at {dpi} dpi"


def selftest_bytes(settings: Settings, doc: ProofDoc) -> bytes:
    """The self-test job: the ruler in the printer's own dots, the same Chinese line in Big5 and in GB18030 (raw,
    whatever the profile: the installer sees which one the firmware prints right; not for ``raster`` printers,
    which have no Chinese font), then ``doc`` through the production encoder."""
    dpi, dots = _density(settings)
    head = b"\x1b@" + ruler(dpi, dots) + f"{ruler_mm(dpi, dots)} mm\n".encode("ascii")
    if printer_settings(settings).profile != "raster":
        head += codec_line("Big5:    ", CODEC_SAMPLE, "cp950") + codec_line("GB18030: ", CODEC_SAMPLE, "gb18030")
    return head + encode(doc, printer_profile(settings))


def printer_status(opened: OpenedPrinter) -> tuple[str, PrinterStatus | None]:
    """The printer's status read back, in words, and as read (None: not asked or not answered)."""
    try:
        status = opened.printer.status()
    except DevicePrintFailed as failure:
        return f"{failure.code}: {failure}", None
    if status is None:
        return "not asked (printer.status_query = false)", None
    if not status.known:
        return "no answer (USB printers may not report status)", status
    words = [status.problem or "ready", "paper near end" if status.paper_near_end else "paper ok"]
    return ", ".join(words), status
