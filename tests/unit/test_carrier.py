"""Carrier (載具) and love code (捐贈碼) formats. Scanner normalisation is tested in test_scan_normalise.py."""

from __future__ import annotations

import pytest

from turnkey.carrier import (
    CITIZEN_CERTIFICATE,
    MAX_CARRIER_ID,
    MOBILE_BARCODE,
    carrier_id_problem,
    is_carrier_type,
    is_citizen_certificate,
    is_love_code,
    is_mobile_barcode,
)


@pytest.mark.parametrize(("value", "valid"), [
    ("/ABC1234", True),
    ("/17MEWYP", True),  # official sample KZ10000010
    ("/A+-.123", True),
    ("/abc1234", False),
    ("/ABC123", False),
    ("/ABC12345", False),
    ("ABC12345", False),
    ("/ABC 234", False),
    ("/ABC_234", False),
    ("/ＡBC1234", False),
    ("/ABC1234\n", False),
])
def test_mobile_barcode(value: str, valid: bool) -> None:
    assert is_mobile_barcode(value) is valid


@pytest.mark.parametrize(("value", "valid"), [
    ("AB12345678901234", True),
    ("ab12345678901234", False),
    ("AB1234567890123", False),
    ("AB123456789012345", False),
    ("A123456789012345", False),
    ("AB1234567890123４", False),
])
def test_citizen_certificate(value: str, valid: bool) -> None:
    assert is_citizen_certificate(value) is valid


@pytest.mark.parametrize(("value", "valid"), [
    ("123", True), ("8999", True), ("168001", True), ("1234567", True),
    ("12", False), ("12345678", False), ("12a", False), ("１２３", False), ("", False), (" 123", False),
])
def test_love_code(value: str, valid: bool) -> None:
    assert is_love_code(value) is valid


@pytest.mark.parametrize(("value", "valid"), [
    ("3J0002", True), ("CQ0001", True), ("EJ0113", True), ("5G0001", True),
    ("3j0002", False), ("3J002", False), ("3J00022", False), ("3J-002", False), ("３J0002", False),
])
def test_carrier_type(value: str, valid: bool) -> None:
    assert is_carrier_type(value) is valid


@pytest.mark.parametrize(("carrier_type", "carrier_id", "problem"), [
    (MOBILE_BARCODE, "/ABC1234", None),
    (MOBILE_BARCODE, "AB12345678901234", "format"),
    (MOBILE_BARCODE, "", "format"),
    (CITIZEN_CERTIFICATE, "AB12345678901234", None),
    (CITIZEN_CERTIFICATE, "/ABC1234", "format"),
    ("EJ0113", "member-0001", None),
    ("EJ0113", "會員 0001", None),
    ("EJ0113", "m" * MAX_CARRIER_ID, None),
    ("EJ0113", "m" * (MAX_CARRIER_ID + 1), "length"),
    ("EJ0113", "", "length"),
    ("EJ0113", " m1", "spaces"),
    ("EJ0113", "m1 ", "spaces"),
    ("EJ0113", "\u3000m1", "spaces"),
    ("EJ0113", "m1\t", "spaces"),
    ("EJ0113", "\nm1", "spaces"),
    ("EJ0113", "m1\r", "spaces"),
])
def test_carrier_id_problem(carrier_type: str, carrier_id: str, problem: str | None) -> None:
    assert carrier_id_problem(carrier_type, carrier_id) == problem

