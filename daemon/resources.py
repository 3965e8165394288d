"""The files an installed einvd ships: the default configuration, the systemd unit and the udev rules.

They are package data of ``daemon`` (see pyproject.toml), found with importlib.resources, so an installed wheel
never reads the source checkout. In the checkout ``daemon/data/`` holds symlinks to the one copy in ``systemd/``;
the wheel build copies their content. ``einvd setup`` installs from here; ``einvd files`` shows where they are.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

# name -> (path inside the daemon package, what it is)
SHIPPED: dict[str, tuple[str, str]] = {
    "config": ("default.toml", "the default configuration, every key with its default"),
    "unit": ("data/einvd.service", "the systemd service unit (ExecStart names the venv's einvd)"),
    "udev": ("data/99-einvd.rules", "udev rules: stable device names (fill in the USB ids)"),
}


class ShippedFileMissing(LookupError):
    """A file the package should carry is absent: a broken install."""


def _traversable(name: str) -> Traversable:
    if name not in SHIPPED:
        raise KeyError(f"no shipped file {name!r} (known: {', '.join(SHIPPED)})")
    found = resources.files("daemon")
    for part in SHIPPED[name][0].split("/"):
        found = found / part
    if not found.is_file():
        raise ShippedFileMissing(f"{SHIPPED[name][0]} is missing from the installed daemon package: reinstall einvd")
    return found


def path(name: str) -> Path:
    """Where a shipped file is on disk (installs are plain directories; a zipped one has no path to give)."""
    found = _traversable(name)
    if not isinstance(found, Path):
        raise ShippedFileMissing(f"{SHIPPED[name][0]} is inside an archive, not a file: install einvd unzipped")
    return found


def text(name: str) -> str:
    """The content of a shipped file."""
    return _traversable(name).read_text(encoding="utf-8")


def default_config() -> Path:
    return path("config")


def unit_file() -> Path:
    return path("unit")


def udev_rules() -> Path:
    return path("udev")
