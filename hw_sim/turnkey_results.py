"""The result files a Turnkey leaves after a download cycle, shaped as domain.md §5.5/§5.5a describe real ones
(not as einvd's parser expects them): SummaryResult with ``ResultType`` / ``ResultDetailType`` / ``Invoices``
and ``yyyyMMdd`` dates; ProcessResult per the 4.0 XSD with the ``No. <n>`` / Parameter0 / Parameter1 use that
Turnkey 3.2.0's ``Unpack.distributeProcessResult`` reads (§5.5a).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lxml import etree

SUMMARY_NS = "urn:GEINV:SummaryResult:3.0"
PROCESS_NS = "urn:GEINV:ProcessResult:4.0"
SUCCESS = ("00000", "處理成功")
"""domain.md §3.2: the platform's success code."""


@dataclass(frozen=True)
class Verdict:
    """One document in a message: accepted by the platform, or refused with a code."""

    reference: str
    date: str
    code: str = ""
    description: str = ""

    @property
    def good(self) -> bool:
        return not self.code


def _sub(parent: etree._Element, ns: str, tag: str, text: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        node.text = text
    return node


def _routing(root: etree._Element, ns: str, party: str) -> None:
    routing = _sub(root, ns, "RoutingInfo")
    for tag, value in (("From", party), ("FromVAC", "SIMTURNKEY"), ("To", "0"), ("ToVAC", "0")):
        _sub(_sub(routing, ns, tag), ns, "PartyId" if tag in ("From", "To") else "RoutingId", value)


def _info(parent: etree._Element, ns: str, tag: str, message_id: str, code: str, size: int) -> None:
    info = _sub(parent, ns, tag)
    for name, value in (("Id", message_id), ("Size", str(size)), ("MessageType", code), ("Service", "S"),
                        ("Action", code)):
        _sub(info, ns, name, value)


def _detail(parent: etree._Element, tag: str, verdicts: Sequence[Verdict]) -> None:
    wrapper = _sub(_sub(parent, SUMMARY_NS, tag), SUMMARY_NS, "ResultDetailType")
    _sub(wrapper, SUMMARY_NS, "Count", str(len(verdicts)))
    invoices = _sub(wrapper, SUMMARY_NS, "Invoices")
    for verdict in verdicts:
        item = _sub(invoices, SUMMARY_NS, "Invoice")
        _sub(item, SUMMARY_NS, "ReferenceNumber", verdict.reference)
        _sub(item, SUMMARY_NS, "InvoiceDate", verdict.date)


def _root(ns: str, tag: str) -> etree._Element:
    """A root element with ``ns`` as the default namespace."""
    # lxml-stubs types nsmap as Mapping[str, str], but lxml takes None as the default namespace's prefix
    return etree.Element(f"{{{ns}}}{tag}", nsmap={None: ns})  # type: ignore[dict-item]


def summary_result(party: str, messages: Iterable[tuple[str, str, Sequence[Verdict]]]) -> bytes:
    """One SummaryResult for ``(message id, code, verdicts)`` triples."""
    root = _root(SUMMARY_NS, "SummaryResult")
    _routing(root, SUMMARY_NS, party)
    details = _sub(root, SUMMARY_NS, "DetailList")
    for message_id, code, verdicts in messages:
        message = _sub(details, SUMMARY_NS, "Message")
        _info(message, SUMMARY_NS, "Info", message_id, code, len(verdicts))
        result = _sub(message, SUMMARY_NS, "ResultType")
        _detail(result, "Total", verdicts)
        _detail(result, "Good", [v for v in verdicts if v.good])
        _detail(result, "Failed", [v for v in verdicts if not v.good])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def process_result(party: str, message_id: str, code: str, size: int,
                   infos: Sequence[tuple[str, str, Sequence[str]]]) -> bytes:
    """A ProcessResult as Turnkey 3.2.0's ``Unpack.distributeProcessResult`` reads one (domain.md §5.5a): one per
    uploaded message; ``infos`` are ``(Code, Description, (Parameter0, ...))``: ``00000`` alone for success,
    one ``No. <n> ...`` Info per failed document (Parameter0 its number, Parameter1 its date), or a single Info
    without ``No.`` for a failure of the whole message."""
    root = _root(PROCESS_NS, "ProcessResult")
    _routing(root, PROCESS_NS, party)
    _info(root, PROCESS_NS, "MessageInfo", message_id, code, size)
    result = _sub(root, PROCESS_NS, "Result")
    for info_code, description, parameters in infos:
        info = _sub(result, PROCESS_NS, "Info")
        _sub(info, PROCESS_NS, "Code", info_code)
        _sub(info, PROCESS_NS, "Description", description)
        for i, value in enumerate(parameters):
            _sub(info, PROCESS_NS, f"Parameter{i}", value)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
