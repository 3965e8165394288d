"""The consumer's e-mail notice text (turnkey/mail.py) and the address rule of buyer.email (turnkey/validate.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from turnkey.mail import LEFT_CID, RIGHT_CID, MailFacts, carrier_text, compose, item_rows, summary_rows
from turnkey.model import Carrier, Line
from turnkey.money import Amounts
from turnkey.period import TAIPEI
from turnkey.validate import is_email_address

AT = datetime(2026, 11, 21, 14, 3, 0, tzinfo=TAIPEI)
LINES = (Line("1", "拿鐵 <大>", Decimal("2"), Decimal("65"), Decimal("130"), unit="杯"),
         Line("2", "可頌", Decimal("1.50"), Decimal("1000"), Decimal("1500")))


def facts(**changes: object) -> MailFacts:
    base = dict(number="AB00001000", issued_at=AT, random_number="1234", seller_name="測試商店 & Co",
                seller_ban="12345676", buyer_ban=None, amounts=Amounts(1630, 0, 0, 0, 1630), items=LINES,
                carrier=None, love_code=None, qr_left="LEFT", qr_right="**")
    base.update(changes)
    return MailFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("carrier", "love", "shown"), [
    (None, None, "紙本證明聯 / 無載具"),
    (Carrier("3J0002", "/ABC+123"), None, "手機條碼 /ABC+123"),
    (Carrier("CQ0001", "AB12345678901234"), None, "自然人憑證 AB12345678901234"),
    (Carrier("EJ0113", "M-77"), None, "載具 EJ0113 M-77"),
    (None, "168001", "捐贈 (愛心碼 168001)"),
])
def test_carrier_text(carrier: Carrier | None, love: str | None, shown: str) -> None:
    assert carrier_text(carrier, love) == shown


def test_a_consumer_notice_shows_the_total_but_no_tax_split() -> None:
    rows = dict(summary_rows(facts()))
    assert rows["發票號碼"] == "AB-00001000" and rows["期別"] == "115年11-12月"
    assert rows["開立時間"] == "2026-11-21 14:03:00" and rows["隨機碼"] == "1234"
    assert rows["總計"] == "NT$ 1,630" and "稅額" not in rows and "買方統一編號" not in rows


def test_a_business_notice_shows_the_buyer_and_the_tax() -> None:
    rows = dict(summary_rows(facts(buyer_ban="53538851", amounts=Amounts(1552, 0, 0, 78, 1630))))
    assert (rows["買方統一編號"], rows["銷售額"], rows["稅額"]) == ("53538851", "1,552", "78")


def test_items_and_the_time_in_taipei() -> None:
    assert item_rows(LINES) == [("拿鐵 <大>", "2杯", "65", "130"), ("可頌", "1.5", "1,000", "1,500")]
    assert item_rows([Line("3", "折扣", Decimal("1"), Decimal("-1234.50"), Decimal("-0.5"))]) == [
        ("折扣", "1", "-1,234.5", "-0.5")]
    utc = dict(summary_rows(facts(issued_at=datetime(2026, 11, 21, 6, 3, tzinfo=TAIPEI.utc))))
    assert utc["開立時間"] == "2026-11-21 14:03:00"


def test_compose_escapes_html_and_links_both_images() -> None:
    content = compose(facts())
    assert content.subject == "電子發票開立通知 AB00001000 - 測試商店 & Co"
    assert "發票號碼: AB-00001000" in content.text and "  拿鐵 <大>  2杯 x 65 = 130" in content.text
    assert "拿鐵 &lt;大&gt;" in content.html and "測試商店 &amp; Co" in content.html and "<大>" not in content.html
    assert f'src="cid:{LEFT_CID}"' in content.html and f'src="cid:{RIGHT_CID}"' in content.html
    assert compose(facts(resend=True)).subject.startswith("(補寄) 電子發票開立通知")


@pytest.mark.parametrize(("value", "valid"), [
    ("a@b.tw", True), ("first.last+tag@example.com.tw", True), ("a@" + "b" * 398, True),
    ("a.b.tw", False), ("a@b@c", False), ("@b.tw", False), ("a@", False), ("a b@c.tw", False),
    ("a@b.tw, c@d.tw", False), ("A <a@b.tw>", False), ("a@b.tw\nBcc: x@y.tw", False),
])
def test_is_email_address(value: str, valid: bool) -> None:
    assert is_email_address(value) is valid
