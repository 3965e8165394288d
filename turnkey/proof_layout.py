"""What the printed slips say: the 電子發票證明聯, its item detail slip, and the information slip.

Pure content, no printer commands: a ``ProofDoc`` is a list of slips (each ends with a cut), each a list of
elements (text lines, a rule, the Code 39 barcode, the side-by-side QR pair). Order of the proof per
domain.md §6.1: merchant name, title (電子發票證明聯, 補印 on copies, 測試 prefix in test mode), period and
number in large type, date and time (格式 25 for business buyers), 隨機碼 and 總計, 賣方 and 買方, Code 39,
the two QR codes. Donated and carrier invoices get no proof: an information slip instead, with the number
masked (last 3 digits ``***``) when donated, so it can never pass for a prize claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from turnkey.carrier import CITIZEN_CERTIFICATE, MOBILE_BARCODE
from turnkey.model import Invoice, Line
from turnkey.money import EXEMPT, ZERO_RATED, plain
from turnkey.period import taipei
from turnkey.proof import ProofPayloads

TITLE = "電子發票證明聯"
REPRINT = "補印"
TEST_PREFIX = "測試"
DETAILS_TITLE = "交易明細"
INFO_TITLE = "電子發票資訊"
INFO_NOTICE = "本聯非電子發票證明聯，不可兌獎"
BUSINESS_FORMAT = "格式 25"
CARRIER_NAMES = {MOBILE_BARCODE: "手機條碼", CITIZEN_CERTIFICATE: "自然人憑證"}
TAX_MARKS = {ZERO_RATED: "零稅率", EXEMPT: "免稅"}

CENTER = "center"
LEFT = "left"


@dataclass(frozen=True)
class Text:
    """One line: ``text`` aligned, and ``right`` (if any) pushed to the right edge of the same line."""

    text: str
    right: str = ""
    large: bool = False
    align: str = LEFT


@dataclass(frozen=True)
class Rule:
    """A separator line across the paper."""


@dataclass(frozen=True)
class Barcode39:
    """The 19-character Code 39 of the proof (start/stop ``*`` are the printer's)."""

    data: str


@dataclass(frozen=True)
class QrPair:
    """The two QR codes, side by side, top-aligned, the same size; ``encoding`` is their QR encoding flag
    (``0`` Big5, ``1`` UTF-8, ``2`` Base64): the printer writes the text in those bytes."""

    left: str
    right: str
    encoding: str = "1"


Element = Text | Rule | Barcode39 | QrPair


@dataclass(frozen=True)
class Slip:
    """One piece of paper: ``kind`` is ``proof``, ``details`` or ``info``."""

    kind: str
    elements: tuple[Element, ...]


@dataclass(frozen=True)
class ProofDoc:
    number: str
    slips: tuple[Slip, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(slip.kind for slip in self.slips)


@dataclass(frozen=True)
class ProofOptions:
    """``reprint``: a copy (補印). ``details``: the item slip for consumers too (business buyers always get it)."""

    reprint: bool = False
    test_mode: bool = False
    details: bool = False
    merchant: str | None = None


def title(reprint: bool = False, test_mode: bool = False) -> str:
    """電子發票證明聯, with 補印 on a copy and 測試 in front in test mode."""
    return f"{TEST_PREFIX if test_mode else ''}{TITLE}{REPRINT if reprint else ''}"


def display_number(number: str) -> str:
    """``AB12345678`` -> ``AB-12345678``."""
    return f"{number[:2]}-{number[2:]}"


def masked_number(number: str) -> str:
    """``AB12345678`` -> ``AB-12345***`` (donated invoices)."""
    return display_number(number)[:-3] + "***"


def _stamp(invoice: Invoice) -> str:
    return taipei(invoice.issued_at).strftime("%Y-%m-%d %H:%M:%S")


def _business(invoice: Invoice) -> bool:
    return not invoice.buyer.is_consumer


def _merchant(invoice: Invoice, options: ProofOptions) -> tuple[Text, ...]:
    name = invoice.seller.name if options.merchant is None else options.merchant
    return (Text(name, align=CENTER),) if name else ()


def proof_slip(invoice: Invoice, payloads: ProofPayloads, options: ProofOptions) -> Slip:
    """The 證明聯 itself (domain.md §6.1, lines 1-9)."""
    business = _business(invoice)
    return Slip("proof", (
        *_merchant(invoice, options),
        Text(title(options.reprint, options.test_mode), large=True, align=CENTER),
        Text(invoice.period.label, large=True, align=CENTER),
        Text(display_number(invoice.number), large=True, align=CENTER),
        Text(_stamp(invoice), right=BUSINESS_FORMAT if business else ""),
        Text(f"隨機碼 {invoice.random_number}", right=f"總計 {invoice.amounts.total}"),
        Text(f"賣方 {invoice.seller.identifier}", right=f"買方 {invoice.buyer.identifier}" if business else ""),
        Barcode39(payloads.barcode),
        QrPair(payloads.qr_left, payloads.qr_right, payloads.encoding),
    ))


def _quantity(value: Decimal) -> str:
    return plain(value)


def item_lines(items: tuple[Line, ...], mixed: bool) -> tuple[Text, ...]:
    """Per item: its name, then ``quantity x unit price`` and the amount (tax mark on mixed invoices)."""
    lines: list[Text] = []
    for line in items:
        mark = f" {TAX_MARKS[line.tax_type]}" if mixed and line.tax_type in TAX_MARKS else ""
        unit = line.unit and f" {line.unit}"
        lines.append(Text(line.description))
        lines.append(Text(f"  {_quantity(line.quantity)}{unit} x {plain(line.unit_price)}",
                          right=f"{plain(line.amount)}{mark}"))
    return tuple(lines)


def _totals(invoice: Invoice) -> tuple[Text, ...]:
    amounts = invoice.amounts
    lines = [Text(f"共 {len(invoice.items)} 項")]
    if _business(invoice):
        lines.append(Text("銷售額", right=str(amounts.sales)))
        lines.append(Text("稅額", right=str(amounts.tax)))
    if amounts.free_tax_sales:
        lines.append(Text("免稅銷售額", right=str(amounts.free_tax_sales)))
    if amounts.zero_tax_sales:
        lines.append(Text("零稅率銷售額", right=str(amounts.zero_tax_sales)))
    lines.append(Text("總計", right=str(amounts.total)))
    return tuple(lines)


def _items_and_totals(invoice: Invoice) -> tuple[Text | Rule, ...]:
    remark = (Text(f"備註 {invoice.main_remark}"),) if invoice.main_remark else ()
    mixed = len({line.tax_type for line in invoice.items}) > 1
    return (Rule(), *item_lines(invoice.items, mixed), Rule(), *_totals(invoice), *remark)


def details_slip(invoice: Invoice, options: ProofOptions) -> Slip:
    """The item detail slip (交易明細) that goes with a proof."""
    buyer = (Text(f"買方 {invoice.buyer.identifier} {invoice.buyer.name}".rstrip()),) if _business(invoice) else ()
    return Slip("details", (
        *_merchant(invoice, options),
        Text(DETAILS_TITLE + (REPRINT if options.reprint else ""), align=CENTER),
        Text(f"發票號碼 {display_number(invoice.number)}"),
        Text(_stamp(invoice)),
        *buyer,
        *_items_and_totals(invoice),
    ))


def _destination(invoice: Invoice) -> Text:
    if invoice.donated:
        return Text(f"已捐贈 愛心碼 {invoice.npoban}")
    return Text(f"已存入載具 {CARRIER_NAMES.get(invoice.carrier_type, '會員載具')}")


def info_slip(invoice: Invoice, options: ProofOptions) -> Slip:
    """What a donated or carrier invoice gets instead of a proof: no barcodes, never a prize claim."""
    number = masked_number(invoice.number) if invoice.donated else display_number(invoice.number)
    random_code = () if invoice.donated else (Text(f"隨機碼 {invoice.random_number}"),)
    return Slip("info", (
        *_merchant(invoice, options),
        Text(INFO_TITLE + (REPRINT if options.reprint else ""), align=CENTER),
        Text(INFO_NOTICE, align=CENTER),
        Text(invoice.period.label),
        Text(f"發票號碼 {number}"),
        Text(_stamp(invoice)),
        *random_code,
        Text(f"賣方 {invoice.seller.identifier}"),
        _destination(invoice),
        *_items_and_totals(invoice),
    ))


def needs_details(invoice: Invoice, options: ProofOptions) -> bool:
    """Business buyers always get the item detail slip; consumers when asked."""
    return _business(invoice) or options.details


def proof_doc(invoice: Invoice, payloads: ProofPayloads, options: ProofOptions | None = None) -> ProofDoc:
    """The slips to print for an issued invoice: proof (+ details), or an information slip when not printed."""
    options = options or ProofOptions()
    if not invoice.print_mark:
        return ProofDoc(invoice.number, (info_slip(invoice, options),))
    slips = [proof_slip(invoice, payloads, options)]
    if needs_details(invoice, options):
        slips.append(details_slip(invoice, options))
    return ProofDoc(invoice.number, tuple(slips))
