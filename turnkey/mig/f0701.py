"""F0701 平台存證註銷發票 (cancel/annul; root ``VoidInvoice``): a flat ``xsd:all``."""

from __future__ import annotations

from lxml import etree

from turnkey.mig.common import Node, fill, new_root, opt, qualifier, read_moment, stamp, to_date, ymd
from turnkey.model import Cancel

CODE = "F0701"
ROOT = "VoidInvoice"
Q = qualifier(CODE)


def build(cancel: Cancel) -> etree._Element:
    root = new_root(CODE, ROOT)
    fill(
        root,
        Q,
        (
            ("VoidInvoiceNumber", cancel.number),
            ("InvoiceDate", ymd(cancel.invoice_date)),
            ("BuyerId", cancel.buyer_id),
            ("SellerId", cancel.seller_id),
            *stamp("Void", cancel.at),
            ("VoidReason", cancel.reason),
            ("Remark", opt(cancel.remark)),
            ("Reserved1", opt(cancel.reserved1)),
            ("Reserved2", opt(cancel.reserved2)),
        ),
    )
    return root


def read(root: Node) -> Cancel:
    return Cancel(
        number=root.text("VoidInvoiceNumber"),
        invoice_date=root.value("InvoiceDate", to_date),
        buyer_id=root.text("BuyerId"),
        seller_id=root.text("SellerId"),
        at=read_moment(root, "Void"),
        reason=root.text("VoidReason"),
        remark=root.opt("Remark"),
        reserved1=root.opt("Reserved1"),
        reserved2=root.opt("Reserved2"),
    )
