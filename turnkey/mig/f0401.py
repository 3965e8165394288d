"""F0401 平台存證開立發票 (root ``Invoice``): Main + Details + Amount."""

from __future__ import annotations

from lxml import etree

from turnkey.mig.common import (
    Fields,
    Node,
    add_party,
    fill,
    new_root,
    num,
    opt,
    opt_num,
    qualifier,
    read_moment,
    read_party,
    stamp,
    to_decimal,
    to_whole,
    unreadable,
)
from turnkey.model import Invoice, Line
from turnkey.money import Amounts

CODE = "F0401"
ROOT = "Invoice"
Q = qualifier(CODE)
_PRINT_MARKS = {"Y": True, "N": False}


def build(invoice: Invoice) -> etree._Element:
    root = new_root(CODE, ROOT)
    sub = etree.SubElement
    main = sub(root, Q + "Main")
    fill(main, Q, (("InvoiceNumber", invoice.number), *stamp("Invoice", invoice.issued_at)))
    add_party(main, Q, "Seller", invoice.seller)
    add_party(main, Q, "Buyer", invoice.buyer)
    fill(main, Q, _main(invoice))
    details = sub(root, Q + "Details")
    for line in invoice.items:
        fill(sub(details, Q + "ProductItem"), Q, _item(line))
    fill(sub(root, Q + "Amount"), Q, _amount(invoice))
    return root


def _main(invoice: Invoice) -> Fields:
    """Main after Buyer, in the order of the official samples (then the XSD order for the rest)."""
    return (
        ("BuyerRemark", opt(invoice.buyer_remark)),
        ("MainRemark", opt(invoice.main_remark)),
        ("CustomsClearanceMark", opt(invoice.customs_clearance_mark)),
        ("Category", opt(invoice.category)),
        ("RelateNumber", opt(invoice.relate_number)),
        ("InvoiceType", invoice.invoice_type),
        ("GroupMark", opt(invoice.group_mark)),
        ("DonateMark", "1" if invoice.npoban else "0"),
        ("CarrierType", opt(invoice.carrier_type)),
        ("CarrierId1", opt(invoice.carrier_id1)),
        ("CarrierId2", opt(invoice.carrier_id2)),
        ("PrintMark", "Y" if invoice.print_mark else "N"),
        ("NPOBAN", opt(invoice.npoban)),
        ("RandomNumber", opt(invoice.random_number)),
        ("BondedAreaConfirm", opt(invoice.bonded_area_confirm)),
        ("ZeroTaxRateReason", opt(invoice.zero_tax_rate_reason)),
        ("Reserved1", opt(invoice.reserved1)),
        ("Reserved2", opt(invoice.reserved2)),
    )


def _item(line: Line) -> Fields:
    return (
        ("Description", line.description),
        ("Quantity", num(line.quantity)),
        ("Unit", opt(line.unit)),
        ("UnitPrice", num(line.unit_price)),
        ("TaxType", line.tax_type),
        ("Amount", num(line.amount)),
        ("SequenceNumber", line.sequence),
        ("Remark", opt(line.remark)),
        ("RelateNumber", opt(line.relate_number)),
    )


def _amount(invoice: Invoice) -> Fields:
    amounts = invoice.amounts
    return (
        ("SalesAmount", num(amounts.sales)),
        ("FreeTaxSalesAmount", num(amounts.free_tax_sales)),
        ("ZeroTaxSalesAmount", num(amounts.zero_tax_sales)),
        ("TaxType", invoice.tax_type),
        ("TaxRate", num(invoice.tax_rate)),
        ("TaxAmount", num(amounts.tax)),
        ("TotalAmount", num(amounts.total)),
        ("DiscountAmount", opt_num(invoice.discount_amount)),
        ("OriginalCurrencyAmount", opt_num(invoice.original_currency_amount)),
        ("ExchangeRate", opt_num(invoice.exchange_rate)),
        ("Currency", opt(invoice.currency)),
    )


def read(root: Node) -> Invoice:
    main, amount = root.node("Main"), root.node("Amount")
    return Invoice(
        number=main.text("InvoiceNumber"),
        issued_at=read_moment(main, "Invoice"),
        seller=read_party(main.node("Seller")),
        buyer=read_party(main.node("Buyer")),
        invoice_type=main.text("InvoiceType"),
        print_mark=main.value("PrintMark", _print_mark),
        random_number=main.opt("RandomNumber"),
        items=tuple(_read_item(item) for item in root.node("Details").nodes("ProductItem")),
        amounts=_read_amounts(amount),
        tax_type=amount.text("TaxType"),
        tax_rate=amount.value("TaxRate", to_decimal),
        carrier_type=main.opt("CarrierType"),
        carrier_id1=main.opt("CarrierId1"),
        carrier_id2=main.opt("CarrierId2"),
        npoban=_read_npoban(main),
        buyer_remark=main.opt("BuyerRemark"),
        main_remark=main.opt("MainRemark"),
        customs_clearance_mark=main.opt("CustomsClearanceMark"),
        category=main.opt("Category"),
        relate_number=main.opt("RelateNumber"),
        group_mark=main.opt("GroupMark"),
        bonded_area_confirm=main.opt("BondedAreaConfirm"),
        zero_tax_rate_reason=main.opt("ZeroTaxRateReason"),
        reserved1=main.opt("Reserved1"),
        reserved2=main.opt("Reserved2"),
        discount_amount=amount.opt_value("DiscountAmount", to_decimal),
        original_currency_amount=amount.opt_value("OriginalCurrencyAmount", to_decimal),
        exchange_rate=amount.opt_value("ExchangeRate", to_decimal),
        currency=amount.opt("Currency"),
    )


def _print_mark(text: str) -> bool:
    if text not in _PRINT_MARKS:
        raise ValueError("PrintMark must be Y or N")
    return _PRINT_MARKS[text]


def _read_npoban(main: Node) -> str:
    """NPOBAN; the model derives DonateMark from it, so the two must agree."""
    npoban = main.opt("NPOBAN")
    if main.text("DonateMark") != ("1" if npoban else "0"):
        raise unreadable(f"{main.path}/DonateMark", "DonateMark must be 1 with an NPOBAN and 0 without one")
    return npoban


def _read_item(item: Node) -> Line:
    return Line(
        sequence=item.text("SequenceNumber"),
        description=item.text("Description"),
        quantity=item.value("Quantity", to_decimal),
        unit_price=item.value("UnitPrice", to_decimal),
        amount=item.value("Amount", to_decimal),
        tax_type=item.text("TaxType"),
        unit=item.opt("Unit"),
        remark=item.opt("Remark"),
        relate_number=item.opt("RelateNumber"),
    )


def _read_amounts(amount: Node) -> Amounts:
    """The five invoice-level amounts are whole NT$ (Turnkey local check 12)."""
    names = ("SalesAmount", "FreeTaxSalesAmount", "ZeroTaxSalesAmount", "TaxAmount", "TotalAmount")
    return Amounts(*(amount.value(name, to_whole) for name in names))
