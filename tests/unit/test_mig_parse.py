"""parse(xml): junk, hostile XML and documents the model cannot hold are ResultUnreadable (mig.unreadable)."""

from __future__ import annotations

import pytest
from test_mig_support import allowance, blank_report, invoice, void

from turnkey.errors import ResultUnreadable
from turnkey.mig import parse, render
from turnkey.mig.common import load


def unreadable(xml: bytes) -> tuple[str, str, str]:
    with pytest.raises(ResultUnreadable) as caught:
        parse(xml)
    (problem,) = caught.value.problems
    return problem.code, problem.field, problem.message


def edit(xml: bytes, old: str, new: str) -> bytes:
    assert old.encode() in xml, old
    return xml.replace(old.encode(), new.encode(), 1)


@pytest.mark.parametrize(
    "junk",
    [b"", b"not xml", b"<Invoice>", b"\xff\xfe<a/>", b"<?xml version='1.0'?><!-- only a comment -->"],
)
def test_junk_is_unreadable(junk: bytes) -> None:
    code, field, message = unreadable(junk)
    assert (code, field) == ("mig.unreadable", "")
    assert message.startswith("not well-formed XML")


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:GEINV:eInvoiceMessage:F0401:4.1"><Main>&x;</Main></Invoice>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>"""
EXTERNAL_DTD = b'<!DOCTYPE Invoice SYSTEM "http://example.invalid/x.dtd"><Invoice/>'


@pytest.mark.parametrize(
    "hostile", [XXE, LAUGHS, EXTERNAL_DTD], ids=["xxe", "billion-laughs", "external-dtd"]
)
def test_doctype_is_refused(hostile: bytes) -> None:
    code, _, message = unreadable(hostile)
    assert code == "mig.unreadable"
    assert "DOCTYPE" in message


def test_comments_and_processing_instructions_are_ignored() -> None:
    xml = edit(render(void()), "<CancelReason>", "<!-- note --><?pi x?><CancelReason>")
    assert parse(xml) == void()


def test_load_returns_the_root() -> None:
    assert load(b"<a><b/></a>").tag == "a"


def test_unknown_root_or_version_is_unreadable() -> None:
    assert unreadable(b"<Invoice/>")[1:] == ("Invoice", "not a MIG 4.1 message einvd reads: Invoice")
    v40 = edit(render(void()), "F0501:4.1", "F0501:4.0")
    assert unreadable(v40)[1] == "CancelInvoice"


def test_missing_required_element_names_its_path() -> None:
    xml = edit(render(invoice()), "<InvoiceTime>13:05:09</InvoiceTime>", "")
    assert unreadable(xml)[1:] == ("Invoice/Main/InvoiceTime", "required element InvoiceTime is missing")


def test_missing_container_names_its_path() -> None:
    xml = render(invoice())
    start, end = xml.index(b"<Amount>\n"), xml.index(b"</Amount>\n</Invoice>") + len(b"</Amount>")
    assert unreadable(xml[:start] + xml[end:])[1] == "Invoice/Amount"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("<InvoiceDate>20250115<", "<InvoiceDate>2025-01-15<", "Invoice/Main/InvoiceDate"),
        ("<InvoiceDate>20250115<", "<InvoiceDate>20250231<", "Invoice/Main/InvoiceDate"),
        ("<InvoiceTime>13:05:09<", "<InvoiceTime>13:05<", "Invoice/Main/InvoiceTime"),
        ("<InvoiceTime>13:05:09<", "<InvoiceTime>25:05:09<", "Invoice/Main/InvoiceTime"),
        ("<Quantity>2<", "<Quantity>2e3<", "Invoice/Details/ProductItem[1]/Quantity"),
        ("<Amount>45<", "<Amount>forty<", "Invoice/Details/ProductItem[2]/Amount"),
        ("<SalesAmount>175<", "<SalesAmount>175.5<", "Invoice/Amount/SalesAmount"),
        ("<TaxRate>0.05<", "<TaxRate>0.0500000001<", "Invoice/Amount/TaxRate"),
        ("<PrintMark>Y<", "<PrintMark>y<", "Invoice/Main/PrintMark"),
        ("<DonateMark>0<", "<DonateMark>1<", "Invoice/Main/DonateMark"),
    ],
)
def test_bad_invoice_values_are_unreadable(old: str, new: str, field: str) -> None:
    code, found, message = unreadable(edit(render(invoice()), old, new))
    assert (code, found) == ("mig.unreadable", field)
    assert message


def test_whole_amounts_accept_a_zero_fraction() -> None:
    xml = edit(render(invoice()), "<SalesAmount>175<", "<SalesAmount> 175.00 <")
    assert parse(xml) == invoice()


def test_npoban_without_donate_mark_is_unreadable() -> None:
    xml = edit(render(invoice(print_mark=False, npoban="168001")), "<DonateMark>1<", "<DonateMark>0<")
    assert unreadable(xml)[1] == "Invoice/Main/DonateMark"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("<YearMonth>11402<", "<YearMonth>11401<", "BranchTrackBlank/Main/YearMonth"),
        (
            "<InvoiceEndNo>12345799<",
            "<InvoiceEndNo>1234579<",
            "BranchTrackBlank/Details/BranchTrackBlankItem[2]/InvoiceEndNo",
        ),
    ],
)
def test_bad_blank_report_values(old: str, new: str, field: str) -> None:
    assert unreadable(edit(render(blank_report()), old, new))[1] == field


def test_bad_allowance_tax_is_unreadable() -> None:
    xml = edit(render(allowance()), "<Tax>10<", "<Tax>10.5<")
    assert unreadable(xml)[1] == "Allowance/Details/ProductItem[1]/Tax"


def test_first_of_duplicate_elements_wins() -> None:
    xml = edit(render(void()), "<CancelReason>", "<Remark>first</Remark><CancelReason>")
    xml = edit(xml, "</CancelInvoice>", "<Remark>second</Remark></CancelInvoice>")
    assert parse(xml).remark == "first"  # type: ignore[union-attr]
