"""render(message) -> bytes: shape, namespaces, encoding, decimals, Taipei time, omissions, round trip."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from test_mig_support import (
    ALL_MESSAGES,
    AT,
    CONSUMER,
    allowance,
    allowance_void,
    blank_report,
    cancel,
    full_invoice,
    invoice,
    line,
    void,
)

from turnkey.mig import code_of, parse, render
from turnkey.mig.common import XSI, num, stamp
from turnkey.model import Message, Party, Void
from turnkey.money import Amounts, plain

F0401 = "{urn:GEINV:eInvoiceMessage:F0401:4.1}"


def tree(message: Message) -> etree._Element:
    return etree.fromstring(render(message))


def texts(root: etree._Element, path: str) -> list[str | None]:
    return [element.text for element in root.iterfind(path, {"m": root.nsmap[None]})]


def children(root: etree._Element, path: str) -> list[str]:
    found = root.find(path, {"m": root.nsmap[None]})
    assert found is not None
    return [etree.QName(kid).localname for kid in found]


@pytest.mark.parametrize("message", ALL_MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    assert parse(render(message)) == message


@pytest.mark.parametrize(
    ("message", "code", "root"),
    [
        (invoice(), "F0401", "Invoice"),
        (void(), "F0501", "CancelInvoice"),
        (cancel(), "F0701", "VoidInvoice"),
        (allowance(), "G0401", "Allowance"),
        (allowance_void(), "G0501", "CancelAllowance"),
        (blank_report(), "E0402", "BranchTrackBlank"),
    ],
)
def test_root_namespace_and_schema_location(message: Message, code: str, root: str) -> None:
    xml = render(message)
    element = etree.fromstring(xml)
    namespace = f"urn:GEINV:eInvoiceMessage:{code}:4.1"
    assert code_of(message) == code
    assert element.tag == f"{{{namespace}}}{root}"
    assert element.nsmap == {None: namespace, "xsi": XSI}
    assert element.get(f"{{{XSI}}}schemaLocation") == f"{namespace} {code}.xsd"
    assert f"<{root} xmlns=".encode() in xml


def test_utf8_with_declaration_and_no_bom() -> None:
    xml = render(invoice())
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice ')
    assert "拿鐵咖啡".encode() in xml
    assert not xml.startswith(b"\xef\xbb\xbf")


MAIN_ORDER = [
    *("InvoiceNumber", "InvoiceDate", "InvoiceTime", "Seller", "Buyer", "BuyerRemark", "MainRemark"),
    *("CustomsClearanceMark", "Category", "RelateNumber", "InvoiceType", "GroupMark", "DonateMark"),
    *("PrintMark", "RandomNumber", "BondedAreaConfirm", "ZeroTaxRateReason", "Reserved1", "Reserved2"),
]
PARTY_ORDER = [
    *("Identifier", "Name", "Address", "PersonInCharge", "TelephoneNumber", "FacsimileNumber"),
    *("EmailAddress", "CustomerNumber", "RoleRemark"),
]
ITEM_ORDER = [
    *("Description", "Quantity", "Unit", "UnitPrice", "TaxType", "Amount", "SequenceNumber", "Remark"),
    "RelateNumber",
]
AMOUNT_ORDER = [
    *("SalesAmount", "FreeTaxSalesAmount", "ZeroTaxSalesAmount", "TaxType", "TaxRate", "TaxAmount"),
    *("TotalAmount", "DiscountAmount", "OriginalCurrencyAmount", "ExchangeRate", "Currency"),
]


def test_main_follows_the_official_emit_order() -> None:
    root = tree(full_invoice())
    assert children(root, "m:Main") == MAIN_ORDER
    assert children(root, "m:Main/m:Seller") == PARTY_ORDER
    assert children(root, "m:Details/m:ProductItem") == ITEM_ORDER
    assert children(root, "m:Amount") == AMOUNT_ORDER


def test_empty_optional_fields_and_none_decimals_are_omitted() -> None:
    root = tree(invoice())
    assert children(root, "m:Main/m:Buyer") == ["Identifier", "Name"]
    assert "BuyerRemark" not in children(root, "m:Main")
    assert "DiscountAmount" not in children(root, "m:Amount")
    assert children(root, "m:Details/m:ProductItem") == [
        "Description", "Quantity", "UnitPrice", "TaxType", "Amount", "SequenceNumber",
    ]  # fmt: skip


def test_required_fields_are_emitted_even_when_empty() -> None:
    root = tree(invoice(buyer=Party("0000000000", "")))
    assert texts(root, "m:Main/m:Buyer/m:Name") == [None]


def test_carrier_and_donation_marks() -> None:
    carrier = tree(
        invoice(print_mark=False, carrier_type="3J0002", carrier_id1="/ABC+123", carrier_id2="/ABC+123")
    )
    donated = tree(invoice(print_mark=False, npoban="168001"))
    assert texts(carrier, "m:Main/m:PrintMark") == ["N"]
    assert texts(carrier, "m:Main/m:DonateMark") == ["0"]
    assert texts(carrier, "m:Main/m:CarrierId2") == ["/ABC+123"]
    assert texts(donated, "m:Main/m:DonateMark") == ["1"]
    assert texts(donated, "m:Main/m:NPOBAN") == ["168001"]


def test_decimals_are_plain() -> None:
    odd = line(quantity=Decimal("1E+2"), unit_price=Decimal("12.50"), amount=Decimal("-0.000"))
    root = tree(invoice(items=(odd,), tax_rate=Decimal("0.050"), exchange_rate=Decimal("1E-7")))
    item = "m:Details/m:ProductItem/m:"
    assert texts(root, item + "Quantity") == ["100"]
    assert texts(root, item + "UnitPrice") == ["12.5"]
    assert texts(root, item + "Amount") == ["0"]
    assert texts(root, "m:Amount/m:TaxRate") == ["0.05"]
    assert texts(root, "m:Amount/m:ExchangeRate") == ["0.0000001"]


_LIMIT = Decimal("9999999999999.9999999")  # MIG decimal 20/7
_MIG_DECIMAL = st.decimals(
    min_value=-_LIMIT, max_value=_LIMIT, places=7, allow_nan=False, allow_infinity=False
)
_SCALED = st.builds(
    lambda digits, exponent: Decimal(digits).scaleb(exponent),
    st.integers(-999_999, 999_999),
    st.integers(-7, 7),
)


@given(_MIG_DECIMAL | _SCALED | st.integers(-(10**20), 10**20))
def test_num_is_money_plain(value: Decimal | int) -> None:
    """Within MIG's 20 digits (money.plain rounds beyond the 28-digit decimal context)."""
    assert num(value) == plain(value)


def test_dates_and_times_are_taipei() -> None:
    utc = datetime(2025, 1, 14, 16, 30, 5, 999_999, tzinfo=UTC)
    root = tree(invoice(issued_at=utc))
    assert texts(root, "m:Main/m:InvoiceDate") == ["20250115"]
    assert texts(root, "m:Main/m:InvoiceTime") == ["00:30:05"]
    assert dict(stamp("Cancel", datetime(2025, 3, 1, 1, 2, 3, tzinfo=timezone(timedelta(hours=-5))))) == {
        "CancelDate": "20250301",
        "CancelTime": "14:02:03",
    }


def test_aware_datetimes_round_trip_to_the_same_instant() -> None:
    utc = AT.astimezone(UTC)
    parsed = parse(render(void(at=utc)))
    assert isinstance(parsed, Void) and parsed == void(at=utc)
    assert parsed.at.utcoffset() == timedelta(hours=8)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        render(invoice(issued_at=datetime(2025, 1, 15, 13, 5, 9)))


def test_blank_report_pads_numbers_to_eight_digits() -> None:
    root = tree(blank_report(ranges=((1000, 1000), (0, 49))))
    assert texts(root, "m:Details/m:BranchTrackBlankItem/m:InvoiceBeginNo") == ["00001000", "00000000"]
    assert texts(root, "m:Main/m:YearMonth") == ["11402"]


def test_allowance_and_voids_omit_empty_optionals() -> None:
    assert "Remark" not in children(tree(void()), ".")
    assert children(tree(allowance_void(remark="x")), ".")[-1] == "Remark"
    assert "OriginalInvoiceSellerId" not in children(tree(allowance()), "m:Main")
    full = allowance(original_invoice_seller_id="12345676", original_invoice_buyer_id="87654322")
    assert children(tree(full), "m:Main")[-2:] == ["OriginalInvoiceSellerId", "OriginalInvoiceBuyerId"]


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), max_size=12)
_DECIMAL = _MIG_DECIMAL | _SCALED


@given(
    name=_TEXT,
    description=_TEXT,
    remark=_TEXT,
    quantity=_DECIMAL,
    amount=_DECIMAL,
    sales=st.integers(0, 10**12),
    discount=st.none() | _DECIMAL,
    seconds=st.integers(0, 10**9),
)
def test_invoice_round_trip_property(
    name: str, description: str, remark: str, quantity: Decimal, amount: Decimal, sales: int,
    discount: Decimal | None, seconds: int,
) -> None:  # fmt: skip
    item = line(description=description, remark=remark, quantity=quantity, unit_price=amount, amount=amount)
    message = invoice(
        buyer=replace(CONSUMER, name=name),
        items=(item,),
        amounts=Amounts(sales, 0, 0, 0, sales),
        discount_amount=discount,
        issued_at=AT + timedelta(seconds=seconds),
    )
    assert parse(render(message)) == message
