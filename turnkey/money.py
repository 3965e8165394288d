"""Exact money: decimals from the document, whole-NT$ invoice amounts, and the B2C/B2B tax conventions.

Confirmed by the MOF's MIG 4.1 samples:
- consumer (B2C) invoices carry tax-inclusive lines, ``TaxAmount`` 0 and ``TotalAmount`` = the three sales sums;
- business-buyer (B2B) invoices carry untaxed lines and ``TaxAmount`` = 5 % of ``SalesAmount`` rounded half up,
  ``TotalAmount`` = Sales + FreeTax + ZeroTax + Tax.
Special-tax (type 08) invoices are priced tax-inclusive for every buyer and carry ``TaxAmount`` 0 (platform
rule E0227).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

TAXABLE, ZERO_RATED, EXEMPT, SPECIAL, MIXED = "1", "2", "3", "4", "9"
LINE_TAX_TYPES = (TAXABLE, ZERO_RATED, EXEMPT, SPECIAL)
INVOICE_TAX_TYPES = (*LINE_TAX_TYPES, MIXED)
STANDARD_RATE = Decimal("0.05")
SPECIAL_RATES = (Decimal("0.02"), Decimal("0.05"), Decimal("0.15"), Decimal("0.25"))
TAX_RATES = (Decimal("0"), Decimal("0.01"), *SPECIAL_RATES)

_ONE = Decimal(1)
_LIMITS = {n: Decimal(10) ** n for n in range(21)}
_SCALES = {n: Decimal(1).scaleb(-n) for n in range(21)}
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", re.ASCII)


class DecimalRule(ValueError):
    """A number broke a rule; ``rule`` is the last part of the error code."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def parse_decimal(value: object, places: int = 7, digits: int = 20) -> Decimal:
    """An exact decimal from an int, a Decimal or a plain ASCII decimal string.

    Refused: booleans, binary floats, exponents, NaN/Infinity, full-width digits, more than ``places``
    fraction digits or ``digits`` digits in all (MIG decimal 20/7).
    """
    if type(value) is int and -_LIMITS[digits - places] < value < _LIMITS[digits - places]:
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise DecimalRule("type", "must be a JSON number or a decimal string")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise DecimalRule("format", "must be a plain decimal like 12 or 12.5 (ASCII digits, no exponent)")
    number = Decimal(value)
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int):
        raise DecimalRule("format", "must be a finite number")
    # first: quantize() below needs the number to fit the context; copy_abs(), unlike abs(), does not round to
    # the context, which overflows on an exponent like 1E+999999999
    if number.copy_abs() >= _LIMITS[digits - places]:
        raise DecimalRule("digits", f"may have at most {digits - places} digits before the decimal point")
    if exponent < -places and number != number.quantize(_SCALES[places]):
        raise DecimalRule("places", f"may have at most {places} decimal places")
    return number


def plain(number: Decimal | int) -> str:
    """A decimal as MIG wants it: no exponent, no trailing zeros, no ``.0``."""
    text = str(number)
    if "E" in text:
        text = format(Decimal(number).normalize(), "f")
    elif "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0", "") else text


def round_half_up(number: Decimal) -> int:
    """Whole NT$, halves away from zero (87.5 -> 88)."""
    whole = int(number)
    if whole == number:
        return whole
    return int(number.quantize(_ONE, rounding=ROUND_HALF_UP))


def split_inclusive(gross: Decimal, rate: Decimal) -> tuple[Decimal, int]:
    """A tax-inclusive amount split into (untaxed, tax); tax whole NT$: 20 at 5 % -> (19, 1)."""
    tax = round_half_up(gross - gross / (1 + rate))
    return gross - tax, tax


@dataclass(frozen=True)
class Amounts:
    """The invoice-level amounts of MIG ``Amount`` (whole NT$)."""

    sales: int
    free_tax_sales: int
    zero_tax_sales: int
    tax: int
    total: int

    def as_dict(self) -> dict[str, int]:
        return {
            "sales": self.sales,
            "free_tax_sales": self.free_tax_sales,
            "zero_tax_sales": self.zero_tax_sales,
            "tax": self.tax,
            "total": self.total,
        }


def invoice_tax_type(line_types: Iterable[str]) -> str:
    """The invoice's tax type from its lines: the common type, or 9 (mixed)."""
    kinds = set(line_types)
    return kinds.pop() if len(kinds) == 1 else MIXED


def default_rate(tax_type: str) -> Decimal | None:
    """The rate implied by a tax type; None for special tax (4), whose rate must be given."""
    if tax_type in (ZERO_RATED, EXEMPT):
        return Decimal(0)
    return None if tax_type == SPECIAL else STANDARD_RATE


def compute_amounts(lines: Iterable[tuple[str, Decimal]], *, tax_on_top: bool, rate: Decimal) -> Amounts:
    """Sum ``(tax_type, amount)`` lines into the invoice amounts.

    ``tax_on_top`` is True for business buyers on a type 07 invoice (untaxed lines, tax added); otherwise the
    lines already include any tax and ``TaxAmount`` is 0.
    """
    taxable = zero = exempt = Decimal(0)
    for tax_type, amount in lines:
        if tax_type == ZERO_RATED:
            zero += amount
        elif tax_type == EXEMPT:
            exempt += amount
        else:
            taxable += amount
    sales, free, zero_sales = round_half_up(taxable), round_half_up(exempt), round_half_up(zero)
    tax = round_half_up(sales * rate) if tax_on_top else 0
    return Amounts(sales, free, zero_sales, tax, sales + free + zero_sales + tax)
