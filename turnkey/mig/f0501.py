"""F0501 平台存證作廢發票 (void; root ``CancelInvoice``): a flat ``xsd:all``."""

from __future__ import annotations

from lxml import etree

from turnkey.mig.common import Node, fill, new_root, opt, qualifier, read_moment, stamp, to_date, ymd
from turnkey.model import Void

CODE = "F0501"
ROOT = "CancelInvoice"
Q = qualifier(CODE)


def build(void: Void) -> etree._Element:
    root = new_root(CODE, ROOT)
    fill(
        root,
        Q,
        (
            ("CancelInvoiceNumber", void.number),
            ("InvoiceDate", ymd(void.invoice_date)),
            ("BuyerId", void.buyer_id),
            ("SellerId", void.seller_id),
            *stamp("Cancel", void.at),
            ("CancelReason", void.reason),
            ("ReturnTaxDocumentNumber", opt(void.return_tax_document_number)),
            ("Remark", opt(void.remark)),
            ("Reserved1", opt(void.reserved1)),
            ("Reserved2", opt(void.reserved2)),
        ),
    )
    return root


def read(root: Node) -> Void:
    return Void(
        number=root.text("CancelInvoiceNumber"),
        invoice_date=root.value("InvoiceDate", to_date),
        buyer_id=root.text("BuyerId"),
        seller_id=root.text("SellerId"),
        at=read_moment(root, "Cancel"),
        reason=root.text("CancelReason"),
        return_tax_document_number=root.opt("ReturnTaxDocumentNumber"),
        remark=root.opt("Remark"),
        reserved1=root.opt("Reserved1"),
        reserved2=root.opt("Reserved2"),
    )
