"""Receipt printer models as data: ``profiles.toml`` next to this module, chosen by ``[printer] model``.

A model says how its firmware takes Chinese (``text``: cp950, gb18030 or raster), its paper, dots per line, what
it does natively (Code 39, QR, cutter) and where its cash drawer is (ESC p pin and pulse). Where python-escpos's
capabilities database (``escpos/capabilities.json``, from escpos-printer-db) has the model, the table names that
profile in ``capabilities`` and dpi, dots and the feature flags are read from it; the file says where every
other value came from (``source``, ``verified``).

Adding a model: one more table in ``profiles.toml`` (the keys are described at its top); nothing else changes.
"""

from __future__ import annotations

import importlib.util
import json
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("profiles.toml")
TEXT_MODES = ("cp950", "gb18030", "raster")
CUTTERS = ("partial", "full", "none")
DRAWER_PINS = {2: 0, 5: 1}  # connector pin -> ESC p m (Epson ESC/POS reference, ESC p; TM-T88VI TRG p. 88)
ESC = b"\x1b"
REQUIRED = ("name", "text", "code_page", "paper", "drawer_pin", "pulse_on", "pulse_off", "verified", "source")
OWN = ("dpi", "dots", "code39", "qr", "cutter")  # from the capabilities database when ``capabilities`` is set


class UnknownModel(ValueError):
    """``[printer] model`` names no model of ``profiles.toml``."""


class BadProfile(ValueError):
    """A table of ``profiles.toml`` (or a python-escpos profile it names) lacks or mistypes a value."""


@dataclass(frozen=True)
class Model:
    key: str
    name: str
    text: str
    code_page: int
    paper: int
    dpi: int
    dots: int
    code39: bool
    qr: bool
    cutter: str
    drawer_pin: int
    pulse_on: int
    pulse_off: int
    verified: bool
    source: str
    note: str = ""
    capabilities: str = ""

    def drawer_kick(self) -> bytes:
        """``ESC p m t1 t2``: a pulse of ``pulse_on`` x 2 ms on the model's drawer pin; empty without a drawer."""
        return drawer_kick(self.drawer_pin, self.pulse_on, self.pulse_off) if self.drawer_pin else b""

    def lines(self) -> list[str]:
        """The profile in words, for the printer self-test slip and ``einvd printer test``."""
        drawer = f"pin {self.drawer_pin}, {2 * self.pulse_on} ms" if self.drawer_pin else "none"
        return [
            f"Model: {self.name} ({self.key})",
            f"Text: {self.text}, code page {self.code_page}",
            f"Paper: {self.paper} mm, {self.dots} dots, {self.dpi} dpi",
            f"Code 39: {'native' if self.code39 else 'image'}; QR: {'native' if self.qr else 'image'}",
            f"Cutter: {self.cutter}; drawer: {drawer}",
            f"Data: {'escpos ' + self.capabilities if self.capabilities else 'profiles.toml'}"
            f"{'' if self.verified else ' (unverified)'}",
        ]


def drawer_kick(pin: int, pulse_on: int, pulse_off: int) -> bytes:
    """``ESC p m t1 t2`` (Epson ESC/POS reference: m 0/48 = pin 2, 1/49 = pin 5; t1, t2 in 2 ms units)."""
    if pin not in DRAWER_PINS:
        raise ValueError("drawer pin must be 2 or 5")
    if not (1 <= pulse_on <= 255 and 1 <= pulse_off <= 255):
        raise ValueError("drawer pulse times must be 1 to 255 (x 2 ms)")
    return ESC + b"p" + bytes([DRAWER_PINS[pin], pulse_on, pulse_off])


@cache
def escpos_capabilities() -> dict[str, Any]:
    """python-escpos's capabilities database, read as a file (importing ``escpos.capabilities`` would write a
    pickle into a temporary directory at every start). Empty when python-escpos is not installed."""
    spec = importlib.util.find_spec("escpos")
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).with_name("capabilities.json")
    return dict(json.loads(path.read_text(encoding="utf-8"))["profiles"]) if path.is_file() else {}


def from_capabilities(name: str, database: dict[str, Any]) -> dict[str, Any]:
    """dpi, dots and the feature flags of python-escpos profile ``name``."""
    found = database.get(name)
    if found is None:
        raise BadProfile(f"python-escpos's capabilities database has no profile {name!r}")
    media, features = found.get("media", {}), found.get("features", {})
    dots = media.get("width", {}).get("pixels")
    if not isinstance(dots, int) or not isinstance(media.get("dpi"), int):
        raise BadProfile(f"python-escpos profile {name!r} gives no dpi and width in dots")
    cutter = "partial" if features.get("paperPartCut") else "full" if features.get("paperFullCut") else "none"
    return {"dpi": media["dpi"], "dots": dots, "code39": bool(features.get("barcodeB")),
            "qr": bool(features.get("qrCode")), "cutter": cutter}


def _checked(key: str, table: dict[str, Any]) -> Model:
    missing = [name for name in (*REQUIRED, *OWN) if name not in table]
    if missing:
        raise BadProfile(f"printer model {key!r} lacks {', '.join(missing)}")
    if table["text"] not in TEXT_MODES:
        raise BadProfile(f"printer model {key!r}: text must be one of {', '.join(TEXT_MODES)}")
    if table["cutter"] not in CUTTERS:
        raise BadProfile(f"printer model {key!r}: cutter must be one of {', '.join(CUTTERS)}")
    if table["paper"] not in (58, 80):
        raise BadProfile(f"printer model {key!r}: paper must be 58 or 80")
    if table["drawer_pin"] not in (0, *DRAWER_PINS):
        raise BadProfile(f"printer model {key!r}: drawer_pin must be 2, 5 or 0 (none)")
    try:
        return Model(key=key, **table)
    except TypeError as error:
        raise BadProfile(f"printer model {key!r}: {error}") from error


def parse_models(text: str, database: dict[str, Any] | None = None) -> dict[str, Model]:
    """The models of a ``profiles.toml`` text; ``database``: python-escpos's profiles (default: the installed)."""
    models = {}
    for key, table in tomllib.loads(text).items():
        if not isinstance(table, dict):
            raise BadProfile(f"printer model {key!r} must be a table")
        if table.get("capabilities"):
            own = [name for name in OWN if name in table]
            if own:
                raise BadProfile(f"printer model {key!r} takes {', '.join(own)} from python-escpos: remove them")
            table = {**table, **from_capabilities(table["capabilities"],
                                                  escpos_capabilities() if database is None else database)}
        models[key] = _checked(key, table)
    return models


@cache
def models() -> dict[str, Model]:
    """Every model of the shipped ``profiles.toml``, by key."""
    return parse_models(DATA.read_text(encoding="utf-8"))


def _simple(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def find_model(name: str, known: dict[str, Model] | None = None) -> Model:
    """The model called ``name``: its key or its name, ignoring case, spaces and dashes ("TM-T88VI",
    "Epson TM-T88VI", "tmt88vi"); ``UnknownModel`` listing the keys otherwise."""
    table = models() if known is None else known
    wanted = _simple(name)
    for model in table.values():
        if wanted in (_simple(model.key), _simple(model.name), _simple(model.name.partition(" ")[2])):
            return model
    raise UnknownModel(f"printer.model {name!r} is not a known printer: use one of {', '.join(sorted(table))} "
                       f"(or add it to drivers/printer/profiles.toml)")
