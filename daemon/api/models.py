"""Strict pydantic models: request bodies (unknown fields refused, no coercion) and the documented responses.

The invoice document itself is validated by ``turnkey.validate.parse_document`` on the raw body (read with
``daemon.jsonio`` so numbers stay exact); its model here only describes it for the OpenAPI document and is kept
no stricter than the validator, so anything the schema calls invalid is refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from turnkey.money import DecimalRule, parse_decimal

NUMBER_SCHEMA = {"anyOf": [{"type": "number"}, {"type": "string"}],
                 "description": "exact decimal: a JSON number or a decimal string (never a boolean)"}
NUMBER_OR_NULL = {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}]}
INVOICE_NUMBER = r"^[A-Z]{2}[0-9]{8}$"
ASCII_ID = r"^[\x21-\x7e]([\x20-\x7e]{0,38}[\x21-\x7e])?$"


def _decimal(value: Any) -> Decimal:
    try:
        return parse_decimal(value)
    except DecimalRule as rule:
        raise PydanticCustomError(f"decimal_{rule.rule}", str(rule)) from None


Exact = Annotated[Decimal, BeforeValidator(_decimal), WithJsonSchema(NUMBER_SCHEMA)]
Text = Annotated[str | None, Field(default=None)]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


# --- the invoice document (OpenAPI only) -------------------------------------------------------------------------

class BuyerIn(Strict):
    ban: Annotated[str | None, Field(pattern=r"^[0-9]{8}$")] = None
    name: Annotated[str | None, Field(max_length=60)] = None
    address: Annotated[str | None, Field(max_length=100)] = None
    email: Annotated[str | None, Field(max_length=400)] = None
    phone: Annotated[str | None, Field(max_length=26)] = None


class CarrierIn(Strict):
    type: Annotated[str, Field(min_length=1, max_length=6)]
    id: Annotated[str, Field(min_length=1, max_length=400)]


class DonationIn(Strict):
    love_code: Annotated[str, Field(pattern=r"^[0-9]{3,7}$")]


class ItemIn(Strict):
    description: Annotated[str, Field(min_length=1, max_length=500)]
    quantity: Exact
    unit_price: Exact
    amount: Annotated[Decimal | None, WithJsonSchema(NUMBER_OR_NULL)] = None
    tax_type: Literal["1", "2", "3", "4"] = "1"
    unit: Annotated[str | None, Field(max_length=6)] = None
    remark: Annotated[str | None, Field(max_length=120)] = None


class AmountsIn(Strict):
    sales: Exact | None = None
    free_tax_sales: Exact | None = None
    zero_tax_sales: Exact | None = None
    tax: Exact | None = None
    total: Exact | None = None


class InvoiceDocument(Strict):
    """The invoice document of the contract (see api-contract.md); the daemon checks every MIG 4.1 rule."""

    order_id: Annotated[str, Field(min_length=1, max_length=40, pattern=ASCII_ID)]
    issued_at: Annotated[str | None, Field(description="aware ISO 8601, default now")] = None
    invoice_type: Literal["07", "08"] | None = None
    buyer: BuyerIn | None = None
    carrier: CarrierIn | None = None
    donation: DonationIn | None = None
    print: bool = True
    tax_type: Literal["1", "2", "3", "4", "9"] | None = None
    tax_rate: Annotated[Decimal | None, WithJsonSchema(NUMBER_OR_NULL)] = None
    zero_tax_rate_reason: Literal["71", "72", "73", "74", "75", "76", "77", "78", "79"] | None = None
    customs_clearance_mark: Literal["1", "2"] | None = None
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=9999)]
    amounts: AmountsIn | None = None
    remark: Annotated[str | None, Field(max_length=200)] = None
    open_drawer: Annotated[bool, Field(description="kick the cash drawer after the sale's slip prints")] = False


# --- other requests ------------------------------------------------------------------------------------------------

class ReasonIn(Strict):
    reason: Annotated[str, Field(min_length=1, description="1-20 characters once whitespace is collapsed")]


class CancelIn(ReasonIn):
    reissue: InvoiceDocument | None = Field(
        default=None, description="issue the cancelled number again with this document (same period)")


class AllowanceLineIn(Strict):
    sequence: Annotated[str, Field(min_length=1, max_length=4, description="the original line's sequence")]
    quantity: Exact
    amount: Annotated[Exact | None, Field(description="in the invoice's terms (tax-inclusive for consumers); "
                                                       "default: quantity x unit price")] = None


class AllowanceIn(Strict):
    invoice_number: Annotated[str, Field(pattern=INVOICE_NUMBER)]
    request_id: Annotated[str | None, Field(min_length=1, max_length=40, pattern=ASCII_ID,
                                            description="idempotency key: a retry returns the first allowance")] = None
    lines: Annotated[list[AllowanceLineIn], Field(min_length=1, max_length=9999)]


class TrackIn(Strict):
    period: Annotated[str, Field(pattern=r"^[0-9]{3}(02|04|06|08|10|12)$")]
    invoice_type: Literal["07", "08"] = "07"
    track: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    begin: Annotated[str, Field(pattern=r"^[0-9]{8}$")]
    end: Annotated[str, Field(pattern=r"^[0-9]{8}$")]


# --- responses -----------------------------------------------------------------------------------------------------

class ErrorItem(BaseModel):
    code: str
    field: str
    message: str


class ErrorBody(BaseModel):
    errors: list[ErrorItem]


class Amounts(BaseModel):
    sales: int
    free_tax_sales: int
    zero_tax_sales: int
    tax: int
    total: int


class PrintStatus(BaseModel):
    requested: bool
    status: str


class IssuedInvoice(BaseModel):
    invoice_number: str
    period: str
    invoice_date: str
    invoice_time: str
    random_number: str
    order_id: str
    buyer_ban: str | None
    amounts: Amounts
    barcode: str
    qr_left: str
    qr_right: str
    status: str
    print: PrintStatus


class InvoiceLine(BaseModel):
    sequence: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str
    tax_type: str
    allowed_quantity: str
    allowed_amount: str


class AllowanceSummary(BaseModel):
    number: str
    state: Literal["live", "voided"]
    date: str
    tax_amount: int
    total_amount: str


class MessageStatus(BaseModel):
    type: str
    reference: str
    state: str
    attempts: int
    last_error: str | None
    created_at: str


class Delivery(BaseModel):
    """Where one message stands with Turnkey and the platform (daemon/deliveries.py)."""

    type: Literal["F0401", "F0501", "F0701", "G0401", "G0501", "E0402"]
    reference: str
    delivery: Literal["queued", "dropped", "accepted_local", "rejected_local", "confirmed", "rejected", "unknown",
                      "failed"]
    at: str
    code: str
    reason: str


class EventItem(BaseModel):
    at: str
    kind: str
    reason: str


class InvoiceVersion(BaseModel):
    """One version of a number: 1 as first issued, the next after each 註銷重開 (cancel with a re-issue)."""

    version: int
    order_id: str
    issued_at: str
    buyer_ban: str | None
    total: int
    state: Literal["issued", "voided", "cancelled"]
    state_at: str | None
    status: str


class InvoiceView(IssuedInvoice):
    state: Literal["issued", "voided", "cancelled"]
    state_at: str | None
    lines: list[InvoiceLine]
    allowances: list[AllowanceSummary]
    messages: list[MessageStatus]
    deliveries: list[Delivery]
    versions: list[InvoiceVersion]
    events: list[EventItem]


class InvoiceSummary(BaseModel):
    invoice_number: str
    period: str
    order_id: str
    issued_at: str
    total: int
    status: str
    state: str
    print_status: str


class InvoicePage(BaseModel):
    invoices: list[InvoiceSummary]
    next_cursor: str | None


class AllowanceLineOut(BaseModel):
    sequence: str
    original_sequence: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str
    tax: int
    tax_type: str


class AllowanceOut(BaseModel):
    allowance_number: str
    invoice_number: str
    date: str
    state: Literal["live", "voided"]
    request_id: str | None
    tax_amount: int
    total_amount: str
    voided_at: str | None
    void_reason: str | None
    delivery: Delivery | None
    void_delivery: Delivery | None
    lines: list[AllowanceLineOut]


class ReprintOut(BaseModel):
    invoice_number: str
    copy_: bool = Field(alias="copy")
    copies: int
    status: str


class NotifyIn(Strict):  # MAIL: POST /v1/invoices/{n}/notify
    email: Annotated[str | None, Field(max_length=400, description="default: the document's buyer.email")] = None


class NotifyOut(BaseModel):  # MAIL
    invoice_number: str
    mail_id: int
    address: str
    state: str


class TrackOut(BaseModel):
    period: str
    invoice_type: str
    track: str
    begin: str
    end: str
    last_used: str | None
    next: str | None
    remaining: int
    source: str


class TracksOut(BaseModel):
    tracks: list[TrackOut]


class TracksAdded(BaseModel):
    added: list[str]


class Backlog(BaseModel):
    waiting: int
    by_type: dict[str, int]
    oldest_age_seconds: float
    failed: int
    last_error: str | None
    next_try: str | None


class Health(BaseModel):
    status: Literal["ok"]
    time: str
    backlog: Backlog
    invoices: dict[str, int]
    alerts: dict[str, int]


class ScanOut(BaseModel):
    id: int
    scanner: str
    at: str
    kind: str
    value: str
    raw: str
    note: str
    carrier_type: str | None


class ScansOut(BaseModel):
    scans: list[ScanOut]
