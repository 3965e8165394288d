"""Shared plumbing of the MIG 4.1 messages: namespaces, safe parsing, building and reading helpers.

Building: every message module lists its children as ``(local name, text)`` pairs in the emit order of the
official samples; a text of ``None`` means "omit" (optional and empty), an empty string is still emitted.

Reading: ``Node`` wraps a parsed element and finds its children by local name (``xsd:all`` leaves their order
free); every failure is a ``ResultUnreadable`` with the code ``mig.unreadable`` and the element path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import TypeVar

from lxml import etree

from turnkey.errors import Problem, ResultUnreadable
from turnkey.model import Party
from turnkey.money import parse_decimal, plain
from turnkey.period import TAIPEI, taipei

XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{{{XSI}}}schemaLocation"
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
UNREADABLE = "mig.unreadable"
VERSION = "4.1"

_DATE = re.compile(r"[0-9]{8}", re.ASCII)
_COUNT = re.compile(r"[0-9]{1,18}", re.ASCII)
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)
_PARTY_TAGS = (
    "Identifier", "Name", "Address", "PersonInCharge", "TelephoneNumber", "FacsimileNumber", "EmailAddress",
    "CustomerNumber", "RoleRemark",
)  # fmt: skip
_T = TypeVar("_T")

PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True, remove_pis=True
)
"""The one parser for untrusted input: no entity expansion, no network, libxml2's size limits."""

Fields = Iterable[tuple[str, str | None]]


def namespace(code: str) -> str:
    """``F0401`` -> ``urn:GEINV:eInvoiceMessage:F0401:4.1``."""
    return f"urn:GEINV:eInvoiceMessage:{code}:{VERSION}"


def qualifier(code: str) -> str:
    """The Clark-notation prefix of the message's tags: ``{urn:...:F0401:4.1}``."""
    return f"{{{namespace(code)}}}"


def localname(element: etree._Element) -> str:
    return element.tag.rpartition("}")[2]


def unreadable(field: str, message: str) -> ResultUnreadable:
    return ResultUnreadable(Problem(UNREADABLE, field, message))


def load(xml: bytes) -> etree._Element:
    """Parse untrusted bytes into the root element; a DOCTYPE (entities, XXE) is refused outright."""
    try:
        root = etree.fromstring(xml, PARSER)
    except etree.XMLSyntaxError as exc:
        raise unreadable("", f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise unreadable("", "a DOCTYPE is not allowed (no DTDs or entities in MIG files)")
    return root


# --- building ---------------------------------------------------------------------------------------------


def new_root(code: str, local: str) -> etree._Element:
    """The root element in the default namespace, with ``xsi:schemaLocation`` like the official samples."""
    ns = namespace(code)
    nsmap = {None: ns, "xsi": XSI}
    root = etree.Element(f"{{{ns}}}{local}", nsmap=nsmap)  # type: ignore[arg-type]
    root.set(SCHEMA_LOCATION, f"{ns} {code}.xsd")
    return root


def fill(parent: etree._Element, q: str, fields: Fields) -> None:
    """Append ``<q+local>text</q+local>`` for every pair whose text is not None."""
    sub = etree.SubElement
    for local, text in fields:
        if text is not None:
            sub(parent, q + local).text = text


def opt(text: str) -> str | None:
    """An optional string: omitted when empty."""
    return text or None


def num(value: Decimal | int) -> str:
    """``money.plain(value)`` (no exponent, no trailing zeros), with a fast path for the usual numbers."""
    text = str(value)
    if "E" in text:
        return plain(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def opt_num(value: Decimal | None) -> str | None:
    return None if value is None else num(value)


def ymd(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def stamp(prefix: str, at: datetime) -> Fields:
    """``<prefix>Date`` and ``<prefix>Time`` of ``at`` in Taipei time."""
    local = taipei(at)
    clock = f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    return ((prefix + "Date", ymd(local)), (prefix + "Time", clock))


def add_party(parent: etree._Element, q: str, local: str, party: Party) -> None:
    """Seller or Buyer: an ``xsd:sequence``, so the order of ``_PARTY_TAGS`` matters."""
    values = (
        party.identifier, party.name, opt(party.address), opt(party.person_in_charge), opt(party.telephone),
        opt(party.facsimile), opt(party.email), opt(party.customer_number), opt(party.role_remark),
    )  # fmt: skip
    fill(etree.SubElement(parent, q + local), q, zip(_PARTY_TAGS, values, strict=True))


def serialize(root: etree._Element) -> bytes:
    """UTF-8, XML declaration, no BOM, indented for people reading the Turnkey folders."""
    return DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)


# --- reading ----------------------------------------------------------------------------------------------


class Node:
    """A parsed element with its child elements by local name (the first one of each name)."""

    __slots__ = ("element", "kids", "path")

    def __init__(self, element: etree._Element, path: str) -> None:
        self.element = element
        self.path = path
        self.kids: dict[str, etree._Element] = {}
        for kid in element:
            self.kids.setdefault(localname(kid), kid)

    def text(self, name: str) -> str:
        """A required child's text ('' when the element is present but empty)."""
        return self._required(name).text or ""

    def opt(self, name: str) -> str:
        """An optional child's text, '' when absent."""
        kid = self.kids.get(name)
        return "" if kid is None else kid.text or ""

    def has(self, name: str) -> bool:
        return name in self.kids

    def node(self, name: str) -> Node:
        return Node(self._required(name), f"{self.path}/{name}")

    def nodes(self, name: str) -> list[Node]:
        """Every child called ``name``, paths indexed from 1 like XPath."""
        kids = [kid for kid in self.element if localname(kid) == name]
        return [Node(kid, f"{self.path}/{name}[{i}]") for i, kid in enumerate(kids, 1)]

    def value(self, name: str, convert: Callable[[str], _T]) -> _T:
        """A required child converted by ``convert``; its ValueError becomes ``mig.unreadable``."""
        return convert_text(f"{self.path}/{name}", self.text(name), convert)

    def opt_value(self, name: str, convert: Callable[[str], _T]) -> _T | None:
        return self.value(name, convert) if name in self.kids else None

    def _required(self, name: str) -> etree._Element:
        kid = self.kids.get(name)
        if kid is None:
            raise unreadable(f"{self.path}/{name}", f"required element {name} is missing")
        return kid


def convert_text(field: str, text: str, convert: Callable[[str], _T]) -> _T:
    """``convert(text.strip())``; a ValueError becomes ``mig.unreadable`` about ``field``."""
    try:
        return convert(text.strip())
    except ValueError as exc:
        raise unreadable(field, f"bad value {text!r}: {exc}") from None


def find_text(element: etree._Element, path: str) -> str:
    """The text at ``A/B/C`` below ``element`` whatever the namespaces, '' when absent."""
    return element.findtext("/".join("{*}" + step for step in path.split("/"))) or ""


def to_decimal(text: str) -> Decimal:
    return parse_decimal(text)


def to_whole(text: str) -> int:
    """An integral decimal (``875`` or ``875.0``) as an int."""
    number = parse_decimal(text)
    if number != number.to_integral_value():
        raise ValueError("must be a whole number")
    return int(number)


def to_count(text: str) -> int:
    """A non-negative count written in ASCII digits."""
    if not _COUNT.fullmatch(text):
        raise ValueError("must be a whole number of digits")
    return int(text)


def to_date(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise ValueError("date must be yyyyMMdd")
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def to_time(text: str) -> time:
    if not _TIME.fullmatch(text):
        raise ValueError("time must be HH:mm:ss")
    return time(int(text[:2]), int(text[3:5]), int(text[6:]))


def read_moment(node: Node, prefix: str) -> datetime:
    """``<prefix>Date`` + ``<prefix>Time`` as an aware Taipei datetime."""
    day, clock = node.value(prefix + "Date", to_date), node.value(prefix + "Time", to_time)
    return datetime.combine(day, clock, TAIPEI)


def read_party(node: Node) -> Party:
    values = [node.text(tag) for tag in _PARTY_TAGS[:2]] + [node.opt(tag) for tag in _PARTY_TAGS[2:]]
    return Party(*values)
