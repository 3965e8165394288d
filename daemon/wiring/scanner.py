"""Composition root, scanning: the scanner URL table (``serial:``, ``hid:``, ``sim:``; a bare device path or
another pyserial URL is a serial scanner, as it always was).

``sim:DIR`` is ``hw_sim``'s scanner on a real pty in DIR (relative to the configuration file), read by the real
serial driver: what ``einvd demo`` scans with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from daemon.config import ConfigError, Settings
from daemon.ports import Scanner
from drivers.scanner.hid import HidScanner
from drivers.scanner.serial import SerialScanner

if TYPE_CHECKING:
    from hw_sim.scanner import SimScanner

OnScan = Callable[[str], None]
SIM_BACKOFF, SIM_POLL = (0.02, 0.1), 0.02  # a pty beside us: reconnect and poll quickly


@dataclass(frozen=True)
class OpenedScanner:
    """A scanner (not started yet) and, for ``sim:``, the simulated device to scan with."""

    scanner: Scanner
    sim: SimScanner | None = None


def _serial(settings: Settings, url: str, on_scan: OnScan) -> OpenedScanner:
    """``serial:PATH?baudrate=N`` (also ``serial://PATH`` and ``serial:`` + a pyserial URL), or a bare path."""
    target, _, query = url.removeprefix("serial:").partition("?")
    target = target[2:] if target.startswith("//") else target  # serial:///dev/ttyS0 -> /dev/ttyS0
    baudrate = int(parse_qs(query).get("baudrate", ["9600"])[0])
    return OpenedScanner(SerialScanner(target, on_scan, baudrate=baudrate, gap=settings.scanner.gap))


def _hid(settings: Settings, url: str, on_scan: OnScan) -> OpenedScanner:
    """``hid:/dev/input/by-id/...-event-kbd?layout=us``: a keyboard-wedge scanner read from its evdev node,
    grabbed; ``layout`` is the one the scanner is programmed for (default us)."""
    path, _, query = url.removeprefix("hid:").partition("?")
    layout = parse_qs(query).get("layout", ["us"])[0]
    try:
        scanner = HidScanner(path[2:] if path.startswith("//") else path, on_scan, layout=layout)
    except ValueError as error:
        raise ConfigError(f"scanner.url {url}: {error}") from error
    return OpenedScanner(scanner)


def _sim(settings: Settings, url: str, on_scan: OnScan) -> OpenedScanner:
    from hw_sim.scanner import SimScanner

    base = settings.source.parent if settings.source else Path.cwd()
    directory = base / url.removeprefix("sim:")
    directory.mkdir(parents=True, exist_ok=True)
    sim = SimScanner(directory)
    driver = SerialScanner(sim.path, on_scan, gap=settings.scanner.gap, backoff=SIM_BACKOFF, poll=SIM_POLL)
    return OpenedScanner(driver, sim)


SCANNERS: dict[str, Callable[[Settings, str, OnScan], OpenedScanner]] = {"serial": _serial, "hid": _hid, "sim": _sim}
"""Scanner URL scheme -> opener; anything else (a device path, ``rfc2217://``...) goes to pyserial as it is."""


def device_path(url: str) -> str | None:
    """The device file a scanner URL names (for ``einvd doctor``); None for ``sim:`` and network URLs."""
    scheme, _, rest = url.partition(":")
    if scheme in ("serial", "hid"):
        rest = rest.partition("?")[0]
        rest = rest[2:] if rest.startswith("//") else rest
        return rest if "://" not in rest else None
    if scheme == "sim" or "://" in url:
        return None
    return url


def open_scanner(settings: Settings, on_scan: OnScan, url: str | None = None) -> OpenedScanner | None:
    """The scanner at ``url`` (default: ``scanner.url``), each scan given to ``on_scan``; None when none is set."""
    url = url if url is not None else settings.scanner.url
    if not url:
        return None
    opener = SCANNERS.get(url.partition(":")[0])
    if opener is None:
        return OpenedScanner(SerialScanner(url, on_scan, gap=settings.scanner.gap))
    return opener(settings, url, on_scan)
