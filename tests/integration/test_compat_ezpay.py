"""The ezPay layer driven as ezPay's own clients drive ezPay: a client written here from ezPay's documentation (field
notes §3.2: the PHP sample's ``addpadding`` to 32 bytes + ``openssl_encrypt(..., OPENSSL_ZERO_PADDING)`` +
``bin2hex``; a Node-style PKCS7 client too), the known-answer vectors in ``../shared/spec/peer-samples``. Real
SQLite, the real app (``compat.mount`` as ``einvd run`` does), the simulated Turnkey for the drain."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api_harness import KEYS
from conftest import KEY, SELLER, SPEC, hold, spec_dir, spec_schemas
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fastapi.testclient import TestClient

from daemon import compat
from daemon.api.app import create_app
from daemon.api.context import ApiContext
from daemon.config import CompatSection, CompatSettings, ConfigError
from daemon.services import InvoiceService
from daemon.store import Store, StoreUnavailable, invoices
from daemon.workers import Pump
from drivers.drop.local import LocalDrop
from hw_sim.clock import FakeClock
from hw_sim.turnkey import SimTurnkey
from turnkey.layout import Layout

MERCHANT = "3622183"  # the ezPay manual's example MerchantID, HashKey and HashIV (not a live account)
HASH_KEY, HASH_IV = "abcdefghijklmnopqrstuvwxyzabcdef", "1234567891234567"
PEER = SPEC / "peer-samples"


def _vectors() -> dict[str, Any]:
    path = PEER / "known-answer-vectors.json"
    if not path.is_file():
        pytest.skip(f"{path} not found: the vectors are read from the shared spec folder, never copied")
    vectors: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["ezpay_family"]
    return vectors


# --- an ezPay client, from ezPay's documentation (not from einvd's code) ------------------------------------

def http_build_query(fields: dict[str, Any]) -> str:
    """PHP http_build_query: urlencode each name and value (space '+', upper hex)."""
    return "&".join(f"{urllib.parse.quote_plus(str(k))}={urllib.parse.quote_plus(str(v))}" for k, v in fields.items())


def php_addpadding(data: bytes) -> bytes:
    """ezPay's PHP sample: ``$pad = 32 - (strlen % 32); str_repeat(chr($pad), $pad)``."""
    pad = 32 - len(data) % 32
    return data + bytes([pad]) * pad


def pkcs7(data: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    return padder.update(data) + padder.finalize()


def aes256_hex(plain: str, pad: Callable[[bytes], bytes] = php_addpadding, key: str = HASH_KEY,
               iv: str = HASH_IV) -> str:
    enc = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return (enc.update(pad(plain.encode("utf-8"))) + enc.finalize()).hex()


def aes256_plain(hex_text: str) -> str:
    dec = Cipher(algorithms.AES(HASH_KEY.encode()), modes.CBC(HASH_IV.encode())).decryptor()
    raw = dec.update(bytes.fromhex(hex_text)) + dec.finalize()
    return raw[:-raw[-1]].decode("utf-8")


def expected_check_code(result: dict[str, Any]) -> str:
    """How an ezPay client verifies CheckCode (the manual's 附件: sorted five fields between HashIV and HashKey)."""
    names = sorted(("InvoiceTransNo", "MerchantID", "MerchantOrderNo", "RandomNum", "TotalAmt"))
    middle = http_build_query({name: result[name] for name in names})
    return hashlib.sha256(f"HashIV={HASH_IV}&{middle}&HashKey={HASH_KEY}".encode()).hexdigest().upper()


class EzpayClient:
    """POST MerchantID_ + PostData_ to <base>/Api/<op> as ezPay's PHP sample does."""

    def __init__(self, http: TestClient, now: Callable[[], float], pad: Callable[[bytes], bytes] = php_addpadding,
                 merchant: str = MERCHANT) -> None:
        self.http, self.now, self.pad, self.merchant = http, now, pad, merchant

    def post_data(self, fields: dict[str, Any], timestamp: float | None = None) -> str:
        stamp = int(self.now() if timestamp is None else timestamp)
        return aes256_hex(http_build_query({"RespondType": "JSON", "TimeStamp": stamp, **fields}), self.pad)

    def raw(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        response = self.http.post(f"/ezpay{path}", data=form)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def call(self, op: str, fields: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        body = self.raw(f"/Api/{op}", {"MerchantID_": self.merchant, "PostData_": self.post_data(fields, **kwargs)})
        assert set(body) == {"Status", "Message", "Result"}
        if body["Status"] == "SUCCESS":
            assert isinstance(body["Result"], str)  # a JSON string, as ezPay answers
            body["Result"] = json.loads(body["Result"])
        return body

    def check(self, path: str, fields: dict[str, Any]) -> dict[str, Any]:
        post = self.post_data(fields)
        value = hashlib.sha256(f"HashKey={HASH_KEY}&{post}&HashIV={HASH_IV}".encode()).hexdigest().upper()
        body = self.raw(f"/Api_inv_application/{path}", {"MerchantID_": self.merchant, "Version": "1.0",
                                                         "RespondType": "JSON", "PostData_": post,
                                                         "CheckValue": value})
        if body["Status"] == "SUCCESS":
            signed = f"HashKey={HASH_KEY}&{body['Result']}&HashIV={HASH_IV}"
            assert body["CheckCode"] == hashlib.sha256(signed.encode()).hexdigest().upper()
            body["Result"] = dict(urllib.parse.parse_qsl(aes256_plain(body["Result"])))
        return body


def sale(order: str, **extra: Any) -> dict[str, Any]:
    """A B2C sale as ezPay documents invoice_issue 1.5: Amt untaxed, ItemPrice tax-inclusive."""
    fields: dict[str, Any] = {
        "Version": "1.5", "MerchantOrderNo": order, "Status": "1", "Category": "B2C", "BuyerName": "王小明",
        "BuyerEmail": "buyer@example.com", "PrintFlag": "Y", "TaxType": "1", "TaxRate": "5", "Amt": 176,
        "TaxAmt": 9, "TotalAmt": 185, "ItemName": "拿鐵|可頌", "ItemCount": "2|1", "ItemUnit": "杯|個",
        "ItemPrice": "65|55", "ItemAmt": "130|55", "Comment": "",
    }
    fields.update(extra)
    return fields


SETTINGS = CompatSettings(ezpay=CompatSection("ezpay", MERCHANT, HASH_KEY, HASH_IV))


@pytest.fixture
def box(service: InvoiceService, clock: FakeClock) -> Iterator[tuple[EzpayClient, ApiContext, TestClient]]:
    context = ApiContext.build(service, KEYS, now=lambda: clock.now().timestamp())
    app = create_app(context)
    assert compat.mount(app, context, SETTINGS) == ["/ezpay"]
    with TestClient(app, raise_server_exceptions=False) as http:
        yield EzpayClient(http, lambda: clock.now().timestamp()), context, http
    context.close()


def test_the_known_answer_vectors() -> None:
    from daemon.compat import ezpay_wire as wire
    vectors = {v["id"]: v for v in _vectors()["vectors"]}
    manual = vectors["ezpay-manual-checkcode"]
    keys = wire.Keys.of("x", manual["hash_key"], manual["hash_iv"])
    assert wire.check_code(keys, manual["fields"]) == manual["check_code"]
    travel = vectors["travelinvoice-checkcode"]  # a 16-byte HashKey: the formula alone, not the Keys rule
    short = wire.Keys("x", travel["hash_key"].encode(), travel["hash_iv"].encode())
    fields = dict(urllib.parse.parse_qsl(travel["string_to_hash"]))
    assert wire.check_code(short, fields) == travel["check_code"]
    aes = vectors["travelinvoice-aes256"]
    keys = wire.Keys.of("x", aes["hash_key"], aes["hash_iv"])
    assert wire.decrypt(keys, aes["ciphertext_hex"]) == aes["plaintext"]
    assert wire.decrypt(keys, aes["ciphertext_hex"].upper()) == aes["plaintext"]
    assert wire.encrypt(keys, aes["plaintext"]) == aes["ciphertext_hex"]


def test_the_test_clients_check_code_matches_the_manual() -> None:
    manual = {v["id"]: v for v in _vectors()["vectors"]}["ezpay-manual-checkcode"]
    assert (manual["hash_key"], manual["hash_iv"]) == (HASH_KEY, HASH_IV)
    assert expected_check_code(manual["fields"]) == manual["check_code"]


def test_issue_replay_search_void_allowance(box: tuple[EzpayClient, ApiContext, TestClient],
                                            clock: FakeClock) -> None:
    ezpay, context, _ = box
    issued = ezpay.call("invoice_issue", sale("ORDER1"))
    assert issued["Status"] == "SUCCESS", issued
    result = issued["Result"]
    number = result["InvoiceNumber"]
    assert number == "AB00001000" and result["CreateTime"] == "2026-11-21 14:03:00" and len(result["RandomNum"]) == 4
    assert result["TotalAmt"] == 185 and result["MerchantOrderNo"] == "ORDER1" and result["MerchantID"] == MERCHANT
    assert result["CheckCode"] == expected_check_code(result) and len(result["InvoiceTransNo"]) == 17
    # the same MerchantOrderNo and content (a later TimeStamp): the invoice already issued; other content: LIB10003
    clock.advance(seconds=5)
    again = ezpay.call("invoice_issue", sale("ORDER1"))
    assert again["Status"] == "SUCCESS" and again["Result"] == result
    other = ezpay.call("invoice_issue", sale("ORDER1", BuyerName="別人"))
    assert other["Status"] == "LIB10003" and other["Result"] == ""
    # search by number + random number, and by order + total
    by_number = ezpay.call("invoice_search", {"Version": "1.3", "SearchType": "0", "InvoiceNumber": number,
                                              "RandomNum": result["RandomNum"]})["Result"]
    by_order = ezpay.call("invoice_search", {"Version": "1.3", "SearchType": "1", "MerchantOrderNo": "ORDER1",
                                             "TotalAmt": 185})["Result"]
    assert by_number == by_order and by_number["CheckCode"] == expected_check_code(by_number)
    assert (by_number["InvoiceStatus"], by_number["UploadStatus"], by_number["BuyerEmail"]) == ("1", "0",
                                                                                                "buyer@example.com")
    assert (by_number["Amt"], by_number["TaxAmt"], by_number["TotalAmt"]) == (176, 9, 185)
    assert [i["ItemName"] for i in json.loads(by_number["ItemDetail"])] == ["拿鐵", "可頌"]
    assert ezpay.call("invoice_search", {"SearchType": "1", "MerchantOrderNo": "ORDER1",
                                         "TotalAmt": 186})["Status"] == "INV20006"
    assert ezpay.call("invoice_search", {"InvoiceNumber": number, "RandomNum": "0000" if result["RandomNum"] != "0000"
                                         else "1111"})["Status"] == "INV20006"
    # an allowance on the croissant (ezPay: ItemAmt untaxed, ItemTaxAmt beside it); a void is then blocked: LIB10007
    allowance = ezpay.call("allowance_issue", {"Version": "1.3", "InvoiceNo": number, "MerchantOrderNo": "ORDER1",
                                               "ItemName": "可頌", "ItemCount": "1", "ItemUnit": "個",
                                               "ItemPrice": "52", "ItemAmt": "52", "ItemTaxAmt": "3",
                                               "TotalAmt": 55, "Status": "1"})
    assert allowance["Status"] == "SUCCESS", allowance
    assert allowance["Result"]["AllowanceAmt"] == 55 and allowance["Result"]["RemainAmt"] == 130
    no = allowance["Result"]["AllowanceNo"]
    blocked = ezpay.call("invoice_invalid", {"Version": "1.0", "InvoiceNumber": number, "InvalidReason": "客戶取消"})
    assert blocked["Status"] == "LIB10007" and "[state.allowance_live]" in blocked["Message"]
    voided = ezpay.call("allowanceInvalid", {"Version": "1.0", "AllowanceNo": no, "InvalidReason": "作廢折讓"})
    assert voided["Status"] == "SUCCESS" and voided["Result"]["AllowanceNo"] == no
    assert ezpay.call("allowanceInvalid", {"AllowanceNo": no, "InvalidReason": "作廢折讓"})["Status"] == "LIB10005"
    assert ezpay.call("allowanceInvalid", {"AllowanceNo": "AL99", "InvalidReason": "x"})["Status"] == "IAI10002"
    # the void, then again: LIB10005
    done = ezpay.call("invoice_invalid", {"Version": "1.0", "InvoiceNumber": number, "InvalidReason": "客戶取消"})
    assert done["Status"] == "SUCCESS" and done["Result"]["InvoiceNumber"] == number
    assert ezpay.call("invoice_invalid", {"InvoiceNumber": number, "InvalidReason": "客戶取消"})["Status"] == "LIB10005"
    assert ezpay.call("invoice_search", {"SearchType": "1", "MerchantOrderNo": "ORDER1",
                                         "TotalAmt": 185})["Result"]["InvoiceStatus"] == "2"
    # the same invoice through einvd's own API
    view = context.lifecycle.view(number)
    assert view["order_id"] == "ORDER1" and view["state"] == "voided"
    assert [m["type"] for m in view["messages"]] == ["F0401", "G0401", "G0501", "F0501"]


@pytest.mark.parametrize("pad", [php_addpadding, pkcs7], ids=["php-32", "pkcs7-16"])
def test_every_padding_is_understood(box: tuple[EzpayClient, ApiContext, TestClient],
                                     pad: Callable[[bytes], bytes]) -> None:
    """The form's length runs through 32 consecutive values, so the pad takes every value: the PHP sample's go up to
    32 (a whole extra block when the form fills its last 32 bytes), which a PKCS7-only server refuses."""
    client = EzpayClient(box[0].http, box[0].now, pad)
    used = set()
    for filler in range(32):
        form = sale(f"PAD{filler:02d}", Comment="x" * filler)
        plain = http_build_query({"RespondType": "JSON", "TimeStamp": int(client.now()), **form}).encode()
        used.add(pad(plain)[-1])
        answer = client.call("invoice_issue", form)
        assert answer["Status"] == "SUCCESS", answer
    assert used == (set(range(1, 33)) if pad is php_addpadding else set(range(1, 17)))


def test_a_b2b_invoice_and_its_amounts(box: tuple[EzpayClient, ApiContext, TestClient]) -> None:
    ezpay = box[0]
    b2b = sale("B2B1", Category="B2B", BuyerUBN="04595257", BuyerName="測試公司", Amt=500, TaxAmt=25, TotalAmt=525,
               ItemName="顧問費", ItemCount="1", ItemUnit="式", ItemPrice="500", ItemAmt="500")
    issued = ezpay.call("invoice_issue", b2b)
    assert issued["Status"] == "SUCCESS", issued
    found = ezpay.call("invoice_search", {"SearchType": "1", "MerchantOrderNo": "B2B1", "TotalAmt": 525})["Result"]
    assert (found["Category"], found["BuyerUBN"], found["Amt"], found["TaxAmt"]) == ("B2B", "04595257", 500, 25)
    wrong = ezpay.call("invoice_issue", {**b2b, "MerchantOrderNo": "B2B2", "TaxAmt": 24, "TotalAmt": 524})
    assert wrong["Status"] == "INV10012" and "amounts.tax" in wrong["Message"]
    allowance = ezpay.call("allowance_issue", {"InvoiceNo": issued["Result"]["InvoiceNumber"], "ItemName": "顧問費",
                                               "ItemCount": "1", "ItemUnit": "式", "ItemPrice": "100",
                                               "ItemAmt": "100", "ItemTaxAmt": "5", "TotalAmt": 105, "Status": "1"})
    assert allowance["Status"] == "SUCCESS" and allowance["Result"]["AllowanceAmt"] == 105, allowance
    assert allowance["Result"]["RemainAmt"] == 420


def test_carriers_donation_and_email(box: tuple[EzpayClient, ApiContext, TestClient]) -> None:
    ezpay, context, _ = box
    mobile = ezpay.call("invoice_issue", sale("C0", CarrierType="0", CarrierNum="/ABC+12.", PrintFlag="N"))
    assert mobile["Status"] == "SUCCESS", mobile
    found = ezpay.call("invoice_search", {"SearchType": "1", "MerchantOrderNo": "C0", "TotalAmt": 185})["Result"]
    assert (found["CarrierType"], found["CarrierNum"], found["PrintFlag"]) == ("0", "/ABC+12.", "N")
    moica = ezpay.call("invoice_issue", sale("C1", CarrierType="1", CarrierNum="AB12345678901234", PrintFlag="N"))
    assert moica["Status"] == "SUCCESS", moica
    member = ezpay.call("invoice_issue", sale("C2", CarrierType="2", CarrierNum="x", PrintFlag="N"))
    assert member["Status"] == "EIN10001" and "ezPay 會員載具" in member["Message"]
    love = ezpay.call("invoice_issue", sale("L1", LoveCode="168001", PrintFlag="N"))
    assert love["Status"] == "SUCCESS", love
    clash = ezpay.call("invoice_issue", sale("L2", LoveCode="168001", PrintFlag="Y"))
    assert clash["Status"] == "INV10004" and "PrintFlag" in clash["Message"]
    doc = json.loads(context.invoices.store.read("SELECT document FROM invoices WHERE order_id = 'C0'")[0][0])
    assert doc["buyer"]["email"] == "buyer@example.com" and doc["carrier"] == {"type": "3J0002", "id": "/ABC+12."}


def test_envelope_errors_as_ezpay_answers_them(box: tuple[EzpayClient, ApiContext, TestClient],
                                              clock: FakeClock) -> None:
    ezpay, _, http = box
    post = ezpay.post_data(sale("E1"))
    assert ezpay.raw("/Api/invoice_issue", {"MerchantID_": "999", "PostData_": post})["Status"] == "KEY10006"
    assert ezpay.raw("/Api/invoice_issue", {"MerchantID_": MERCHANT, "PostData_": post[:-2]})["Status"] == "KEY10002"
    assert ezpay.raw("/Api/invoice_issue", {"MerchantID_": MERCHANT, "PostData_": "zz"})["Status"] == "KEY10002"
    assert ezpay.raw("/Api/invoice_issue", {"MerchantID_": MERCHANT})["Status"] == "KEY10002"
    wrong_key = aes256_hex(http_build_query(sale("E1")), key="B" * 32)
    assert ezpay.raw("/Api/invoice_issue", {"MerchantID_": MERCHANT, "PostData_": wrong_key})["Status"] == "KEY10002"
    stale = ezpay.call("invoice_issue", sale("E1"), timestamp=clock.now().timestamp() - 1801)
    assert stale["Status"] == "KEY10007"
    assert ezpay.call("invoice_issue", sale("E1", RespondType="String"))["Status"] == "EIN10001"
    delayed = ezpay.call("invoice_issue", sale("E1", Status="3", CreateStatusTime="2026-11-30"))
    assert delayed["Status"] == "EIN10001" and "Status 3" in delayed["Message"]
    assert http.post("/ezpay/Api/invoice_issue", content=b"\xff\xfe").json()["Status"] == "KEY10002"
    assert ezpay.call("invoice_issue", sale("E1"))["Status"] == "SUCCESS"  # none of the above issued anything


def test_field_errors_name_ezpays_fields(box: tuple[EzpayClient, ApiContext, TestClient]) -> None:
    ezpay = box[0]
    cases = {
        "INV10003": [sale("F1", ItemCount="2"), sale("F2", ItemPrice="65|x"), sale("F3", ItemName="拿鐵|")],
        "INV10012": [sale("F4", TotalAmt=186), sale("F5", Amt=177, TotalAmt=186), sale("F6", TaxAmt="")],
        "INV10004": [sale("F7", Category="B2X"), sale("F8", MerchantOrderNo="bad order!"), sale("F9", TaxRate="10"),
                     sale("F10", BuyerUBN="04595257")],
    }
    for code, forms in cases.items():
        for form in forms:
            answer = ezpay.call("invoice_issue", form)
            assert answer["Status"] == code, (form, answer)
    mismatch = ezpay.call("invoice_issue", sale("F11", TotalAmt=186, Amt=177))
    assert "TotalAmt" in mismatch["Message"] and "[amounts.total" in mismatch["Message"]


def test_void_deadline_and_unknown_invoice(box: tuple[EzpayClient, ApiContext, TestClient],
                                           clock: FakeClock) -> None:
    ezpay = box[0]
    number = ezpay.call("invoice_issue", sale("D1"))["Result"]["InvoiceNumber"]
    assert ezpay.call("invoice_invalid", {"InvoiceNumber": "ZZ00000001", "InvalidReason": "x"})["Status"] == "INV20006"
    clock.advance(timedelta(days=60))  # period 11512's window closed on the 13th of January 2027
    late = ezpay.call("invoice_invalid", {"InvoiceNumber": number, "InvalidReason": "客戶取消"})
    assert late["Status"] == "LIB10008" and "[window.closed]" in late["Message"]


def test_numbers_used_up_and_an_unconfirmed_allowance(box: tuple[EzpayClient, ApiContext, TestClient]) -> None:
    ezpay = box[0]
    for n in range(50):  # the one range (AB00001000-1049) used up
        assert ezpay.call("invoice_issue", sale(f"FILL{n}"))["Status"] == "SUCCESS"
    assert ezpay.call("invoice_issue", sale("ONE_MORE"))["Status"] == "INV90006"
    pending = ezpay.call("allowance_issue", {"InvoiceNo": "AB00001000", "ItemName": "可頌", "ItemCount": "1",
                                             "ItemUnit": "個", "ItemPrice": "52", "ItemAmt": "52", "ItemTaxAmt": "3",
                                             "TotalAmt": 55, "Status": "0"})
    assert pending["Status"] == "EIN10001"
    too_much = ezpay.call("allowance_issue", {"InvoiceNo": "AB00001000", "ItemName": "可頌", "ItemCount": "2",
                                              "ItemUnit": "個", "ItemPrice": "52", "ItemAmt": "104",
                                              "ItemTaxAmt": "6", "TotalAmt": 110, "Status": "1"})
    assert too_much["Status"] == "INV10003"
    wrong_total = ezpay.call("allowance_issue", {"InvoiceNo": "AB00001000", "ItemName": "可頌", "ItemCount": "1",
                                                 "ItemUnit": "個", "ItemPrice": "52", "ItemAmt": "52",
                                                 "ItemTaxAmt": "3", "TotalAmt": 56, "Status": "1"})
    assert wrong_total["Status"] == "INV10012"


def test_barcode_and_love_code_checks(box: tuple[EzpayClient, ApiContext, TestClient]) -> None:
    ezpay = box[0]
    good = ezpay.check("checkBarCode", {"CellphoneBarcode": "/ABC+12."})
    assert good["Status"] == "SUCCESS" and good["Result"] == {"CellphoneBarcode": "/ABC+12.", "IsExist": "Y"}
    assert "platform was not asked" in good["Message"] and good["APIID"] == "barCodeCheck"
    assert ezpay.check("checkBarCode", {"CellphoneBarcode": "1234567"})["Result"]["IsExist"] == "N"
    love = ezpay.check("checkLoveCode", {"LoveCode": "168001"})
    assert love["Status"] == "SUCCESS" and love["Result"]["IsExist"] == "Y" and "no love-code list" in love["Message"]
    assert ezpay.check("checkLoveCode", {"LoveCode": "12"})["Result"]["IsExist"] == "N"
    post = ezpay.post_data({"LoveCode": "168001"})
    forged = ezpay.raw("/Api_inv_application/checkLoveCode", {"MerchantID_": MERCHANT, "PostData_": post,
                                                               "CheckValue": "0" * 64})
    assert forged["Status"] == "KEY10002" and forged["Result"] == ""


def test_an_imported_love_code_list(service: InvoiceService, clock: FakeClock, tmp_path: Path) -> None:
    listed = tmp_path / "lovecode.csv"
    listed.write_text("捐贈碼,機關名稱\n168001,某基金會\n\"919\",另一會\n", encoding="utf-8")
    settings = CompatSettings(ezpay=CompatSection("ezpay", MERCHANT, HASH_KEY, HASH_IV, love_codes=str(listed)))
    context = ApiContext.build(service, KEYS, now=lambda: clock.now().timestamp())
    app = create_app(context)
    compat.mount(app, context, settings)
    with TestClient(app) as http:
        ezpay = EzpayClient(http, lambda: clock.now().timestamp())
        known = ezpay.check("checkLoveCode", {"LoveCode": "919"})
        assert known["Result"]["IsExist"] == "Y" and "2 love codes imported" in known["Message"]
        assert ezpay.check("checkLoveCode", {"LoveCode": "123456"})["Result"]["IsExist"] == "N"
    context.close()
    with pytest.raises(ConfigError, match="love_codes"):
        compat.mount(create_app(context), context, CompatSettings(ezpay=CompatSection(
            "ezpay", MERCHANT, HASH_KEY, HASH_IV, love_codes=str(tmp_path / "missing.csv"))))


def test_keys_that_are_not_ezpays_are_a_configuration_error(service: InvoiceService, clock: FakeClock) -> None:
    context = ApiContext.build(service, KEYS, now=lambda: clock.now().timestamp())
    with pytest.raises(ConfigError, match="HashKey is 32"):
        compat.mount(create_app(context), context,
                     CompatSettings(ezpay=CompatSection("ezpay", MERCHANT, "ejCk326UnaZWKisg", HASH_IV)))
    context.close()


def test_openapi_document_is_served(box: tuple[EzpayClient, ApiContext, TestClient]) -> None:
    document = box[2].get("/ezpay/openapi.json").json()
    assert {"/Api/invoice_issue", "/Api/invoice_invalid", "/Api/allowance_issue", "/Api/allowanceInvalid",
            "/Api/invoice_search", "/Api_inv_application/checkBarCode",
            "/Api_inv_application/checkLoveCode"} <= set(document["paths"])


def test_issued_invoices_drain_to_turnkey_as_valid_f0401(box: tuple[EzpayClient, ApiContext, TestClient],
                                                         store: Store, clock: FakeClock, tmp_path: Path) -> None:
    ezpay = box[0]
    forms = [sale("DR0"), sale("DR1", CarrierType="0", CarrierNum="/ABC1234", PrintFlag="N"),
             sale("DR2", Category="B2B", BuyerUBN="04595257", BuyerName="測試公司", Amt=500, TaxAmt=25, TotalAmt=525,
                  ItemName="顧問費", ItemCount="1", ItemUnit="式", ItemPrice="500", ItemAmt="500")]
    numbers = [ezpay.call("invoice_issue", form)["Result"]["InvoiceNumber"] for form in forms]
    outbox = store.read("SELECT message_type, reference FROM outbox ORDER BY id")
    assert [tuple(r) for r in outbox] == [("F0401", n) for n in numbers]
    root = tmp_path / "turnkey"
    turnkey = SimTurnkey(root, spec_dir(), party=SELLER.identifier).install()
    pump = Pump(store, LocalDrop(root, Layout(process_results="Unpack/BAK/ProcessResult")), SELLER, spec_schemas(),
                random.Random(1))
    try:
        pump.tick(clock.now())
        done = turnkey.tick(clock.now())
    finally:
        pump.close()
    # the simulated Turnkey checked each file against the MIG 4.1 XSD and moved it to BAK (ERR when not valid)
    assert sorted((m.code, m.reference, m.accepted, m.problems) for m in done) == [
        ("F0401", n, True, ()) for n in sorted(numbers)]
    assert all("/F0401/BAK/" in m.path for m in done)
    found = ezpay.call("invoice_search", {"SearchType": "1", "MerchantOrderNo": "DR0", "TotalAmt": 185})["Result"]
    assert found["UploadStatus"] == "2"  # with Turnkey, the platform's verdict not yet read back
    for status, shown in (("confirmed", "1"), ("rejected", "3"), ("queued", "0")):  # the platform's verdicts
        row = invoices.by_order_id(store.connection(), "DR0")
        assert row is not None
        with store.write() as tx:
            invoices.set_status(tx, row.id, status, "2026-11-22T01:00:00+08:00", "", "")
        again = ezpay.call("invoice_search", {"SearchType": "1", "MerchantOrderNo": "DR0", "TotalAmt": 185})
        assert again["Result"]["UploadStatus"] == shown


def test_mixed_and_zero_rated_invoices(box: tuple[EzpayClient, ApiContext, TestClient]) -> None:
    ezpay = box[0]
    mixed = ezpay.call("invoice_issue", sale("M1", TaxType="9", ItemTaxType="1|3", AmtSales=124, AmtFree=55,
                                             Amt=179, TaxAmt=6))
    assert mixed["Status"] == "SUCCESS", mixed
    found = ezpay.call("invoice_search", {"SearchType": "1", "MerchantOrderNo": "M1", "TotalAmt": 185})["Result"]
    assert [i["ItemTaxType"] for i in json.loads(found["ItemDetail"])] == ["1", "3"] and found["TaxType"] == "9"
    untyped = ezpay.call("invoice_issue", sale("M2", TaxType="9"))
    assert untyped["Status"] == "INV10003" and "ItemTaxType" in untyped["Message"]
    zero = sale("Z1", TaxType="2", TaxRate="0", CustomsClearance="1", Amt=185, TaxAmt=0)
    no_reason = ezpay.call("invoice_issue", zero)  # MIG 4.1's ZeroTaxRateReason, a field ezPay's 1.5 form lacks
    assert no_reason["Status"] == "INV10004" and "ZeroTaxRateReason" in no_reason["Message"]
    assert ezpay.call("invoice_issue", {**zero, "ZeroTaxRateReason": "71"})["Status"] == "SUCCESS"
    assert ezpay.call("invoice_issue", sale("Z2", TaxType="2", TaxRate="5"))["Status"] == "INV10004"


@pytest.mark.parametrize(("error", "text"), [(StoreUnavailable("store.full", "the disk is full"), "系統忙碌中"),
                                             (RuntimeError("a defect"), "see einvd's log")])
def test_a_failure_inside_is_answered_in_ezpays_shape(service: InvoiceService, clock: FakeClock,
                                                      error: Exception, text: str) -> None:
    import asyncio

    from daemon.compat import ezpay, ezpay_wire
    context = ApiContext.build(service, KEYS, now=lambda: clock.now().timestamp())
    layer = ezpay.EzpayLayer(context, ezpay_wire.Keys.of(MERCHANT, HASH_KEY, HASH_IV))

    async def broken(fields: dict[str, str]) -> tuple[str, dict[str, Any]]:
        raise error

    layer.operations["invoice_search"] = broken
    client = EzpayClient(None, lambda: clock.now().timestamp())  # type: ignore[arg-type]
    form = urllib.parse.urlencode({"MerchantID_": MERCHANT, "PostData_": client.post_data({"SearchType": "0"})})
    response = asyncio.run(layer.handle("invoice_search", form.encode()))
    context.close()
    answer = json.loads(response.body)
    assert (response.status_code, answer["Status"], answer["Result"]) == (200, "EIN10002", "") and text in answer[
        "Message"]


def test_an_allowance_names_the_invoice_and_its_order(box: tuple[EzpayClient, ApiContext, TestClient]) -> None:
    ezpay, _, http = box
    number = ezpay.call("invoice_issue", sale("AO1"))["Result"]["InvoiceNumber"]
    lines = {"ItemName": "可頌", "ItemCount": "1", "ItemUnit": "個", "ItemPrice": "52", "ItemAmt": "52",
             "ItemTaxAmt": "3", "TotalAmt": 55, "Status": "1"}
    assert ezpay.call("allowance_issue", {"InvoiceNo": number, "MerchantOrderNo": "OTHER", **lines})[
        "Status"] == "INV20006"
    assert ezpay.call("allowance_issue", {"InvoiceNo": "ZZ00000001", **lines})["Status"] == "INV20006"
    assert ezpay.call("allowance_issue", {"InvoiceNo": number, **lines, "ItemName": "紅茶"})["Status"] == "INV10003"
    for path in ("/ezpay/Api/invoice_issue", "/ezpay/Api_inv_application/checkLoveCode"):
        big = http.post(path, content=b"x", headers={"content-length": str(2 * 1024 * 1024)})
        assert big.json()["Status"] == "INV10004" and "larger than" in big.json()["Message"]
    assert ezpay.call("invoice_invalid", {"InvoiceNumber": number, "InvalidReason": "取消"})["Status"] == "SUCCESS"
    on_voided = ezpay.call("allowance_issue", {"InvoiceNo": number, **lines})
    assert on_voided["Status"] == "LIB10005" and "[state.voided]" in on_voided["Message"]


def test_the_configuration_switches_the_layer_on_with_the_secrets_as_a_credential(
        tmp_path: Path, service: InvoiceService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[compat.ezpay] merchant_id`` alone, HashKey and HashIV passed as the systemd credential einvd-ezpay."""
    from daemon.config import load
    config = tmp_path / "einvd.toml"
    config.write_text(f'[seller]\nban = "{SELLER.identifier}"\nname = "測試商店"\naddress = "{SELLER.address}"\n'
                      f'[qr]\nkey = "{KEY.hex()}"\n[compat.ezpay]\nmerchant_id = "{MERCHANT}"\n', encoding="utf-8")
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "einvd-ezpay").write_text(f"{HASH_KEY}\n{HASH_IV}\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))
    settings = load(config)
    context = ApiContext.build(service, KEYS, now=lambda: clock.now().timestamp())
    app = create_app(context)
    assert compat.mount(app, context, settings.compat) == ["/ezpay"]
    with TestClient(app) as http:
        answer = EzpayClient(http, lambda: clock.now().timestamp()).call("invoice_issue", sale("CRED1"))
        assert answer["Status"] == "SUCCESS", answer
    context.close()


def test_an_einvd_client_and_an_ezpay_client_issue_into_the_same_box_at_once(store: Store) -> None:
    """Two integrations on one real server (uvicorn on loopback) at once: distinct consecutive numbers, one ordered
    outbox."""
    import http.client
    import threading

    from api_harness import SECRETS

    from daemon.api.app import ServerThread
    from daemon.client import Client
    from daemon.clock import SystemClock
    from turnkey.period import Period
    now = SystemClock().now()
    hold(store, Period.of(now), "CD", 0, 999)
    service = InvoiceService(store, SystemClock(), random.Random(2), SELLER, KEY)
    context = ApiContext.build(service, KEYS)
    app = create_app(context)
    compat.mount(app, context, SETTINGS)
    server = ServerThread(app)
    url = server.start()
    count, errors = 40, []

    def ezpay_till() -> None:
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        client = EzpayClient(None, time.time)  # type: ignore[arg-type]
        for n in range(count):
            post = client.post_data(sale(f"EZ{n:03d}"))
            form = urllib.parse.urlencode({"MerchantID_": MERCHANT, "PostData_": post})
            conn.request("POST", "/ezpay/Api/invoice_issue", form,
                         {"Content-Type": "application/x-www-form-urlencoded"})
            answer = json.loads(conn.getresponse().read())
            if answer["Status"] != "SUCCESS":
                errors.append(answer)
        conn.close()

    def einvd_till() -> None:
        client = Client(url, "pos", SECRETS["pos"].encode())
        for n in range(count):
            status, body = client.request("POST", "/v1/invoices", {"order_id": f"V1-{n:03d}", "items": [
                {"description": "拿鐵", "quantity": 2, "unit_price": 65, "amount": 130}]})
            if status != 201:
                errors.append(body)
        client.close()

    threads = [threading.Thread(target=ezpay_till), threading.Thread(target=einvd_till)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        server.stop()
        context.close()
    assert errors == []
    rows = store.read("SELECT number, order_id FROM invoices ORDER BY id")
    numbers = [int(r[0][2:]) for r in rows]
    assert numbers == list(range(numbers[0], numbers[0] + 2 * count))  # distinct, consecutive, in commit order
    kinds = [r[1][:2] for r in rows]
    assert sorted(kinds) == ["EZ"] * count + ["V1"] * count
    assert sum(a != b for a, b in itertools.pairwise(kinds)) >= 2  # the two tills did run at once
    outbox = store.read("SELECT reference FROM outbox WHERE message_type = 'F0401' ORDER BY id")
    assert [r[0] for r in outbox] == [r[0] for r in rows]
