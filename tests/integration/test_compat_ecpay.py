"""The ECPay layer driven as ECPay's own clients drive ECPay: an envelope client written here from ECPay's
documentation (field notes §1.6/§3.1: PHP SDK AesService, .NET and JS encodings), the paid-tw wire fixtures'
``expect`` side and the AES known-answer vectors in ``../shared/spec/peer-samples``. Real SQLite, the real app
(``compat.mount`` as ``einvd run`` does), a real uvicorn on loopback for the same-box race."""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_harness import KEYS, SECRETS
from conftest import KEY, SELLER, SPEC, START, hold, spec_dir, spec_schemas
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fastapi.testclient import TestClient

from daemon import compat
from daemon.api.app import ServerThread, create_app
from daemon.api.context import ApiContext
from daemon.client import Client
from daemon.clock import SystemClock
from daemon.config import CompatSection, CompatSettings
from daemon.services import InvoiceService
from daemon.store import Store, StoreUnavailable
from daemon.workers import Pump
from drivers.drop.local import LocalDrop
from hw_sim.clock import FakeClock
from hw_sim.turnkey import SimTurnkey
from turnkey.layout import Layout
from turnkey.period import Period

MERCHANT, HASH_KEY, HASH_IV = "2000132", "ejCk326UnaZWKisg", "q9jcZX8Ib9LM8wYk"  # ECPay's public stage account
PEER = SPEC / "peer-samples"
FIXTURES = PEER / "paid-tw-ecpay-fixtures"


def _peer(name: str) -> Any:
    path = PEER / name
    if not path.is_file():
        pytest.skip(f"{path} not found: the ECPay fixtures are read from the shared spec folder, never copied")
    return json.loads(path.read_text(encoding="utf-8"))


# --- an ECPay client, from ECPay's documentation (not from einvd's code) ------------------------------------

def php_urlencode(text: str) -> str:
    """PHP urlencode (ECPay's SDK): space '+', upper hex, '-_.' bare."""
    return urllib.parse.quote_plus(text, safe="-_.").replace("~", "%7E")


def dotnet_urlencode(text: str) -> str:
    """.NET HttpUtility.UrlEncode: space '+', lower hex, '!*()' bare."""
    encoded = urllib.parse.quote_plus(text, safe="-_.!*()")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)


def js_urlencode(text: str) -> str:
    """JS encodeURIComponent: '%20' for space."""
    return urllib.parse.quote(text, safe="-_.!~*'()")


def aes_encrypt(key: str, iv: str, plain: str) -> str:
    padder = padding.PKCS7(128).padder()
    data = padder.update(plain.encode("ascii")) + padder.finalize()
    enc = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def aes_decrypt(key: str, iv: str, data: str) -> str:
    dec = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).decryptor()
    padded = dec.update(base64.b64decode(data)) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("ascii")


class EcpayClient:
    """POST {MerchantID, RqHeader{Timestamp, Revision}, Data} to <base>/B2CInvoice/<Op>, as ECPay's SDKs do."""

    def __init__(self, post: Callable[[str, bytes], tuple[int, Any]], now: Callable[[], float],
                 encode: Callable[[str], str] = php_urlencode, merchant: str = MERCHANT, key: str = HASH_KEY,
                 iv: str = HASH_IV) -> None:
        self.post, self.now, self.encode = post, now, encode
        self.merchant, self.key, self.iv = merchant, key, iv

    def envelope(self, data: dict[str, Any], timestamp: float | None = None) -> dict[str, Any]:
        plain = self.encode(json.dumps({"MerchantID": self.merchant, **data}, ensure_ascii=False))
        return {"MerchantID": self.merchant,
                "RqHeader": {"Timestamp": int(self.now() if timestamp is None else timestamp), "Revision": "3.0.0"},
                "Data": aes_encrypt(self.key, self.iv, plain)}

    def raw(self, op: str, envelope: Any) -> tuple[int, dict[str, Any]]:
        status, body = self.post(f"/ecpay/B2CInvoice/{op}", json.dumps(envelope).encode())
        return status, body

    def call(self, op: str, data: dict[str, Any]) -> dict[str, Any]:
        status, body = self.raw(op, self.envelope(data))
        assert status == 200, body
        assert body["TransCode"] == 1 and body["MerchantID"] == MERCHANT
        text = aes_decrypt(HASH_KEY, HASH_IV, body["Data"])
        assert "%20" not in text  # answered PHP-style: a space is '+'
        result: dict[str, Any] = json.loads(urllib.parse.unquote_plus(text))
        return result


def sale(relate: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "RelateNumber": relate, "CustomerID": "", "CustomerIdentifier": "", "CustomerName": "王小明",
        "CustomerAddr": "", "CustomerPhone": "", "CustomerEmail": "buyer@example.com", "ClearanceMark": "",
        "Print": "1", "Donation": "0", "LoveCode": "", "CarrierType": "", "CarrierNum": "", "TaxType": "1",
        "SalesAmount": 185, "InvoiceRemark": "", "InvType": "07", "vat": "1",
        "Items": [{"ItemSeq": 1, "ItemName": "拿鐵", "ItemCount": 2, "ItemWord": "杯", "ItemPrice": 65,
                   "ItemTaxType": "1", "ItemAmount": 130, "ItemRemark": ""},
                  {"ItemSeq": 2, "ItemName": "可頌", "ItemCount": 1, "ItemWord": "個", "ItemPrice": 55,
                   "ItemTaxType": "1", "ItemAmount": 55}],
    }
    data.update(extra)
    return data


# --- the box ------------------------------------------------------------------------------------------------

def _context(service: InvoiceService, clock: FakeClock) -> ApiContext:
    return ApiContext.build(service, KEYS, now=lambda: clock.now().timestamp())


SETTINGS = CompatSettings(ecpay=CompatSection("ecpay", MERCHANT, HASH_KEY, HASH_IV))


@pytest.fixture
def box(service: InvoiceService, clock: FakeClock) -> Iterator[tuple[EcpayClient, ApiContext, TestClient]]:
    context = _context(service, clock)
    app = create_app(context)
    assert compat.mount(app, context, SETTINGS) == ["/ecpay"]
    with TestClient(app, raise_server_exceptions=False) as http:
        def post(path: str, body: bytes) -> tuple[int, Any]:
            response = http.post(path, content=body, headers={"content-type": "application/json"})
            return response.status_code, response.json()

        yield EcpayClient(post, lambda: clock.now().timestamp()), context, http
    context.close()


def test_the_known_answer_vectors() -> None:
    from daemon.compat import ecpay_wire as wire
    vectors = _peer("known-answer-vectors.json")["ecpay_aes128_data"]["vectors"]
    for vector in vectors:
        keys = wire.Keys.of(vector.get("merchant_id", "x"), vector["hash_key"], vector["hash_iv"])
        plain = json.loads(vector["plaintext_json"])
        assert wire.decrypt(keys, vector["ciphertext_b64"]) == plain
        assert wire.encrypt(keys, plain) == vector["ciphertext_b64"]  # '{"Name":"Test",...}' has no spaces
        if "ciphertext_b64_lowercase_hex_variant" in vector:  # .NET's lower-case hex decodes the same
            assert wire.decrypt(keys, vector["ciphertext_b64_lowercase_hex_variant"]) == plain


def test_issue_replay_query_void_allowance(box: tuple[EcpayClient, ApiContext, TestClient],
                                           clock: FakeClock) -> None:
    ecpay, context, _ = box
    issued = ecpay.call("Issue", sale("ORDER1"))
    assert issued["RtnCode"] == 1, issued
    number, date = issued["InvoiceNo"], issued["InvoiceDate"]
    assert number == "AB00001000" and date == "2026-11-21 14:03:00" and len(issued["RandomNumber"]) == 4
    # the same RelateNumber and content: the invoice already issued; other content: ECPay's duplicate code
    clock.advance(seconds=5)
    again = ecpay.call("Issue", sale("ORDER1"))
    assert (again["RtnCode"], again["InvoiceNo"], again["RandomNumber"]) == (1, number, issued["RandomNumber"])
    other = ecpay.call("Issue", sale("ORDER1", CustomerName="別人"))
    assert other["RtnCode"] == 5070357 and "自訂編號重覆" in other["RtnMsg"]
    # query by RelateNumber (posts exactly MerchantID + RelateNumber) and by InvoiceNo + InvoiceDate
    by_order = ecpay.call("GetIssue", {"RelateNumber": "ORDER1"})
    by_number = ecpay.call("GetIssue", {"InvoiceNo": number, "InvoiceDate": date[:10]})
    assert by_order == by_number and by_order["IIS_Number"] == number and by_order["IIS_Sales_Amount"] == 185
    assert by_order["IIS_Customer_Email"] == "buyer@example.com" and by_order["IIS_Print_Flag"] == "1"
    assert [i["ItemName"] for i in by_order["Items"]] == ["拿鐵", "可頌"]
    assert ecpay.call("GetIssue", {"RelateNumber": "NOPE"})["RtnCode"] == 2
    # allowance on the croissant, then a void is blocked by it (5070450)
    allowance = ecpay.call("Allowance", {"InvoiceNo": number, "InvoiceDate": date[:10], "AllowanceNotify": "N",
                                         "CustomerName": "", "NotifyMail": "", "NotifyPhone": "",
                                         "AllowanceAmount": 55, "Items": [
                                             {"ItemName": "可頌", "ItemCount": 1, "ItemWord": "個", "ItemPrice": 55,
                                              "ItemTaxType": "1", "ItemAmount": 55}]})
    assert allowance["RtnCode"] == 1, allowance
    assert allowance["IA_Invoice_No"] == number and allowance["IA_Remain_Allowance_Amt"] == 130
    no = allowance["IA_Allow_No"]
    listed = ecpay.call("GetAllowanceList", {"InvoiceNo": number, "InvoiceDate": date[:10]})
    assert [a["IA_Allow_No"] for a in listed["AllowanceInfo"]] == [no]
    blocked = ecpay.call("Invalid", {"InvoiceNo": number, "InvoiceDate": date[:10], "Reason": "客戶取消"})
    assert blocked["RtnCode"] == 5070450
    # allowance void; again: 2000063; an unknown allowance: 2000039
    voided = ecpay.call("AllowanceInvalid", {"InvoiceNo": number, "AllowanceNo": no, "Reason": "作廢折讓"})
    assert voided["RtnCode"] == 1 and voided["IA_Invoice_No"] == number
    assert ecpay.call("AllowanceInvalid", {"InvoiceNo": number, "AllowanceNo": no,
                                           "Reason": "作廢折讓"})["RtnCode"] == 2000063
    assert ecpay.call("AllowanceInvalid", {"InvoiceNo": number, "AllowanceNo": "AL99",
                                           "Reason": "作廢折讓"})["RtnCode"] == 2000039
    # void, again (5070453), and GetInvalid
    assert ecpay.call("Invalid", {"InvoiceNo": number, "InvoiceDate": date[:10], "Reason": "客戶取消"})["RtnCode"] == 1
    assert ecpay.call("Invalid", {"InvoiceNo": number, "InvoiceDate": date[:10],
                                  "Reason": "客戶取消"})["RtnCode"] == 5070453
    void = ecpay.call("GetInvalid", {"RelateNumber": "ORDER1", "InvoiceNo": number, "InvoiceDate": date[:10]})
    assert void["RtnCode"] == 1 and void["Reason"] == "客戶取消" and void["II_Invoice_No"] == number
    assert ecpay.call("GetIssue", {"RelateNumber": "ORDER1"})["IIS_Invalid_Status"] == "1"
    # the same invoice through einvd's own API
    view = context.lifecycle.view(number)
    assert view["order_id"] == "ORDER1" and view["state"] == "voided"
    assert [m["type"] for m in view["messages"]] == ["F0401", "G0401", "G0501", "F0501"]


def test_barcode_and_love_code_checks_answer_from_the_format(box: tuple[EcpayClient, ApiContext, TestClient]) -> None:
    ecpay = box[0]
    good = ecpay.call("CheckBarcode", {"BarCode": "/1234567"})
    assert (good["RtnCode"], good["IsExist"]) == (1, "Y") and "platform was not asked" in good["RtnMsg"]
    assert ecpay.call("CheckBarcode", {"BarCode": "1234567"})["IsExist"] == "N"
    assert ecpay.call("CheckBarcode", {"BarCode": "/ABC+12."})["IsExist"] == "Y"  # '+' survives the urlencode
    love = ecpay.call("CheckLoveCode", {"LoveCode": "168001"})
    assert (love["RtnCode"], love["IsExist"]) == (1, "Y") and "platform was not asked" in love["RtnMsg"]
    assert ecpay.call("CheckLoveCode", {"LoveCode": "12"})["IsExist"] == "N"


@pytest.mark.parametrize("encode", [php_urlencode, dotnet_urlencode, js_urlencode], ids=["php", "dotnet", "js"])
def test_every_clients_urlencode_is_understood(box: tuple[EcpayClient, ApiContext, TestClient],
                                               encode: Callable[[str], str]) -> None:
    ecpay = box[0]
    ecpay.encode = encode
    issued = ecpay.call("Issue", sale(f"ENC-{encode.__name__}", CustomerName="Mary Ann (測試)!*",
                                      InvoiceRemark="a+b c~d"))
    assert issued["RtnCode"] == 1, issued
    found = ecpay.call("GetIssue", {"RelateNumber": f"ENC-{encode.__name__}"})
    assert found["IIS_Customer_Name"] == "Mary Ann (測試)!*" and found["IIS_Remark"] == "a+b c~d"


def test_the_matrix_and_fields_as_ecpay_defines_them(box: tuple[EcpayClient, ApiContext, TestClient],
                                                     store: Store) -> None:
    ecpay = box[0]
    hold(store, Period.of(START), "EF", 0, 49, "08")
    mobile = ecpay.call("Issue", sale("M1", Print="0", CarrierType="3", CarrierNum="/ABC+123"))
    assert mobile["RtnCode"] == 1, mobile
    found = ecpay.call("GetIssue", {"RelateNumber": "M1"})
    assert (found["IIS_Carrier_Type"], found["IIS_Carrier_Num"], found["IIS_Print_Flag"]) == ("3", "/ABC+123", "0")
    moica = ecpay.call("Issue", sale("C1", Print="0", CarrierType="2", CarrierNum="AB12345678901234"))
    assert moica["RtnCode"] == 1, moica
    donated = ecpay.call("Issue", sale("D1", Print="0", Donation="1", LoveCode="168001"))
    assert donated["RtnCode"] == 1
    assert ecpay.call("GetIssue", {"RelateNumber": "D1"})["IIS_Love_Code"] == "168001"
    member = ecpay.call("Issue", sale("X1", Print="0", CarrierType="1", CarrierNum=""))
    assert member["RtnCode"] == 0 and "CarrierType 1" in member["RtnMsg"]
    printed_carrier = ecpay.call("Issue", sale("X2", Print="1", CarrierType="3", CarrierNum="/ABC+123"))
    assert printed_carrier["RtnCode"] == 0 and "Print" in printed_carrier["RtnMsg"]
    donated_ban = ecpay.call("Issue", sale("X3", Print="1", Donation="1", LoveCode="168001",
                                           CustomerIdentifier="53538851"))
    assert donated_ban["RtnCode"] == 0 and "Donation" in donated_ban["RtnMsg"]
    mismatch = ecpay.call("Issue", sale("X4", SalesAmount=186))
    assert mismatch["RtnCode"] == 1200031 and "SalesAmount" in mismatch["RtnMsg"]
    # a business buyer with tax-inclusive prices (vat 1): the tax is split off as ECPay does
    business = ecpay.call("Issue", sale("B1", CustomerIdentifier="53538851", CustomerName="測試公司", SalesAmount=185))
    assert business["RtnCode"] == 1, business
    shown = ecpay.call("GetIssue", {"RelateNumber": "B1"})
    assert (shown["IIS_Category"], shown["IIS_Sales_Amount"], shown["IIS_Tax_Amount"]) == ("B2B", 185, 9)
    # a consumer's tax-exclusive prices (vat 0) become tax-inclusive
    exclusive = ecpay.call("Issue", sale("V0", vat="0", SalesAmount=210, Items=[
        {"ItemName": "便當", "ItemCount": 2, "ItemWord": "個", "ItemPrice": 100, "ItemAmount": 200}]))
    assert exclusive["RtnCode"] == 1, exclusive
    # zero-rated needs the MIG reason, which ECPay's newer payload names ZeroTaxRateReason
    zero = ecpay.call("Issue", sale("Z1", TaxType="2", ClearanceMark="1"))
    assert zero["RtnCode"] == 0 and "ZeroTaxRateReason" in zero["RtnMsg"]
    assert ecpay.call("Issue", sale("Z2", TaxType="2", ClearanceMark="1", ZeroTaxRateReason="71"))["RtnCode"] == 1
    mixed = ecpay.call("Issue", sale("T9", TaxType="9", SalesAmount=185, Items=[
        {"ItemName": "拿鐵", "ItemCount": 2, "ItemPrice": 65, "ItemAmount": 130, "ItemTaxType": "1"},
        {"ItemName": "書", "ItemCount": 1, "ItemPrice": 55, "ItemAmount": 55, "ItemTaxType": "3"}]))
    assert mixed["RtnCode"] == 1, mixed
    special = ecpay.call("Issue", sale("S1", InvType="08", TaxType="4", SpecialTaxType="1", SalesAmount=185))
    assert special["RtnCode"] == 1, special
    assert ecpay.call("GetIssue", {"RelateNumber": "S1"})["IIS_Tax_Rate"] == "0.25"


def test_transport_errors_as_ecpay_answers_them(box: tuple[EcpayClient, ApiContext, TestClient],
                                                clock: FakeClock) -> None:
    ecpay = box[0]
    cases = {c["transCode"]: c["transMsg"] for c in _peer("paid-tw-ecpay-fixtures/transport-errors.json")["cases"]}
    stale = ecpay.envelope(sale("T1"), timestamp=clock.now().timestamp() - 601)
    wrong_key = EcpayClient(ecpay.post, ecpay.now, key="A123456789012345").envelope(sale("T2"))
    empty = {**ecpay.envelope(sale("T3")), "Data": ""}
    other = EcpayClient(ecpay.post, ecpay.now, merchant="3085676").envelope(sale("T4"))
    for code, envelope in (("104", stale), ("110", wrong_key), ("111", empty), ("115", other)):
        status, body = ecpay.raw("Issue", envelope)
        assert (status, str(body["TransCode"]), body["TransMsg"], body["Data"]) == (500, code, cases[code], "")
    fresh = ecpay.envelope(sale("T5"), timestamp=clock.now().timestamp() - 590)
    status, body = ecpay.raw("Issue", fresh)
    assert (status, body["TransCode"]) == (200, 1)
    status, body = ecpay.post("/ecpay/B2CInvoice/Issue", b"not json")
    assert status == 500 and body["TransCode"] != 1


def _completed(data: dict[str, Any]) -> dict[str, Any]:
    """A fixture's subset made a whole sale, as the SDK's caller would fill it in."""
    if data.get("TaxType") == "2":
        data.update(ClearanceMark="1", ZeroTaxRateReason="71")
    for item in data["Items"]:
        item.setdefault("ItemCount", 1)
        item.setdefault("ItemPrice", 60 if "備註1" in item.get("ItemRemark", "") else 40)
        item.setdefault("ItemAmount", item["ItemPrice"])
        item["ItemTaxType"] = data.get("TaxType", "1")
    data["SalesAmount"] = sum(item["ItemAmount"] for item in data["Items"])
    return data


def test_fixtures_issue_and_query(box: tuple[EcpayClient, ApiContext, TestClient]) -> None:
    """What paid-tw's SDK puts on the wire (each fixture's ``expect.data``) is understood; member carriers
    (CarrierType 1) are refused by name, since einvd has no ECPay member carrier."""
    ecpay = box[0]
    for index, case in enumerate(_peer("paid-tw-ecpay-fixtures/issue.json")["cases"]):
        data = {**sale(f"FX{index}"), **case["expect"]["data"], "RelateNumber": f"FX{index}"}
        if data.get("CarrierType") == "1":
            assert ecpay.call("Issue", _completed(dict(data)))["RtnCode"] == 0
            data.update(CarrierType="", Print="1")
        answer = ecpay.call(case["expect"]["endpoint"].rsplit("/", 1)[1], _completed(data))
        assert answer["RtnCode"] == 1, (case["name"], answer)
    issued = ecpay.call("GetIssue", {"RelateNumber": "FX0"})
    number, date = issued["IIS_Number"], issued["IIS_Create_Date"][:10]
    for case in _peer("paid-tw-ecpay-fixtures/query.json")["cases"]:
        data = dict(case["expect"]["data"])
        data.update({"RelateNumber": "FX0"} if "RelateNumber" in data else {"InvoiceNo": number, "InvoiceDate": date})
        assert ecpay.call("GetIssue", data)["IIS_Number"] == number


def test_fixtures_void_and_allowance(box: tuple[EcpayClient, ApiContext, TestClient]) -> None:
    ecpay = box[0]
    issued = ecpay.call("Issue", sale("FXA", SalesAmount=200, Items=[
        {"ItemName": "商品一", "ItemCount": 2, "ItemPrice": 100, "ItemAmount": 200}]))
    number, date = issued["InvoiceNo"], issued["InvoiceDate"][:10]
    cases = _peer("paid-tw-ecpay-fixtures/void-allowance.json")["cases"]
    last = ""
    for case in (c for c in cases if c["operation"] in ("allowance", "voidAllowance")):
        data = {**case["expect"]["data"], "InvoiceNo": number, "AllowanceNo": last}
        if case["operation"] == "allowance":
            data.update(InvoiceDate=date, AllowanceAmount=40, Items=[
                {"ItemName": "商品一", "ItemCount": 1, "ItemPrice": 40, "ItemAmount": 40}])
        answer = ecpay.call(case["expect"]["endpoint"].rsplit("/", 1)[1], data)
        assert answer["RtnCode"] == 1, (case["name"], answer)
        last = answer.get("IA_Allow_No", last)
    for live in ecpay.call("GetAllowanceList", {"InvoiceNo": number, "InvoiceDate": date})["AllowanceInfo"]:
        if live["IA_Invalid_Status"] == "0":
            ecpay.call("AllowanceInvalid", {"InvoiceNo": number, "AllowanceNo": live["IA_Allow_No"], "Reason": "x"})
    void = next(c for c in cases if c["operation"] == "void")
    assert ecpay.call("Invalid", {**void["expect"]["data"], "InvoiceNo": number, "InvoiceDate": date})["RtnCode"] == 1


def test_business_errors_use_ecpays_codes(box: tuple[EcpayClient, ApiContext, TestClient], store: Store) -> None:
    ecpay = box[0]
    known = {c["rtnCode"] for c in _peer("paid-tw-ecpay-fixtures/errors.json")["cases"]}
    assert {"2", "1100040", "5070450", "2000063", "2000039", "5070357", "5070453"} <= known
    for n in range(50):  # the one range (AB00001000-1049) used up
        assert ecpay.call("Issue", sale(f"FILL{n}"))["RtnCode"] == 1
    exhausted = ecpay.call("Issue", sale("ONE-MORE"))
    assert exhausted["RtnCode"] == 1100040 and "發票字軌已用完" in exhausted["RtnMsg"]
    assert ecpay.call("Invalid", {"InvoiceNo": "ZZ00000001", "InvoiceDate": "2026-11-21",
                                  "Reason": "x"})["RtnCode"] == 1600003
    assert ecpay.call("GetIssue", {"InvoiceNo": "AB00001000", "InvoiceDate": "2026-11-22"})["RtnCode"] == 2


def test_void_with_reissue_print_and_notify(box: tuple[EcpayClient, ApiContext, TestClient]) -> None:
    ecpay, context, _ = box
    issued = ecpay.call("Issue", sale("R1"))
    number = issued["InvoiceNo"]
    again = ecpay.call("VoidWithReIssue", {"VoidModel": {"InvoiceNo": number, "VoidReason": "開錯抬頭"},
                                           "IssueModel": sale("R1-B", CustomerName="李小華")})
    assert again["RtnCode"] == 1 and again["InvoiceNo"] == number, again
    assert ecpay.call("GetIssue", {"RelateNumber": "R1-B"})["IIS_Customer_Name"] == "李小華"
    assert [m["type"] for m in context.lifecycle.view(number)["messages"]] == ["F0401", "F0701", "F0401"]
    printed = ecpay.call("InvoicePrint", {"InvoiceNo": number, "InvoiceDate": issued["InvoiceDate"][:10]})
    assert printed["RtnCode"] == 1 and "printer" in printed["RtnMsg"]
    notify = ecpay.call("InvoiceNotify", {"InvoiceNo": number, "NotifyMail": "a@b.tw", "Notify": "E",
                                          "InvoiceTag": "I", "Notified": "C"})
    assert notify["RtnCode"] == 1 and "a@b.tw" in notify["RtnMsg"], notify
    queued = context.invoices.store.read("SELECT address, reason, state FROM mails ORDER BY id")
    assert [tuple(row) for row in queued][-1] == ("a@b.tw", "resend", "READY")
    assert ("buyer@example.com", "issue", "READY") in [tuple(row) for row in queued]  # CustomerEmail mails the sale
    sms = ecpay.call("InvoiceNotify", {"InvoiceNo": number, "Phone": "0912345678", "Notify": "S", "InvoiceTag": "I"})
    assert sms["RtnCode"] == 0 and "SMS" in sms["RtnMsg"]
    again = ecpay.call("InvoiceNotify", {"InvoiceNo": number, "Notify": "E", "InvoiceTag": "I"})
    assert again["RtnCode"] == 1 and "buyer@example.com" in again["RtnMsg"], again  # to the CustomerEmail on file


def test_openapi_document_is_served(box: tuple[EcpayClient, ApiContext, TestClient]) -> None:
    document = box[2].get("/ecpay/openapi.json").json()
    assert {"/B2CInvoice/Issue", "/B2CInvoice/Invalid", "/B2CInvoice/GetIssue", "/B2CInvoice/AllowanceInvalid",
            "/B2CInvoice/CheckLoveCode"} <= set(document["paths"])


def test_issued_invoices_drain_to_turnkey_as_valid_f0401(box: tuple[EcpayClient, ApiContext, TestClient],
                                                         store: Store, clock: FakeClock, tmp_path: Path) -> None:
    ecpay = box[0]
    numbers = [ecpay.call("Issue", sale(f"DR{n}"))["InvoiceNo"] for n in range(3)]
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
    statuses = {r[0] for r in store.read("SELECT status FROM invoices")}
    assert statuses == {"dropped"}


def test_an_einvd_client_and_an_ecpay_client_issue_into_the_same_box_at_once(store: Store, tmp_path: Path) -> None:
    """Two integrations on one real server at once: distinct consecutive numbers, one ordered outbox."""
    now = SystemClock().now()
    hold(store, Period.of(now), "CD", 0, 999)
    service = InvoiceService(store, SystemClock(), random.Random(2), SELLER, KEY)
    context = ApiContext.build(service, KEYS)
    app = create_app(context)
    compat.mount(app, context, SETTINGS)
    server = ServerThread(app)
    url = server.start()
    count, errors = 40, []

    def ecpay_till() -> None:
        import http.client
        parsed = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=30)

        def post(path: str, body: bytes) -> tuple[int, Any]:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, json.loads(response.read())

        client = EcpayClient(post, time.time)
        for n in range(count):
            answer = client.call("Issue", sale(f"EC{n:03d}"))
            if answer["RtnCode"] != 1:
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

    threads = [threading.Thread(target=ecpay_till), threading.Thread(target=einvd_till)]
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
    assert sorted(kinds) == ["EC"] * count + ["V1"] * count
    assert sum(a != b for a, b in itertools.pairwise(kinds)) >= 2  # the two tills did run at once
    outbox = store.read("SELECT reference FROM outbox WHERE message_type = 'F0401' ORDER BY id")
    assert [r[0] for r in outbox] == [r[0] for r in rows]


def test_keys_that_are_not_ecpays_are_a_configuration_error(service: InvoiceService, clock: FakeClock) -> None:
    from daemon.compat import ecpay
    from daemon.config import ConfigError
    context = _context(service, clock)
    try:
        with pytest.raises(ConfigError, match="16 ASCII characters"):
            ecpay.build(context, CompatSection("ecpay", MERCHANT, "short", HASH_IV))
    finally:
        context.close()


def test_an_allowance_notice_that_cannot_be_mailed_says_so(box: tuple[EcpayClient, ApiContext, TestClient]) -> None:
    ecpay = box[0]
    issued = ecpay.call("Issue", sale("N1"))
    base = {"InvoiceNo": issued["InvoiceNo"], "InvoiceDate": issued["InvoiceDate"][:10], "AllowanceAmount": 55,
            "Items": [{"ItemName": "可頌", "ItemCount": 1, "ItemPrice": 55, "ItemAmount": 55}]}
    mailed = ecpay.call("Allowance", {**base, "AllowanceNotify": "E", "NotifyMail": "b@x.com"})
    assert mailed["RtnCode"] == 1 and "mail is not configured" in mailed["RtnMsg"]
    assert ecpay.call("Allowance", {**base, "AllowanceNotify": "Q"})["RtnCode"] == 0
    over = ecpay.call("Allowance", {**base, "AllowanceAmount": 60, "Items": [
        {"ItemName": "拿鐵", "ItemCount": 1, "ItemPrice": 65, "ItemAmount": 65}]})
    assert over["RtnCode"] == 1200031
    unknown = ecpay.call("Allowance", {**base, "Items": [{"ItemName": "蛋糕", "ItemCount": 1, "ItemPrice": 55,
                                                           "ItemAmount": 55}]})
    assert unknown["RtnCode"] == 0 and "蛋糕" in unknown["RtnMsg"]


def test_the_other_refusals_of_each_operation(box: tuple[EcpayClient, ApiContext, TestClient]) -> None:
    ecpay = box[0]
    other = EcpayClient(ecpay.post, ecpay.now)
    status, body = other.raw("GetIssue", {**other.envelope({}), "Data": aes_encrypt(
        HASH_KEY, HASH_IV, php_urlencode(json.dumps({"MerchantID": "3085676", "RelateNumber": "x"})))})
    inner = json.loads(urllib.parse.unquote_plus(aes_decrypt(HASH_KEY, HASH_IV, body["Data"])))
    assert status == 200 and inner["RtnCode"] == 0 and "特店編號不存在" in inner["RtnMsg"]
    carrier = ecpay.call("Issue", sale("O1", Print="0", CarrierType="3", CarrierNum="/ABC+123"))
    number, date = carrier["InvoiceNo"], carrier["InvoiceDate"][:10]
    assert ecpay.call("VoidWithReIssue", {"VoidModel": {"InvoiceNo": number}})["RtnCode"] == 0
    no_proof = ecpay.call("InvoicePrint", {"InvoiceNo": number, "InvoiceDate": date})
    assert no_proof["RtnCode"] == 0 and "print.not_requested" in no_proof["RtnMsg"]
    not_voided = ecpay.call("GetInvalid", {"InvoiceNo": number, "InvoiceDate": date})
    assert not_voided["RtnCode"] == 2 and "issued" in not_voided["RtnMsg"]
    assert ecpay.call("GetInvalid", {"RelateNumber": "O2", "InvoiceNo": number, "InvoiceDate": date})["RtnCode"] == 2
    assert ecpay.call("GetAllowanceList", {"InvoiceNo": number, "InvoiceDate": date})["RtnCode"] == 2000039
    assert ecpay.call("GetAllowanceList", {"AllowanceNo": "AL404"})["RtnCode"] == 2000039
    assert ecpay.call("Invalid", {"InvoiceNo": number, "InvoiceDate": date, "Reason": "退貨"})["RtnCode"] == 1
    again = ecpay.call("VoidWithReIssue", {"VoidModel": {"InvoiceNo": number, "VoidReason": "x"},
                                           "IssueModel": sale("O3")})
    assert again["RtnCode"] == 5070453 and "state.voided" in again["RtnMsg"]
    late = ecpay.call("Allowance", {"InvoiceNo": number, "InvoiceDate": date, "AllowanceAmount": 55, "Items": [
        {"ItemName": "可頌", "ItemCount": 1, "ItemPrice": 55, "ItemAmount": 55}]})
    assert late["RtnCode"] == 0 and "state.voided" in late["RtnMsg"]
    for items in ([], ["x"]):
        assert ecpay.call("Allowance", {"InvoiceNo": number, "InvoiceDate": date, "AllowanceAmount": 1,
                                        "Items": items})["RtnCode"] == 0
    status, body = ecpay.post("/ecpay/B2CInvoice/Issue", b"{" + b" " * (1024 * 1024) + b"}")
    assert status == 413 and body["TransCode"] == 0


def test_an_allowance_on_a_business_invoice(box: tuple[EcpayClient, ApiContext, TestClient]) -> None:
    ecpay = box[0]
    issued = ecpay.call("Issue", sale("BA", CustomerIdentifier="53538851", CustomerName="測試公司"))
    allowance = ecpay.call("Allowance", {"InvoiceNo": issued["InvoiceNo"], "InvoiceDate": issued["InvoiceDate"][:10],
                                         "AllowanceAmount": 55, "Items": [
                                             {"ItemName": "可頌", "ItemCount": 1, "ItemPrice": 55, "ItemAmount": 55}]})
    assert allowance["RtnCode"] == 1, allowance
    (info,) = ecpay.call("GetAllowanceList", {"AllowanceNo": allowance["IA_Allow_No"]})["AllowanceInfo"]
    # the business invoice's lines are untaxed: 55 with the tax is 52.38 untaxed and 3 of tax (G0401)
    assert (info["IA_Total_Amount"], info["IA_Tax_Amount"]) == ("52.3809524", 3)
    assert allowance["IA_Remain_Allowance_Amt"] == 185 - 55


@pytest.mark.parametrize(("error", "text"), [(RuntimeError("bug"), "系統錯誤"),
                                             (StoreUnavailable("store.full", "the disk is full"), "系統忙碌中")])
def test_a_failure_inside_is_answered_in_ecpays_shape(service: InvoiceService, clock: FakeClock,
                                                      error: Exception, text: str) -> None:
    import asyncio

    from daemon.compat import ecpay, ecpay_wire
    context = _context(service, clock)
    layer = ecpay.EcpayLayer(context, ecpay_wire.Keys.of(MERCHANT, HASH_KEY, HASH_IV))

    async def broken(payload: dict[str, Any]) -> dict[str, Any]:
        raise error

    layer.operations["CheckLoveCode"] = broken
    client = EcpayClient(lambda path, body: (0, None), lambda: clock.now().timestamp())
    response = asyncio.run(layer.handle("CheckLoveCode", json.dumps(client.envelope({"LoveCode": "1"})).encode()))
    context.close()
    answer = json.loads(response.body)
    data = json.loads(urllib.parse.unquote_plus(aes_decrypt(HASH_KEY, HASH_IV, answer["Data"])))
    assert (response.status_code, answer["TransCode"], data["RtnCode"]) == (200, 1, 0) and text in data["RtnMsg"]


def test_the_configuration_switches_the_layer_on_with_the_secrets_as_a_credential(
        tmp_path: Path, service: InvoiceService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[compat.ecpay] merchant_id`` alone, HashKey and HashIV passed as the systemd credential einvd-ecpay."""
    from daemon.config import load
    config = tmp_path / "einvd.toml"
    config.write_text(f'[seller]\nban = "{SELLER.identifier}"\nname = "測試商店"\naddress = "{SELLER.address}"\n'
                      f'[qr]\nkey = "{KEY.hex()}"\n[compat.ecpay]\nmerchant_id = "{MERCHANT}"\n', encoding="utf-8")
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "einvd-ecpay").write_text(f"{HASH_KEY}\n{HASH_IV}\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))
    settings = load(config)
    context = _context(service, clock)
    app = create_app(context)
    assert compat.mount(app, context, settings.compat) == ["/ecpay"]
    with TestClient(app) as http:
        def post(path: str, body: bytes) -> tuple[int, Any]:
            response = http.post(path, content=body)
            return response.status_code, response.json()

        answer = EcpayClient(post, lambda: clock.now().timestamp()).call("CheckLoveCode", {"LoveCode": "168001"})
    context.close()
    assert answer["IsExist"] == "Y"
    assert compat.mount(create_app(context), context, load(None).compat) == []  # off by default


def test_an_operation_einvd_does_not_serve_is_answered_in_ecpays_shape(
        box: tuple[EcpayClient, ApiContext, TestClient]) -> None:
    answer = box[0].call("DelayIssue", sale("DL1", DelayFlag="1", DelayDay=1, Tsr="T1", PayType="2", PayAct="ECPAY"))
    assert answer["RtnCode"] == 0 and "DelayIssue" in answer["RtnMsg"] and "Issue" in answer["RtnMsg"]
    assert "/B2CInvoice/{operation}" not in box[2].get("/ecpay/openapi.json").json()["paths"]


def test_check_love_code_answers_from_the_imported_list(service: InvoiceService, clock: FakeClock,
                                                        tmp_path: Path) -> None:
    """``[compat.ecpay] love_codes``: the merchant's list (a CSV, first column the code) decides IsExist."""
    codes = tmp_path / "love-codes.csv"
    codes.write_text("code,name\n168001,a charity\n5530\n", encoding="utf-8")
    context = _context(service, clock)
    app = create_app(context)
    settings = CompatSection("ecpay", MERCHANT, HASH_KEY, HASH_IV, love_codes=str(codes))
    compat.mount(app, context, CompatSettings(ecpay=settings))
    with TestClient(app) as http:
        def post(path: str, body: bytes) -> tuple[int, Any]:
            response = http.post(path, content=body)
            return response.status_code, response.json()

        client = EcpayClient(post, lambda: clock.now().timestamp())
        known, unknown = (client.call("CheckLoveCode", {"LoveCode": code}) for code in ("168001", "9527"))
    context.close()
    assert (known["IsExist"], unknown["IsExist"]) == ("Y", "N")
    assert "2 love codes imported" in unknown["RtnMsg"]
