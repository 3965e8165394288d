"""The consumer's e-mail notice of an invoice: subject, plain text and HTML, written from the invoice's facts.

Pure: the caller gives the facts (number, date, random number, amounts, items, carrier or donation) and the
two QR texts (``turnkey.proof``); the QR images are attached by the caller under ``LEFT_CID``/``RIGHT_CID``,
which the HTML part shows with ``cid:`` links. The carrier id is shown as given (the consumer's own barcode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape

from turnkey.carrier import CITIZEN_CERTIFICATE, MOBILE_BARCODE
from turnkey.model import Carrier, Line
from turnkey.money import Amounts, plain
from turnkey.period import Period, taipei

LEFT_CID = "qr-left@einvd"
RIGHT_CID = "qr-right@einvd"
CARRIER_NAMES = {MOBILE_BARCODE: "手機條碼", CITIZEN_CERTIFICATE: "自然人憑證"}


@dataclass(frozen=True)
class MailFacts:
    """What the notice tells the consumer. ``buyer_ban`` is None for a consumer."""

    number: str
    issued_at: datetime
    random_number: str
    seller_name: str
    seller_ban: str
    buyer_ban: str | None
    amounts: Amounts
    items: Sequence[Line]
    carrier: Carrier | None
    love_code: str | None
    qr_left: str
    qr_right: str
    resend: bool = False


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str


def _amount(value: Decimal | int) -> str:
    """With thousands separators, no exponent, no trailing zeros: 1,630 and 1.5."""
    text = plain(value)
    whole, dot, fraction = text.lstrip("-").partition(".")
    return f"{'-' if text.startswith('-') else ''}{int(whole):,}{dot}{fraction}"


def carrier_text(carrier: Carrier | None, love_code: str | None) -> str:
    """Where the invoice went: a carrier, a donation, or the paper proof."""
    if love_code:
        return f"捐贈 (愛心碼 {love_code})"
    if carrier is None:
        return "紙本證明聯 / 無載具"
    name = CARRIER_NAMES.get(carrier.type, f"載具 {carrier.type}")
    return f"{name} {carrier.id}"


def summary_rows(facts: MailFacts) -> list[tuple[str, str]]:
    """(label, value) in the order the notice shows them."""
    at = taipei(facts.issued_at)
    rows = [("發票號碼", f"{facts.number[:2]}-{facts.number[2:]}"), ("期別", Period.of(at).label),
            ("開立時間", f"{at:%Y-%m-%d %H:%M:%S}"), ("隨機碼", facts.random_number),
            ("賣方", f"{facts.seller_name} ({facts.seller_ban})")]
    if facts.buyer_ban:
        rows.append(("買方統一編號", facts.buyer_ban))
        rows += [("銷售額", _amount(facts.amounts.sales)), ("稅額", _amount(facts.amounts.tax))]
    rows += [("總計", f"NT$ {_amount(facts.amounts.total)}"), ("載具", carrier_text(facts.carrier, facts.love_code))]
    return rows


def item_rows(items: Sequence[Line]) -> list[tuple[str, str, str, str]]:
    """(description, quantity, unit price, amount) per line."""
    return [(line.description, f"{plain(line.quantity)}{line.unit}", _amount(line.unit_price), _amount(line.amount))
            for line in items]


def compose(facts: MailFacts) -> MailContent:
    """The notice's subject, text part and HTML part."""
    prefix = "(補寄) " if facts.resend else ""
    subject = f"{prefix}電子發票開立通知 {facts.number} - {facts.seller_name}"
    summary, items = summary_rows(facts), item_rows(facts.items)
    text_lines = [f"{facts.seller_name} 已為您開立電子發票。", ""]
    text_lines += [f"{label}: {value}" for label, value in summary]
    text_lines += ["", "品項:"] + [f"  {d}  {q} x {p} = {a}" for d, q, p, a in items]
    text_lines += ["", "發票 QR Code 見附件 (左: qr-left.png, 右: qr-right.png)。", ""]
    html_rows = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in summary)
    html_items = "".join(f"<tr><td>{escape(d)}</td><td>{escape(q)}</td><td>{escape(p)}</td><td>{escape(a)}</td></tr>"
                         for d, q, p, a in items)
    html = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{escape(subject)}</title></head><body>"
            f"<p>{escape(facts.seller_name)} 已為您開立電子發票。</p><table>{html_rows}</table>"
            f"<table><tr><th>品名</th><th>數量</th><th>單價</th><th>金額</th></tr>{html_items}</table>"
            f"<p><img src=\"cid:{LEFT_CID}\" alt=\"QR left\"> <img src=\"cid:{RIGHT_CID}\" alt=\"QR right\"></p>"
            "</body></html>")
    return MailContent(subject, "\n".join(text_lines), html)
