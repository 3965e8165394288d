"""The ezPay wire format, pure: padding, decryption refusals, the form and field rules, the document it builds."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.compat import ezpay_wire as wire
from daemon.compat.ezpay_wire import Refused

KEYS = wire.Keys.of("3622183", "abcdefghijklmnopqrstuvwxyzabcdef", "1234567891234567")


def sale(**extra: str) -> dict[str, str]:
    fields = {"MerchantOrderNo": "A_1", "Status": "1", "Category": "B2C", "PrintFlag": "Y", "TaxType": "1",
              "TaxRate": "5", "Amt": "124", "TaxAmt": "6", "TotalAmt": "130", "ItemName": "拿鐵", "ItemCount": "2",
              "ItemUnit": "杯", "ItemPrice": "65", "ItemAmt": "130"}
    fields.update(extra)
    return fields


def code_of(call: Any) -> str:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code


@pytest.mark.parametrize("length", range(0, 65))
def test_the_php_padding_round_trips_at_every_length(length: int) -> None:
    text = "x" * length
    padded = wire.pad(text.encode())
    assert len(padded) % 32 == 0 and 1 <= padded[-1] <= 32
    assert wire.decrypt(KEYS, wire.encrypt(KEYS, text)) == text


@pytest.mark.parametrize("tail", [b"", b"\x00", b"\x21" * 33, b"ab\x03\x03", b"\x05\x05\x05\x05"])
def test_a_bad_pad_is_refused(tail: bytes) -> None:
    with pytest.raises(ValueError):
        wire.unpad(tail)


@pytest.mark.parametrize("hex_text", ["", "zz", "00" * 15, "00" * 32, wire.encrypt(KEYS, "a=1")[:-32] + "00" * 16])
def test_what_does_not_decrypt_is_key10002(hex_text: str) -> None:
    assert code_of(lambda: wire.decrypt(KEYS, hex_text)) == "KEY10002"


def test_keys_are_32_and_16_ascii_bytes() -> None:
    with pytest.raises(ValueError):
        wire.Keys.of("1", "short", "1234567891234567")
    with pytest.raises(ValueError):
        wire.Keys.of("1", "é" * 16, "1234567891234567")


def test_the_form_and_its_envelope_rules() -> None:
    assert wire.form("a=1+2&b=%E6%8B%BF&c=") == {"a": "1 2", "b": "拿", "c": ""}
    assert wire.form("") == {}
    assert code_of(lambda: wire.form("a=%FF")) == "KEY10002"
    assert code_of(lambda: wire.form("novalue")) == "KEY10002"
    assert code_of(lambda: wire.check_time({}, 100.0)) == "INV10004"
    assert code_of(lambda: wire.check_time({"TimeStamp": "1"}, 1802.0)) == "KEY10007"
    wire.check_time({"TimeStamp": "2"}, 1802.0)
    wire.check_respond_type({"RespondType": "json"})
    assert code_of(lambda: wire.check_respond_type({"RespondType": "String"})) == "EIN10001"


def test_the_consumer_document() -> None:
    doc = wire.issue_document(sale(BuyerName="消費者", BuyerEmail="a@b.tw", Comment="備註"))
    assert doc == {"order_id": "A_1", "buyer": {"email": "a@b.tw"}, "print": True, "tax_type": "1",
                   "items": [{"description": "拿鐵", "quantity": "2", "unit_price": "65", "amount": "130",
                              "tax_type": "1", "unit": "杯"}], "amounts": {"total": 130}, "remark": "備註"}
    assert "buyer" not in wire.issue_document(sale())


def test_the_business_document_keeps_the_tax() -> None:
    doc = wire.issue_document(sale(Category="B2B", BuyerUBN="04595257", BuyerName="公司", Amt="130", TaxAmt="7",
                                   TotalAmt="137"))
    assert doc["buyer"] == {"ban": "04595257", "name": "公司"} and doc["amounts"] == {"tax": 7, "total": 137}


def test_carriers_and_donation() -> None:
    assert wire.issue_document(sale(CarrierType="0", CarrierNum="/ABC 12."))["carrier"] == {
        "type": "3J0002", "id": "/ABC+12."}  # a '+' sent unencoded arrives as a space
    assert wire.issue_document(sale(CarrierType="1", CarrierNum="AB12345678901234"))["carrier"]["type"] == "CQ0001"
    assert wire.issue_document(sale(LoveCode="919"))["donation"] == {"love_code": "919"}
    assert code_of(lambda: wire.issue_document(sale(CarrierType="2", CarrierNum="x"))) == "EIN10001"
    assert code_of(lambda: wire.issue_document(sale(CarrierNum="x"))) == "INV10004"
    assert code_of(lambda: wire.issue_document(sale(CarrierType="0"))) == "INV10004"
    assert code_of(lambda: wire.issue_document(sale(Category="B2B", BuyerUBN="04595257", BuyerName="公司",
                                                    CarrierType="0", CarrierNum="/ABC1234"))) == "INV10004"


@pytest.mark.parametrize(("extra", "code"), [
    ({"Status": "0"}, "EIN10001"), ({"Status": "3"}, "EIN10001"), ({"Status": "2"}, "INV10004"),
    ({"MerchantOrderNo": ""}, "INV10004"), ({"MerchantOrderNo": "x" * 21}, "INV10004"),
    ({"MerchantOrderNo": "a-b"}, "INV10004"), ({"Category": "B2B"}, "INV10004"), ({"BuyerUBN": "04595257"}, "INV10004"),
    ({"TaxType": "4"}, "INV10004"), ({"TaxRate": ""}, "INV10004"), ({"TaxType": "3", "TaxRate": "5"}, "INV10004"),
    ({"PrintFlag": "X"}, "INV10004"), ({"ItemUnit": ""}, "INV10003"), ({"ItemCount": "2|1"}, "INV10003"),
    ({"ItemPrice": "abc"}, "INV10003"), ({"ItemName": " "}, "INV10003"), ({"ItemAmt": "1e20"}, "INV10003"),
    ({"Amt": "1.5"}, "INV10012"), ({"TaxAmt": "-1"}, "INV10012"), ({"TotalAmt": "131"}, "INV10012"),
    ({"TotalAmt": ""}, "INV10012"), ({"TaxType": "9", "ItemTaxType": "4"}, "INV10004"),
    ({"Comment": "x" * 201}, "INV10004"),
])
def test_each_refusal_has_ezpays_code(extra: dict[str, str], code: str) -> None:
    assert code_of(lambda: wire.issue_document(sale(**extra))) == code


def test_taxrate_forms_and_mixed_lines() -> None:
    assert wire.issue_document(sale(TaxRate="5.0"))["tax_type"] == "1"
    doc = wire.issue_document(sale(TaxType="9", ItemName="a|b", ItemCount="1|1", ItemUnit="個|個", ItemPrice="1|2",
                                   ItemAmt="1|2", ItemTaxType="1|3", Amt="3", TaxAmt="0", TotalAmt="3"))
    assert [item["tax_type"] for item in doc["items"]] == ["1", "3"]
    two = {"ItemName": "a|b", "ItemCount": "1|1", "ItemUnit": "個|", "ItemPrice": "1|2", "ItemAmt": "1|2", "Amt": "3",
           "TaxAmt": "0", "TotalAmt": "3"}
    assert [sorted(item) for item in wire.issue_document(sale(**two))["items"]][1] == [
        "amount", "description", "quantity", "tax_type", "unit_price"]  # no unit given: none kept
    assert code_of(lambda: wire.issue_document(sale(**{**two, "ItemName": "a|"}))) == "INV10003"
    zero = wire.issue_document(sale(TaxType="2", TaxRate="0", CustomsClearance="2", ZeroTaxRateReason="72"))
    assert (zero["customs_clearance_mark"], zero["zero_tax_rate_reason"]) == ("2", "72")


def test_check_code_and_check_value() -> None:
    fields = {"InvoiceTransNo": "14061313541640927", "MerchantID": "3622183", "MerchantOrderNo": "201409170000001",
              "RandomNum": "0142", "TotalAmt": 500, "Other": "ignored"}
    assert wire.check_code(KEYS, fields) == "303AB800650B724733B5D91CBCE075D9EA09E4CDE9CD33461D45F07D5EC7EECB"
    assert wire.check_value(KEYS, "ab") == wire.check_value(KEYS, "ab") != wire.check_value(KEYS, "ac")
    assert len(wire.check_value(KEYS, "ab")) == 64


def test_build_query_is_phps() -> None:
    assert wire.build_query({"a b": "c~d", "e": "拿"}) == "a+b=c%7Ed&e=%E6%8B%BF"


def test_fields_in_ezpays_names() -> None:
    assert wire.ezpay_field("items[1].amount") == "ItemAmt (item 2)"
    assert wire.ezpay_field("items[0].other") == "other (item 1)"
    assert wire.ezpay_field("buyer.email") == "BuyerEmail"
    assert wire.ezpay_field("issued_at") == "issued_at"
    assert wire.exact(wire.number("0.0", "x")) == "0" and wire.exact(wire.number("1.50", "x")) == "1.5"
    assert wire.exact(wire.number("100", "x")) == "100"
