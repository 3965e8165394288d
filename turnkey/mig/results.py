"""What comes back from the platform: SummaryResult (daily) and ProcessResult (one per uploaded message, success
included: domain.md §5.5a; what its Infos mean is decided in daemon/policy/settlement.py).

Real SummaryResult files do not follow the shipped XSDs (``ResultType`` instead of ``Result``, ``Invoice``
instead of ``Invocie``, ``ResultDetailType`` wrappers, ``yyyyMMdd`` dates), and the namespace version the
platform uses for 4.1 is unverified: both readers ignore namespaces and accept either spelling. A summary
whose Total is not Good + Failed is refused (``mig.summary.count``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lxml import etree

from turnkey.errors import Problem, ResultUnreadable
from turnkey.mig.common import Node, convert_text, find_text, load, localname, to_count, to_date, unreadable

_PARAMETERS = tuple(f"Parameter{i}" for i in range(5))


@dataclass(frozen=True)
class Routing:
    """RoutingInfo: sender and receiver party ids and routing ids."""

    from_party: str
    from_routing: str
    to_party: str
    to_routing: str


@dataclass(frozen=True)
class MessageInfo:
    """``Info`` / ``MessageInfo`` of one uploaded message."""

    id: str
    message_type: str
    size: str = ""
    service: str = ""
    action: str = ""

    @property
    def uuid(self) -> str:
        """The UUID of ``<ver>-<MIG>-<yyyyMMdd>-<HHmmssSSS>-<UUID>`` ('' for another shape of id)."""
        parts = self.id.split("-", 4)
        return parts[4] if len(parts) == 5 else ""


@dataclass(frozen=True)
class ResultInvoice:
    """One document named in a summary: invoice or allowance number and its date."""

    reference_number: str
    invoice_date: date | None


@dataclass(frozen=True)
class ResultDetail:
    """Total, Good or Failed of one message: the count and the documents listed."""

    count: int
    invoices: tuple[ResultInvoice, ...] = ()


@dataclass(frozen=True)
class SummaryMessage:
    info: MessageInfo
    total: ResultDetail
    good: ResultDetail
    failed: ResultDetail


@dataclass(frozen=True)
class SummaryResult:
    routing: Routing
    messages: tuple[SummaryMessage, ...]


@dataclass(frozen=True)
class ResultInfo:
    """One ``Result/Info`` of a ProcessResult: platform code (``00000`` success, ``Exxxx`` error)."""

    code: str
    description: str = ""
    parameters: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.code) and not self.code.strip("0")


@dataclass(frozen=True)
class ProcessResult:
    routing: Routing
    info: MessageInfo
    results: tuple[ResultInfo, ...]

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(result.ok for result in self.results)


def _open(xml: bytes, local: str) -> Node:
    root = load(xml)
    if localname(root) != local:
        raise unreadable(localname(root), f"expected a {local} document")
    return Node(root, local)


def _routing(root: etree._Element) -> Routing:
    return Routing(
        find_text(root, "RoutingInfo/From/PartyId").strip(),
        find_text(root, "RoutingInfo/FromVAC/RoutingId").strip(),
        find_text(root, "RoutingInfo/To/PartyId").strip(),
        find_text(root, "RoutingInfo/ToVAC/RoutingId").strip(),
    )


def _info(node: Node) -> MessageInfo:
    values = (node.opt(name).strip() for name in ("Id", "MessageType", "Size", "Service", "Action"))
    return MessageInfo(*values)


# --- SummaryResult ----------------------------------------------------------------------------------------


def parse_summary_result(xml: bytes) -> SummaryResult:
    """A daily SummaryResult; ResultUnreadable when malformed or when Total != Good + Failed."""
    root = _open(xml, "SummaryResult")
    lists = [Node(element, "SummaryResult/DetailList") for element in root.element.iterfind("{*}DetailList")]
    messages = tuple(_summary_message(message) for detail in lists for message in detail.nodes("Message"))
    return SummaryResult(_routing(root.element), messages)


def _summary_message(node: Node) -> SummaryMessage:
    result = node.node("ResultType" if node.has("ResultType") else "Result")
    total, good, failed = (_detail(result, name) for name in ("Total", "Good", "Failed"))
    if total.count != good.count + failed.count:
        counts = f"Total {total.count} != Good {good.count} + Failed {failed.count}"
        raise ResultUnreadable(Problem("mig.summary.count", result.path, counts))
    return SummaryMessage(_info(node.node("Info")), total, good, failed)


def _detail(result: Node, name: str) -> ResultDetail:
    """Total/Good/Failed, with or without the ``ResultDetailType`` wrapper; absent means none."""
    if not result.has(name):
        return ResultDetail(0)
    group = result.node(name)
    elements = enumerate(group.element.iter("{*}Invoice", "{*}Invocie"), 1)
    invoices = tuple(_invoice(Node(element, f"{group.path}/Invoice[{i}]")) for i, element in elements)
    count = next(group.element.iter("{*}Count"), None)
    if count is None:
        return ResultDetail(len(invoices), invoices)
    return ResultDetail(convert_text(f"{group.path}/Count", count.text or "", to_count), invoices)


def _invoice(node: Node) -> ResultInvoice:
    """ReferenceNumber and InvoiceDate (``yyyyMMdd`` as seen, or ``yyyy-MM-dd`` as the XSD says). An absent or
    empty InvoiceDate is no date: an E0402 has none (it is listed by its INVOICE_IDENTIFIER, domain.md §5.5a)."""
    dated = node.opt("InvoiceDate").strip()
    return ResultInvoice(node.opt("ReferenceNumber").strip(),
                         node.value("InvoiceDate", _lenient_date) if dated else None)


def _lenient_date(text: str) -> date:
    return to_date(text.replace("-", "") if len(text) == 10 else text)


# --- ProcessResult ----------------------------------------------------------------------------------------


def parse_process_result(xml: bytes) -> ProcessResult:
    """A ProcessResult (domain.md §5.5): routing, MessageInfo and at least one Result/Info with a Code."""
    root = _open(xml, "ProcessResult")
    infos = root.node("Result").nodes("Info")
    if not infos:
        raise unreadable("ProcessResult/Result", "a ProcessResult needs at least one Result/Info")
    results = tuple(_result_info(info) for info in infos)
    return ProcessResult(_routing(root.element), _info(root.node("MessageInfo")), results)


def _result_info(node: Node) -> ResultInfo:
    """Parameters keep their position (Parameter0 is the document's number, Parameter1 its date: domain.md §5.5a):
    one that is absent before a present one reads as ''; absent ones at the end are left out."""
    present = [i for i, name in enumerate(_PARAMETERS) if node.has(name)]
    count = present[-1] + 1 if present else 0
    parameters = tuple(node.opt(name) for name in _PARAMETERS[:count])
    return ResultInfo(node.text("Code").strip(), node.opt("Description"), parameters)
