"""G0501 平台存證作廢折讓證明單 (void allowance; root ``CancelAllowance``): a flat ``xsd:all``."""

from __future__ import annotations

from lxml import etree

from turnkey.mig.common import Node, fill, new_root, opt, qualifier, read_moment, stamp, to_date, ymd
from turnkey.model import AllowanceVoid

CODE = "G0501"
ROOT = "CancelAllowance"
Q = qualifier(CODE)


def build(void: AllowanceVoid) -> etree._Element:
    root = new_root(CODE, ROOT)
    fill(
        root,
        Q,
        (
            ("CancelAllowanceNumber", void.number),
            ("AllowanceType", void.allowance_type),
            ("AllowanceDate", ymd(void.allowance_date)),
            ("BuyerId", void.buyer_id),
            ("SellerId", void.seller_id),
            *stamp("Cancel", void.at),
            ("CancelReason", void.reason),
            ("Remark", opt(void.remark)),
        ),
    )
    return root


def read(root: Node) -> AllowanceVoid:
    return AllowanceVoid(
        number=root.text("CancelAllowanceNumber"),
        allowance_date=root.value("AllowanceDate", to_date),
        buyer_id=root.text("BuyerId"),
        seller_id=root.text("SellerId"),
        at=read_moment(root, "Cancel"),
        reason=root.text("CancelReason"),
        allowance_type=root.text("AllowanceType"),
        remark=root.opt("Remark"),
    )
