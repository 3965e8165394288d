"""Frozen value objects of the core.

Two levels:
- ``InvoiceDraft`` is the validated invoice document of the public contract (what POS software sends);
- ``Invoice``, ``Void``, ``Cancel``, ``Allowance``, ``AllowanceVoid`` and ``BlankReport`` are the MIG 4.1
  messages F0401, F0501 (作廢), F0701 (註銷), G0401, G0501 and E0402, with every field the official samples use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from turnkey.money import Amounts
from turnkey.period import Period

CONSUMER_ID = "0000000000"
CONSUMER_QR_ID = "00000000"
DEFAULT_CONSUMER_NAME = "消費者"


@dataclass(frozen=True)
class Party:
    """MIG ``RoleDescriptionType`` (Seller or Buyer); children are emitted in this order."""

    identifier: str
    name: str
    address: str = ""
    person_in_charge: str = ""
    telephone: str = ""
    facsimile: str = ""
    email: str = ""
    customer_number: str = ""
    role_remark: str = ""

    @property
    def is_consumer(self) -> bool:
        return not self.identifier.strip("0 ")


@dataclass(frozen=True)
class Buyer:
    """The document's buyer: a business when ``ban`` is set, otherwise a named consumer."""

    ban: str | None
    name: str = ""
    address: str = ""
    email: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Carrier:
    """A carrier: type code (3J0002, CQ0001, member codes) and its visible id (CarrierId1 = CarrierId2)."""

    type: str
    id: str


@dataclass(frozen=True)
class Line:
    """One ProductItem. ``amount`` is tax-inclusive for consumers, untaxed for business buyers."""

    sequence: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    tax_type: str = "1"
    unit: str = ""
    remark: str = ""
    relate_number: str = ""


@dataclass(frozen=True)
class InvoiceDraft:
    """A validated invoice document, before it has a number."""

    order_id: str
    issued_at: datetime | None
    invoice_type: str
    buyer: Buyer | None
    carrier: Carrier | None
    love_code: str | None
    print_proof: bool
    tax_type: str
    tax_rate: Decimal
    zero_tax_rate_reason: str | None
    customs_clearance_mark: str | None
    items: tuple[Line, ...]
    amounts: Amounts
    remark: str

    @property
    def business(self) -> bool:
        return self.buyer is not None and self.buyer.ban is not None


@dataclass(frozen=True)
class Invoice:
    """F0401 平台存證開立發票."""

    number: str
    issued_at: datetime
    seller: Party
    buyer: Party
    invoice_type: str
    print_mark: bool
    random_number: str
    items: tuple[Line, ...]
    amounts: Amounts
    tax_type: str
    tax_rate: Decimal
    carrier_type: str = ""
    carrier_id1: str = ""
    carrier_id2: str = ""
    npoban: str = ""
    buyer_remark: str = ""
    main_remark: str = ""
    customs_clearance_mark: str = ""
    category: str = ""
    relate_number: str = ""
    group_mark: str = ""
    bonded_area_confirm: str = ""
    zero_tax_rate_reason: str = ""
    reserved1: str = ""
    reserved2: str = ""
    discount_amount: Decimal | None = None
    original_currency_amount: Decimal | None = None
    exchange_rate: Decimal | None = None
    currency: str = ""

    @property
    def donated(self) -> bool:
        return bool(self.npoban)

    @property
    def period(self) -> Period:
        return Period.of(self.issued_at)


@dataclass(frozen=True)
class Void:
    """F0501 平台存證作廢發票 (root ``CancelInvoice``)."""

    number: str
    invoice_date: date
    buyer_id: str
    seller_id: str
    at: datetime
    reason: str
    return_tax_document_number: str = ""
    remark: str = ""
    reserved1: str = ""
    reserved2: str = ""


@dataclass(frozen=True)
class Cancel:
    """F0701 平台存證註銷發票 (root ``VoidInvoice``)."""

    number: str
    invoice_date: date
    buyer_id: str
    seller_id: str
    at: datetime
    reason: str
    remark: str = ""
    reserved1: str = ""
    reserved2: str = ""


@dataclass(frozen=True)
class AllowanceLine:
    """G0401 ProductItem: ``amount`` untaxed, ``tax`` whole NT$."""

    original_invoice_date: date
    original_invoice_number: str
    original_description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    tax: int
    sequence: str
    tax_type: str
    original_sequence_number: str = ""
    unit: str = ""


@dataclass(frozen=True)
class Allowance:
    """G0401 平台存證開立折讓證明單 (seller-issued, AllowanceType 2)."""

    number: str
    allowance_date: date
    seller: Party
    buyer: Party
    items: tuple[AllowanceLine, ...]
    tax_amount: int
    total_amount: Decimal
    allowance_type: str = "2"
    original_invoice_seller_id: str = ""
    original_invoice_buyer_id: str = ""


@dataclass(frozen=True)
class AllowanceVoid:
    """G0501 平台存證作廢折讓證明單 (root ``CancelAllowance``)."""

    number: str
    allowance_date: date
    buyer_id: str
    seller_id: str
    at: datetime
    reason: str
    allowance_type: str = "2"
    remark: str = ""


@dataclass(frozen=True)
class BlankReport:
    """E0402 空白未使用字軌檔: the unused numbers of one track in one period."""

    head_ban: str
    branch_ban: str
    invoice_type: str
    period: Period
    track: str
    ranges: tuple[tuple[int, int], ...]


Message = Invoice | Void | Cancel | Allowance | AllowanceVoid | BlankReport
