"""E0501 營業人電子發票配號檔: the number ranges the platform allocated to a business.

Turnkey leaves it under ``Unpack/BAK/E0501/...`` as an ``InvoiceEnvelope`` whose ``InvoicePack`` holds
``InvoiceAssignNo`` elements (namespace ``urn:GEINV:E0501:4.0``; the envelope's version is unverified), so the
reader ignores namespaces and also accepts a bare ``InvoiceAssignNo`` document.
"""

from __future__ import annotations

from dataclasses import dataclass

from turnkey.mig.common import Node, load, localname, to_count, unreadable
from turnkey.numbers import TrackRange, parse_eight
from turnkey.period import Period

ROOT = "InvoiceAssignNo"


@dataclass(frozen=True)
class Allocation:
    """One allocated range and the BAN it belongs to; ``booklets`` counts the 50-number booklets."""

    ban: str
    range: TrackRange
    booklets: int


def parse_e0501(xml: bytes) -> list[Allocation]:
    """Every ``InvoiceAssignNo`` of the file, in document order; ResultUnreadable when there is none."""
    root = load(xml)
    elements = [root] if localname(root) == ROOT else list(root.iter("{*}" + ROOT))
    if not elements:
        raise unreadable(localname(root), f"no {ROOT} in this file")
    return [_allocation(Node(element, f"{ROOT}[{i}]")) for i, element in enumerate(elements, 1)]


def _allocation(node: Node) -> Allocation:
    period = node.value("YearMonth", Period.parse)
    kind, track = node.text("InvoiceType").strip(), node.text("InvoiceTrack").strip()
    begin, end = node.value("InvoiceBeginNo", parse_eight), node.value("InvoiceEndNo", parse_eight)
    try:
        span = TrackRange(period, kind, track, begin, end)
    except ValueError as exc:
        raise unreadable(node.path, str(exc)) from None
    return Allocation(node.text("Ban").strip(), span, node.value("InvoiceBooklet", to_count))
