"""Helpers shared by the ``test_mig_*`` modules (this module holds no tests).

The MOF samples and XSDs live in the shared spec folder beside the repository; they are read here and handed
to the pure code as bytes, never copied into the repo. Tests that need them are marked ``needs_spec``.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from turnkey.mig.xsd import SENT_CODES, Schemas, required_sources
from turnkey.model import (
    Allowance,
    AllowanceLine,
    AllowanceVoid,
    BlankReport,
    Cancel,
    Invoice,
    Line,
    Party,
    Void,
)
from turnkey.money import Amounts
from turnkey.period import TAIPEI, Period

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec"
SCHEMA_DIR = SPEC / "mig41"
OFFICIAL = SPEC / "samples" / "official-mig41"
needs_spec = pytest.mark.skipif(
    not SCHEMA_DIR.is_dir(),
    reason=f"shared spec folder {SPEC} not found: the MOF XSDs and samples are read from there, never copied",
)

OFFICIAL_SAMPLES = (
    "E0402_範本.xml",
    "F0401-KZ10000002(B2B存證開立).xml",
    "F0401-KZ10000010(B2C存證開立 載具發票3J0002).xml",
    "F0401-KZ10000011(B2C存證開立 捐贈發票).xml",
    "F0401-KZ10000012(B2C存證開立 列印紙本).xml",
    "F0501-KZ10000002(B2B存證作廢).xml",
    "F0501-KZ10000010(B2C存證作廢).xml",
    "F0701-KZ10000012(B2C註銷發票).xml",
    "G0401-ALW10000003(B2B存證賣方開立折讓).xml",
    "G0401-ALW10000013(B2C存證開立折讓).xml",
    "G0501-ALW10000003(B2B存證賣方作廢折讓).xml",
    "G0501-ALW10000013(B2C存證作廢折讓).xml",
)
"""The 13 official MIG 4.1 samples minus E0401 (einvd does not send it)."""


def sample_id(name: str) -> str:
    """A short ASCII test id: ``F0401-KZ10000002``, ``E0402``."""
    return name.split("(")[0].split("_")[0]


def official(name: str) -> bytes:
    return (OFFICIAL / name).read_bytes()


def spec_file(relative: str) -> bytes:
    return (SPEC / relative).read_bytes()


def schema_sources(codes: tuple[str, ...] = SENT_CODES) -> dict[str, bytes]:
    return {name: (SCHEMA_DIR / name).read_bytes() for name in required_sources(codes)}


@functools.cache
def schemas() -> Schemas:
    return Schemas.from_sources(schema_sources())


def c14n(xml: bytes) -> str:
    """Canonical XML 2.0 with insignificant whitespace removed."""
    return str(etree.canonicalize(etree.fromstring(xml), strip_text=True))


def codes(problems: list[Any]) -> list[str]:
    return [problem.code for problem in problems]


# --- model factories --------------------------------------------------------------------------------------

SELLER = Party("12345676", "範例商店股份有限公司", "臺北市中正區範例路1號")
CONSUMER = Party("0000000000", "消費者")
COMPANY = Party("87654322", "範例買方有限公司")
AT = datetime(2025, 1, 15, 13, 5, 9, tzinfo=TAIPEI)


def line(sequence: str = "001", amount: str | Decimal = "130", **changes: Any) -> Line:
    base = Line(sequence, "拿鐵咖啡", Decimal(2), Decimal(amount) / 2, Decimal(amount))
    return replace(base, **changes)


def invoice(**changes: Any) -> Invoice:
    """A valid B2C invoice with a printed proof (passes the XSD and Turnkey's local checks)."""
    base = Invoice(
        number="AB12345678",
        issued_at=AT,
        seller=SELLER,
        buyer=CONSUMER,
        invoice_type="07",
        print_mark=True,
        random_number="7213",
        items=(line(), line("002", "45", description="可頌", quantity=Decimal(1), unit_price=Decimal(45))),
        amounts=Amounts(175, 0, 0, 0, 175),
        tax_type="1",
        tax_rate=Decimal("0.05"),
    )
    return replace(base, **changes)


def full_invoice() -> Invoice:
    """Every optional F0401 field set (zero-rated export to a business)."""
    seller = Party("12345676", "賣方", "地址", "負責人", "0212345678", "0287654321", "a@b.tw", "C001", "備註")
    items = (line(unit="杯", remark="少冰", relate_number="R1", tax_type="2", quantity=Decimal("0.5")),)
    return invoice(
        seller=seller,
        buyer=replace(COMPANY, address="台中", email="x@y.tw"),
        items=items,
        amounts=Amounts(0, 0, 130, 0, 130),
        tax_type="2",
        tax_rate=Decimal(0),
        buyer_remark="1",
        main_remark="總備註",
        customs_clearance_mark="2",
        category="AB",
        relate_number="ORDER-1",
        group_mark="*",
        bonded_area_confirm="1",
        zero_tax_rate_reason="71",
        reserved1="r1",
        reserved2="r2",
        discount_amount=Decimal("1.5"),
        original_currency_amount=Decimal("4.25"),
        exchange_rate=Decimal("30.59"),
        currency="USD",
    )


def void(**changes: Any) -> Void:
    base = Void("AB12345678", date(2025, 1, 15), "0000000000", "12345676", AT.replace(day=16), "品項錯誤")
    return replace(base, **changes)


def cancel(**changes: Any) -> Cancel:
    base = Cancel("AB12345679", date(2025, 1, 15), "0000000000", "12345676", AT, "載具資料錯誤")
    return replace(base, **changes)


def allowance_line(**changes: Any) -> AllowanceLine:
    day = date(2025, 1, 15)
    base = AllowanceLine(day, "AB12345681", "影印紙A4", Decimal(2), Decimal(95), Decimal(190), 10, "1", "1")
    return replace(base, **changes)


def allowance(**changes: Any) -> Allowance:
    base = Allowance("20250120001", date(2025, 1, 20), SELLER, COMPANY, (allowance_line(),), 10, Decimal(190))
    return replace(base, **changes)


def allowance_void(**changes: Any) -> AllowanceVoid:
    base = AllowanceVoid(
        "20250120001", date(2025, 1, 20), "87654322", "12345676", AT.replace(day=21), "折讓金額錯誤"
    )
    return replace(base, **changes)


def blank_report(**changes: Any) -> BlankReport:
    ranges = ((12345682, 12345699), (12345750, 12345799))
    base = BlankReport("12345676", "12345676", "07", Period(2025, 2), "AB", ranges)
    return replace(base, **changes)


ALL_MESSAGES = (invoice(), full_invoice(), void(), cancel(), allowance(), allowance_void(), blank_report())
