"""Carrier (載具) and donation (捐贈碼) formats.

Only ASCII character classes are used: ``re`` and XSD ``\\d`` accept full-width digits, the platform does not.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from turnkey.ban import is_valid_ban
from turnkey.keymaps import LAYOUTS

MOBILE_BARCODE = "3J0002"
CITIZEN_CERTIFICATE = "CQ0001"

_MOBILE = re.compile(r"/[0-9A-Z.+\-]{7}", re.ASCII)
_CITIZEN = re.compile(r"[A-Z]{2}[0-9]{14}", re.ASCII)
_LOVE = re.compile(r"[0-9]{3,7}", re.ASCII)
_CARRIER_TYPE = re.compile(r"[0-9A-Z]{6}", re.ASCII)
_SPACES = " \u3000\t\r\n"
MAX_CARRIER_ID = 400


def is_mobile_barcode(value: str) -> bool:
    """手機條碼: ``/`` followed by 7 characters of ``0-9 A-Z + - .``."""
    return _MOBILE.fullmatch(value) is not None


def is_citizen_certificate(value: str) -> bool:
    """自然人憑證: 2 upper-case letters and 14 digits."""
    return _CITIZEN.fullmatch(value) is not None


def is_love_code(value: str) -> bool:
    """捐贈碼 (NPOBAN): 3 to 7 digits."""
    return _LOVE.fullmatch(value) is not None


def is_carrier_type(value: str) -> bool:
    """A 6-character carrier type code (3J0002, CQ0001 or a member-carrier code)."""
    return _CARRIER_TYPE.fullmatch(value) is not None


def carrier_id_problem(carrier_type: str, carrier_id: str) -> str | None:
    """Why ``carrier_id`` is not acceptable for ``carrier_type`` (None when it is)."""
    if carrier_type == MOBILE_BARCODE:
        return None if is_mobile_barcode(carrier_id) else "format"
    if carrier_type == CITIZEN_CERTIFICATE:
        return None if is_citizen_certificate(carrier_id) else "format"
    if not carrier_id or len(carrier_id) > MAX_CARRIER_ID:
        return "length"
    if carrier_id[0] in _SPACES or carrier_id[-1] in _SPACES:
        return "spaces"
    return None


# --- Scanner normalisation --------------------------------------------------------------------------------
# A raw scan may carry terminators, full-width characters (IME), Caps Lock, a keyboard layout's version of the
# whole code, or Code 39 Full-ASCII decoding. Every plausible reading is tried; a reading is kept only when
# exactly one distinct carrier comes out, so nothing ambiguous is ever invented.
#
# Keyboard layouts (turnkey/keymaps.py, generated from the XKB database) garble a code in two ways:
# - host: a scanner set to US types into a host whose layout is L; the host types L's symbol of each key the
#   scanner pressed (German: "/" -> "-", Y <-> Z, "-" -> "ß", "+" a dead key);
# - scanner: a scanner set to L, read by einvd's US decoder (drivers/scanner/hid.py); optionally with Shift lost.
# A layout is recognised by what it makes of the leading "/", and its reading undoes every character; a layout
# whose dead keys may have eaten or merged characters refuses the scan instead.

MOBILE, CITIZEN, LOVE, BUSINESS = "mobile_barcode", "citizen_certificate", "love_code", "business_number"
UNKNOWN = "unknown"

LEADING_SLASH_SUBSTITUTES = {
    "?": "Shift held too long",
    "・": "Japanese IME",
    "ㄥ": "Zhuyin IME",
}
# "/O" decodes to "/" itself: a 7-character read starting with "/" is taken as truncated, not as Full ASCII.
_FULL_ASCII = {chr(ord(letter) - 32): letter for letter in "ABCDEFGHIJKLMN"} | {":": "Z"}
_ZHUYIN_KEYS = dict(zip(
    "ㄅㄆㄇㄈㄉㄊㄋㄌㄍㄎㄏㄐㄑㄒㄓㄔㄕㄖㄗㄘㄙㄧㄨㄩㄚㄛㄜㄝㄞㄟㄠㄡㄢㄣㄤㄥㄦˇˋˊ˙",
    "1QAZ2WSXEDCRFV5TGBYHNUJM8IK,9OL.0P;/-3467",
    strict=True,
))
_AIM_PREFIX = re.compile(r"\][A-Za-z][0-9]")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_CODE_CHARACTERS = "/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.+-"
# A wedge scanner types on the main keys (linux/input-event-codes.h: KEY_1..KEY_EQUAL, KEY_Q..KEY_RIGHTBRACE,
# KEY_A..KEY_GRAVE, KEY_BACKSLASH..KEY_SLASH, KEY_SPACE, KEY_102ND, KEY_RO, KEY_YEN), never on the keypad.
_MAIN_KEYS = frozenset({*range(2, 14), *range(16, 28), *range(30, 42), *range(43, 54), 57, 86, 89, 124})


class _Layout:
    """One way a layout garbles a code: ``typed`` maps each code character to what arrives ("" or a dead key's
    name when nothing usable does)."""

    def __init__(self, name: str, note: str, typed: dict[str, str], fold_case: bool = False) -> None:
        self.name, self.note, self.typed, self.fold_case = name, note, typed, fold_case
        self.lead = typed["/"]
        # Some code character arrives as a dead key or not at all: characters may be eaten or merged.
        self.lossy = any(len(out) != 1 for out in typed.values())
        self._sources: dict[str, str] = {}
        for code_char, out in typed.items():
            key = out.upper() if fold_case else out
            self._sources[key] = self._sources.get(key, "") + code_char
        self._spacing = {_spacing(out) for out in typed.values() if out.startswith("dead_")}

    def sources(self, char: str) -> str:
        """The code characters that arrive as ``char``."""
        return self._sources.get(char.upper() if self.fold_case else char, "")

    def artifact(self, char: str) -> bool:
        """``char`` may be what a dead key left: its spacing accent, or a letter it composed."""
        return char in self._spacing or unicodedata.decomposition(char)[:1] not in ("", "<")


def _spacing(dead: str) -> str:
    name = dead.removeprefix("dead_").upper()
    try:
        return unicodedata.lookup(f"{name} ACCENT")
    except KeyError:
        return unicodedata.lookup(name) if name in ("TILDE", "DIAERESIS", "CEDILLA", "MACRON") else ""


def _key_of(table: dict[int, tuple[str, str]], char: str) -> tuple[int, int] | None:
    """The (key, level) a layout types ``char`` with: unshifted first, lowest key code first."""
    for level in (0, 1):
        for code, levels in table.items():
            if code in _MAIN_KEYS and levels[level] == char:
                return code, level
    return None


def _layouts() -> list[_Layout]:
    us = LAYOUTS["us"]
    us_keys = {c: _key_of(us, c) for c in _CODE_CHARACTERS}
    found = []
    for name, table in LAYOUTS.items():
        host = {c: table.get(key[0], ("", ""))[key[1]] for c, key in us_keys.items() if key is not None}
        found.append(_Layout(name, f"US scanner on a {name} host", host))
        keys = {c: _key_of(table, c) for c in _CODE_CHARACTERS}
        scanner = {c: us.get(key[0], ("", ""))[key[1]] if key else "" for c, key in keys.items()}
        found.append(_Layout(name, f"{name} scanner read as US", scanner))
        shift_lost = {c: us.get(key[0], ("", ""))[0] if key else "" for c, key in keys.items()}
        found.append(_Layout(name, f"{name} scanner read as US, Shift lost", shift_lost, fold_case=True))
    return [layout for layout in found if any(out.upper() != c for c, out in layout.typed.items())]


LAYOUT_READINGS = _layouts()


def _undo(layout: _Layout, text: str) -> set[str]:
    """Every mobile barcode ``layout`` could have turned into ``text``."""
    if len(text) != 8:
        return set()
    options = ["/" if "/" in layout.sources(text[0]) else ""]
    options += [layout.sources(char).replace("/", "") for char in text[1:]]
    if not all(options):
        return set()
    return {"".join(chars) for chars in itertools.product(*options)}


def _layout_readings(text: str, only: Collection[str] | None) -> tuple[dict[str, str], str | None]:
    """Barcodes the keyboard layouts (``only`` those, when given) recognised by ``text``'s first character undo it
    to, and a reason to refuse (a lossy layout whose dead keys may have changed the scan)."""
    readings: dict[str, str] = {}
    for layout in LAYOUT_READINGS:
        if only is not None and layout.name not in only:
            continue
        if text[:1] != layout.lead and not (layout.fold_case and text[:1].upper() == layout.lead.upper()):
            continue
        if layout.lossy and (len(text) != 8 or any(layout.artifact(char) for char in text)):
            return {}, f"{layout.note}: its dead keys may have changed the scan; scan again"
        if layout.lead.isdigit() and _DIGITS.fullmatch(text[1:]):
            continue  # digits only: a number, not a barcode with its "/" shifted away
        for value in _undo(layout, text):
            readings[value] = f"{readings[value]}, {layout.note}" if value in readings else layout.note
    return {value: f"keyboard layout undone ({notes})" for value, notes in readings.items()}, None


@dataclass(frozen=True)
class Scan:
    """A normalised scan: ``kind`` one of mobile_barcode, citizen_certificate, love_code, business_number or
    unknown; ``note`` says what was repaired, or why the scan is unknown."""

    kind: str
    value: str
    raw: str
    note: str = ""

    @property
    def carrier_type(self) -> str | None:
        return {MOBILE: MOBILE_BARCODE, CITIZEN: CITIZEN_CERTIFICATE}.get(self.kind)


def _visible(raw: str) -> str:
    """The scan without control characters (terminators, STX/ETX framing) and surrounding spaces."""
    return "".join(ch for ch in raw if unicodedata.category(ch)[0] != "C").strip()


def _clean(visible: str) -> str:
    text = unicodedata.normalize("NFKC", visible).strip()
    return _AIM_PREFIX.sub("", text, count=1) if text.startswith("]") else text


def _zhuyin(visible: str) -> str | None:
    """Keys typed through the Zhuyin (注音) IME, mapped back to the US key positions that produced them."""
    if visible and all(ch in _ZHUYIN_KEYS for ch in visible):
        return "".join(_ZHUYIN_KEYS[ch] for ch in visible)
    return None


def _full_ascii(text: str) -> str | None:
    """Undo Code 39 Full-ASCII: a leading punctuation mark stands for "/" + A..O or Z, a lower-case letter
    for "+" and the letter."""
    if not text or text[0] not in _FULL_ASCII:
        return None
    rest = "".join(f"+{ch.upper()}" if "a" <= ch <= "z" else ch for ch in text[1:])
    return "/" + _FULL_ASCII[text[0]] + rest


def _mobile_readings(text: str, zhuyin: str | None, layouts: dict[str, str]) -> dict[str, str]:
    """Candidate mobile barcodes -> how each was read."""
    readings = layouts | {text.upper(): "as scanned"}
    if len(text) == 8 and text[0] in LEADING_SLASH_SUBSTITUTES and not _DIGITS.fullmatch(text[1:]):
        readings.setdefault("/" + text[1:].upper(), f"leading / restored ({LEADING_SLASH_SUBSTITUTES[text[0]]})")
    if len(text) == 7:
        readings.setdefault("/" + text.upper(), "missing leading / restored")
    full_ascii = _full_ascii(text)
    if full_ascii is not None:
        readings.setdefault(full_ascii, "Code 39 Full-ASCII decoding undone")
    if zhuyin is not None:
        readings.setdefault(zhuyin, "typed through the Zhuyin IME")
    return {value: how for value, how in readings.items() if is_mobile_barcode(value)}


def _other_kinds(text: str) -> list[tuple[str, str]]:
    upper = text.upper()
    found = []
    if is_citizen_certificate(upper):
        found.append((CITIZEN, upper))
    if is_love_code(text):
        found.append((LOVE, text))
    if len(text) == 8 and is_valid_ban(text):
        found.append((BUSINESS, text))
    return found


def normalise_scan(raw: str, layouts: Collection[str] | None = None) -> Scan:
    """The carrier, love code or 統一編號 a scanner delivered, or ``unknown`` with the reason. ``layouts``: the
    keyboard layouts in use where the scan was typed (names in ``turnkey.keymaps.LAYOUTS``), whose garbling alone
    is undone; None: every known layout, refusing what they cannot tell apart."""
    visible = _visible(raw)
    text = _clean(visible)
    if not text:
        return Scan(UNKNOWN, "", raw, "empty scan")
    undone, refusal = _layout_readings(visible, layouts)
    if refusal is not None:
        return Scan(UNKNOWN, text, raw, refusal)
    readings = _mobile_readings(text, _zhuyin(visible), undone)
    candidates = [(MOBILE, value, how) for value, how in readings.items()]
    candidates += [(kind, value, "as scanned") for kind, value in _other_kinds(text)]
    if len(candidates) == 1:
        kind, value, how = candidates[0]
        return Scan(kind, value, raw, "" if how == "as scanned" else how)
    if candidates:
        options = " or ".join(f"{kind} {value}" for kind, value, _ in candidates)
        return Scan(UNKNOWN, text, raw, f"ambiguous: could be {options}; scan again")
    return Scan(UNKNOWN, text, raw, "not a mobile barcode, citizen certificate, love code or 統一編號")
