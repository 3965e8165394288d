"""What a Turnkey checks before it takes a file from SRC, written from domain.md (§2.0, §3.1), not from
einvd's own renderer or checker: a simulator that shared that code could not catch its mistakes.

``inspect(code, data)`` returns the problems as ``(code, text)`` pairs (empty: accepted) and the document's
reference (invoice/allowance number) and date when they can be read. Codes follow Turnkey's gateway
validation codes: 7001 for XML/XSD/local-rule failures, 7002 for the size limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol, cast

from lxml import etree

SIZE_LIMIT = 20 * 1024 * 1024
ROOTS = {"F0401": "Invoice", "F0501": "CancelInvoice", "F0701": "VoidInvoice", "G0401": "Allowance",
         "G0501": "CancelAllowance", "E0401": "BranchTrack", "E0402": "BranchTrackBlank"}
REFERENCE = {"F0401": "Main/InvoiceNumber", "F0501": "CancelInvoiceNumber", "F0701": "VoidInvoiceNumber",
             "G0401": "Main/AllowanceNumber", "G0501": "CancelAllowanceNumber"}
DATES = {"F0401": "Main/InvoiceDate", "F0501": "CancelDate", "F0701": "VoidDate", "G0401": "Main/AllowanceDate",
         "G0501": "CancelDate"}
WHOLE_AMOUNTS = ("SalesAmount", "FreeTaxSalesAmount", "ZeroTaxSalesAmount", "TaxAmount", "TotalAmount")
SPACES = " \u3000"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class _LogEntry(Protocol):
    """What we read of one lxml error-log entry (lxml-stubs declares the log as an empty class)."""

    line: int
    message: str


@dataclass(frozen=True)
class Inspection:
    problems: tuple[tuple[str, str], ...]
    reference: str = ""
    date: str = ""


class XsdSet:
    """The official v41 XSDs read from disk; the `` BranchBan``-style names are trimmed (domain.md §2.0)."""

    def __init__(self, schema_dir: Path) -> None:
        self.schema_dir = schema_dir
        self._compiled: dict[str, etree.XMLSchema] = {}

    def schema(self, code: str) -> etree.XMLSchema:
        if code not in self._compiled:
            path = self.schema_dir / "v41" / f"{code}.xsd"
            doc = etree.parse(str(path))
            for node in doc.iter():
                name = node.get("name")
                if name is not None and name != name.strip():
                    node.set("name", name.strip())
            self._compiled[code] = etree.XMLSchema(doc)
        return self._compiled[code]


def _text(root: etree._Element, path: str) -> str:
    node = root.find("/".join(f"{{*}}{step}" for step in path.split("/")))
    return (node.text or "") if node is not None else ""


def inspect(code: str, data: bytes, xsd: XsdSet | None) -> Inspection:
    if len(data) > SIZE_LIMIT:
        return Inspection((("7002", "file larger than 20 MiB"),))
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        return Inspection((("7001", f"not well-formed XML: {error}"),))
    found = (_reference(code, root), _text(root, DATES.get(code, "-")))
    expected = f"{{urn:GEINV:eInvoiceMessage:{code}:4.1}}{ROOTS[code]}"
    if root.tag != expected:
        return Inspection((("7001", f"root {root.tag} is not {expected}"),), *found)
    problems = []
    if xsd is not None:
        schema = xsd.schema(code)
        if not schema.validate(root):
            log = cast(Iterable[_LogEntry], schema.error_log)
            problems += [("7001", f"XSD line {e.line}: {e.message}") for e in log]
    problems += [("7001", text) for text in local_rules(code, root)]
    return Inspection(tuple(problems), *found)


def _reference(code: str, root: etree._Element) -> str:
    """The number of an F/G document; for E0401/E0402 ``<BranchBan>-<InvoiceTrack><InvoiceType>``, the shape of
    their INVOICE_IDENTIFIER in Turnkey's database (domain.md §5.5a)."""
    if code in REFERENCE:
        return _text(root, REFERENCE[code])
    parts = [_text(root, f"Main/{name}").strip() for name in ("BranchBan", "InvoiceTrack", "InvoiceType")]
    return f"{parts[0]}-{parts[1]}{parts[2]}" if all(parts) else ""


def local_rules(code: str, root: etree._Element) -> list[str]:
    """Turnkey's own rules beyond the XSD (domain.md §3.1)."""
    if code != "F0401":
        path = DATES.get(code)
        return [f"{path} is required"] if path and not _text(root, path).strip() else []
    problems = _parties(root) + _print_and_carrier(root) + _donation(root)
    if not _text(root, "Main/InvoiceDate").strip():
        problems.append("Main/InvoiceDate is required")
    items = root.findall("{*}Details/{*}ProductItem")
    if not items:
        problems.append("Details must hold at least one ProductItem")
    if any(_text(item, "TaxType").strip() == "9" for item in items):
        problems.append("a ProductItem may not have TaxType 9")
    if _text(root, "Amount/TaxType").strip() == "2" and not (
            _text(root, "Main/CustomsClearanceMark").strip() and _text(root, "Main/ZeroTaxRateReason").strip()):
        problems.append("zero-rated invoices need CustomsClearanceMark and ZeroTaxRateReason")
    problems += [f"Amount/{name} must be a whole number" for name in WHOLE_AMOUNTS if not _whole(root, name)]
    return problems


def _whole(root: etree._Element, name: str) -> bool:
    text = _text(root, f"Amount/{name}").strip()
    try:
        return not text or Decimal(text) == Decimal(text).to_integral_value()
    except InvalidOperation:
        return False


def _parties(root: etree._Element) -> list[str]:
    problems = []
    if not _text(root, "Main/Seller/Address").strip():
        problems.append("Seller/Address is required")
    buyer = _text(root, "Main/Buyer/Identifier")
    if not re.fullmatch(r"[0-9]+", buyer, re.ASCII):
        problems.append("Buyer/Identifier must be digits")
    if not buyer.strip("0 "):
        if _text(root, "Main/Buyer/Name").strip() in {"0", "00", "000", "0000"}:
            problems.append("a consumer Buyer/Name may not be 0, 00, 000 or 0000")
        random = _text(root, "Main/RandomNumber").strip()
        if random and not re.fullmatch(r"[0-9]{1,4}", random, re.ASCII):
            problems.append("RandomNumber must be at most 4 digits")
    return problems


def _print_and_carrier(root: etree._Element) -> list[str]:
    mark, kind = _text(root, "Main/PrintMark").strip(), _text(root, "Main/CarrierType").strip()
    id1, id2 = _text(root, "Main/CarrierId1"), _text(root, "Main/CarrierId2")
    donated = _text(root, "Main/DonateMark").strip() == "1"
    problems = []
    if kind == "3J0002" and not (id1.strip() and id2.strip()):
        problems.append("CarrierType 3J0002 needs CarrierId1 and CarrierId2")
    if mark == "Y":
        buyer = _text(root, "Main/Buyer/Identifier").strip()
        if kind == "3J0002" and not (len(buyer) == 8 and buyer.strip("0")):
            problems.append("a printed invoice on a mobile barcode needs a business buyer")
        if kind != "3J0002" and (id1.strip() or id2.strip()):
            problems.append("a printed invoice carries no CarrierId1/CarrierId2")
        if donated:
            problems.append("a printed invoice cannot be donated")
    elif mark == "N":
        if not donated and not (kind and id1.strip() and id2.strip()):
            problems.append("an invoice that is not printed must be donated or on a carrier")
        if any(value != value.strip(SPACES) for value in (id1, id2)):
            problems.append("CarrierId1/CarrierId2 may not start or end with spaces")
    return problems


def _donation(root: etree._Element) -> list[str]:
    donated, npoban = _text(root, "Main/DonateMark").strip(), _text(root, "Main/NPOBAN").strip()
    if donated == "1" and not npoban:
        return ["DonateMark 1 needs an NPOBAN"]
    if donated == "0" and npoban:
        return ["DonateMark 0 takes no NPOBAN"]
    return []
