"""e首發票 (SystemLead) OpenAPI on the wire: the envelope, its signature, and the seed's bodies as einvd's documents.

Facts from the vendor docs SL-PD/Einvoice_Erp_api @ c0b644591598f50fef9b7457d3f8dd18a8d80e15 (field notes §1.7,
§3.3, §3.6; the seed's samples in ``../shared/spec/peer-samples/systemlead``):

* a request is ``{CompanyID, Timestamp, Signature, Data}`` or an array of them; ``Signature`` is the upper-case
  hex SHA-256 of the ASCII ``Timestamp + Salt`` (CHT/Signature.md; the known-answer vector reproduces it): it binds
  neither the CompanyID nor the Data, and the docs name no clock window, so none is enforced (a POS whose clock is
  wrong keeps working, as it does with the centre);
* the answer is an array with one object per item, ``AuthCode`` (a GUID) on success, ``Message`` on failure,
  the item's keys (InvoiceID, InvoiceDateTime, ...) echoed (b2cJsonSample.md);
* ``InvoiceDateTime`` is Taipei local time without an offset (``2016-10-27T16:27:34``); B2C amounts are
  tax-inclusive (SalesAmount 5500, TaxAmount 0, TotalAmount 5500 in the sample); ``BuyerID`` ``0000000000`` is a
  consumer; ``PrintMark`` Y/N; B2B (b2bJsonSample.md) has untaxed lines, the tax on top, ``BuyerInvoiceTitle``
  and the random number as ``CheckNumber``. The carrier and donation fields are MIG's names (CarrierType,
  CarrierID1, NPOBAN): the seed's samples show none, so these follow the MIG the centre uploads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

SIGNATURE_ERROR = "簽章驗證錯誤"
"""The seed's message for a wrong signature (b2cJsonSample.md, GetInvoiceIDList.md)."""
COMPANY_ERROR = "CompanyID 不符 (this box issues for another 統一編號)"
CONSUMER_IDS = ("", "0000000000", "00000000")
AUTH_NAMESPACE = uuid.UUID("6f1c3a52-3c55-4c35-9a55-2d7c1e0b5e18")
"""AuthCodes are UUID5s under this namespace: the same invoice answers the same AuthCode when it is sent again."""


class Refused(Exception):
    """One item refused: its ``Message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def signature(timestamp: str, salt: str) -> str:
    """e首發票's signature: upper-hex SHA256(ASCII(Timestamp + Salt))."""
    return hashlib.sha256((timestamp + salt).encode("ascii")).hexdigest().upper()


@dataclass(frozen=True)
class Envelope:
    company: str
    timestamp: str
    signature: str
    data: Any


def envelopes(body: bytes) -> tuple[list[Any], bool]:
    """The request's items (one object or an array of them) and whether it was an array. ValueError: not JSON."""
    parsed = json.loads(body.decode("utf-8-sig"))
    if isinstance(parsed, list):
        return parsed, True
    return [parsed], False


def open_item(item: Any, company: str, salt: str) -> Envelope:
    """One item's envelope, checked: the CompanyID this box issues for, the signature."""
    if not isinstance(item, dict):
        raise Refused("格式錯誤 (each item is an object {CompanyID, Timestamp, Signature, Data})")
    given = Envelope(str(item.get("CompanyID", "")), str(item.get("Timestamp", "")), str(item.get("Signature", "")),
                     item.get("Data"))
    if not given.timestamp.isascii() or not hmac.compare_digest(given.signature.upper().encode("ascii", "replace"),
                                                                signature(given.timestamp, salt).encode("ascii")):
        raise Refused(SIGNATURE_ERROR)
    if given.company != company:
        raise Refused(COMPANY_ERROR)
    if not isinstance(given.data, dict):
        raise Refused("Data 格式錯誤 (Data is an object)")
    return given


def auth_code(*parts: str) -> str:
    """A GUID for a success, upper-case as the seed shows, the same for the same thing answered again."""
    return str(uuid.uuid5(AUTH_NAMESPACE, "/".join(parts))).upper()


def text(data: Mapping[str, Any], name: str, *, required: bool = False, limit: int = 256) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise Refused(f"{name} 不可為空 ({name} is required)")
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value)) > limit:
        raise Refused(f"{name} 格式錯誤 ({name} is text of at most {limit} characters)")
    return str(value).strip()


def amount(data: Mapping[str, Any], name: str, default: Decimal | None = None) -> Decimal:
    value = data.get(name)
    if value is None and default is not None:
        return default
    try:
        if isinstance(value, bool) or value is None:
            raise InvalidOperation
        return Decimal(str(value))
    except InvalidOperation:
        raise Refused(f"{name} 格式錯誤 ({name} is a number)") from None


def plain(value: Decimal) -> int | str:
    """A decimal as einvd's document takes it: an int when whole, else its exact text."""
    return int(value) if value == value.to_integral_value() else str(value.normalize())


def local_time(data: Mapping[str, Any], name: str) -> str:
    """``2016-10-27T16:27:34`` (Taipei, no offset) as an aware ISO time."""
    value = text(data, name, required=True, limit=25).replace(" ", "T")
    if len(value) < 19 or value[4] != "-" or value[10] != "T":
        raise Refused(f"{name} 格式錯誤 ({name} is yyyy-MM-ddTHH:mm:ss)")
    return value[:19] + "+08:00"


_TAX_SALES = {"1": "sales", "2": "zero_tax_sales", "3": "free_tax_sales"}


def order_document(data: Mapping[str, Any]) -> dict[str, Any]:
    """``/Append/Order(s)`` Data: an invoice body without InvoiceID (the centre numbers it; RelateNumber unique,
    field notes §1.7), InvoiceDateTime optional (default: now)."""
    relate = text(data, "RelateNumber", required=True, limit=40)
    return _document(data, relate, local_time(data, "InvoiceDateTime") if data.get("InvoiceDateTime") else None)


def invoice_document(data: Mapping[str, Any]) -> dict[str, Any]:
    """``/Append/Invoices`` Data (b2cJsonSample.md, b2bJsonSample.md) as einvd's invoice document."""
    number = text(data, "InvoiceID", required=True, limit=10)
    return _document(data, text(data, "RelateNumber", limit=40) or number, local_time(data, "InvoiceDateTime"))


def _document(data: Mapping[str, Any], order_id: str, issued_at: str | None) -> dict[str, Any]:
    tax_type = text(data, "TaxType", limit=1) or "1"
    if tax_type not in _TAX_SALES:
        raise Refused("TaxType 格式錯誤 (1 taxable, 2 zero-rated, 3 exempt)")
    buyer_id = text(data, "BuyerID", limit=10)
    buyer: dict[str, Any] = {key: text(data, name, limit=limit) or None for key, name, limit in (
        ("name", "BuyerName", 60), ("address", "BuyerAddress", 100), ("phone", "BuyerTelNo", 26))}
    if buyer_id not in CONSUMER_IDS and text(data, "BuyerInvoiceTitle", limit=60):
        buyer["name"] = text(data, "BuyerInvoiceTitle", limit=60)  # B2B: the company's name on the invoice
    buyer["email"] = text(data, "BuyerEmailAddress", limit=400) or text(data, "BuyerEmail", limit=400) or None
    if buyer_id not in CONSUMER_IDS:
        buyer["ban"] = buyer_id
    details = data.get("Details")
    if not isinstance(details, list) or not details:
        raise Refused("Details 不可為空 (Details is a list of items)")
    items = [_item(line, tax_type) for line in details]
    sales = amount(data, "SalesAmount")
    doc: dict[str, Any] = {
        "order_id": order_id,
        "print": text(data, "PrintMark", limit=1).upper() == "Y",
        "tax_type": tax_type, "items": items,
        "amounts": {"sales": 0, "zero_tax_sales": 0, "free_tax_sales": 0, _TAX_SALES[tax_type]: plain(sales),
                    "tax": plain(amount(data, "TaxAmount", Decimal(0))), "total": plain(amount(data, "TotalAmount"))},
    }
    if issued_at is not None:
        doc["issued_at"] = issued_at
    if any(value is not None for value in buyer.values()):
        doc["buyer"] = {key: value for key, value in buyer.items() if value is not None}
    remark = text(data, "MainRemark", limit=200)
    if remark:
        doc["remark"] = remark
    carrier, love_code = text(data, "CarrierType", limit=6), text(data, "NPOBAN", limit=7)
    if carrier:
        doc["carrier"] = {"type": carrier, "id": text(data, "CarrierID1", required=True, limit=64)}
    if love_code:
        doc["donation"] = {"love_code": love_code}
    return doc


def random_number(data: Mapping[str, Any]) -> str | None:
    """The POS's random number: RandomNumber (b2cJsonSample.md) or CheckNumber (b2bJsonSample.md)."""
    return text(data, "RandomNumber", limit=4) or text(data, "CheckNumber", limit=4) or None


def _item(line: Any, tax_type: str) -> dict[str, Any]:
    if not isinstance(line, dict):
        raise Refused("Details 格式錯誤 (each item is an object)")
    item: dict[str, Any] = {
        "description": text(line, "ProductName", required=True, limit=256),
        "quantity": plain(amount(line, "Quantity")), "unit_price": plain(amount(line, "UnitPrice")),
        "amount": plain(amount(line, "SubTotal")), "tax_type": tax_type,
    }
    remark = text(line, "Remark", limit=120)
    if remark:
        item["remark"] = remark
    return item
