"""The content of the printed slips (turnkey.proof_layout): pure, built from real validated invoices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from turnkey.model import Invoice, Party
from turnkey.period import TAIPEI
from turnkey.proof import QrCipher, proof_payloads
from turnkey.proof_layout import (
    Barcode39,
    ProofDoc,
    ProofOptions,
    QrPair,
    Rule,
    Slip,
    Text,
    display_number,
    masked_number,
    proof_doc,
    title,
)
from turnkey.validate import build_invoice, parse_document

SELLER = Party("12345676", "測試商店", "台北市信義區測試路1號")
KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
AT = datetime(2026, 11, 21, 14, 3, 9, tzinfo=TAIPEI)
LATTE = {"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65}


def invoice(**doc: Any) -> Invoice:
    draft = parse_document({"order_id": "T-1", "items": [LATTE], **doc})
    return build_invoice(draft, number="AB12345678", random_number="7213", issued_at=AT, seller=SELLER)


def doc_of(inv: Invoice, **options: Any) -> ProofDoc:
    return proof_doc(inv, proof_payloads(inv, QrCipher(KEY)), ProofOptions(**options))


def texts(slip: Slip) -> list[str]:
    return [f"{e.text}|{e.right}" if e.right else e.text for e in slip.elements if isinstance(e, Text)]


def test_titles_numbers_and_masks() -> None:
    assert title() == "電子發票證明聯"
    assert title(reprint=True) == "電子發票證明聯補印"
    assert title(test_mode=True) == "測試電子發票證明聯"
    assert title(True, True) == "測試電子發票證明聯補印"
    assert display_number("AB12345678") == "AB-12345678"
    assert masked_number("AB12345678") == "AB-12345***"


def test_consumer_proof_follows_the_official_order() -> None:
    inv = invoice()
    doc = doc_of(inv)
    assert doc.number == "AB12345678" and doc.kinds == ("proof",)
    slip = doc.slips[0]
    assert texts(slip) == [
        "測試商店", "電子發票證明聯", "115年11-12月", "AB-12345678", "2026-11-21 14:03:09",
        "隨機碼 7213|總計 130", "賣方 12345676",
    ]
    big = [e.text for e in slip.elements if isinstance(e, Text) and e.large]
    assert big == ["電子發票證明聯", "115年11-12月", "AB-12345678"]
    payloads = proof_payloads(inv, QrCipher(KEY))
    assert slip.elements[-2:] == (Barcode39(payloads.barcode), QrPair(payloads.qr_left, payloads.qr_right))
    assert payloads.barcode == "11512AB123456787213"


def test_business_buyer_gets_format_25_buyer_and_details() -> None:
    inv = invoice(buyer={"ban": "53538851", "name": "買方公司"}, remark="月結")
    doc = doc_of(inv, merchant="")
    assert doc.kinds == ("proof", "details")
    proof, details = doc.slips
    assert texts(proof)[3:6] == ["2026-11-21 14:03:09|格式 25", "隨機碼 7213|總計 137", "賣方 12345676|買方 53538851"]
    assert texts(details) == [
        "交易明細", "發票號碼 AB-12345678", "2026-11-21 14:03:09", "買方 53538851 買方公司",
        "拿鐵", "  2 杯 x 65|130", "共 1 項", "銷售額|130", "稅額|7", "總計|137", "備註 月結",
    ]
    assert sum(isinstance(e, Rule) for e in details.elements) == 2


def test_reprint_test_mode_and_consumer_details_on_request() -> None:
    doc = doc_of(invoice(), reprint=True, test_mode=True, details=True, merchant="分店")
    assert doc.kinds == ("proof", "details")
    assert texts(doc.slips[0])[:2] == ["分店", "測試電子發票證明聯補印"]
    assert texts(doc.slips[1])[1] == "交易明細補印"


def test_mixed_invoice_marks_exempt_and_zero_rated_lines() -> None:
    items = [
        {"description": "咖啡豆", "quantity": 1, "unit_price": 300},
        {"description": "鮮乳", "quantity": "1.5", "unit_price": 80, "tax_type": "3"},
        {"description": "外銷", "quantity": 1, "unit_price": 50, "tax_type": "2"},
    ]
    inv = invoice(items=items, zero_tax_rate_reason="71", customs_clearance_mark="1")
    lines = texts(doc_of(inv, details=True).slips[1])
    assert lines[4:10] == ["咖啡豆", "  1 x 300|300", "鮮乳", "  1.5 x 80|120 免稅", "外銷", "  1 x 50|50 零稅率"]
    assert lines[10:] == ["共 3 項", "免稅銷售額|120", "零稅率銷售額|50", "總計|470"]


def test_donated_invoice_gets_a_masked_information_slip() -> None:
    inv = invoice(donation={"love_code": "168001"}, print=False)
    doc = doc_of(inv)
    assert doc.kinds == ("info",)
    lines = texts(doc.slips[0])
    assert lines[:7] == [
        "測試商店", "電子發票資訊", "本聯非電子發票證明聯，不可兌獎", "115年11-12月", "發票號碼 AB-12345***",
        "2026-11-21 14:03:09", "賣方 12345676",
    ]
    assert "已捐贈 愛心碼 168001" in lines
    assert not any("7213" in line or "AB-12345678" in line for line in lines)
    assert not any(isinstance(e, Barcode39 | QrPair) for e in doc.slips[0].elements)


def test_carrier_invoices_get_an_information_slip_naming_the_carrier() -> None:
    mobile = texts(doc_of(invoice(carrier={"type": "3J0002", "id": "/ABC1234"}, print=False)).slips[0])
    assert "發票號碼 AB-12345678" in mobile and "隨機碼 7213" in mobile and "已存入載具 手機條碼" in mobile
    assert not any("/ABC1234" in line for line in mobile)
    member = doc_of(invoice(carrier={"type": "EJ0113", "id": "M0001"}, print=False), reprint=True).slips[0]
    assert "已存入載具 會員載具" in texts(member) and texts(member)[1] == "電子發票資訊補印"
