"""G0401 平台存證開立折讓證明單 (root ``Allowance``): Main + Details + Amount."""

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
    qualifier,
    read_party,
    to_date,
    to_decimal,
    to_whole,
    ymd,
)
from turnkey.model import Allowance, AllowanceLine

CODE = "G0401"
ROOT = "Allowance"
Q = qualifier(CODE)


def build(allowance: Allowance) -> etree._Element:
    root = new_root(CODE, ROOT)
    sub = etree.SubElement
    main = sub(root, Q + "Main")
    fill(main, Q, (("AllowanceNumber", allowance.number), ("AllowanceDate", ymd(allowance.allowance_date))))
    add_party(main, Q, "Seller", allowance.seller)
    add_party(main, Q, "Buyer", allowance.buyer)
    fill(
        main,
        Q,
        (
            ("AllowanceType", allowance.allowance_type),
            ("OriginalInvoiceSellerId", opt(allowance.original_invoice_seller_id)),
            ("OriginalInvoiceBuyerId", opt(allowance.original_invoice_buyer_id)),
        ),
    )
    details = sub(root, Q + "Details")
    for line in allowance.items:
        fill(sub(details, Q + "ProductItem"), Q, _item(line))
    totals = (("TaxAmount", num(allowance.tax_amount)), ("TotalAmount", num(allowance.total_amount)))
    fill(sub(root, Q + "Amount"), Q, totals)
    return root


def _item(line: AllowanceLine) -> Fields:
    return (
        ("OriginalInvoiceDate", ymd(line.original_invoice_date)),
        ("OriginalInvoiceNumber", line.original_invoice_number),
        ("OriginalSequenceNumber", opt(line.original_sequence_number)),
        ("OriginalDescription", line.original_description),
        ("Quantity", num(line.quantity)),
        ("Unit", opt(line.unit)),
        ("UnitPrice", num(line.unit_price)),
        ("Amount", num(line.amount)),
        ("Tax", num(line.tax)),
        ("AllowanceSequenceNumber", line.sequence),
        ("TaxType", line.tax_type),
    )


def read(root: Node) -> Allowance:
    main, amount = root.node("Main"), root.node("Amount")
    return Allowance(
        number=main.text("AllowanceNumber"),
        allowance_date=main.value("AllowanceDate", to_date),
        seller=read_party(main.node("Seller")),
        buyer=read_party(main.node("Buyer")),
        items=tuple(_read_item(item) for item in root.node("Details").nodes("ProductItem")),
        tax_amount=amount.value("TaxAmount", to_whole),
        total_amount=amount.value("TotalAmount", to_decimal),
        allowance_type=main.text("AllowanceType"),
        original_invoice_seller_id=main.opt("OriginalInvoiceSellerId"),
        original_invoice_buyer_id=main.opt("OriginalInvoiceBuyerId"),
    )


def _read_item(item: Node) -> AllowanceLine:
    return AllowanceLine(
        original_invoice_date=item.value("OriginalInvoiceDate", to_date),
        original_invoice_number=item.text("OriginalInvoiceNumber"),
        original_description=item.text("OriginalDescription"),
        quantity=item.value("Quantity", to_decimal),
        unit_price=item.value("UnitPrice", to_decimal),
        amount=item.value("Amount", to_decimal),
        tax=item.value("Tax", to_whole),
        sequence=item.text("AllowanceSequenceNumber"),
        tax_type=item.text("TaxType"),
        original_sequence_number=item.opt("OriginalSequenceNumber"),
        unit=item.opt("Unit"),
    )
