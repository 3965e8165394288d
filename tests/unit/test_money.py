"""Exact money: decimals, rounding, the B2C/B2B amount conventions and the official samples' amounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_core_support import VALID_BAN, needs_official
from test_mig_support import OFFICIAL_SAMPLES, official, sample_id

from turnkey.mig import parse
from turnkey.model import Invoice
from turnkey.money import (
    EXEMPT,
    MIXED,
    SPECIAL,
    SPECIAL_RATES,
    STANDARD_RATE,
    TAXABLE,
    ZERO_RATED,
    Amounts,
    DecimalRule,
    compute_amounts,
    default_rate,
    invoice_tax_type,
    parse_decimal,
    plain,
    round_half_up,
    split_inclusive,
)
from turnkey.validate import parse_document


@pytest.mark.parametrize(("value", "expected"), [
    (12, Decimal(12)),
    (-12, Decimal(-12)),
    (10**13 - 1, Decimal(10**13 - 1)),
    ("12.5", Decimal("12.5")),
    ("+3", Decimal(3)),
    ("-0.0000001", Decimal("-0.0000001")),
    (".5", Decimal("0.5")),
    ("5.", Decimal(5)),
    ("1.50000000", Decimal("1.5")),  # trailing zeros beyond 7 places are harmless
    ("9999999999999.9999999", Decimal("9999999999999.9999999")),
    (Decimal("2.25"), Decimal("2.25")),
    (Decimal("1E+2"), Decimal(100)),
])
def test_parse_decimal_accepts(value: Any, expected: Decimal) -> None:
    assert parse_decimal(value) == expected


@pytest.mark.parametrize(("value", "rule"), [
    (True, "type"),
    (False, "type"),
    (1.5, "type"),
    (None, "type"),
    ([1], "type"),
    ("1e3", "format"),
    ("1E3", "format"),
    ("NaN", "format"),
    ("Infinity", "format"),
    ("", "format"),
    (" 1", "format"),
    ("1,000", "format"),
    ("１", "format"),  # full-width digit
    ("٣", "format"),  # Arabic-Indic digit
    (Decimal("NaN"), "format"),
    (Decimal("-Infinity"), "format"),
    ("0.12345678", "places"),
    (Decimal("0.00000001"), "places"),
    (10**13, "digits"),
    (-(10**13), "digits"),
    ("10000000000000", "digits"),
    (10**40, "digits"),
    ("1" * 30 + ".12345678", "digits"),  # used to raise decimal.InvalidOperation from quantize()
    (Decimal("1E+30"), "digits"),
    (Decimal("1E+999999999"), "digits"),  # abs() overflowed the context: a 500 through the API once
    (Decimal("-9E+999999999"), "digits"),
    (Decimal("1E-999999999"), "places"),
])
def test_parse_decimal_refuses(value: Any, rule: str) -> None:
    with pytest.raises(DecimalRule) as caught:
        parse_decimal(value)
    assert caught.value.rule == rule
    assert isinstance(caught.value, ValueError) and str(caught.value)


def test_parse_decimal_places_and_digits_arguments() -> None:
    assert parse_decimal("130.0", places=0) == 130
    assert parse_decimal(10**19, places=0) == 10**19
    with pytest.raises(DecimalRule, match="at most 0 decimal places"):
        parse_decimal("130.5", places=0)
    with pytest.raises(DecimalRule, match="at most 20 digits"):
        parse_decimal(10**20, places=0)
    assert parse_decimal("0.050", places=2) == Decimal("0.05")
    with pytest.raises(DecimalRule, match="at most 2 decimal places"):
        parse_decimal("0.055", places=2)


@pytest.mark.parametrize(("number", "text"), [
    (Decimal("1E+2"), "100"),
    (Decimal("1.50E+3"), "1500"),
    (Decimal("1E-7"), "0.0000001"),
    (Decimal("1.50"), "1.5"),
    (Decimal("2.0"), "2"),
    (Decimal("10"), "10"),
    (Decimal("100.000"), "100"),
    (Decimal("-2.50"), "-2.5"),
    (Decimal("0.000"), "0"),
    (Decimal("-0"), "0"),
    (Decimal("-0.0"), "0"),
    (Decimal("0E-7"), "0"),
    (Decimal("-0E-7"), "0"),
    (100, "100"),
    (-7, "-7"),
    (0, "0"),
])
def test_plain(number: Decimal | int, text: str) -> None:
    assert plain(number) == text


@given(st.decimals(allow_nan=False, allow_infinity=False, places=7, min_value=-(10**13), max_value=10**13))
def test_plain_is_exact_and_plain(number: Decimal) -> None:
    text = plain(number)
    assert Decimal(text) == number
    assert "E" not in text and not (("." in text) and text.endswith("0"))


@pytest.mark.parametrize(("number", "whole"), [
    (Decimal("87.5"), 88),
    (Decimal("87.4999999"), 87),
    (Decimal("0.5"), 1),
    (Decimal("-2.5"), -3),
    (Decimal("-2.4"), -2),
    (Decimal("3"), 3),
    (Decimal("2.000"), 2),
])
def test_round_half_up(number: Decimal, whole: int) -> None:
    assert round_half_up(number) == whole
    assert type(round_half_up(number)) is int


@pytest.mark.parametrize(("gross", "rate", "net", "tax"), [
    (20, "0.05", 19, 1),  # official allowance sample ALW10000013
    (340, "0.05", 324, 16),  # QR example of the barcode spec (0x144 / 0x154)
    (21, "0.05", 20, 1),
    (10, "0.05", 10, 0),  # 0.476 rounds down
    (11, "0.05", 10, 1),  # 0.524 rounds up
    (115, "0.15", 100, 15),
    (100, "0", 100, 0),
])
def test_split_inclusive(gross: int, rate: str, net: int, tax: int) -> None:
    assert split_inclusive(Decimal(gross), Decimal(rate)) == (net, tax)


RATES = st.sampled_from([Decimal(0), Decimal("0.01"), *SPECIAL_RATES])


@given(st.decimals(min_value=0, max_value=10**13, places=7, allow_nan=False, allow_infinity=False), RATES)
def test_split_inclusive_adds_up(gross: Decimal, rate: Decimal) -> None:
    net, tax = split_inclusive(gross, rate)
    assert net + tax == gross
    assert type(tax) is int
    assert abs(tax - gross * rate / (1 + rate)) <= Decimal("0.5000001")


def test_tax_type_helpers() -> None:
    assert invoice_tax_type(["1", "1"]) == TAXABLE
    assert invoice_tax_type(["2"]) == ZERO_RATED
    assert invoice_tax_type(["1", "3"]) == MIXED
    assert invoice_tax_type([]) == MIXED
    assert default_rate(TAXABLE) == default_rate(MIXED) == STANDARD_RATE
    assert default_rate(ZERO_RATED) == default_rate(EXEMPT) == 0
    assert default_rate(SPECIAL) is None


def test_amounts_as_dict() -> None:
    assert Amounts(1, 2, 3, 4, 10).as_dict() == {
        "sales": 1, "free_tax_sales": 2, "zero_tax_sales": 3, "tax": 4, "total": 10}


def test_compute_amounts_sorts_lines_by_tax_type() -> None:
    lines = [("1", Decimal(100)), ("2", Decimal(50)), ("3", Decimal(30)), ("4", Decimal(20)), ("1", Decimal("0.5"))]
    assert compute_amounts(lines, tax_on_top=False, rate=STANDARD_RATE) == Amounts(121, 30, 50, 0, 201)
    assert compute_amounts(lines, tax_on_top=True, rate=STANDARD_RATE) == Amounts(121, 30, 50, 6, 207)
    assert compute_amounts([], tax_on_top=True, rate=STANDARD_RATE) == Amounts(0, 0, 0, 0, 0)


# --- properties ---------------------------------------------------------------------------------------------

LINES = st.lists(st.tuples(st.sampled_from("1234"), st.decimals(min_value=-(10**6), max_value=10**9, places=7,
                                                                allow_nan=False, allow_infinity=False)),
                 max_size=30)


@given(LINES, RATES)
def test_amount_identity(lines: list[tuple[str, Decimal]], rate: Decimal) -> None:
    for tax_on_top in (False, True):
        a = compute_amounts(lines, tax_on_top=tax_on_top, rate=rate)
        assert a.total == a.sales + a.free_tax_sales + a.zero_tax_sales + a.tax
        assert all(type(v) is int for v in a.as_dict().values())


@given(LINES)
def test_b2c_carries_no_tax(lines: list[tuple[str, Decimal]]) -> None:
    a = compute_amounts(lines, tax_on_top=False, rate=STANDARD_RATE)
    assert a.tax == 0
    assert a.total == a.sales + a.free_tax_sales + a.zero_tax_sales


@given(st.lists(st.tuples(st.sampled_from("123"), st.decimals(min_value=0, max_value=10**9, places=7,
                                                              allow_nan=False, allow_infinity=False)),
                max_size=30))
def test_b2b_tax_is_five_percent_of_sales_rounded_half_up(lines: list[tuple[str, Decimal]]) -> None:
    a = compute_amounts(lines, tax_on_top=True, rate=STANDARD_RATE)
    assert a.tax == (a.sales * 5 + 50) // 100  # integer round-half-up of sales x 5 / 100
    taxable = sum((amount for kind, amount in lines if kind == "1"), Decimal(0))
    assert abs(a.sales - taxable) <= Decimal("0.5")


# --- the official MOF samples -------------------------------------------------------------------------------

INVOICE_SAMPLES = [name for name in OFFICIAL_SAMPLES if name.startswith("F0401")]
samples = pytest.mark.parametrize("name", INVOICE_SAMPLES, ids=[sample_id(n) for n in INVOICE_SAMPLES])


def sample(name: str) -> Invoice:
    invoice = parse(official(name))
    assert isinstance(invoice, Invoice)
    return invoice


def test_the_four_invoice_samples_are_there() -> None:
    assert [sample_id(n) for n in INVOICE_SAMPLES] == [
        "F0401-KZ10000002", "F0401-KZ10000010", "F0401-KZ10000011", "F0401-KZ10000012"]


@needs_official
@samples
def test_amounts_of_the_official_samples(name: str) -> None:
    invoice = sample(name)
    business = not invoice.buyer.is_consumer
    lines = [(line.tax_type, line.amount) for line in invoice.items]
    assert compute_amounts(lines, tax_on_top=business, rate=invoice.tax_rate) == invoice.amounts
    assert (invoice.amounts.tax > 0) is business  # B2C: TaxAmount 0; B2B: 5 % on top


def document_of(invoice: Invoice) -> dict[str, Any]:
    """The invoice document a POS would send for an official sample (B2B with a BAN that passes the checksum)."""
    doc: dict[str, Any] = {
        "order_id": invoice.number,
        "issued_at": invoice.issued_at.isoformat(),
        "invoice_type": invoice.invoice_type,
        "print": invoice.print_mark,
        "tax_type": invoice.tax_type,
        "tax_rate": str(invoice.tax_rate),
        "items": [{"description": line.description, "quantity": str(line.quantity),
                   "unit_price": str(line.unit_price), "amount": str(line.amount), "tax_type": line.tax_type,
                   "remark": line.remark} for line in invoice.items],
        "amounts": invoice.amounts.as_dict(),
        "remark": invoice.main_remark,
    }
    if invoice.buyer.is_consumer:
        doc["buyer"] = {"name": invoice.buyer.name}
    else:
        doc["buyer"] = {"ban": VALID_BAN, "name": invoice.buyer.name, "address": invoice.buyer.address}
    if invoice.carrier_type:
        doc["carrier"] = {"type": invoice.carrier_type, "id": invoice.carrier_id1}
    if invoice.npoban:
        doc["donation"] = {"love_code": invoice.npoban}
    return doc


@needs_official
@samples
def test_official_samples_as_invoice_documents(name: str) -> None:
    invoice = sample(name)
    draft = parse_document(document_of(invoice))
    assert draft.amounts == invoice.amounts
    assert draft.business == (not invoice.buyer.is_consumer)
    assert (draft.tax_type, draft.tax_rate, draft.print_proof) == (invoice.tax_type, invoice.tax_rate,
                                                                   invoice.print_mark)
    assert [(line.quantity, line.unit_price, line.amount) for line in draft.items] == [
        (line.quantity, line.unit_price, line.amount) for line in invoice.items]
    without_amounts = {k: v for k, v in document_of(invoice).items() if k != "amounts"}
    assert parse_document(without_amounts).amounts == invoice.amounts
