"""Pre-flight of a rendered message: what Turnkey would refuse locally (file to ERR, result 7001).

``preflight(message, xml, schemas)`` = the 20 MiB file limit + the v41 XSD + for F0401 the local checks that
Turnkey's validator runs (domain.md §3.1), re-checked on the XML document itself, so a renderer bug is caught
as well as a bad invoice. Every problem has a stable code (``mig.size``, ``mig.xml``, ``mig.xsd``,
``mig.seller.address``, ...) and the element path as its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

from turnkey.errors import InvoiceInvalid, Problem, ResultUnreadable
from turnkey.mig.common import find_text, load
from turnkey.mig.render import code_of, render
from turnkey.mig.xsd import Schemas
from turnkey.model import Invoice, Message
from turnkey.money import DecimalRule, parse_decimal

SIZE_LIMIT = 20 * 1024 * 1024
"""Turnkey's ``ValidateFile.limitFileSize``: larger files are refused."""
MOBILE_BARCODE = "3J0002"
_ZERO_NAMES = frozenset({"0", "00", "000", "0000"})
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_BAN = re.compile(r"[0-9]{8}", re.ASCII)
_SPACES = " \u3000"
_AMOUNTS = ("SalesAmount", "FreeTaxSalesAmount", "ZeroTaxSalesAmount", "TaxAmount", "TotalAmount")


def preflight(message: Message, xml: bytes, schemas: Schemas | None) -> list[Problem]:
    """Every reason Turnkey would refuse ``xml`` (the rendering of ``message``); empty: drop it.

    ``schemas`` None skips the XSD step (no schema directory configured); the local checks always run.
    """
    if len(xml) > SIZE_LIMIT:
        return [Problem("mig.size", "", f"{len(xml)} bytes is over Turnkey's limit of {SIZE_LIMIT} bytes")]
    try:
        root = load(xml)
    except ResultUnreadable as exc:
        return [Problem("mig.xml", p.field, p.message) for p in exc.problems]
    problems = [] if schemas is None else schemas.validate_tree(code_of(message), root)
    if isinstance(message, Invoice):
        problems.extend(invoice_checks(root))
    return problems


def render_checked(message: Message, schemas: Schemas | None) -> bytes:
    """The message's XML, or ``InvoiceInvalid`` with every ``mig.*`` problem: nothing unchecked ever leaves."""
    xml = render(message)
    problems = preflight(message, xml, schemas)
    if problems:
        raise InvoiceInvalid(*problems)
    return xml


@dataclass(frozen=True)
class _Facts:
    """The F0401 values the local checks look at ('' when absent), read namespace-agnostically."""

    seller_address: str
    buyer_id: str
    buyer_name: str
    random_number: str
    invoice_date: str
    print_mark: str
    donate_mark: str
    npoban: str
    carrier_type: str
    carrier_ids: tuple[str, str]
    item_tax_types: tuple[str, ...]
    tax_type: str
    customs_clearance_mark: str
    zero_tax_rate_reason: str
    amounts: tuple[str, ...]

    @property
    def consumer(self) -> bool:
        return not self.buyer_id.strip("0 ")


def _facts(root: etree._Element) -> _Facts:
    def main(path: str) -> str:
        return find_text(root, "Main/" + path)

    items = root.findall("{*}Details/{*}ProductItem")
    return _Facts(
        seller_address=main("Seller/Address"),
        buyer_id=main("Buyer/Identifier"),
        buyer_name=main("Buyer/Name"),
        random_number=main("RandomNumber"),
        invoice_date=main("InvoiceDate"),
        print_mark=main("PrintMark"),
        donate_mark=main("DonateMark"),
        npoban=main("NPOBAN"),
        carrier_type=main("CarrierType"),
        carrier_ids=(main("CarrierId1"), main("CarrierId2")),
        item_tax_types=tuple(item.findtext("{*}TaxType") or "" for item in items),
        tax_type=find_text(root, "Amount/TaxType"),
        customs_clearance_mark=main("CustomsClearanceMark"),
        zero_tax_rate_reason=main("ZeroTaxRateReason"),
        amounts=tuple(find_text(root, "Amount/" + name) for name in _AMOUNTS),
    )


def _in_main(code: str, path: str, message: str) -> Problem:
    return Problem(code, "Invoice/Main/" + path, message)


def _seller(facts: _Facts) -> Iterator[Problem]:
    if not facts.seller_address.strip():
        yield _in_main("mig.seller.address", "Seller/Address", "Turnkey requires a seller address")


def _buyer(facts: _Facts) -> Iterator[Problem]:
    if not _DIGITS.fullmatch(facts.buyer_id):
        yield _in_main("mig.buyer.identifier", "Buyer/Identifier", "the buyer identifier must be digits")
    if facts.consumer and facts.buyer_name in _ZERO_NAMES:
        yield _in_main("mig.buyer.name", "Buyer/Name", "a consumer's name may not be 0, 00, 000 or 0000")


def _random_number(facts: _Facts) -> Iterator[Problem]:
    number = facts.random_number
    if facts.consumer and number and not (_DIGITS.fullmatch(number) and len(number) < 5):
        yield _in_main("mig.random_number", "RandomNumber", "the random number must be at most 4 digits")


def _invoice_date(facts: _Facts) -> Iterator[Problem]:
    if not facts.invoice_date.strip():
        yield _in_main("mig.invoice_date", "InvoiceDate", "the invoice date is required")


def _printed(facts: _Facts) -> Iterator[Problem]:
    """PrintMark Y: no carrier (except a mobile barcode for a business buyer) and no donation."""
    if facts.print_mark != "Y":
        return
    if facts.carrier_type == MOBILE_BARCODE:
        if not (_BAN.fullmatch(facts.buyer_id) and facts.buyer_id.strip("0")):
            yield _in_main("mig.carrier.buyer", "Buyer/Identifier", "printed 3J0002 needs a buyer BAN")
    elif any(facts.carrier_ids):
        yield _in_main("mig.carrier.printed", "CarrierId1", "a printed invoice carries no carrier id")
    if facts.donate_mark != "0":
        yield _in_main("mig.donate.printed", "DonateMark", "a printed invoice cannot be donated")


def _not_printed(facts: _Facts) -> Iterator[Problem]:
    """PrintMark N: the invoice must be donated or stored on a carrier."""
    on_carrier = all(value.strip() for value in (facts.carrier_type, *facts.carrier_ids))
    if facts.print_mark == "N" and facts.donate_mark != "1" and not on_carrier:
        yield _in_main("mig.print.carrier", "PrintMark", "unprinted means donated or on a carrier")


def _carrier_ids(facts: _Facts) -> Iterator[Problem]:
    for name, value in zip(("CarrierId1", "CarrierId2"), facts.carrier_ids, strict=True):
        if value != value.strip(_SPACES):
            yield _in_main("mig.carrier.spaces", name, "a carrier id may not start or end with spaces")
        if facts.carrier_type == MOBILE_BARCODE and not value.strip():
            yield _in_main("mig.carrier.id", name, "a 3J0002 carrier needs CarrierId1 and CarrierId2")


def _donation(facts: _Facts) -> Iterator[Problem]:
    donated, has_npoban = facts.donate_mark == "1", bool(facts.npoban.strip())
    if donated != has_npoban:
        yield _in_main("mig.npoban", "NPOBAN", "NPOBAN goes with DonateMark 1, never with 0")


def _details(facts: _Facts) -> Iterator[Problem]:
    if not facts.item_tax_types:
        yield Problem("mig.details", "Invoice/Details", "an invoice needs at least one ProductItem")
    for index, tax_type in enumerate(facts.item_tax_types, 1):
        if tax_type == "9":
            field = f"Invoice/Details/ProductItem[{index}]/TaxType"
            yield Problem("mig.item.tax_type", field, "a line may not have tax type 9 (mixed)")


def _zero_rated(facts: _Facts) -> Iterator[Problem]:
    if facts.tax_type != "2":
        return
    for name, value in (
        ("CustomsClearanceMark", facts.customs_clearance_mark),
        ("ZeroTaxRateReason", facts.zero_tax_rate_reason),
    ):
        if not value.strip():
            yield _in_main("mig.zero_rated", name, f"a zero-rated invoice needs {name}")


def _whole_amounts(facts: _Facts) -> Iterator[Problem]:
    for name, text in zip(_AMOUNTS, facts.amounts, strict=True):
        try:
            number = parse_decimal(text.strip())
        except DecimalRule:
            continue  # absent or not a decimal: the XSD reports it
        if number != number.to_integral_value():
            yield Problem("mig.amount.integer", "Invoice/Amount/" + name, "invoice amounts must be whole NT$")


_CHECKS: tuple[Callable[[_Facts], Iterator[Problem]], ...] = (
    _seller,
    _buyer,
    _random_number,
    _invoice_date,
    _printed,
    _not_printed,
    _carrier_ids,
    _donation,
    _details,
    _zero_rated,
    _whole_amounts,
)


def invoice_checks(root: etree._Element) -> list[Problem]:
    """Turnkey's local F0401 checks (domain.md §3.1, domestic seller) on a parsed document."""
    facts = _facts(root)
    return [problem for check in _CHECKS for problem in check(facts)]
