"""E0402 空白未使用字軌檔 (root ``BranchTrackBlank``): Main + Details of blank ranges."""

from __future__ import annotations

from lxml import etree

from turnkey.mig.common import Node, fill, new_root, qualifier
from turnkey.model import BlankReport
from turnkey.numbers import parse_eight
from turnkey.period import Period

CODE = "E0402"
ROOT = "BranchTrackBlank"
Q = qualifier(CODE)


def build(report: BlankReport) -> etree._Element:
    root = new_root(CODE, ROOT)
    sub = etree.SubElement
    main = (
        ("HeadBan", report.head_ban),
        ("BranchBan", report.branch_ban),
        ("InvoiceType", report.invoice_type),
        ("YearMonth", report.period.code),
        ("InvoiceTrack", report.track),
    )
    fill(sub(root, Q + "Main"), Q, main)
    details = sub(root, Q + "Details")
    for begin, end in report.ranges:
        item = sub(details, Q + "BranchTrackBlankItem")
        fill(item, Q, (("InvoiceBeginNo", f"{begin:08d}"), ("InvoiceEndNo", f"{end:08d}")))
    return root


def read(root: Node) -> BlankReport:
    main = root.node("Main")
    return BlankReport(
        head_ban=main.text("HeadBan"),
        branch_ban=main.text("BranchBan"),
        invoice_type=main.text("InvoiceType"),
        period=main.value("YearMonth", Period.parse),
        track=main.text("InvoiceTrack"),
        ranges=tuple(_read_range(item) for item in root.node("Details").nodes("BranchTrackBlankItem")),
    )


def _read_range(item: Node) -> tuple[int, int]:
    return item.value("InvoiceBeginNo", parse_eight), item.value("InvoiceEndNo", parse_eight)
