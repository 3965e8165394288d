"""The invoice document of the public contract -> a validated ``InvoiceDraft``.

Every MIG 4.1 field rule and Turnkey local check that can be decided before a number is taken is checked
here, all problems of a document at once, each with a stable code naming the field (``items.quantity.zero``
for ``items[2].quantity``). ``build_invoice`` then turns a draft plus its number into the F0401 model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from turnkey import money
from turnkey.ban import is_ascii_digits, is_valid_ban
from turnkey.carrier import MOBILE_BARCODE, carrier_id_problem, is_carrier_type, is_love_code
from turnkey.errors import InvoiceInvalid, Problem
from turnkey.model import CONSUMER_ID, DEFAULT_CONSUMER_NAME, Buyer, Carrier, Invoice, InvoiceDraft, Line, Party
from turnkey.period import Period, taipei, upload_deadline

TOP_FIELDS = frozenset(
    [
        "order_id", "issued_at", "invoice_type", "buyer", "carrier", "donation", "print", "tax_type", "tax_rate",
        "zero_tax_rate_reason", "customs_clearance_mark", "items", "amounts", "remark", "open_drawer",
    ]
)
BUYER_FIELDS = frozenset({"ban", "name", "address", "email", "phone"})
ITEM_FIELDS = frozenset({"description", "quantity", "unit", "unit_price", "amount", "tax_type", "remark"})
AMOUNT_FIELDS = ("sales", "free_tax_sales", "zero_tax_sales", "tax", "total")
MAX_ITEMS = 9999
PLACEHOLDER_NAMES = frozenset({"0", "00", "000", "0000"})
ZERO_REASONS = frozenset(str(n) for n in range(71, 80))
NO_BAN = "00000000"
_ORDER_ID = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,38}[\x21-\x7e])?")
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_INDEX = re.compile(r"\[\d+\]")
_SEVEN_PLACES = Decimal("1e-7")
_AMOUNT_LIMIT = Decimal(10) ** 13
_EMAIL = re.compile(r"[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+")  # MAIL


def is_email_address(value: str) -> bool:  # MAIL: one address, local@domain, no spaces or brackets
    return _EMAIL.fullmatch(value) is not None


class _Found:
    """Collects problems; ``code`` is the field path without indices plus the rule."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, field: str, rule: str, message: str) -> None:
        self.problems.append(Problem(f"{_INDEX.sub('', field)}.{rule}", field, message))


def _unknown(found: _Found, obj: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
    extra = obj.keys() - allowed
    area = _INDEX.sub("", prefix.rstrip(".")) or "document" if extra else ""
    for key in sorted(extra):
        field = f"{prefix}{key}"
        message = f"{field} is not a field of the invoice document"
        found.problems.append(Problem(f"{area}.unknown_field", field, message))


def _text(found: _Found, obj: Mapping[str, Any], key: str, prefix: str, limit: int, required: bool = False) -> str:
    """A string field ``prefix + key`` of at most ``limit`` characters that XML can carry."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            found.add(prefix + key, "required", f"{prefix}{key} is required")
        return ""
    if not isinstance(value, str):
        found.add(prefix + key, "type", f"{prefix}{key} must be a string")
        return ""
    if len(value) > limit:
        found.add(prefix + key, "length", f"{prefix}{key} may have at most {limit} characters, has {len(value)}")
    elif _BAD_XML_CHARS.search(value):
        found.add(prefix + key, "characters", f"{prefix}{key} contains control characters that XML cannot carry")
    return value


def _object(found: _Found, doc: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        found.add(key, "type", f"{key} must be an object or null")
        return None
    return value


def _decimal(found: _Found, obj: Mapping[str, Any], key: str, prefix: str, places: int = 7) -> Decimal | None:
    value = obj.get(key)
    if value is None:
        found.add(prefix + key, "required", f"{prefix}{key} is required")
        return None
    try:
        return money.parse_decimal(value, places=places)
    except money.DecimalRule as rule:
        found.add(prefix + key, rule.rule, f"{prefix}{key} {rule}")
        return None


def _choice(found: _Found, doc: Mapping[str, Any], key: str, allowed: Sequence[str], default: str | None) -> str | None:
    value = doc.get(key, default)
    if value is None or value in allowed:
        return value if value is None else str(value)
    found.add(key, "invalid", f"{key} must be one of {', '.join(allowed)}")
    return default


def _order_id(found: _Found, doc: Mapping[str, Any]) -> str:
    value = doc.get("order_id")
    if value is None or value == "":
        found.add("order_id", "required", "order_id is required")
        return ""
    if not isinstance(value, str) or not _ORDER_ID.fullmatch(value):
        found.add("order_id", "format", "order_id must be 1-40 printable ASCII characters without edge spaces")
        return ""
    return value


def _issued_at(found: _Found, doc: Mapping[str, Any]) -> datetime | None:
    value = doc.get("issued_at")
    if value is None:
        return None
    parsed = None
    if isinstance(value, str) and value.isascii():
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        found.add("issued_at", "format", "issued_at must be an ISO 8601 date and time like 2026-11-21T14:03:00+08:00")
        return None
    if parsed.utcoffset() is None:
        found.add("issued_at", "timezone", "issued_at must carry a UTC offset (+08:00 for Taipei)")
        return None
    try:
        Period.of(parsed)  # no invoice period outside ROC years 1-999; far offsets overflow datetime
    except (OverflowError, ValueError):
        found.add("issued_at", "range", "issued_at must lie in an invoice period (ROC years 1 to 999)")
        return None
    return taipei(parsed)


def _buyer(found: _Found, doc: Mapping[str, Any]) -> Buyer | None:
    obj = _object(found, doc, "buyer")
    if obj is None:
        return None
    _unknown(found, obj, BUYER_FIELDS, "buyer.")
    ban = _ban(found, obj)
    name = _text(found, obj, "name", "buyer.", 60)
    if ban is None and name in PLACEHOLDER_NAMES:
        found.add("buyer.name", "placeholder", "a consumer's name may not be 0, 00, 000 or 0000 (Turnkey rule)")
    email = _text(found, obj, "email", "buyer.", 400)
    if email and not is_email_address(email):  # MAIL: the notice's address (MIG Buyer EmailAddress, max 400)
        found.add("buyer.email", "format", "buyer.email must be an e-mail address")
    address = _text(found, obj, "address", "buyer.", 100)
    return Buyer(ban, name, address, email, _text(found, obj, "phone", "buyer.", 26))


def _ban(found: _Found, obj: Mapping[str, Any]) -> str | None:
    value = obj.get("ban")
    if value is None:
        return None
    if not isinstance(value, str) or not is_ascii_digits(value, 8):
        found.add("buyer.ban", "format", "buyer.ban must be 8 ASCII digits (統一編號)")
        return None
    if value == NO_BAN:
        # issue 15: POS software sends 00000000 to mean "no 統編"; its digit sum is 0, so the checksum passes, and
        # the sale would be priced B2B (tax on top) and get the 7-day window
        found.add("buyer.ban", "consumer", "buyer.ban 00000000 is not a 統一編號: for a consumer leave buyer out "
                  "(or give buyer without ban)")
        return None
    if not is_valid_ban(value):
        found.add("buyer.ban", "checksum", f"buyer.ban {value} fails the 統一編號 checksum")
        return None
    return value


def _carrier(found: _Found, doc: Mapping[str, Any]) -> Carrier | None:
    obj = _object(found, doc, "carrier")
    if obj is None:
        return None
    _unknown(found, obj, frozenset({"type", "id"}), "carrier.")
    kind = _text(found, obj, "type", "carrier.", 6, required=True)
    ident = _text(found, obj, "id", "carrier.", 400, required=True)
    if kind and not is_carrier_type(kind):
        found.add("carrier.type", "format", "carrier.type must be a 6-character code such as 3J0002 or CQ0001")
        return None
    rule = carrier_id_problem(kind, ident) if kind and ident else None
    if rule and rule != "length":  # an over-long id was reported by _text already
        found.add("carrier.id", rule, f"carrier.id {ident!r} is not a valid id for carrier type {kind}")
    return Carrier(kind, ident) if kind and ident and not rule else None


def _love_code(found: _Found, doc: Mapping[str, Any]) -> str | None:
    obj = _object(found, doc, "donation")
    if obj is None:
        return None
    _unknown(found, obj, frozenset({"love_code"}), "donation.")
    code = obj.get("love_code")
    if not isinstance(code, str) or not is_love_code(code):
        found.add("donation.love_code", "format", "donation.love_code must be 3 to 7 ASCII digits (捐贈碼)")
        return None
    return code


def _print_flag(found: _Found, doc: Mapping[str, Any], default: bool) -> bool:
    value = doc.get("print", default)
    if not isinstance(value, bool):
        found.add("print", "type", "print must be true or false")
        return default
    return value


def _open_drawer(found: _Found, doc: Mapping[str, Any]) -> None:
    """``open_drawer``: kick the cash drawer after the sale's slip prints (read by ``daemon.printing``)."""
    if not isinstance(doc.get("open_drawer", False), bool):
        found.add("open_drawer", "type", "open_drawer must be true or false")


def _check_matrix(found: _Found, draft: InvoiceDraft) -> None:
    """The print / carrier / donation / buyer matrix (domain §3.1, §7.5)."""
    donated, carrier, printed = draft.love_code is not None, draft.carrier, draft.print_proof
    if donated and carrier:
        found.add("donation", "carrier", "an invoice is either donated or stored on a carrier, not both")
    if donated and draft.business:
        found.add("donation", "business_buyer", "an invoice to a business buyer cannot be donated")
    if donated and printed:
        found.add("print", "donated", "a donated invoice is not printed: set print to false")
    if draft.business and not printed:
        found.add("print", "business_buyer", "an invoice to a business buyer must be printed (格式 25)")
    if draft.business and carrier and carrier.type != MOBILE_BARCODE:
        found.add("carrier.type", "business_buyer", "a business buyer's invoice may only be on a mobile barcode")
    if printed and carrier and not draft.business:
        found.add("print", "carrier", "a consumer invoice on a carrier is not printed: set print to false")
    if not printed and not carrier and not donated:
        found.add("print", "required", "an invoice that is not printed must be on a carrier or donated")


def _line_tax_type(found: _Found, item: Mapping[str, Any], prefix: str, default: str) -> str:
    value = item.get("tax_type", default)
    if value in money.LINE_TAX_TYPES:
        return str(value)
    if value == money.MIXED:
        found.add(prefix + "tax_type", "mixed", f"{prefix}tax_type cannot be 9 (mixed is an invoice-level tax type)")
    else:
        found.add(prefix + "tax_type", "invalid", f"{prefix}tax_type must be 1, 2, 3 or 4")
    return money.TAXABLE


def _line_amount(found: _Found, item: Mapping[str, Any], prefix: str, qty: Decimal, price: Decimal) -> Decimal:
    product = qty * price
    if item.get("amount") is None:
        if abs(product) >= _AMOUNT_LIMIT:
            found.add(prefix + "amount", "digits", f"{prefix}amount: quantity x unit_price has more than 13 digits")
        elif product != product.quantize(_SEVEN_PLACES):
            found.add(prefix + "amount", "required", f"{prefix}amount is required: quantity x price has >7 places")
        return product
    amount = _decimal(found, item, "amount", prefix)
    if amount is not None and amount != product and amount != money.round_half_up(product):
        expected = money.plain(product)
        found.add(prefix + "amount", "mismatch", f"{prefix}amount must be quantity x unit_price = {expected}")
    return product if amount is None else amount


def _line(found: _Found, item: Any, index: int, default_tax: str) -> Line | None:
    prefix = f"items[{index}]."
    if not isinstance(item, dict):
        found.add(prefix[:-1], "type", f"{prefix[:-1]} must be an object")
        return None
    _unknown(found, item, ITEM_FIELDS, prefix)
    description = _text(found, item, "description", prefix, 500, required=True)
    qty = _decimal(found, item, "quantity", prefix)
    if qty == 0:
        found.add(prefix + "quantity", "zero", f"{prefix}quantity cannot be 0 (E0106)")
    price = _decimal(found, item, "unit_price", prefix)
    tax_type = _line_tax_type(found, item, prefix, default_tax)
    unit = _text(found, item, "unit", prefix, 6)
    remark = _text(found, item, "remark", prefix, 120)
    if qty is None or price is None:
        return None
    amount = _line_amount(found, item, prefix, qty, price)
    return Line(f"{index + 1:03d}", description, qty, price, amount, tax_type, unit, remark)


def _lines(found: _Found, doc: Mapping[str, Any], default_tax: str) -> tuple[Line, ...]:
    items = doc.get("items")
    if not isinstance(items, list) or not items:
        found.add("items", "required", "items must be a list with at least one item")
        return ()
    if len(items) > MAX_ITEMS:
        found.add("items", "count", f"an invoice may have at most {MAX_ITEMS} items, has {len(items)}")
        return ()
    lines = [_line(found, item, i, default_tax) for i, item in enumerate(items)]
    return tuple(line for line in lines if line is not None)


def _tax(found: _Found, doc: Mapping[str, Any], lines: Sequence[Line], invoice_type: str,
         business: bool) -> tuple[str, Decimal]:
    """The invoice's tax type (from its lines) and rate, with the rules that tie them to the invoice type.

    Decided for issue 15 item 10 (sources: the XSD ``TaxTypeEnum``/``TaxRateEnum`` in GenericType_4.0.xsd, the
    platform's codes E0224-E0227 in Turnkey 3.2.0's ``Turnkey_zh_TW.properties`` (domain.md §3.2), ECPay's B2C
    Issue field table, the e首發票 seed):
    - an 08 (special-tax) invoice carries special-tax (4) lines only: E0226 (課稅別需為應稅) wants a taxable type
      and E0225 (稅率應為 2%,5%,15%,25%) a special rate, which a tax-free (3) or zero-rated (2) line, rate 0, cannot
      have; such a line is refused on the line (sell it on an 07 invoice). ECPay's table allows TaxType 3 on 08;
      the platform's own codes are taken over it.
    - mixed (9) only on a consumer invoice: the XSD allows 9 anywhere, but the e首發票 seed allows it only on
      consumer invoices and ECPay only for cash-register invoices that cannot tell the tax types apart, with an
      approval; einvd's lines always carry their type, so a business buyer gets one invoice per tax type.
    """
    derived = money.invoice_tax_type(line.tax_type for line in lines) if lines else money.TAXABLE
    given = _choice(found, doc, "tax_type", money.INVOICE_TAX_TYPES, None)
    if given is not None and given != derived:
        found.add("tax_type", "mismatch", f"tax_type {given} does not match the items, which give {derived}")
    special = invoice_type == "08"
    tax_free = [line for line in lines if special and line.tax_type in (money.EXEMPT, money.ZERO_RATED)]
    for line in tax_free:
        field = f"items[{int(line.sequence) - 1}].tax_type"
        found.add(field, "special_invoice", f"{field} {line.tax_type}: a special-tax (08) invoice carries only "
                  "special-tax (4) items (E0225, E0226); sell tax-free or zero-rated items on an 07 invoice")
    kinds = {line.tax_type for line in lines if line not in tax_free}
    has_special = money.SPECIAL in kinds
    if kinds - {money.SPECIAL} if special else has_special:
        found.add("invoice_type", "special", "type 08 invoices, and only they, carry special-tax (4) items")
    if business and derived == money.MIXED:
        found.add("tax_type", "business_buyer", "an invoice to a business buyer cannot mix tax types (9): issue "
                  "one invoice per tax type (mixed is for consumer invoices only)")
    return derived, _rate(found, doc, money.SPECIAL if tax_free and has_special else derived)


def _rate(found: _Found, doc: Mapping[str, Any], tax_type: str) -> Decimal:
    """The rate of the tax type: implied, or for special tax (4) one of ``money.SPECIAL_RATES``.

    The XSD's ``TaxRateEnum`` also has 0.01; it is refused (``tax_rate.invalid``) because the platform answers
    E0225 稅率應為 2%,5%,15%,25% for an 08 invoice at any other rate (issue 15 item 10, domain.md §3.2).
    """
    implied = money.default_rate(tax_type)
    allowed = money.SPECIAL_RATES if implied is None else (implied,)
    if doc.get("tax_rate") is None:
        if implied is None:
            found.add("tax_rate", "required", "tax_rate is required for special tax: 0.02, 0.05, 0.15 or 0.25")
        return implied if implied is not None else money.STANDARD_RATE
    rate = _decimal(found, doc, "tax_rate", "", places=2)
    if rate is not None and rate not in allowed:
        found.add("tax_rate", "invalid", f"tax_rate for tax type {tax_type} must be {', '.join(map(str, allowed))}")
    return rate if rate is not None and rate in allowed else allowed[0]


def _zero_rated(found: _Found, doc: Mapping[str, Any], lines: Sequence[Line]) -> tuple[str | None, str | None]:
    reason = _choice(found, doc, "zero_tax_rate_reason", sorted(ZERO_REASONS), None)
    mark = _choice(found, doc, "customs_clearance_mark", ("1", "2"), None)
    if any(line.tax_type == money.ZERO_RATED for line in lines):
        for key, value in (("zero_tax_rate_reason", reason), ("customs_clearance_mark", mark)):
            if value is None:
                found.add(key, "required", f"{key} is required for zero-rated sales")
    else:
        for key, value in (("zero_tax_rate_reason", reason), ("customs_clearance_mark", mark)):
            if value is not None:
                found.add(key, "not_allowed", f"{key} is only for zero-rated sales (E0112)")
    return reason, mark


def _amounts(found: _Found, doc: Mapping[str, Any], computed: money.Amounts) -> None:
    for name, total in computed.as_dict().items():
        if total < 0:
            found.add(f"amounts.{name}", "negative", f"amounts.{name} would be {total}; it cannot be negative")
    if computed.total == 0:
        found.add("amounts.total", "zero", "the invoice total cannot be 0 (E0105)")
    given = _object(found, doc, "amounts")
    if given is None:
        return
    _unknown(found, given, frozenset(AMOUNT_FIELDS), "amounts.")
    expected = computed.as_dict()
    for name in AMOUNT_FIELDS:
        if name in given:
            stated = _decimal(found, given, name, "amounts.", places=0)
            if stated is not None and stated != expected[name]:
                message = f"amounts.{name} must be {expected[name]}, which is what the items give"
                found.add(f"amounts.{name}", "mismatch", message)


def parse_document(doc: Any) -> InvoiceDraft:
    """Validate an invoice document (a JSON object) into a draft, or raise ``InvoiceInvalid`` with all problems."""
    if not isinstance(doc, dict):
        raise InvoiceInvalid(Problem("document.type", "", "the invoice document must be a JSON object"))
    found = _Found()
    _unknown(found, doc, TOP_FIELDS, "")
    invoice_type = _choice(found, doc, "invoice_type", ("07", "08"), "07") or "07"
    buyer, carrier, love_code = _buyer(found, doc), _carrier(found, doc), _love_code(found, doc)
    business = buyer is not None and buyer.ban is not None
    printed = _print_flag(found, doc, business or (carrier is None and love_code is None))
    default_tax = str(doc.get("tax_type", money.TAXABLE)) if doc.get("tax_type") != money.MIXED else "1"
    lines = _lines(found, doc, default_tax if default_tax in money.LINE_TAX_TYPES else money.TAXABLE)
    tax_type, rate = _tax(found, doc, lines, invoice_type, business)
    reason, mark = _zero_rated(found, doc, lines)
    tax_on_top = business and invoice_type == "07"
    computed = money.compute_amounts(((line.tax_type, line.amount) for line in lines), tax_on_top=tax_on_top, rate=rate)
    if lines:
        _amounts(found, doc, computed)
    draft = InvoiceDraft(
        _order_id(found, doc), _issued_at(found, doc), invoice_type, buyer, carrier, love_code, printed,
        tax_type, rate, reason, mark, lines, computed, _text(found, doc, "remark", "", 200),
    )
    _check_matrix(found, draft)
    _open_drawer(found, doc)
    if found.problems:
        raise InvoiceInvalid(*found.problems)
    return draft


def _span(limit: timedelta) -> str:
    """``timedelta(minutes=90)`` -> ``90 minutes``; whole hours and days by their name."""
    seconds = int(limit.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def issue_time_problems(issued_at: datetime, now: datetime, *, business: bool,
                        backdate_limit: timedelta | None = None) -> list[Problem]:
    """The clock rules of issuing (issue 15 items 5 and 6), applied to the time read under the issuing lock and by
    ``invoice validate`` alike.

    - ``issued_at.future``: never after ``now``;
    - ``issued_at.too_old``: by default nothing whose upload deadline (48 h for a consumer, 7 days for a business
      buyer, domain.md §7.4) has already passed at ``now``: such an invoice breaks the law the moment it is issued;
      a configured ``backdate_limit`` replaces that deadline by a fixed age.
    """
    if issued_at > now:
        return [Problem("issued_at.future", "issued_at", "issued_at cannot be in the future")]
    if backdate_limit is None:
        deadline = upload_deadline(issued_at, business)
        if deadline <= now:
            window = "7 days for a business buyer" if business else "48 hours for a consumer"
            return [Problem("issued_at.too_old", "issued_at",
                            f"issued_at {taipei(issued_at).isoformat()} is too far back: its upload deadline "
                            f"{deadline.isoformat()} ({window}) has passed; issue it with the current time")]
    elif now - issued_at > backdate_limit:
        return [Problem("issued_at.too_old", "issued_at",
                        f"issued_at {taipei(issued_at).isoformat()} is more than {_span(backdate_limit)} back "
                        "(numbering.backdate_limit); issue it with the current time")]
    return []


def _decimal_text(value: Decimal) -> str:
    return money.plain(value)


def draft_document(draft: InvoiceDraft) -> dict[str, Any]:
    """The normalised document (amounts filled in, decimals as exact strings), as ``invoice validate`` prints it."""
    buyer = draft.buyer
    return {
        "order_id": draft.order_id,
        "issued_at": draft.issued_at.isoformat() if draft.issued_at else None,
        "invoice_type": draft.invoice_type,
        "buyer": None if buyer is None else {
            "ban": buyer.ban, "name": buyer.name, "address": buyer.address, "email": buyer.email, "phone": buyer.phone,
        },
        "carrier": None if draft.carrier is None else {"type": draft.carrier.type, "id": draft.carrier.id},
        "donation": None if draft.love_code is None else {"love_code": draft.love_code},
        "print": draft.print_proof,
        "tax_type": draft.tax_type,
        "tax_rate": _decimal_text(draft.tax_rate),
        "zero_tax_rate_reason": draft.zero_tax_rate_reason,
        "customs_clearance_mark": draft.customs_clearance_mark,
        "items": [_item_document(line) for line in draft.items],
        "amounts": draft.amounts.as_dict(),
        "remark": draft.remark,
    }


def _item_document(line: Line) -> dict[str, str]:
    return {
        "description": line.description,
        "quantity": _decimal_text(line.quantity),
        "unit": line.unit,
        "unit_price": _decimal_text(line.unit_price),
        "amount": _decimal_text(line.amount),
        "tax_type": line.tax_type,
        "remark": line.remark,
    }


def buyer_party(draft: InvoiceDraft) -> Party:
    """MIG Buyer: the BAN (name defaults to the BAN) or ``0000000000`` for consumers."""
    buyer = draft.buyer or Buyer(None)
    if buyer.ban is not None:
        return Party(buyer.ban, buyer.name or buyer.ban, buyer.address, email=buyer.email, telephone=buyer.phone)
    return Party(CONSUMER_ID, buyer.name or DEFAULT_CONSUMER_NAME, buyer.address, email=buyer.email,
                 telephone=buyer.phone)


def build_invoice(draft: InvoiceDraft, *, number: str, random_number: str, issued_at: datetime,
                  seller: Party) -> Invoice:
    """The F0401 message for a draft once its number, random code and time are fixed."""
    carrier = draft.carrier
    return Invoice(
        number=number, issued_at=taipei(issued_at), seller=seller, buyer=buyer_party(draft),
        invoice_type=draft.invoice_type, print_mark=draft.print_proof, random_number=random_number,
        items=draft.items, amounts=draft.amounts, tax_type=draft.tax_type, tax_rate=draft.tax_rate,
        carrier_type=carrier.type if carrier else "", carrier_id1=carrier.id if carrier else "",
        carrier_id2=carrier.id if carrier else "", npoban=draft.love_code or "", main_remark=draft.remark,
        customs_clearance_mark=draft.customs_clearance_mark or "",
        zero_tax_rate_reason=draft.zero_tax_rate_reason or "",
    )
