"""preflight and Turnkey's local F0401 checks (domain.md §3.1): each rule fails and passes."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from test_mig_support import (
    COMPANY,
    CONSUMER,
    SELLER,
    codes,
    full_invoice,
    invoice,
    line,
    needs_spec,
    schemas,
    void,
)

from turnkey.errors import InvoiceInvalid, Problem
from turnkey.mig import SIZE_LIMIT, invoice_checks, preflight, render, render_checked
from turnkey.mig.common import load
from turnkey.model import Invoice, Party
from turnkey.money import Amounts

B2B = {"buyer": COMPANY, "amounts": Amounts(175, 0, 0, 9, 184)}
CARRIER = {
    "print_mark": False,
    "carrier_type": "3J0002",
    "carrier_id1": "/ABC+123",
    "carrier_id2": "/ABC+123",
}
DONATION = {"print_mark": False, "npoban": "168001"}


def local(xml: bytes) -> list[Problem]:
    return invoice_checks(load(xml))


def problems_of(message: Invoice) -> list[Problem]:
    return local(render(message))


def edit(xml: bytes, old: str, new: str) -> bytes:
    assert old.encode() in xml, old
    return xml.replace(old.encode(), new.encode(), 1)


def test_the_base_invoices_pass() -> None:
    for message in (invoice(), invoice(**B2B), invoice(**CARRIER), invoice(**DONATION), full_invoice()):
        assert problems_of(message) == []


@pytest.mark.parametrize("address", ["", "  ", "\u3000"])
def test_seller_address_must_not_be_blank(address: str) -> None:
    problems = problems_of(invoice(seller=replace(SELLER, address=address)))
    expected = Problem(
        "mig.seller.address", "Invoice/Main/Seller/Address", "Turnkey requires a seller address"
    )
    assert problems == [expected]


@pytest.mark.parametrize(("identifier", "bad"), [("A1234567", True), ("8765432 ", True), ("87654322", False)])
def test_buyer_identifier_must_be_digits(identifier: str, bad: bool) -> None:
    problems = problems_of(invoice(buyer=Party(identifier, "買方"), amounts=B2B["amounts"]))
    assert codes(problems) == (["mig.buyer.identifier"] if bad else [])


@pytest.mark.parametrize(
    ("buyer", "bad"),
    [(CONSUMER, False), (Party("0000000000", "000"), True), (Party("0000000000", "0"), True),
     (Party("0000000000", "00000"), False), (Party("87654322", "0"), False)],
)  # fmt: skip
def test_consumer_name_must_not_be_zeros(buyer: Party, bad: bool) -> None:
    assert codes(problems_of(invoice(buyer=buyer))) == (["mig.buyer.name"] if bad else [])


@pytest.mark.parametrize(
    ("buyer", "number", "bad"),
    [(CONSUMER, "0481", False), (CONSUMER, "", False), (CONSUMER, "12a4", True), (CONSUMER, "12345", True),
     (CONSUMER, "123", False), (COMPANY, "12a4", False)],
)  # fmt: skip
def test_consumer_random_number(buyer: Party, number: str, bad: bool) -> None:
    assert codes(problems_of(invoice(buyer=buyer, random_number=number))) == (
        ["mig.random_number"] if bad else []
    )


def test_invoice_date_is_required() -> None:
    xml = render(invoice())
    assert codes(local(edit(xml, "<InvoiceDate>20250115</InvoiceDate>", ""))) == ["mig.invoice_date"]
    assert codes(local(edit(xml, "<InvoiceDate>20250115<", "<InvoiceDate> <"))) == ["mig.invoice_date"]


def test_printed_mobile_barcode_needs_a_business_buyer() -> None:
    printed = {**CARRIER, "print_mark": True}
    assert problems_of(invoice(**printed)) == [
        Problem("mig.carrier.buyer", "Invoice/Main/Buyer/Identifier", "printed 3J0002 needs a buyer BAN")
    ]
    assert problems_of(invoice(**{**printed, **B2B})) == []
    assert codes(problems_of(invoice(**{**printed, "buyer": Party("00000000", "x")}))) == [
        "mig.carrier.buyer"
    ]


@pytest.mark.parametrize(
    ("id1", "id2", "bad"), [("", "", False), ("AB12345678901234", "", True), ("", "X", True)]
)
def test_printed_invoice_carries_no_other_carrier_id(id1: str, id2: str, bad: bool) -> None:
    message = invoice(carrier_type="CQ0001" if id1 or id2 else "", carrier_id1=id1, carrier_id2=id2)
    assert codes(problems_of(message)) == (["mig.carrier.printed"] if bad else [])


def test_printed_invoice_cannot_be_donated() -> None:
    assert codes(problems_of(invoice(print_mark=True, npoban="168001"))) == ["mig.donate.printed"]


@pytest.mark.parametrize(
    ("changes", "bad"),
    [({}, True), (DONATION, False), (CARRIER, False), ({"carrier_type": "3J0002", "carrier_id1": "/A"}, True),
     ({"carrier_type": "CQ0001", "carrier_id1": "  ", "carrier_id2": "X"}, True)],
)  # fmt: skip
def test_unprinted_invoice_must_be_donated_or_on_a_carrier(changes: dict[str, str], bad: bool) -> None:
    found = codes(problems_of(invoice(**{"print_mark": False, **changes})))
    assert ("mig.print.carrier" in found) is bad


@pytest.mark.parametrize(
    ("id1", "id2", "bad_fields"),
    [("/ABC+123", "/ABC+123", []), (" /ABC+123", "/ABC+123", ["CarrierId1"]),
     ("/ABC+123", "/ABC+123\u3000", ["CarrierId2"])],
)  # fmt: skip
def test_carrier_ids_have_no_surrounding_spaces(id1: str, id2: str, bad_fields: list[str]) -> None:
    problems = problems_of(invoice(**{**CARRIER, "carrier_id1": id1, "carrier_id2": id2}))
    assert [p.field for p in problems if p.code == "mig.carrier.spaces"] == [
        f"Invoice/Main/{f}" for f in bad_fields
    ]


def test_mobile_barcode_needs_both_ids() -> None:
    problems = problems_of(invoice(**{**CARRIER, "carrier_id2": ""}))
    assert [(p.code, p.field) for p in problems] == [
        ("mig.print.carrier", "Invoice/Main/PrintMark"),
        ("mig.carrier.id", "Invoice/Main/CarrierId2"),
    ]
    assert codes(problems_of(invoice(**{**CARRIER, "print_mark": True, **B2B, "carrier_id1": ""}))) == [
        "mig.carrier.id"
    ]


def test_npoban_goes_with_donate_mark() -> None:
    donated = render(invoice(**DONATION))
    assert codes(local(edit(donated, "<DonateMark>1<", "<DonateMark>0<"))) == [
        "mig.print.carrier",
        "mig.npoban",
    ]
    assert codes(local(edit(donated, "<NPOBAN>168001<", "<NPOBAN> <"))) == ["mig.npoban"]
    assert local(donated) == []


def test_details_must_not_be_empty() -> None:
    assert problems_of(invoice(items=())) == [
        Problem("mig.details", "Invoice/Details", "an invoice needs at least one ProductItem")
    ]


def test_zero_rated_needs_customs_mark_and_reason() -> None:
    zero = invoice(
        items=(line(tax_type="2"),), amounts=Amounts(0, 0, 130, 0, 130), tax_type="2", tax_rate=Decimal(0)
    )
    assert [p.field for p in problems_of(zero)] == [
        "Invoice/Main/CustomsClearanceMark",
        "Invoice/Main/ZeroTaxRateReason",
    ]
    assert problems_of(replace(zero, customs_clearance_mark="1", zero_tax_rate_reason="71")) == []


def test_no_line_may_have_tax_type_9() -> None:
    mixed = invoice(items=(line(), line("002", tax_type="9")), tax_type="9")
    assert [(p.code, p.field) for p in problems_of(mixed)] == [
        ("mig.item.tax_type", "Invoice/Details/ProductItem[2]/TaxType")
    ]


@pytest.mark.parametrize(("value", "bad"), [("175.5", True), ("175.0", False), ("abc", False), ("", False)])
def test_invoice_amounts_must_be_whole(value: str, bad: bool) -> None:
    xml = edit(render(invoice()), "<TotalAmount>175<", f"<TotalAmount>{value}<")
    assert codes(local(xml)) == (["mig.amount.integer"] if bad else [])


def test_checks_survive_a_skeleton_document() -> None:
    found = codes(local(b'<Invoice xmlns="urn:GEINV:eInvoiceMessage:F0401:4.1"/>'))
    assert found == ["mig.seller.address", "mig.buyer.identifier", "mig.invoice_date", "mig.details"]


# --- preflight ---------------------------------------------------------------------------------------------


def test_oversized_file_is_refused_before_parsing() -> None:
    assert preflight(invoice(), b" " * (SIZE_LIMIT + 1), schemas=None) == [  # type: ignore[arg-type]
        Problem("mig.size", "", f"{SIZE_LIMIT + 1} bytes is over Turnkey's limit of {SIZE_LIMIT} bytes")
    ]


@needs_spec
def test_file_of_exactly_the_limit_is_accepted() -> None:
    xml = render(invoice())
    chunk = b" " * 1017 + b"<!---->"  # after the root element; no single text run over libxml2's 10 MB limit
    padding = chunk * ((SIZE_LIMIT - len(xml)) // len(chunk))
    padded = xml + padding + b"\n" * (SIZE_LIMIT - len(xml) - len(padding))
    assert len(padded) == SIZE_LIMIT
    assert preflight(invoice(), padded, schemas()) == []


@needs_spec
def test_preflight_of_valid_messages_is_empty() -> None:
    for message in (
        invoice(),
        invoice(**B2B),
        invoice(**CARRIER),
        invoice(**DONATION),
        full_invoice(),
        void(),
    ):
        assert preflight(message, render(message), schemas()) == []


def test_preflight_reports_unreadable_xml() -> None:
    assert codes(preflight(invoice(), b"<Invoice", None)) == ["mig.xml"]  # before any XSD: needs no spec


@needs_spec
def test_preflight_combines_xsd_and_local_checks() -> None:
    message = invoice(seller=replace(SELLER, address=""), random_number="12345")
    found = preflight(message, render(message), schemas())
    assert codes(found)[-2:] == ["mig.seller.address", "mig.random_number"]
    assert {(p.code, p.field) for p in found[:-2]} == {("mig.xsd", "Invoice/Main/RandomNumber")}


@needs_spec
def test_preflight_runs_only_the_xsd_for_other_messages() -> None:
    bad = void(reason="")
    assert codes(preflight(bad, render(bad), schemas())) == ["mig.xsd"]


@needs_spec
@pytest.mark.slow
def test_largest_invoice_under_the_limit_passes() -> None:
    """9999 lines of long text: about 19.5 MiB, parsed without libxml2's huge-tree mode."""
    items = tuple(
        line(
            f"{i:04d}",
            "1",
            description="品" * 450,
            remark="備" * 120,
            relate_number="R" * 50,
            unit_price=Decimal(1),
        )
        for i in range(1, 10_000)
    )
    message = invoice(items=items, amounts=Amounts(9999, 0, 0, 0, 9999))
    xml = render(message)
    assert 19 * 2**20 < len(xml) <= SIZE_LIMIT
    assert preflight(message, xml, schemas()) == []


def test_render_checked_returns_the_xml_or_refuses_with_every_problem() -> None:
    good = invoice()
    assert render_checked(good, None) == render(good)
    bad = invoice(seller=Party("12345676", "賣方", " "))
    with pytest.raises(InvoiceInvalid) as refused:
        render_checked(bad, None)
    assert [p.code for p in refused.value.problems] == ["mig.seller.address"]
