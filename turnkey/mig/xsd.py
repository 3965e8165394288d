"""The official MIG 4.1 XSDs, compiled from their contents (the caller reads the files; the core does no I/O).

``Schemas.from_sources({"v41/F0401.xsd": b"...", "common/GenericType_4.0.xsd": b"...", ...})`` compiles the
message schemas; ``xsd:include`` is resolved inside that mapping only (a custom lxml resolver, never the file
system or the network). Leading/trailing whitespace in ``name`` attributes is stripped in memory first:
``v41/E0402.xsd`` declares ``name=" BranchBan"`` (and E0401 ``" InvoiceBeginNo"``), which Java accepts and
libxml2 rejects.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from lxml import etree

from turnkey.errors import Problem, ResultUnreadable
from turnkey.mig.common import load, localname

SENT_CODES = ("F0401", "F0501", "F0701", "G0401", "G0501", "E0402")
"""The messages einvd writes (and therefore checks before dropping them)."""
GENERIC_TYPES = "common/GenericType_4.0.xsd"
_BASE = "mig-xsd:///"
_XSD_NS = "http://www.w3.org/2001/XMLSchema"


def schema_path(code: str) -> str:
    """The mapping key of a message schema: ``F0401`` -> ``v41/F0401.xsd``."""
    return f"v41/{code}.xsd"


def required_sources(codes: Iterable[str] = SENT_CODES) -> tuple[str, ...]:
    """The relative paths the caller must read for ``from_sources(..., codes)``."""
    return (*(schema_path(code) for code in codes), GENERIC_TYPES)


class _MappingResolver(etree.Resolver):
    """Serves ``mig-xsd:///<relative path>`` from the mapping; anything else resolves to an empty document."""

    def __init__(self, sources: Mapping[str, bytes]) -> None:
        super().__init__()
        self.sources = sources

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:
        key = posixpath.normpath(system_url.removeprefix(_BASE))
        return self.resolve_string(self.sources.get(key, b""), context, base_url=_BASE + key)


def _normalise(source: bytes) -> bytes:
    """The schema with surrounding whitespace removed from every ``name`` attribute."""
    root = load(source)
    for element in root.iter(f"{{{_XSD_NS}}}*"):
        name = element.get("name")
        if name is not None and name != name.strip():
            element.set("name", name.strip())
    return etree.tostring(root)


def _compile(key: str, sources: Mapping[str, bytes]) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    parser.resolvers.add(_MappingResolver(sources))
    try:
        document = etree.fromstring(sources[key], parser, base_url=_BASE + key)
        return etree.XMLSchema(document)
    except (KeyError, etree.XMLSchemaParseError) as exc:
        raise ValueError(f"cannot compile {key}: {exc}") from None


@dataclass(frozen=True)
class Schemas:
    """Compiled message schemas by MIG code. Not for concurrent use from several threads."""

    by_code: Mapping[str, etree.XMLSchema]

    @classmethod
    def from_sources(cls, files: Mapping[str, bytes], codes: Iterable[str] = SENT_CODES) -> Schemas:
        """Compile ``v41/<code>.xsd`` for each code; ValueError when a file is missing or does not compile."""
        try:
            sources = {key: _normalise(data) for key, data in files.items() if key.endswith(".xsd")}
        except ResultUnreadable as exc:
            raise ValueError(f"a schema file is not well-formed XML: {exc}") from None
        return cls({code: _compile(schema_path(code), sources) for code in codes})

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.by_code)

    def validate(self, code: str, xml: bytes) -> list[Problem]:
        """Problems of ``xml`` against the ``code`` schema: ``mig.xml`` (not readable) or ``mig.xsd`` ones."""
        try:
            root = load(xml)
        except ResultUnreadable as exc:
            return [Problem("mig.xml", p.field, p.message) for p in exc.problems]
        return self.validate_tree(code, root)

    def validate_tree(self, code: str, root: etree._Element) -> list[Problem]:
        """Like ``validate`` for an already parsed document; ValueError for a code without a schema."""
        schema = self.by_code.get(code)
        if schema is None:
            raise ValueError(f"no schema compiled for {code!r} (have {', '.join(self.by_code)})")
        if schema.validate(root):
            return []
        entries = cast(Iterable[Any], schema.error_log)
        return [_problem(entry, root) for entry in entries]


def _problem(entry: Any, root: etree._Element) -> Problem:
    """One libxml2 error: the field is a readable element path, the document's namespace left out."""
    message = str(entry.message).replace(f"{{{etree.QName(root).namespace}}}", "")
    return Problem("mig.xsd", _readable_path(root, str(entry.path)), f"line {entry.line}: {message}")


def _readable_path(root: etree._Element, xpath: str) -> str:
    """``/*/*[1]/*[1]`` -> ``Invoice/Main/InvoiceNumber`` (with ``[n]`` for repeated siblings)."""
    try:
        found = root.getroottree().xpath(xpath)
    except etree.XPathError:
        return xpath
    if not isinstance(found, list) or not found or not isinstance(found[0], etree._Element):
        return xpath
    steps = []
    element: etree._Element | None = found[0]
    while element is not None:
        steps.append(_step(element))
        element = element.getparent()
    return "/".join(reversed(steps))


def _step(element: etree._Element) -> str:
    parent = element.getparent()
    name = localname(element)
    if parent is None:
        return name
    same = [kid for kid in parent if kid.tag == element.tag]
    return name if len(same) == 1 else f"{name}[{same.index(element) + 1}]"
