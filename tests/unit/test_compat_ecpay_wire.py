"""ECPay's envelope and field mapping, pure (daemon/compat/ecpay_wire.py). The wire facts come from ECPay's
documentation as the field notes §1.6/§3.1 record them; the ciphertexts are built here with ``cryptography``
directly, not with the module under test."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daemon.compat import ecpay_wire as wire
from turnkey.validate import parse_document

KEYS = wire.Keys.of("2000132", "ejCk326UnaZWKisg", "q9jcZX8Ib9LM8wYk")
NOW = 1_800_000_000.0


def seal(text: str, key: bytes = KEYS.key, iv: bytes = KEYS.iv, pad: bool = True) -> str:
    data = text.encode("latin-1")
    if pad:
        padder = padding.PKCS7(128).padder()
        data = padder.update(data) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def envelope(data: str, merchant: str = "2000132", stamp: Any = int(NOW)) -> bytes:
    return json.dumps({"MerchantID": merchant, "RqHeader": {"Timestamp": stamp, "Revision": "3.0.0"},
                       "Data": data}).encode()


PAYLOAD = {"MerchantID": "2000132", "Name": "Mary Ann (測試)!*~", "ID": "A+B/C"}


TEXT = json.dumps(PAYLOAD, ensure_ascii=False)


@pytest.mark.parametrize("encoded", [
    quote_plus(TEXT, safe=""),  # PHP urlencode: '+', upper hex
    re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote_plus(TEXT, safe="!*()")),  # .NET: lower hex
    quote(TEXT, safe="-_.!~*'()"),  # JS encodeURIComponent: %20
    quote(json.dumps(PAYLOAD), safe="/"),  # Python quote, \\u escapes in the JSON
], ids=["php", "dotnet", "js", "python"])
def test_every_clients_urlencode_decrypts_to_the_same_payload(encoded: str) -> None:
    assert wire.open_envelope(KEYS, envelope(seal(encoded)), NOW) == PAYLOAD


def test_the_answer_is_php_style_and_round_trips() -> None:
    answer = wire.answer(KEYS, NOW, {"RtnCode": 1, "InvoiceDate": "2026-11-21 14:03:00", "Tilde": "~"})
    assert (answer["MerchantID"], answer["RpHeader"], answer["TransCode"], answer["TransMsg"]) == (
        "2000132", {"Timestamp": int(NOW)}, 1, "")
    dec = Cipher(algorithms.AES(KEYS.key), modes.CBC(KEYS.iv)).decryptor()
    raw = dec.update(base64.b64decode(answer["Data"])) + dec.finalize()
    text = raw[:-raw[-1]].decode()
    assert "2026-11-21+14%3A03%3A00" in text and "%7E" in text and "%20" not in text
    assert wire.decrypt(KEYS, answer["Data"]) == {"RtnCode": 1, "InvoiceDate": "2026-11-21 14:03:00", "Tilde": "~"}
    assert wire.answer(KEYS, NOW, None, wire.STALE)["Data"] == ""


@pytest.mark.parametrize(("body", "code"), [
    (b"not json", 0), (b"[]", 0), (json.dumps({"MerchantID": "2000132"}).encode(), 0),
    (envelope("x", merchant="3085676"), 115),
    (envelope("x", stamp=int(NOW) - 601), 104), (envelope("x", stamp=int(NOW) + 601), 104),
    (envelope("x", stamp="soon"), 104), (envelope(""), 111), (envelope("   "), 111),
    (envelope("%%%"), 110),  # not base64
    (envelope(base64.b64encode(b"0" * 15).decode()), 110),  # not whole AES blocks
    (envelope(seal("%7B", key=b"A123456789012345")), 110),  # another key: the padding does not check out
    (envelope(seal("not-json")), 110), (envelope(seal("%5B1%5D")), 110),  # JSON, but not an object
    (envelope(seal("%FF%FE")), 110),  # not UTF-8 once decoded
])
def test_transport_refusals(body: bytes, code: int) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.open_envelope(KEYS, body, NOW)
    assert caught.value.trans_code == code


def test_the_window_is_ten_minutes_either_way() -> None:
    assert wire.open_envelope(KEYS, envelope(seal("%7B%7D"), stamp=str(int(NOW) - 600)), NOW) == {}
    assert wire.open_envelope(KEYS, envelope(seal("%7B%7D"), stamp=int(NOW) + 600), NOW) == {}


def test_another_merchant_inside_data_is_refused() -> None:
    with pytest.raises(wire.Refused, match="特店編號不存在"):
        wire.open_envelope(KEYS, envelope(seal(quote_plus('{"MerchantID":"1"}'))), NOW)


def test_keys_must_be_ecpays_16_ascii_characters() -> None:
    for key, iv in (("short", "q9jcZX8Ib9LM8wYk"), ("ejCk326UnaZWKisg", "x" * 17), ("ejCk326UnaZWKis綠", "q" * 16)):
        with pytest.raises(ValueError, match="16 ASCII"):
            wire.Keys.of("1", key, iv)


def test_field_readers() -> None:
    assert wire.text({"A": None}, "A") == "" and wire.text({"A": 12}, "A") == "12"
    for bad, message in (({"A": True}, "must be a string"), ({"A": []}, "must be a string"),
                         ({}, "required"), ({"A": "x" * 201}, "longer than 200")):
        with pytest.raises(wire.Refused, match=message):
            wire.text(bad, "A", required=True)
    assert wire.number({"N": "65.5"}, "N") == Decimal("65.5") and wire.number({"N": 2}, "N") == 2
    for bad in ({}, {"N": ""}, {"N": True}, {"N": "x"}, {"N": "NaN"}, {"N": 10**13}, {"N": "-1e30"}):
        with pytest.raises(wire.Refused, match="N"):
            wire.number(bad, "N")
    assert wire.invoice_date({"InvoiceDate": "2026/06/17"}) == "2026-06-17"
    assert wire.invoice_date({"InvoiceDate": "2026-06-17+10:00:00"}) == "2026-06-17"
    with pytest.raises(wire.Refused, match="yyyy-MM-dd"):
        wire.invoice_date({"InvoiceDate": "17.06.2026"})
    assert wire.choice({}, "C", ("0", "1"), "0") == "0"
    with pytest.raises(wire.Refused, match="one of"):
        wire.choice({"C": "2"}, "C", ("0", "1"), "0")


def sale(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"RelateNumber": "R1", "Print": "1", "Donation": "0", "CarrierType": "", "TaxType": "1",
                            "SalesAmount": 185, "InvType": "07", "vat": "1",
                            "Items": [{"ItemName": "拿鐵", "ItemCount": 2, "ItemWord": "杯", "ItemPrice": 65,
                                       "ItemAmount": 130, "ItemRemark": "熱"},
                                      {"ItemName": "可頌", "ItemCount": 1, "ItemPrice": 55, "ItemAmount": 55}]}
    data.update(extra)
    return data


def test_a_plain_sale_is_einvds_document() -> None:
    doc = wire.issue_document(sale(CustomerEmail="a@b.tw", CustomerName="王", InvoiceRemark="備註"))
    assert doc == {"order_id": "R1", "buyer": {"name": "王", "email": "a@b.tw"}, "print": True, "invoice_type": "07",
                   "tax_type": "1", "remark": "備註", "amounts": {"total": 185}, "items": [
                       {"description": "拿鐵", "quantity": "2", "unit": "杯", "tax_type": "1", "unit_price": "65",
                        "amount": "130", "remark": "熱"},
                       {"description": "可頌", "quantity": "1", "tax_type": "1", "unit_price": "55", "amount": "55"}]}
    assert parse_document(doc).amounts.total == 185


def test_carriers_donations_and_their_refusals() -> None:
    assert wire.issue_document(sale(Print="0", CarrierType="3", CarrierNum="/ABC 123"))["carrier"] == {
        "type": "3J0002", "id": "/ABC+123"}  # a '+' a client forgot to encode arrives as a space
    assert wire.issue_document(sale(Print="0", CarrierType="2", CarrierNum="AB12345678901234"))["carrier"] == {
        "type": "CQ0001", "id": "AB12345678901234"}
    donated = wire.issue_document(sale(Print="0", Donation="1", LoveCode="168001"))
    assert donated["donation"] == {"love_code": "168001"} and donated["print"] is False
    for extra, message in (
        ({"CarrierType": "1"}, "CarrierType 1"), ({"CarrierType": "", "CarrierNum": "/ABC1234"}, "CarrierNum"),
        ({"CarrierType": "3"}, "needs CarrierNum"), ({"Donation": "1"}, "needs LoveCode"),
        ({"LoveCode": "168001"}, "only for Donation 1"), ({"Items": []}, "Items"), ({"Items": ["x"]}, "Items\\[0\\]"),
        ({"RelateNumber": "R" * 41}, "40"), ({"SalesAmount": "185.5"}, "whole"), ({"SalesAmount": 0}, "whole"),
        ({"TaxType": "9"}, "needs ItemTaxType"),
        ({"InvType": "08", "TaxType": "3", "SpecialTaxType": "8"}, "InvType 08"),
        ({"InvType": "08", "TaxType": "4", "SpecialTaxType": "4"}, "SpecialTaxType 4"),
        ({"TaxType": "4"}, "InvType 08"), ({"SpecialTaxType": "1"}, "InvType 08"),
    ):
        with pytest.raises(wire.Refused, match=message):
            wire.issue_document(sale(**extra))


def test_tax_types_and_vat() -> None:
    zero = wire.issue_document(sale(TaxType="2", ClearanceMark="1", ZeroTaxRateReason="71"))
    assert (zero["customs_clearance_mark"], zero["zero_tax_rate_reason"]) == ("1", "71")
    assert "zero_tax_rate_reason" not in wire.issue_document(sale(TaxType="2", ClearanceMark="2"))
    assert wire.issue_document(sale(InvType="08", TaxType="4", SpecialTaxType="2"))["tax_rate"] == "0.15"
    mixed = wire.issue_document(sale(TaxType="9", Items=[
        {"ItemName": "a", "ItemCount": 1, "ItemPrice": 100, "ItemAmount": 100, "ItemTaxType": "1"},
        {"ItemName": "b", "ItemCount": 1, "ItemPrice": 85, "ItemAmount": 85, "ItemTaxType": "3"}]))
    assert [i["tax_type"] for i in mixed["items"]] == ["1", "3"]
    # a consumer's tax-exclusive prices (vat 0) become inclusive; a business buyer's inclusive ones untaxed
    plus = wire.issue_document(sale(vat="0", SalesAmount=210, Items=[
        {"ItemName": "a", "ItemCount": 2, "ItemPrice": 100, "ItemAmount": 200}]))
    assert (plus["items"][0]["unit_price"], plus["items"][0]["amount"]) == ("105", "210")
    assert parse_document(plus).amounts.total == 210
    business = wire.issue_document(sale(CustomerIdentifier="53538851"))
    assert business["items"][1]["unit_price"] == "52.3809524" and business["buyer"] == {"ban": "53538851"}
    assert parse_document(business).amounts.as_dict() == {"sales": 176, "free_tax_sales": 0, "zero_tax_sales": 0,
                                                          "tax": 9, "total": 185}
    assert "amount" not in business["items"][0] or Decimal(business["items"][0]["amount"]) == Decimal(
        business["items"][0]["unit_price"]) * 2
    odd = wire.issue_document(sale(CustomerIdentifier="53538851", Items=[
        {"ItemName": "a", "ItemCount": 3, "ItemPrice": 10, "ItemAmount": 30}], SalesAmount=30))
    assert "amount" not in odd["items"][0]  # 3 x 9.5238095 is not 28.5714286: the count x price is kept
    special = wire.issue_document(sale(InvType="08", TaxType="4", SpecialTaxType="1", vat="0"))
    assert special["items"][0]["unit_price"] == "65"  # special tax: prices as sent


def test_einvd_fields_in_ecpays_names() -> None:
    assert wire.ecpay_field("items[1].amount") == "Items[1].ItemAmount"
    assert wire.ecpay_field("items[0].whatever") == "Items[0].whatever"
    assert wire.ecpay_field("buyer.ban") == "CustomerIdentifier"
    assert wire.ecpay_field("issued_at") == "issued_at"
    assert str(wire.refused(wire.DUPLICATE)) == wire.DUPLICATE[1]
