"""Carrier (載具) and donation (捐贈碼) formats.

Only ASCII character classes are used: ``re`` and XSD ``\\d`` accept full-width digits, the platform does not.
"""

from __future__ import annotations

import re

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
