"""ezPay's e-invoice API (簡單付電子發票) on the box, at ``/ezpay/Api/<op>``: a POS written against ezPay changes
its base URL (``https://inv.ezpay.com.tw`` -> ``http://<box>:8470/ezpay``) and keeps its code.

Every request is ezPay's form ``MerchantID_`` + ``PostData_`` (``ezpay_wire``: AES-256-CBC hex of the
``http_build_query`` form, the PHP sample's 32-byte padding or PKCS7); every answer is ezPay's JSON ``{Status,
Message, Result}`` with ``Result`` a JSON *string* (issue and search carry ezPay's CheckCode). The barcode and
love-code checks (``/ezpay/Api_inv_application/checkBarCode`` / ``checkLoveCode``) take ezPay's CheckValue and answer
an encrypted Result, from the format rules and the love-code list imported on the box (the platform is not asked).

The operations call the services ``/v1`` calls: invoice_issue goes through ``context.invoices.prepare`` in the API's
group commit (``context.batcher``), voids and allowances run on the event loop's thread like ``/v1``'s (the API's
one SQLite writer). MerchantOrderNo is einvd's order id: the same MerchantOrderNo with the same content answers the
invoice already issued; with other content ezPay's LIB10003.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from daemon.allowances import AllowanceRequest
from daemon.api.context import ApiContext
from daemon.compat import ezpay_wire as wire
from daemon.compat.common import issue_batched
from daemon.compat.ezpay_wire import Keys, Refused
from daemon.config import CompatSection, ConfigError
from daemon.services import stored_draft
from daemon.store import StoreUnavailable, allowances, invoices
from daemon.store.invoices import InvoiceRecord
from turnkey.carrier import is_love_code, is_mobile_barcode
from turnkey.errors import TurnkeyError
from turnkey.lifecycle import Requested
from turnkey.numbers import is_invoice_number

log = logging.getLogger("einvd.compat.ezpay")
KEY_ID = "compat.ezpay"
"""The key id the issue batch records the layer's requests under (a fresh nonce each: ezPay has none)."""
MAX_BODY = 1024 * 1024
Fields = dict[str, str]
Operation = Callable[[Fields], Awaitable[tuple[str, dict[str, Any]]]]
NOT_ASKED = "本機未連線財政部平台查詢，僅依格式檢查 (checked on the box: the platform was not asked)"

# einvd problem code -> ezPay code, per operation where the same einvd code means another ezPay refusal.
_COMMON: dict[str, tuple[str, str]] = {
    "order_id.conflict": wire.DUPLICATE, "track.exhausted": wire.QUOTA, "track.missing": wire.QUOTA,
    "invoice.not_found": wire.NOT_FOUND, "allowance.not_found": wire.NO_ALLOWANCE,
    "state.allowance_live": wire.VOID_BLOCKED, "window.closed": wire.VOID_DEADLINE,
    "state.voided": wire.ALREADY_VOIDED, "state.cancelled": wire.ALREADY_VOIDED,
}


def _refusal(error: TurnkeyError) -> Refused:
    """einvd's problems as one ezPay refusal: the code ezPay uses for the first problem that has one, else the
    item / amount / field family; every problem in the Message, its field in ezPay's name and einvd's code."""
    detail = "; ".join(f"{wire.ezpay_field(p.field)}: {p.message} [{p.code}]" for p in error.problems)
    for problem in error.problems:
        if problem.code in _COMMON:
            return Refused(_COMMON[problem.code], detail)
    first = error.problems[0].field if error.problems else ""
    family = wire.ITEMS if first.startswith("items") else wire.AMOUNTS if first.startswith("amounts") else wire.FIELDS
    return Refused(family, detail)


def _time(stamp: str) -> str:
    """einvd's ISO time as ezPay writes CreateTime: ``yyyy-MM-dd HH:mm:ss``."""
    return stamp[:19].replace("T", " ")


def trans_no(body: Mapping[str, Any]) -> str:
    """ezPay's InvoiceTransNo (17 digits) for an einvd invoice: its issue time ``yyMMddHHmmss`` and the last 5 digits
    of its number; stable, so a replay answers the same one."""
    date, time = str(body["invoice_date"]).replace("-", ""), str(body["invoice_time"]).replace(":", "")
    return f"{date[2:]}{time}{str(body['invoice_number'])[-5:]}"


def load_love_codes(path: str, key: str = "compat.ezpay") -> frozenset[str] | None:
    """The love codes (捐贈碼) imported on the box: the first column of each line of a text or CSV file (the MOF's
    list), lines whose first column is not 3-7 digits (a header) skipped. None when no list is configured."""
    if not path:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise ConfigError(f"{key}.love_codes: cannot read {path}: {error.strerror}") from None
    codes = {line.split(",")[0].strip().strip('"') for line in lines}
    return frozenset(code for code in codes if is_love_code(code))


class EzpayLayer:
    def __init__(self, context: ApiContext, keys: Keys, love_codes: frozenset[str] | None = None) -> None:
        self.context, self.keys, self.love_codes = context, keys, love_codes
        self.operations: dict[str, Operation] = {
            "invoice_issue": self.issue, "invoice_invalid": self.invalid, "allowance_issue": self.allowance,
            "allowanceInvalid": self.allowance_invalid, "invoice_search": self.search,
        }

    # --- the envelope ----------------------------------------------------------------------------------------

    def _open(self, body: bytes) -> tuple[Fields, Fields]:
        """The outer form and the decrypted PostData_ fields, after ezPay's checks: merchant, decryption, the
        TimeStamp window, RespondType."""
        try:
            outer = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeError, ValueError):
            raise Refused(wire.DECRYPT, "the body is not a form (MerchantID_=...&PostData_=...)") from None
        if outer.get("MerchantID_", "").strip() != self.keys.merchant:
            given = outer.get("MerchantID_", "")
            raise Refused(wire.NOT_ENROLLED, f"MerchantID_ {given!r} is not enrolled on this box")
        post = outer.get("PostData_", "").strip()
        if not post:
            raise Refused(wire.DECRYPT, "PostData_ is empty")
        fields = wire.form(wire.decrypt(self.keys, post))
        wire.check_time(fields, self.context.now())
        return outer, fields

    async def handle(self, name: str, body: bytes) -> JSONResponse:
        try:
            _, fields = self._open(body)
            wire.check_respond_type(fields)
            message, result = await self.operations[name](fields)
        except Refused as error:
            return _answer(error.code, error.message, "")
        except StoreUnavailable as error:
            return _answer(wire.FAILED[0], f"系統忙碌中，請稍後再試 ({error})", "")
        except Exception:  # a defect: logged, and answered in ezPay's shape rather than as a bare HTTP 500
            log.exception("ezPay %s failed", name)
            return _answer(wire.FAILED[0], f"{wire.FAILED[1]} (see einvd's log)", "")
        return _answer(wire.SUCCESS, message, json.dumps(result, ensure_ascii=False, separators=(",", ":")))

    # --- invoice_issue, invoice_invalid ----------------------------------------------------------------------

    async def issue(self, fields: Fields) -> tuple[str, dict[str, Any]]:
        doc = wire.issue_document(fields)
        try:
            issued = await issue_batched(self.context, KEY_ID, lambda: self.context.invoices.prepare(doc))
        except TurnkeyError as error:
            raise _refusal(error) from None
        body = issued.body
        result = {"MerchantID": self.keys.merchant, "InvoiceTransNo": trans_no(body),
                  "MerchantOrderNo": body["order_id"], "TotalAmt": body["amounts"]["total"],
                  "InvoiceNumber": body["invoice_number"], "RandomNum": body["random_number"],
                  "CreateTime": f"{body['invoice_date']} {body['invoice_time']}", "BarCode": body["barcode"],
                  "QRcodeL": body["qr_left"], "QRcodeR": body["qr_right"]}
        result["CheckCode"] = wire.check_code(self.keys, result)
        message = "電子發票開立成功" if issued.created else \
            "電子發票開立成功 (同一 MerchantOrderNo 與內容: 已開立的發票 / the invoice already issued for this order)"
        return message, result

    def _invoice(self, number: str) -> InvoiceRecord:
        row = invoices.by_number(self.context.invoices.store.connection(), number) \
            if is_invoice_number(number) else None
        if row is None:
            raise Refused(wire.NOT_FOUND, number)
        return row

    async def invalid(self, fields: Fields) -> tuple[str, dict[str, Any]]:
        number = wire.text(fields, "InvoiceNumber", required=True, limit=10)
        reason = wire.text(fields, "InvalidReason", required=True, limit=20)
        row = self._invoice(number)
        try:
            view = self.context.lifecycle.void(row.number, reason)
        except TurnkeyError as error:
            raise _refusal(error) from None
        return "作廢發票成功", {"MerchantID": self.keys.merchant, "InvoiceNumber": row.number,
                                "CreateTime": _time(str(view["state_at"]))}

    # --- allowances ------------------------------------------------------------------------------------------

    async def allowance(self, fields: Fields) -> tuple[str, dict[str, Any]]:
        number = wire.text(fields, "InvoiceNo", required=True, limit=10)
        order = wire.order_no(fields, required=False)
        if wire.choice(fields, "Status", ("0", "1"), "") == "0":
            raise Refused(wire.UNSUPPORTED, "Status 0 (待確認折讓): einvd issues the allowance at once (Status 1)")
        row = self._invoice(number)
        if order and order != row.order_id:
            raise Refused(wire.NOT_FOUND, f"MerchantOrderNo {order} is not invoice {number}'s order")
        view = self.context.lifecycle.view(row.number)
        business = row.buyer_ban is not None and row.invoice_type == "07"
        wanted = _allowance_lines(fields, view["lines"], business)
        try:
            issued = self.context.allowances.issue(AllowanceRequest(row.number, tuple(wanted)))
        except TurnkeyError as error:
            raise _refusal(error) from None
        body = issued.body
        amount = int((Decimal(body["total_amount"]) + body["tax_amount"]).to_integral_value())
        return "折讓開立成功", {"MerchantID": self.keys.merchant, "AllowanceNo": body["allowance_number"],
                                "InvoiceNumber": row.number, "AllowanceAmt": amount,
                                "RemainAmt": _remaining(self.context, row)}

    async def allowance_invalid(self, fields: Fields) -> tuple[str, dict[str, Any]]:
        number = wire.text(fields, "AllowanceNo", required=True, limit=25)
        reason = wire.text(fields, "InvalidReason", required=True, limit=20)
        if allowances.by_number(self.context.invoices.store.connection(), number) is None:
            raise Refused(wire.NO_ALLOWANCE, number)
        try:
            view = self.context.allowances.void(number, reason)
        except TurnkeyError as error:
            raise _refusal(error) from None
        return "作廢折讓成功", {"MerchantID": self.keys.merchant, "AllowanceNo": number,
                                "CreateTime": _time(str(view["voided_at"]))}

    # --- invoice_search --------------------------------------------------------------------------------------

    async def search(self, fields: Fields) -> tuple[str, dict[str, Any]]:
        kind = wire.choice(fields, "SearchType", ("0", "1"), "0")
        conn = self.context.invoices.store.connection()
        if kind == "0":
            number = wire.text(fields, "InvoiceNumber", required=True, limit=10)
            random = wire.text(fields, "RandomNum", required=True, limit=4)
            row = invoices.by_number(conn, number) if is_invoice_number(number) else None
            if row is None or row.random_number != random:
                raise Refused(wire.NOT_FOUND, f"{number} {random}")
        else:
            order = wire.order_no(fields)
            total = wire.whole(fields, "TotalAmt")
            found = invoices.by_order_id(conn, order)
            if found is None or found.total != total:
                raise Refused(wire.NOT_FOUND, f"MerchantOrderNo {order} TotalAmt {total}")
            row = found
        return "查詢成功", await run_in_threadpool(_search_view, self.context, self.keys, row)

    # --- the carrier checks ----------------------------------------------------------------------------------

    async def check(self, kind: str, body: bytes) -> JSONResponse:
        """checkBarCode / checkLoveCode: the outer form carries Version, RespondType and CheckValue; Result is the
        encrypted ``http_build_query`` of the answer."""
        api = "barCodeCheck" if kind == "barcode" else "LoveCodeCheck"
        try:
            outer, fields = self._open(body)
            if outer.get("CheckValue", "").strip().upper() != wire.check_value(self.keys, outer["PostData_"].strip()):
                raise Refused(wire.DECRYPT, "CheckValue does not match PostData_")
            if kind == "barcode":
                code = wire.text(fields, "CellphoneBarcode", required=True, limit=8).replace(" ", "+")
                exists, echo, note = is_mobile_barcode(code), {"CellphoneBarcode": code}, ""
            else:
                code = wire.text(fields, "LoveCode", required=True, limit=7)
                exists, note = self._love(code)
                echo = {"LoveCode": code}
        except Refused as error:
            return JSONResponse({"Status": error.code, "Message": error.message, "APIID": api, "Version": "1.0",
                                 "MerchantID": self.keys.merchant, "Result": "", "CheckCode": ""})
        result = wire.encrypt(self.keys, wire.build_query({**echo, "IsExist": "Y" if exists else "N"}))
        return JSONResponse({"Status": wire.SUCCESS, "Message": f"查詢成功: {NOT_ASKED}{note}", "APIID": api,
                             "Version": "1.0", "MerchantID": self.keys.merchant, "Result": result,
                             "CheckCode": wire.check_value(self.keys, result)})

    def _love(self, code: str) -> tuple[bool, str]:
        if not is_love_code(code):
            return False, ""
        if self.love_codes is None:
            return True, " (no love-code list is imported on this box: any 3-7 digits pass)"
        return code in self.love_codes, f" (against the {len(self.love_codes)} love codes imported on this box)"


def _answer(status: str, message: str, result: str) -> JSONResponse:
    return JSONResponse({"Status": status, "Message": message, "Result": result})


def _allowance_lines(fields: Mapping[str, str], lines: list[dict[str, Any]], business: bool) -> list[Requested]:
    """ezPay names the returned goods by ItemName: each is matched to the first line of the invoice with that name
    and enough left. ezPay's allowance ItemAmt is tax-exclusive with ItemTaxAmt beside it; einvd takes a
    consumer's allowance amounts tax-inclusive (ItemAmt + ItemTaxAmt) and a business buyer's untaxed (ItemAmt)."""
    names = ("ItemName", "ItemCount", "ItemUnit", "ItemPrice", "ItemAmt", "ItemTaxAmt")
    items = wire.columns(fields, names, names)
    left = {line["sequence"]: Decimal(line["quantity"]) - Decimal(line["allowed_quantity"]) for line in lines}
    wanted, total = [], Decimal(0)
    for index, raw in enumerate(items):
        where = f"item {index + 1}"
        count = wire.number(raw["ItemCount"], f"ItemCount ({where})", wire.ITEMS)
        amount = wire.number(raw["ItemAmt"], f"ItemAmt ({where})", wire.ITEMS)
        tax = wire.number(raw["ItemTaxAmt"], f"ItemTaxAmt ({where})", wire.ITEMS)
        match = [line for line in lines if line["description"] == raw["ItemName"] and left[line["sequence"]] >= count]
        if not match:
            raise Refused(wire.ITEMS, f"ItemName {raw['ItemName']!r} ({where}): no line of the invoice with that name "
                                      "has that much left")
        left[match[0]["sequence"]] -= count
        total += amount + tax
        wanted.append(Requested(match[0]["sequence"], count, amount if business else amount + tax))
    given = wire.whole(fields, "TotalAmt")
    if given != total:
        raise Refused(wire.AMOUNTS, f"TotalAmt {given} is not the sum of ItemAmt + ItemTaxAmt ({wire.exact(total)})")
    return wanted


def _remaining(context: ApiContext, row: InvoiceRecord) -> int:
    conn = context.invoices.store.connection()
    taken = sum((Decimal(a.total_amount) + a.tax_amount for a in allowances.of_invoice(conn, row.id)
                 if a.state == "live"), Decimal(0))  # G0401 totals are untaxed, the tax beside them
    return int(row.total - taken.to_integral_value())


def _upload(status: str) -> str:
    """ezPay's UploadStatus (0 not uploaded, 1 uploaded, 2 uploading, 3 failed; the manual's values as recalled in
    field notes §3.2, verify) from einvd's delivery state: queued 0; handed to Turnkey and not yet answered by the
    platform (dropped, accepted_local, unknown) 2; confirmed 1; rejected or rejected_local 3."""
    if status == "queued":
        return "0"
    if status == "confirmed":
        return "1"
    return "3" if status.startswith("rejected") else "2"


def _search_view(context: ApiContext, keys: Keys, row: InvoiceRecord) -> dict[str, Any]:
    """invoice_search's answer from the stored invoice (ezPay's names); amounts as ezPay gives them: Amt untaxed."""
    draft = stored_draft(row)
    body = context.lifecycle.view(row.number)
    buyer, carrier, amounts = draft.buyer, draft.carrier, draft.amounts
    carrier_type = {"3J0002": "0", "CQ0001": "1"}.get(carrier.type, "") if carrier else ""
    untaxed = amounts.total - amounts.tax if draft.business else int(
        (Decimal(amounts.total) / (1 + draft.tax_rate)).to_integral_value()) if draft.tax_type == "1" else amounts.total
    result: dict[str, Any] = {
        "MerchantID": keys.merchant, "InvoiceTransNo": trans_no(body), "MerchantOrderNo": row.order_id,
        "InvoiceNumber": row.number, "RandomNum": row.random_number, "BuyerName": buyer.name if buyer else "",
        "BuyerUBN": row.buyer_ban or "", "BuyerAddress": buyer.address if buyer else "",
        "BuyerPhone": buyer.phone if buyer else "", "BuyerEmail": buyer.email if buyer else "",
        "InvoiceType": draft.invoice_type, "Category": "B2B" if row.buyer_ban else "B2C", "TaxType": draft.tax_type,
        "TaxRate": str(int(draft.tax_rate * 100)), "Amt": untaxed, "TaxAmt": amounts.total - untaxed,
        "TotalAmt": amounts.total, "CarrierType": carrier_type, "CarrierNum": carrier.id if carrier else "",
        "LoveCode": draft.love_code or "", "PrintFlag": "Y" if row.print_requested else "N",
        "CreateTime": f"{body['invoice_date']} {body['invoice_time']}",
        "ItemDetail": json.dumps([{"ItemNum": line.sequence, "ItemName": line.description,
                                   "ItemCount": str(line.quantity), "ItemWord": line.unit,
                                   "ItemPrice": str(line.unit_price), "ItemAmount": str(line.amount),
                                   "ItemTaxType": line.tax_type} for line in draft.items], ensure_ascii=False),
        "InvoiceStatus": "1" if row.lifecycle == "issued" else "2", "UploadStatus": _upload(row.status),
        "CreateStatusTime": "", "BarCode": body["barcode"], "QRcodeL": body["qr_left"], "QRcodeR": body["qr_right"],
    }
    result["CheckCode"] = wire.check_code(keys, result)
    return result


DESCRIPTION = (
    "ezPay's e-invoice API (簡單付電子發票) answered by einvd on this box. Each operation is POST /ezpay/Api/<op> "
    "with the form MerchantID_ and PostData_ = lower-hex(AES-256-CBC(HashKey, HashIV, http_build_query(fields))) "
    "(the PHP sample's 32-byte padding or PKCS7); the answer is {Status, Message, Result} with Result a JSON string "
    "(SUCCESS, or ezPay's code: KEY10002 decrypt, KEY10006 merchant, KEY10007 TimeStamp, LIB10003 duplicate "
    "MerchantOrderNo, LIB10005 already voided, LIB10007 void blocked by an allowance, LIB10008 void deadline, "
    "INV20006 not found, INV90006 no numbers; EIN10001 not supported on the box). The barcode and love-code checks "
    "answer from the format rules and the love codes imported on the box: the platform is not asked. Configure "
    "[compat.ezpay] merchant_id, hash_key and hash_iv."
)
_FORM_FIELDS: dict[str, Any] = {
    "MerchantID_": {"type": "string"},
    "PostData_": {"type": "string", "description": "lower-hex AES-256-CBC of the http_build_query form"}}
FORM = {"type": "object", "required": ["MerchantID_", "PostData_"], "properties": _FORM_FIELDS}
CHECK_FORM = {"type": "object", "required": ["MerchantID_", "PostData_", "CheckValue"], "properties": {
    **_FORM_FIELDS, "Version": {"type": "string"}, "RespondType": {"type": "string"},
    "CheckValue": {"type": "string", "description": "upper(SHA256('HashKey=..&' + PostData_ + '&HashIV=..'))"}}}
ANSWER = {"type": "object", "properties": {
    "Status": {"type": "string", "description": "SUCCESS or ezPay's error code"}, "Message": {"type": "string"},
    "Result": {"type": "string", "description": "a JSON string (with CheckCode for invoice_issue and invoice_search)"}}}


def _documented(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}},
            "responses": {"200": {"description": "answered (Status says how)", "content": {
                "application/json": {"schema": ANSWER}}}}}


def build(context: ApiContext, settings: CompatSection) -> FastAPI:
    """The sub-application mounted at ``/ezpay`` (its document at ``/ezpay/openapi.json``)."""
    try:
        keys = Keys.of(settings.merchant, settings.key, settings.iv)
    except (ValueError, UnicodeError) as error:
        raise ConfigError(f"compat.ezpay: {error} (the ones ezPay gave for MerchantID {settings.merchant})") from None
    layer = EzpayLayer(context, keys, load_love_codes(settings.love_codes))
    app = FastAPI(title="einvd: ezPay e-invoice API", version="1", description=DESCRIPTION, docs_url=None,
                  redoc_url=None)
    for name in layer.operations:
        app.add_api_route(f"/Api/{name}", _endpoint(layer, name), methods=["POST"], name=name,
                          summary=f"ezPay Api/{name}", response_class=JSONResponse, openapi_extra=_documented(FORM))
    for path, kind in (("checkBarCode", "barcode"), ("checkLoveCode", "love")):
        app.add_api_route(f"/Api_inv_application/{path}", _check_endpoint(layer, kind), methods=["POST"], name=path,
                          summary=f"ezPay Api_inv_application/{path} (format rules on the box)",
                          response_class=JSONResponse, openapi_extra=_documented(CHECK_FORM))
    return app


async def _body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    return await request.body()


def _endpoint(layer: EzpayLayer, name: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is None:
            return _answer(wire.FIELDS[0], f"{wire.FIELDS[1]} (the body is larger than {MAX_BODY} bytes)", "")
        return await layer.handle(name, body)

    endpoint.__name__ = f"ezpay_{name}"
    return endpoint


def _check_endpoint(layer: EzpayLayer, kind: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is None:
            return _answer(wire.FIELDS[0], f"{wire.FIELDS[1]} (the body is larger than {MAX_BODY} bytes)", "")
        return await layer.check(kind, body)

    endpoint.__name__ = f"ezpay_check_{kind}"
    return endpoint
