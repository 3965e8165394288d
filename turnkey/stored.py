"""A stored invoice document -> its ``InvoiceDraft``, without judging it again.

A document was validated once, by ``turnkey.validate.parse_document``, before its number was taken; what is
stored is a fact. Loading it must not run the rules again: a release that tightens a rule would otherwise turn
invoices issued months ago into errors. So this module reads the same fields with the same defaults and
derivations (line amounts, the invoice tax type, the default rate, the amounts) and checks nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from turnkey import money
from turnkey.model import Buyer, Carrier, InvoiceDraft, Line
from turnkey.period import taipei


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return str(value) if value else ""


def _buyer(doc: Mapping[str, Any]) -> Buyer | None:
    obj = doc.get("buyer")
    if obj is None:
        return None
    return Buyer(obj.get("ban"), _text(obj, "name"), _text(obj, "address"), _text(obj, "email"),
                 _text(obj, "phone"))


def _line(item: Mapping[str, Any], index: int, default_tax: str) -> Line:
    quantity, price = Decimal(item["quantity"]), Decimal(item["unit_price"])
    given = item.get("amount")
    amount = quantity * price if given is None else Decimal(given)
    return Line(f"{index + 1:03d}", _text(item, "description"), quantity, price, amount,
                str(item.get("tax_type", default_tax)), _text(item, "unit"), _text(item, "remark"))


def _rate(doc: Mapping[str, Any], tax_type: str) -> Decimal:
    given = doc.get("tax_rate")
    if given is not None:
        return Decimal(given)
    implied = money.default_rate(tax_type)
    return money.STANDARD_RATE if implied is None else implied


def _optional(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return None if value is None else str(value)


def load_document(doc: Mapping[str, Any]) -> InvoiceDraft:
    """The draft of a document that ``parse_document`` accepted when it was issued (equal to what it returned).

    A document damaged since (a field gone, a value of the wrong type) raises ``ValueError``: nothing can be
    built from it, and no rule was judged to say so.
    """
    try:
        return _load(doc)
    except (KeyError, TypeError, AttributeError, ArithmeticError) as error:
        raise ValueError(f"the stored invoice document cannot be read: {type(error).__name__} {error}") from error


def _load(doc: Mapping[str, Any]) -> InvoiceDraft:
    invoice_type = str(doc.get("invoice_type") or "07")
    buyer = _buyer(doc)
    carrier_obj, donation = doc.get("carrier"), doc.get("donation")
    carrier = None if carrier_obj is None else Carrier(carrier_obj["type"], carrier_obj["id"])
    love_code = None if donation is None else str(donation["love_code"])
    business = buyer is not None and buyer.ban is not None
    printed = bool(doc.get("print", business or (carrier is None and love_code is None)))
    given_tax = doc.get("tax_type", money.TAXABLE)
    default_tax = str(given_tax) if given_tax in money.LINE_TAX_TYPES else money.TAXABLE
    lines = tuple(_line(item, index, default_tax) for index, item in enumerate(doc["items"]))
    tax_type = money.invoice_tax_type(line.tax_type for line in lines)
    rate = _rate(doc, tax_type)
    amounts = money.compute_amounts(((line.tax_type, line.amount) for line in lines),
                                    tax_on_top=business and invoice_type == "07", rate=rate)
    issued = doc.get("issued_at")
    issued_at = None if issued is None else taipei(datetime.fromisoformat(issued))
    return InvoiceDraft(str(doc["order_id"]), issued_at, invoice_type, buyer, carrier, love_code, printed, tax_type,
                        rate, _optional(doc, "zero_tax_rate_reason"), _optional(doc, "customs_clearance_mark"), lines,
                        amounts, _text(doc, "remark"))
