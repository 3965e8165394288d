"""ECPay B2C e-invoice wire format, pure: the AES ``Data`` field, the envelope's checks, ECPay's codes, and the
translation of an ECPay ``Issue`` payload into einvd's own invoice document.

Sources (all in ``../shared``): field-notes §1.6 and §3.1 (ECPay/SDK_PHP ``AesService``: ``Data =
base64(AES-128-CBC(HashKey, HashIV, PKCS7, urlencode(json)))``; every client's urlencode is accepted by ECPay),
peer-samples ``known-answer-vectors.json`` (``ecpay_aes128_data``) and ``paid-tw-ecpay-fixtures/*.json`` (the
payload fields, the RtnCodes and TransCodes seen live). SpecialTaxType -> rate: Odoo ``l10n_tw_edi_ecpay``
``account.tax`` selection (field notes §1.3).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daemon import jsonio

WINDOW = 600
"""RqHeader.Timestamp must be within 10 minutes of the server's clock (ECPay: TransCode 104 beyond)."""

# --- transport (envelope) codes: paid-tw transport-errors.json, live on einvoice-stage (HTTP 500 each) -------
STALE = (104, "Timestamp is over 10 minutes than it just produced.")
UNDECRYPTABLE = (110, "The parameter [Data] decrypt fail.")
EMPTY = (111, "The parameter [Data] cannot be empty.")
NOT_ENABLED = (115, "B2C/B2B功能尚未開通，請聯繫所屬業務")
NOT_ENVELOPE = (0, "The request is not an ECPay envelope: a JSON object with MerchantID, RqHeader.Timestamp and "
                   "Data is expected (einvd)")

# --- business RtnCodes: paid-tw errors.json (live) and field notes §3.1 ------------------------------------
OK = 1
NOT_FOUND_QUERY = (2, "查無發票資料，請重新確認")
NO_INVOICE = (1600003, "無發票號碼資料")
TRACK_EXHAUSTED = (1100040, "發票字軌已用完")
TRACK_MISSING = (5070350, "字軌未設定或未啟用")
AMOUNT_MISMATCH = (1200031, "驗證發票金額發現錯誤，與商品合計金額不符")
DUPLICATE = (5070357, "B2C開立發票 自訂編號重覆，請重新設定")
VOID_BLOCKED = (5070450, "該發票已被折讓過，無法直接作廢發票")
ALREADY_VOIDED = (5070453, "B2C作廢發票 該發票已被作廢過")
ALLOWANCE_VOIDED = (2000063, "該折讓單已作廢過，請確認")
NO_ALLOWANCE = (2000039, "查無折讓單資料，請確認!")
FAILED = 0
"""ECPay answers many business refusals with RtnCode 0 and the reason in RtnMsg (errors.json: 'text-only')."""

SPECIAL_RATES = {"1": Decimal("0.25"), "2": Decimal("0.15"), "3": Decimal("0.02"), "5": Decimal("0.05"),
                 "6": Decimal("0.05"), "7": Decimal("0.05")}
"""SpecialTaxType with TaxType 4 (InvType 08). 4 (reinsurance, 1 %) and 8 (exempt under 08) have no F0401
special-tax form in einvd and are refused by name."""
CARRIERS = {"2": "CQ0001", "3": "3J0002"}
"""ECPay CarrierType -> MIG carrier type: 2 citizen certificate (自然人憑證), 3 mobile barcode (手機條碼)."""
TAX_INCLUSIVE = Decimal("1.05")
LARGEST = Decimal(10) ** 13
"""Amounts, counts and prices are below 10^13 (the MIG's 13 integer digits)."""


class WireError(Exception):
    """A transport refusal: the TransCode and TransMsg (answered with HTTP 500, as ECPay does)."""

    def __init__(self, code: tuple[int, str]) -> None:
        super().__init__(code[1])
        self.trans_code, self.trans_msg = code


class Refused(Exception):
    """A business refusal: the RtnCode and RtnMsg inside the encrypted Data."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def refused(code: tuple[int, str], detail: str = "") -> Refused:
    return Refused(code[0], f"{code[1]} ({detail})" if detail else code[1])


@dataclass(frozen=True)
class Keys:
    merchant: str
    key: bytes
    iv: bytes

    @classmethod
    def of(cls, merchant: str, key: str, iv: str) -> Keys:
        raw_key, raw_iv = key.encode("utf-8"), iv.encode("utf-8")
        if len(raw_key) != 16 or len(raw_iv) != 16 or not (key + iv).isascii():
            raise ValueError("ECPay HashKey and HashIV are 16 ASCII characters each")
        return cls(merchant, raw_key, raw_iv)


def php_urlencode(text: str) -> str:
    """PHP ``urlencode``: space as ``+``, upper-case hex, only ``A-Za-z0-9_.-`` left as they are (``~`` too is
    encoded), which is what ECPay itself emits and what Rytass-style clients expect back."""
    return quote_plus(text, safe="").replace("~", "%7E")


def encrypt(keys: Keys, payload: Any) -> str:
    text = php_urlencode(json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str))
    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode("ascii")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(keys.key), modes.CBC(keys.iv)).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def decrypt(keys: Keys, data: str) -> Any:
    """The payload of ``Data``; ``WireError`` 110 when it does not decrypt to URL-encoded JSON. Decoding takes every
    client's urlencode: ``+`` or ``%20`` for a space, upper- or lower-case hex, ``!*()`` left bare (.NET)."""
    try:
        raw = base64.b64decode(data, validate=True)
        decryptor = Cipher(algorithms.AES(keys.key), modes.CBC(keys.iv)).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        text = (unpadder.update(padded) + unpadder.finalize()).decode("ascii")
        return jsonio.loads(unquote_plus(text, errors="strict"))
    except (ValueError, binascii.Error, UnicodeError):
        raise WireError(UNDECRYPTABLE) from None


def open_envelope(keys: Keys, body: bytes, now: float) -> dict[str, Any]:
    """The decrypted Data of a request, after the envelope's checks in ECPay's order: shape, merchant,
    timestamp window, Data present, Data decrypts to a JSON object."""
    try:
        envelope = jsonio.loads(body)
    except ValueError:
        raise WireError(NOT_ENVELOPE) from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("RqHeader"), dict):
        raise WireError(NOT_ENVELOPE)
    if str(envelope.get("MerchantID", "")) != keys.merchant:
        raise WireError(NOT_ENABLED)
    stamp = envelope["RqHeader"].get("Timestamp")
    try:
        seconds = int(str(stamp))
    except ValueError:
        raise WireError(STALE) from None
    if abs(now - seconds) > WINDOW:
        raise WireError(STALE)
    data = envelope.get("Data")
    if not isinstance(data, str) or not data.strip():
        raise WireError(EMPTY)
    payload = decrypt(keys, data.strip())
    if not isinstance(payload, dict):
        raise WireError(UNDECRYPTABLE)
    inner = payload.get("MerchantID")
    if inner is not None and str(inner) != keys.merchant:
        raise Refused(FAILED, "特店編號不存在 (Data.MerchantID is not this box's MerchantID)")
    return payload


def answer(keys: Keys, now: float, data: Mapping[str, Any] | None, trans: tuple[int, str] = (1, "")) -> dict[str, Any]:
    """The response envelope; ``data`` (with RtnCode and RtnMsg) encrypted, or an empty Data for a transport
    error."""
    return {"MerchantID": keys.merchant, "RpHeader": {"Timestamp": int(now)}, "TransCode": trans[0],
            "TransMsg": trans[1], "Data": encrypt(keys, dict(data)) if data is not None else ""}


# --- payload fields ----------------------------------------------------------------------------------------

def text(payload: Mapping[str, Any], name: str, required: bool = False, limit: int = 200) -> str:
    value = payload.get(name, "")
    if value is None:
        value = ""
    if isinstance(value, bool | dict | list):
        raise Refused(FAILED, f"{name} 格式錯誤 ({name} must be a string)")
    result = str(value).strip()
    if required and not result:
        raise Refused(FAILED, f"{name} 不可為空 ({name} is required)")
    if len(result) > limit:
        raise Refused(FAILED, f"{name} 長度超過 {limit} ({name} is longer than {limit})")
    return result


def number(payload: Mapping[str, Any], name: str) -> Decimal:
    value = payload.get(name)
    if isinstance(value, bool) or value is None or value == "":
        raise Refused(FAILED, f"{name} 不可為空 ({name} is required: a number)")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise Refused(FAILED, f"{name} 格式錯誤 ({name} must be a number)") from None
    if not result.is_finite():
        raise Refused(FAILED, f"{name} 格式錯誤 ({name} must be a number)")
    if abs(result) >= LARGEST:
        raise Refused(FAILED, f"{name} 超過上限 ({name} must be below 10^13)")
    return result


_DATE = re.compile(r"([0-9]{4})[-/]([0-9]{2})[-/]([0-9]{2})")


def invoice_date(payload: Mapping[str, Any], name: str = "InvoiceDate") -> str:
    """``yyyy-MM-dd`` (``yyyy/MM/dd`` and a time after it are accepted, as ECPay does)."""
    value = text(payload, name, required=True, limit=30).replace("+", " ")
    found = _DATE.match(value)
    if found is None:
        raise Refused(FAILED, f"{name} 格式錯誤 ({name} must be yyyy-MM-dd)")
    return "-".join(found.groups())


def choice(payload: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = text(payload, name) or default
    if value not in allowed:
        raise Refused(FAILED, f"{name} 格式錯誤 ({name} must be one of {', '.join(repr(a) for a in allowed)})")
    return value


# --- Issue -> einvd's invoice document ---------------------------------------------------------------------

def exact(value: Decimal) -> str:
    """A decimal as the document takes it, cut to the 7 places einvd keeps (half up)."""
    quantized = value.quantize(Decimal("1e-7")).normalize()
    return format(quantized, "f")


def _buyer(payload: Mapping[str, Any]) -> dict[str, str] | None:
    fields = {"ban": text(payload, "CustomerIdentifier", limit=8), "name": text(payload, "CustomerName", limit=60),
              "address": text(payload, "CustomerAddr", limit=100), "email": text(payload, "CustomerEmail", limit=80),
              "phone": text(payload, "CustomerPhone", limit=20)}
    buyer = {k: v for k, v in fields.items() if v}
    return buyer or None


def _carrier(payload: Mapping[str, Any]) -> dict[str, str] | None:
    kind = choice(payload, "CarrierType", ("", "1", "2", "3"), "")
    if kind == "1":
        raise Refused(FAILED, "CarrierType 1 (綠界會員載具) 不支援: einvd issues on this box and has no ECPay member "
                              "carrier; use 3 (手機條碼), 2 (自然人憑證), a donation or a printed proof")
    num = text(payload, "CarrierNum", limit=64)
    if not kind:
        if num:
            raise Refused(FAILED, "CarrierNum 須為空 (CarrierNum is only for CarrierType 2 or 3)")
        return None
    if not num:
        raise Refused(FAILED, f"CarrierNum 不可為空 (CarrierType {kind} needs CarrierNum)")
    return {"type": CARRIERS[kind], "id": num.replace(" ", "+") if kind == "3" else num}


def _flags(payload: Mapping[str, Any], doc: dict[str, Any]) -> None:
    """Print / Donation / LoveCode: ECPay's matrix is then checked by einvd's own validator (the same rules)."""
    printed = choice(payload, "Print", ("0", "1"), "0")
    donated = choice(payload, "Donation", ("0", "1"), "0")
    love = text(payload, "LoveCode", limit=7)
    if donated == "1":
        if not love:
            raise Refused(FAILED, "LoveCode 不可為空 (Donation 1 needs LoveCode)")
        doc["donation"] = {"love_code": love}
    elif love:
        raise Refused(FAILED, "LoveCode 須為空 (LoveCode is only for Donation 1)")
    doc["print"] = printed == "1"


def _tax(payload: Mapping[str, Any], doc: dict[str, Any]) -> tuple[str, str]:
    """Invoice tax type and the line default; the special-tax rate for InvType 08."""
    inv_type = choice(payload, "InvType", ("07", "08"), "07")
    tax_type = choice(payload, "TaxType", ("1", "2", "3", "4", "9"), "1")
    special = text(payload, "SpecialTaxType", limit=1) or "0"
    doc["invoice_type"] = inv_type
    if inv_type == "08":
        if tax_type != "4" or special not in SPECIAL_RATES:
            raise Refused(FAILED, f"InvType 08 with TaxType {tax_type} and SpecialTaxType {special} is not supported: "
                                  "einvd issues special tax as TaxType 4 with SpecialTaxType 1, 2, 3, 5, 6 or 7")
        doc["tax_rate"] = str(SPECIAL_RATES[special])
    elif tax_type == "4" or special not in ("", "0"):
        raise Refused(FAILED, "TaxType 4 / SpecialTaxType 只適用 InvType 08 (special tax needs InvType 08)")
    if tax_type == "2":
        mark = choice(payload, "ClearanceMark", ("1", "2"), "")
        doc["customs_clearance_mark"] = mark
        reason = text(payload, "ZeroTaxRateReason", limit=2)
        if reason:
            doc["zero_tax_rate_reason"] = reason
    doc["tax_type"] = tax_type
    return tax_type, ("1" if tax_type == "9" else tax_type)


def _item(raw: Any, index: int, line_tax: str, mixed: bool, factor: Decimal | None) -> dict[str, Any]:
    where = f"Items[{index}]"
    if not isinstance(raw, dict):
        raise Refused(FAILED, f"{where} 格式錯誤 (each item is an object)")
    count, price, amount = number(raw, "ItemCount"), number(raw, "ItemPrice"), number(raw, "ItemAmount")
    tax_type = choice(raw, "ItemTaxType", ("", "1", "2", "3"), "") if mixed else line_tax
    if mixed and not tax_type:
        raise Refused(FAILED, f"{where}.ItemTaxType 不可為空 (TaxType 9 needs ItemTaxType on every item)")
    item: dict[str, Any] = {"description": text(raw, "ItemName", required=True, limit=500), "quantity": exact(count),
                            "unit": text(raw, "ItemWord", limit=6), "tax_type": tax_type}
    if factor is not None and tax_type == "1":  # vat converts taxable prices only (zero/exempt carry no tax)
        price, amount = price * factor, amount * factor
    item["unit_price"], item["amount"] = exact(price), exact(amount)
    if factor is not None and tax_type == "1" and Decimal(item["amount"]) != Decimal(item["unit_price"]) * count:
        del item["amount"]  # converted figures rounded apart: einvd derives the line amount from count x price
    remark = text(raw, "ItemRemark", limit=120)
    if remark:
        item["remark"] = remark
    if not item["unit"]:
        del item["unit"]
    return item


def issue_document(payload: Mapping[str, Any]) -> dict[str, Any]:
    """An ECPay Issue payload as einvd's invoice document (RelateNumber is the order id). The document is what einvd
    validates, stores and answers replays with: the same ECPay content gives the same document."""
    relate = text(payload, "RelateNumber", required=True, limit=50)
    if len(relate) > 40:
        raise Refused(FAILED, "RelateNumber 長度超過 40 (einvd keeps it as the order id, 1-40 characters)")
    doc: dict[str, Any] = {"order_id": relate}
    buyer = _buyer(payload)
    if buyer is not None:
        doc["buyer"] = buyer
    carrier = _carrier(payload)
    if carrier is not None:
        doc["carrier"] = carrier
    _flags(payload, doc)
    tax_type, line_tax = _tax(payload, doc)
    vat = choice(payload, "vat", ("0", "1"), "1")
    business = buyer is not None and "ban" in buyer
    factor = _vat_factor(vat, business, doc["invoice_type"])
    items = payload.get("Items")
    if not isinstance(items, list) or not items:
        raise Refused(FAILED, "Items 不可為空 (Items must list at least one item)")
    doc["items"] = [_item(raw, i, line_tax, tax_type == "9", factor) for i, raw in enumerate(items)]
    doc["amounts"] = {"total": _sales_amount(payload)}
    remark = text(payload, "InvoiceRemark", limit=200)
    if remark:
        doc["remark"] = remark
    return doc


def _vat_factor(vat: str, business: bool, invoice_type: str) -> Decimal | None:
    """einvd keeps a consumer's item prices tax-inclusive and a business buyer's (07) untaxed with the tax on top;
    ECPay's ``vat`` says which the client sent (1 inclusive, the default; 0 exclusive)."""
    if invoice_type == "08":
        return None  # special tax: prices as sent (the tax is inside them on the F0401)
    if business and vat == "1":
        return 1 / TAX_INCLUSIVE
    if not business and vat == "0":
        return TAX_INCLUSIVE
    return None


def _sales_amount(payload: Mapping[str, Any]) -> int:
    amount = number(payload, "SalesAmount")
    if amount != amount.to_integral_value() or amount <= 0:
        raise Refused(FAILED, "SalesAmount 格式錯誤 (SalesAmount is a whole NT$ amount above 0)")
    return int(amount)


ECPAY_FIELDS = {
    "order_id": "RelateNumber", "buyer.ban": "CustomerIdentifier", "buyer.name": "CustomerName",
    "buyer.address": "CustomerAddr", "buyer.email": "CustomerEmail", "buyer.phone": "CustomerPhone",
    "carrier.id": "CarrierNum", "carrier.type": "CarrierType", "donation.love_code": "LoveCode",
    "donation": "Donation", "print": "Print", "tax_type": "TaxType", "tax_rate": "SpecialTaxType",
    "invoice_type": "InvType", "customs_clearance_mark": "ClearanceMark",
    "zero_tax_rate_reason": "ZeroTaxRateReason", "amounts.total": "SalesAmount", "remark": "InvoiceRemark",
    "items": "Items", "items.description": "ItemName", "items.quantity": "ItemCount", "items.unit": "ItemWord",
    "items.unit_price": "ItemPrice", "items.amount": "ItemAmount", "items.tax_type": "ItemTaxType",
    "items.remark": "ItemRemark",
}
_INDEX = re.compile(r"items\[(\d+)\]\.")


def ecpay_field(field: str) -> str:
    """einvd's field path in ECPay's names (``items[1].amount`` -> ``Items[1].ItemAmount``)."""
    found = _INDEX.match(field)
    if found is not None:
        name = ECPAY_FIELDS.get("items." + field[found.end():], field[found.end():])
        return f"Items[{found.group(1)}].{name}"
    return ECPAY_FIELDS.get(field, field)
