"""ezPay (簡單付) e-invoice wire format, pure: the ``PostData_`` envelope (AES-256-CBC, lower-case hex, the PHP
sample's 32-byte padding), the CheckCode and CheckValue, ezPay's codes, and the translation of an ezPay
``invoice_issue`` form into einvd's own invoice document.

Sources (all in ``../shared``): field-notes §3.2 and §3.6 (ezPay manual EZP_INVI as reproduced by paid-tw/einvoice
and Moksa1123: ``PostData_ = lower-hex(AES-256-CBC(HashKey 32 B, HashIV 16 B, http_build_query(form)))`` padded by
the PHP sample's ``addpadding`` to a 32-byte boundary; ``CheckCode = upper(SHA256("HashIV=..&" + sorted(InvoiceTransNo,
MerchantID, MerchantOrderNo, RandomNum, TotalAmt) + "&HashKey=.."))``; the carrier checks' ``CheckValue =
upper(SHA256("HashKey=..&" + PostData_ + "&HashIV=.."))``; the error codes), peer-samples
``known-answer-vectors.json`` (``ezpay_family``). Field names of ``invoice_issue`` 1.5, ``allowance_issue`` 1.3,
``invoice_search`` 1.3 and the carrier checks: the ezPay manual as used by paid-tw/einvoice ``provider.ts`` and
``validation.ts`` (field notes §1.4).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32
"""ezPay's PHP sample pads to a multiple of 32 bytes (pad values 1-32); PKCS7 to 16 bytes is accepted too."""
WINDOW = 1800
"""TimeStamp must be within 30 minutes of the box's clock (ezPay KEY10007 beyond)."""

# --- ezPay Status codes (field notes §3.2: paid-tw live + the manual's §九 錯誤代碼) -------------------------
SUCCESS = "SUCCESS"
DECRYPT = ("KEY10002", "資料解密錯誤")
NOT_ENROLLED = ("KEY10006", "商店未申請啟用電子發票")
STALE = ("KEY10007", "頁面停留超過 30 分鐘")
ITEMS = ("INV10003", "商品資訊格式錯誤或缺少")
FIELDS = ("INV10004", "資料格式錯誤或缺少")
AMOUNTS = ("INV10012", "發票金額格式錯誤或不符")
"""INV10003/10004/10012 are ezPay's item / field / amount families (field notes §3.2); the exact split among the
three is from paid-tw's grouping, not from a live answer (verify)."""
NOT_FOUND = ("INV20006", "查無發票資料")
QUOTA = ("INV90006", "可開立張數已用罄")
DUPLICATE = ("LIB10003", "商店自訂編號重覆")
ALREADY_VOIDED = ("LIB10005", "發票已作廢過")
VOID_BLOCKED = ("LIB10007", "無法作廢(已開立折讓)")
VOID_DEADLINE = ("LIB10008", "超過可作廢期限")
NO_ALLOWANCE = ("IAI10002", "查無折讓資料")
UNSUPPORTED = ("EIN10001", "einvd 本機不支援此功能")
"""Not an ezPay code: what einvd cannot do on the box (delayed issue Status 0/3, an unconfirmed allowance Status 0,
RespondType String, the ezPay member carrier). A distinct code so a vendor can find it in the logs."""
FAILED = ("EIN10002", "einvd 無法完成此要求")
"""Not an ezPay code: a failure inside einvd (the store unavailable, a defect); the log has the details."""

CARRIERS = {"0": "3J0002", "1": "CQ0001"}
"""ezPay CarrierType -> MIG carrier type: 0 mobile barcode (手機條碼), 1 citizen certificate (自然人憑證). 2 (ezPay
member carrier) is refused: that carrier lives on ezPay's platform, which the box does not reach."""
LARGEST = Decimal(10) ** 13
_ORDER_NO = re.compile(r"[A-Za-z0-9_]{1,20}", re.ASCII)


class Refused(Exception):
    """An ezPay refusal: ``Status`` (the code) and ``Message``."""

    def __init__(self, code: tuple[str, str], detail: str = "") -> None:
        self.code = code[0]
        self.message = f"{code[1]} ({detail})" if detail else code[1]
        super().__init__(self.message)


@dataclass(frozen=True)
class Keys:
    merchant: str
    key: bytes
    iv: bytes

    @classmethod
    def of(cls, merchant: str, key: str, iv: str) -> Keys:
        raw_key, raw_iv = key.encode("utf-8"), iv.encode("utf-8")
        if len(raw_key) != 32 or len(raw_iv) != 16 or not (key + iv).isascii():
            raise ValueError("ezPay HashKey is 32 ASCII characters and HashIV 16")
        return cls(merchant, raw_key, raw_iv)

    @property
    def key_text(self) -> str:
        return self.key.decode("ascii")

    @property
    def iv_text(self) -> str:
        return self.iv.decode("ascii")


# --- crypto --------------------------------------------------------------------------------------------------

def php_urlencode(text: str) -> str:
    """PHP ``urlencode`` as ``http_build_query`` uses it: space ``+``, upper-case hex, ``A-Za-z0-9_.-`` bare."""
    return quote_plus(text, safe="").replace("~", "%7E")


def build_query(fields: Mapping[str, Any]) -> str:
    """PHP ``http_build_query`` of a flat form."""
    return "&".join(f"{php_urlencode(str(k))}={php_urlencode(str(v))}" for k, v in fields.items())


def pad(data: bytes) -> bytes:
    """The PHP sample's ``addpadding``: to the next multiple of 32 bytes, each pad byte the pad length."""
    length = BLOCK - len(data) % BLOCK
    return data + bytes([length]) * length


def unpad(data: bytes) -> bytes:
    """Strip a pad of 1-32 bytes each equal to its length (the 32-byte sample's and PKCS7's alike)."""
    if not data:
        raise ValueError("empty")
    length = data[-1]
    if not 1 <= length <= BLOCK or length > len(data) or data[-length:] != bytes([length]) * length:
        raise ValueError("bad padding")
    return data[:-length]


def encrypt(keys: Keys, plain: str) -> str:
    encryptor = Cipher(algorithms.AES(keys.key), modes.CBC(keys.iv)).encryptor()
    return (encryptor.update(pad(plain.encode("utf-8"))) + encryptor.finalize()).hex()


def decrypt(keys: Keys, hex_text: str) -> str:
    """The plain text of ``PostData_`` (upper- or lower-case hex); ``Refused`` KEY10002 when it does not decrypt."""
    try:
        raw = bytes.fromhex(hex_text.strip())
        if not raw or len(raw) % 16:
            raise ValueError("not whole blocks")
        decryptor = Cipher(algorithms.AES(keys.key), modes.CBC(keys.iv)).decryptor()
        return unpad(decryptor.update(raw) + decryptor.finalize()).decode("utf-8")
    except (ValueError, UnicodeError):
        raise Refused(DECRYPT, "PostData_ does not decrypt with this MerchantID's HashKey and HashIV") from None


def check_code(keys: Keys, fields: Mapping[str, Any]) -> str:
    """ezPay's CheckCode over the answer's InvoiceTransNo, MerchantID, MerchantOrderNo, RandomNum and TotalAmt."""
    names = ("InvoiceTransNo", "MerchantID", "MerchantOrderNo", "RandomNum", "TotalAmt")
    middle = build_query({name: fields[name] for name in sorted(names)})
    text = f"HashIV={keys.iv_text}&{middle}&HashKey={keys.key_text}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest().upper()


def check_value(keys: Keys, post_data: str) -> str:
    """The carrier checks' CheckValue over the hex PostData_ (or the encrypted Result of their answer)."""
    text = f"HashKey={keys.key_text}&{post_data}&HashIV={keys.iv_text}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest().upper()


def form(plain: str) -> dict[str, str]:
    """The decrypted ``http_build_query`` text as fields (``+`` or ``%20`` a space; the last of a repeated name)."""
    fields: dict[str, str] = {}
    try:
        for part in plain.split("&") if plain else ():
            name, equals, value = part.partition("=")
            if not equals:
                raise ValueError(part)
            fields[unquote_plus(name, errors="strict")] = unquote_plus(value, errors="strict")
    except (ValueError, UnicodeError):
        raise Refused(DECRYPT, "PostData_ does not decrypt to a form (name=value&...)") from None
    return fields


def check_time(fields: Mapping[str, str], now: float) -> None:
    stamp = fields.get("TimeStamp", "").strip()
    if not stamp.isdigit():
        raise Refused(FIELDS, "TimeStamp 必填 (TimeStamp: Unix seconds, is required)")
    if abs(now - int(stamp)) > WINDOW:
        raise Refused(STALE, "TimeStamp is more than 30 minutes from the box's clock")


def check_respond_type(fields: Mapping[str, str]) -> None:
    kind = fields.get("RespondType", "JSON").strip() or "JSON"
    if kind.upper() != "JSON":
        raise Refused(UNSUPPORTED, f"RespondType {kind}: einvd answers JSON only")


# --- fields --------------------------------------------------------------------------------------------------

def text(fields: Mapping[str, str], name: str, required: bool = False, limit: int = 200,
         code: tuple[str, str] = FIELDS) -> str:
    value = fields.get(name, "").strip()
    if required and not value:
        raise Refused(code, f"{name} 必填 ({name} is required)")
    if len(value) > limit:
        raise Refused(code, f"{name} 長度超過 {limit} ({name} is longer than {limit})")
    return value


def choice(fields: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = fields.get(name, "").strip() or default
    if value not in allowed:
        raise Refused(FIELDS, f"{name} 格式錯誤 ({name} must be one of {', '.join(repr(a) for a in allowed)})")
    return value


def number(value: str, name: str, code: tuple[str, str] = AMOUNTS) -> Decimal:
    try:
        result = Decimal(value.strip())
    except InvalidOperation:
        raise Refused(code, f"{name} 格式錯誤 ({name} must be a number, got {value!r})") from None
    if not result.is_finite() or abs(result) >= LARGEST:
        raise Refused(code, f"{name} 格式錯誤 ({name} must be a number below 10^13)")
    return result


def whole(fields: Mapping[str, str], name: str) -> int:
    raw = fields.get(name, "").strip()
    if not raw:
        raise Refused(AMOUNTS, f"{name} 必填 ({name} is required: a whole NT$ amount)")
    value = number(raw, name)
    if value != value.to_integral_value() or value < 0:
        raise Refused(AMOUNTS, f"{name} 格式錯誤 ({name} is a whole NT$ amount, 0 or more)")
    return int(value)


def order_no(fields: Mapping[str, str], required: bool = True) -> str:
    value = text(fields, "MerchantOrderNo", required=required, limit=20)
    if value and _ORDER_NO.fullmatch(value) is None:
        raise Refused(FIELDS, "MerchantOrderNo 格式錯誤 (MerchantOrderNo: 1-20 letters, digits or '_')")
    return value


def columns(fields: Mapping[str, str], names: tuple[str, ...], required: tuple[str, ...]) -> list[dict[str, str]]:
    """ezPay's items: each field a ``|``-separated column, every column the same length."""
    split = {name: fields[name].split("|") for name in names if fields.get(name, "").strip()}
    for name in required:
        if name not in split:
            raise Refused(ITEMS, f"{name} 必填 ({name} is required, one value per item separated by '|')")
    count = len(split[required[0]])
    for name, values in split.items():
        if len(values) != count:
            raise Refused(ITEMS, f"{name} 數量不符 ({name} has {len(values)} values for {count} items)")
    return [{name: values[i].strip() for name, values in split.items()} for i in range(count)]


def exact(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


# --- invoice_issue -> einvd's invoice document ---------------------------------------------------------------

def _buyer(fields: Mapping[str, str], business: bool) -> dict[str, str] | None:
    ubn = text(fields, "BuyerUBN", limit=8)
    if business and not ubn:
        raise Refused(FIELDS, "BuyerUBN 必填 (Category B2B needs the buyer's BuyerUBN)")
    if ubn and not business:
        raise Refused(FIELDS, "BuyerUBN 須為空 (BuyerUBN is only for Category B2B)")
    name = text(fields, "BuyerName", required=business, limit=60)
    if name == "消費者" and not business:
        name = ""  # ezPay clients send 消費者 ("a consumer") where there is no name
    values = {"ban": ubn, "name": name, "address": text(fields, "BuyerAddress", limit=100),
              "email": text(fields, "BuyerEmail", limit=80), "phone": text(fields, "BuyerPhone", limit=26)}
    buyer = {k: v for k, v in values.items() if v}
    return buyer or None


def _carrier(fields: Mapping[str, str], business: bool) -> dict[str, str] | None:
    kind = choice(fields, "CarrierType", ("", "0", "1", "2"), "")
    num = text(fields, "CarrierNum", limit=64)
    if kind == "2":
        raise Refused(UNSUPPORTED, "CarrierType 2 (ezPay 會員載具) 不支援: the ezPay member carrier lives on ezPay's "
                                   "platform; use 0 (手機條碼), 1 (自然人憑證), LoveCode or a printed proof")
    if not kind:
        if num:
            raise Refused(FIELDS, "CarrierNum 須為空 (CarrierNum needs CarrierType 0 or 1)")
        return None
    if business:
        raise Refused(FIELDS, "CarrierType 須為空 (a B2B invoice has no carrier)")
    if not num:
        raise Refused(FIELDS, f"CarrierNum 必填 (CarrierType {kind} needs CarrierNum)")
    return {"type": CARRIERS[kind], "id": num.replace(" ", "+") if kind == "0" else num}


def _tax(fields: Mapping[str, str], doc: dict[str, Any]) -> str:
    tax_type = choice(fields, "TaxType", ("1", "2", "3", "9"), "")
    rate = text(fields, "TaxRate", required=True, limit=5)
    expected = {"1": ("5",), "2": ("0",), "3": ("0",), "9": ("5",)}[tax_type]
    if rate.removesuffix(".0").removesuffix(".00") not in expected:
        raise Refused(FIELDS, f"TaxRate 格式錯誤 (TaxType {tax_type} is issued at TaxRate {expected[0]} on the box)")
    doc["tax_type"] = tax_type
    if tax_type == "2":
        doc["customs_clearance_mark"] = choice(fields, "CustomsClearance", ("1", "2"), "")
    reason = text(fields, "ZeroTaxRateReason", limit=2)
    if reason:  # MIG 4.1 needs it on zero-rated sales; ezPay's 1.5 form has no such field, so einvd takes this one
        doc["zero_tax_rate_reason"] = reason
    return tax_type


def _items(fields: Mapping[str, str], tax_type: str) -> list[dict[str, Any]]:
    names = ("ItemName", "ItemCount", "ItemUnit", "ItemPrice", "ItemAmt", "ItemTaxType")
    required = ("ItemName", "ItemCount", "ItemUnit", "ItemPrice", "ItemAmt") + (("ItemTaxType",) if tax_type == "9"
                                                                                else ())
    items = []
    for index, raw in enumerate(columns(fields, names, required)):
        where = f"item {index + 1}"
        if not raw["ItemName"]:
            raise Refused(ITEMS, f"ItemName 必填 ({where} has no name)")
        item: dict[str, Any] = {
            "description": raw["ItemName"], "quantity": exact(number(raw["ItemCount"], f"ItemCount ({where})", ITEMS)),
            "unit_price": exact(number(raw["ItemPrice"], f"ItemPrice ({where})", ITEMS)),
            "amount": exact(number(raw["ItemAmt"], f"ItemAmt ({where})", ITEMS)),
            "tax_type": tax_type,
        }
        if tax_type == "9":
            item["tax_type"] = choice({"ItemTaxType": raw["ItemTaxType"]}, "ItemTaxType", ("1", "2", "3"), "")
        if raw["ItemUnit"]:
            item["unit"] = raw["ItemUnit"]
        items.append(item)
    return items


def _amounts(fields: Mapping[str, str], business: bool) -> dict[str, int]:
    """Amt is tax-exclusive for B2C and B2B alike (ezPay), TaxAmt the tax, TotalAmt the sum. einvd keeps a
    consumer's amounts tax-inclusive with no separate tax, so a B2C invoice is given its total only (einvd checks it
    against the items); a B2B invoice its tax too."""
    amt, tax, total = whole(fields, "Amt"), whole(fields, "TaxAmt"), whole(fields, "TotalAmt")
    if amt + tax != total:
        raise Refused(AMOUNTS, f"Amt + TaxAmt != TotalAmt ({amt} + {tax} != {total})")
    return {"tax": tax, "total": total} if business else {"total": total}


def issue_document(fields: Mapping[str, str]) -> dict[str, Any]:
    """An ezPay invoice_issue form as einvd's invoice document (MerchantOrderNo is the order id). The same ezPay form
    (whatever its TimeStamp) gives the same document, so a retry answers the invoice already issued."""
    status = choice(fields, "Status", ("0", "1", "3"), "")
    if status != "1":
        raise Refused(UNSUPPORTED, f"Status {status} (觸發/預約開立): einvd issues at once (Status 1); hold the sale "
                                   "in the POS and issue it when it is due")
    doc: dict[str, Any] = {"order_id": order_no(fields)}
    business = choice(fields, "Category", ("B2B", "B2C"), "") == "B2B"
    buyer = _buyer(fields, business)
    if buyer is not None:
        doc["buyer"] = buyer
    carrier = _carrier(fields, business)
    if carrier is not None:
        doc["carrier"] = carrier
    love = text(fields, "LoveCode", limit=7)
    if love:
        doc["donation"] = {"love_code": love}
    doc["print"] = choice(fields, "PrintFlag", ("Y", "N"), "") == "Y"
    tax_type = _tax(fields, doc)
    doc["items"] = _items(fields, tax_type)
    doc["amounts"] = _amounts(fields, business)
    remark = text(fields, "Comment", limit=200)
    if remark:
        doc["remark"] = remark
    return doc


EZPAY_FIELDS = {
    "order_id": "MerchantOrderNo", "buyer.ban": "BuyerUBN", "buyer.name": "BuyerName", "buyer.address": "BuyerAddress",
    "buyer.email": "BuyerEmail", "buyer.phone": "BuyerPhone", "carrier.id": "CarrierNum", "carrier.type": "CarrierType",
    "donation.love_code": "LoveCode", "donation": "LoveCode", "print": "PrintFlag", "tax_type": "TaxType",
    "customs_clearance_mark": "CustomsClearance", "zero_tax_rate_reason": "ZeroTaxRateReason",
    "amounts.total": "TotalAmt", "amounts.tax": "TaxAmt",
    "amounts.sales": "Amt", "remark": "Comment", "items": "ItemName", "items.description": "ItemName",
    "items.quantity": "ItemCount", "items.unit": "ItemUnit", "items.unit_price": "ItemPrice", "items.amount": "ItemAmt",
    "items.tax_type": "ItemTaxType",
}
_INDEX = re.compile(r"items\[(\d+)\]\.")


def ezpay_field(field: str) -> str:
    """einvd's field path in ezPay's names (``items[1].amount`` -> ``ItemAmt (item 2)``)."""
    found = _INDEX.match(field)
    if found is not None:
        name = EZPAY_FIELDS.get("items." + field[found.end():], field[found.end():])
        return f"{name} (item {int(found.group(1)) + 1})"
    return EZPAY_FIELDS.get(field, field)
