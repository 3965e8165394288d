"""ECPay's B2C e-invoice API on the box, at ``/ecpay/B2CInvoice/<Op>``: a POS written against ECPay changes its base
URL (``https://einvoice.ecpay.com.tw`` -> ``http://<box>:8470/ecpay``) and keeps its code.

Every request is ECPay's envelope ``{MerchantID, RqHeader{Timestamp, Revision?}, Data}`` (``ecpay_wire``); every
answer is ``{MerchantID, RpHeader{Timestamp}, TransCode, TransMsg, Data}`` with Data the encrypted
``{RtnCode, RtnMsg, ...}``. A transport refusal (stale timestamp 104, undecryptable Data 110, empty Data 111, wrong
MerchantID 115) is answered with HTTP 500 and an empty Data, as ECPay's stage server does.

The operations call the services ``/v1`` calls: Issue goes through ``context.invoices.prepare`` in the API's group
commit (``context.batcher``), the other changes run on the event loop's thread like ``/v1``'s (the API's one SQLite
writer), reads in a worker thread. RelateNumber is einvd's order id: the same RelateNumber with the same content
answers the invoice already issued, with other content ECPay's 5070357 (自訂編號重覆).

Where einvd differs from ECPay, and why (the README's ``compat`` section says the same):

* A repeated Issue with the same RelateNumber and content answers the invoice already issued (ECPay answers
  5070357 to every repeat): a POS that retries after a timeout gets its invoice instead of a second one or an error.
* CarrierType 1 (綠界會員載具) is refused by name: that carrier is ECPay's own account, which a box cannot hold.
* RelateNumber is einvd's order id: 1-40 printable ASCII characters (ECPay allows 50).
* Zero-rated sales (TaxType 2) need ZeroTaxRateReason (MIG 4.1 requires it; older ECPay payloads lack it).
  SpecialTaxType 4 (1 %) and 8 (exempt under InvType 08) have no special-tax form in einvd and are refused.
* CheckBarcode and CheckLoveCode answer from the format rules: the box cannot ask the platform, and says so.
* InvoicePrint prints the proof again (補印) on the box's printer; there is no HTML proof (InvoiceHtml is empty).
* InvoiceNotify mails the invoice notice again (InvoiceTag I, Notify E or A; no SMS); AllowanceNotify other than N
  sends nothing (einvd mails invoices, not allowances): said in RtnMsg.
* Allowance items are matched to the invoice's lines by ItemName (and ItemSeq when sent).
* Operations einvd does not serve (DelayIssue, GetIssueList, ...) answer RtnCode 0 naming the ones it serves.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from daemon.allowances import AllowanceRequest
from daemon.api.context import ApiContext
from daemon.compat import ecpay_wire as wire
from daemon.compat.common import issue_batched
from daemon.compat.ecpay_wire import Keys, Refused, WireError, refused
from daemon.compat.ezpay import load_love_codes
from daemon.config import CompatSection, ConfigError
from daemon.mail import notify_again
from daemon.services import stored_draft
from daemon.store import StoreUnavailable, allowances, invoices
from daemon.store.invoices import InvoiceRecord
from turnkey.carrier import is_love_code, is_mobile_barcode
from turnkey.errors import Problem, TurnkeyError
from turnkey.lifecycle import Requested
from turnkey.numbers import is_invoice_number
from turnkey.period import TAIPEI

log = logging.getLogger("einvd.compat.ecpay")
KEY_ID = "compat.ecpay"
"""The key id the issue batch records the layer's requests under (a fresh nonce each: ECPay has none)."""
MAX_BODY = 1024 * 1024
Payload = dict[str, Any]
Operation = Callable[[Payload], Awaitable[Payload]]
_NOT_ASKED = "本機未連線財政部平台查詢，僅依格式檢查 (checked by format on the box: the platform was not asked)"

# einvd problem code -> ECPay RtnCode, per operation where the same einvd code means another ECPay refusal.
_COMMON: dict[str, tuple[int, str]] = {
    "order_id.conflict": wire.DUPLICATE, "track.exhausted": wire.TRACK_EXHAUSTED, "track.missing": wire.TRACK_MISSING,
    "amounts.total.mismatch": wire.AMOUNT_MISMATCH, "invoice.not_found": wire.NO_INVOICE,
    "allowance.not_found": wire.NO_ALLOWANCE, "state.allowance_live": wire.VOID_BLOCKED,
}
_VOID = {**_COMMON, "state.voided": wire.ALREADY_VOIDED}
_ALLOWANCE_VOID = {**_COMMON, "state.voided": wire.ALLOWANCE_VOIDED}


def _refusal(error: TurnkeyError, codes: Mapping[str, tuple[int, str]]) -> Refused:
    """einvd's problems as one ECPay refusal: the RtnCode ECPay uses for the first problem that has one, else 0;
    every problem in RtnMsg, its field in ECPay's name and einvd's stable code in brackets."""
    detail = "; ".join(_problem(p) for p in error.problems)
    for problem in error.problems:
        if problem.code in codes:
            return refused(codes[problem.code], detail)
    return Refused(wire.FAILED, detail)


def _problem(problem: Problem) -> str:
    return f"{wire.ecpay_field(problem.field)}: {problem.message} [{problem.code}]"


def _stamp(value: str) -> str:
    """einvd's ISO time as ECPay writes it: ``yyyy-MM-dd HH:mm:ss``."""
    return value[:19].replace("T", " ")


class EcpayLayer:
    def __init__(self, context: ApiContext, keys: Keys, love_codes: frozenset[str] | None = None) -> None:
        self.context, self.keys, self.love_codes = context, keys, love_codes
        self.operations: dict[str, Operation] = {
            "Issue": self.issue, "Invalid": self.invalid, "VoidWithReIssue": self.void_with_reissue,
            "Allowance": self.allowance, "AllowanceInvalid": self.allowance_invalid, "GetIssue": self.get_issue,
            "GetInvalid": self.get_invalid, "GetAllowanceList": self.get_allowance, "GetAllowance": self.get_allowance,
            "CheckBarcode": self.check_barcode, "CheckLoveCode": self.check_love_code,
            "InvoicePrint": self.invoice_print, "InvoiceNotify": self.invoice_notify,
        }

    async def handle(self, name: str, body: bytes) -> JSONResponse:
        now = self.context.now()
        try:
            payload = wire.open_envelope(self.keys, body, now)
        except WireError as error:
            return JSONResponse(wire.answer(self.keys, now, None, (error.trans_code, error.trans_msg)),
                                status_code=500)
        except Refused as error:
            return JSONResponse(wire.answer(self.keys, now, {"RtnCode": error.code, "RtnMsg": error.message}))
        try:
            data = await (self.operations.get(name) or self.unsupported(name))(payload)
        except Refused as error:
            data = {"RtnCode": error.code, "RtnMsg": error.message}
        except StoreUnavailable as error:
            data = {"RtnCode": wire.FAILED, "RtnMsg": f"系統忙碌中，請稍後再試 ({error})"}
        except Exception:  # a defect: logged, and answered in ECPay's shape rather than as a bare HTTP 500
            log.exception("ECPay %s failed", name)
            data = {"RtnCode": wire.FAILED, "RtnMsg": "系統錯誤 (einvd could not complete the request: see its log)"}
        return JSONResponse(wire.answer(self.keys, self.context.now(), data))

    def unsupported(self, name: str) -> Operation:
        async def refuse(payload: Payload) -> Payload:
            raise Refused(wire.FAILED, f"{name} 不支援 (einvd does not serve ECPay's B2CInvoice/{name}; it serves "
                                       f"{', '.join(self.operations)})")

        return refuse

    # --- issue, void, cancel with re-issue -------------------------------------------------------------------

    async def issue(self, payload: Payload) -> Payload:
        doc = wire.issue_document(payload)
        try:
            issued = await issue_batched(self.context, KEY_ID, lambda: self.context.invoices.prepare(doc))
        except TurnkeyError as error:
            raise _refusal(error, _COMMON) from None
        body = issued.body
        message = "開立發票成功" if issued.created else "開立發票成功 (同一 RelateNumber 與內容: 已開立的發票 / replay)"
        return {"RtnCode": wire.OK, "RtnMsg": message, "InvoiceNo": body["invoice_number"],
                "InvoiceDate": f"{body['invoice_date']} {body['invoice_time']}", "RandomNumber": body["random_number"]}

    def _invoice(self, payload: Mapping[str, Any], missing: tuple[int, str] = wire.NO_INVOICE) -> InvoiceRecord:
        """The invoice named by InvoiceNo and InvoiceDate (both required, as ECPay requires them)."""
        number = wire.text(payload, "InvoiceNo", required=True, limit=10)
        date = wire.invoice_date(payload)
        row = invoices.by_number(self.context.invoices.store.connection(), number) \
            if is_invoice_number(number) else None
        if row is None or row.issued_at[:10] != date:
            raise refused(missing, f"{number} {date}")
        return row

    async def invalid(self, payload: Payload) -> Payload:
        row = self._invoice(payload)
        reason = wire.text(payload, "Reason", required=True, limit=200)
        try:
            self.context.lifecycle.void(row.number, reason)
        except TurnkeyError as error:
            raise _refusal(error, _VOID) from None
        return {"RtnCode": wire.OK, "RtnMsg": "作廢發票成功", "InvoiceNo": row.number}

    async def void_with_reissue(self, payload: Payload) -> Payload:
        void, issue = payload.get("VoidModel"), payload.get("IssueModel")
        if not isinstance(void, dict) or not isinstance(issue, dict):
            raise Refused(wire.FAILED, "VoidModel / IssueModel 不可為空 (both are objects)")
        number = wire.text(void, "InvoiceNo", required=True, limit=10)
        reason = wire.text(void, "VoidReason", required=True, limit=200)
        doc = wire.issue_document(issue)
        try:
            view = self.context.lifecycle.cancel(number, reason, doc)
        except TurnkeyError as error:
            raise _refusal(error, _VOID) from None
        return {"RtnCode": wire.OK, "RtnMsg": "註銷重開發票成功", "InvoiceNo": view["invoice_number"],
                "InvoiceDate": f"{view['invoice_date']} {view['invoice_time']}",
                "RandomNumber": view["random_number"]}

    # --- allowances ------------------------------------------------------------------------------------------

    async def allowance(self, payload: Payload) -> Payload:
        row = self._invoice(payload)
        view = self.context.lifecycle.view(row.number)
        business = row.buyer_ban is not None and row.invoice_type == "07"
        wanted = _allowance_lines(payload, view["lines"], business)
        notify = wire.choice(payload, "AllowanceNotify", ("S", "E", "A", "N"), "N")
        total = wire.number(payload, "AllowanceAmount")
        if not business and sum((Decimal(str(w.amount)) for w in wanted), Decimal(0)) != total:
            raise refused(wire.AMOUNT_MISMATCH, "AllowanceAmount must be the sum of the items' ItemAmount")
        try:
            issued = self.context.allowances.issue(AllowanceRequest(row.number, tuple(wanted)))
        except TurnkeyError as error:
            raise _refusal(error, _COMMON) from None
        body = issued.body
        message = "開立折讓成功" + ("" if notify == "N" else " (通知未寄出: mail is not configured on this box, so no "
                                                         "allowance notice was sent)")
        return {"RtnCode": wire.OK, "RtnMsg": message, "IA_Allow_No": body["allowance_number"],
                "IA_Invoice_No": row.number, "IA_Date": body["date"],
                "IA_Remain_Allowance_Amt": _remaining(self.context, row)}

    async def allowance_invalid(self, payload: Payload) -> Payload:
        number = wire.text(payload, "InvoiceNo", required=True, limit=10)
        allowance = wire.text(payload, "AllowanceNo", required=True, limit=16)
        reason = wire.text(payload, "Reason", required=True, limit=200)
        found = allowances.by_number(self.context.invoices.store.connection(), allowance)
        if found is None or found.invoice_number != number:
            raise refused(wire.NO_ALLOWANCE, f"{number} {allowance}")
        try:
            self.context.allowances.void(allowance, reason)
        except TurnkeyError as error:
            raise _refusal(error, _ALLOWANCE_VOID) from None
        return {"RtnCode": wire.OK, "RtnMsg": "作廢折讓成功", "IA_Invoice_No": number}

    # --- reads -----------------------------------------------------------------------------------------------

    async def get_issue(self, payload: Payload) -> Payload:
        relate = wire.text(payload, "RelateNumber", limit=50)
        if relate:
            found = invoices.by_order_id(self.context.invoices.store.connection(), relate)
            if found is None:
                raise refused(wire.NOT_FOUND_QUERY, relate)
            row = found
        else:
            row = self._invoice(payload, wire.NOT_FOUND_QUERY)
        return await run_in_threadpool(_issue_view, self.context, row)

    async def get_invalid(self, payload: Payload) -> Payload:
        row = self._invoice(payload, wire.NOT_FOUND_QUERY)
        relate = wire.text(payload, "RelateNumber", limit=50)
        if relate and relate != row.order_id:
            raise refused(wire.NOT_FOUND_QUERY, f"RelateNumber {relate} is not invoice {row.number}'s")
        view = self.context.lifecycle.view(row.number)
        voids = [e for e in view["events"] if e["kind"] == "voided"]
        if row.lifecycle != "voided" or not voids:
            raise Refused(2, f"查無作廢發票資料 (invoice {row.number} is {row.lifecycle})")
        message = next((m for m in view["messages"] if m["type"] == "F0501"), None)
        return {"RtnCode": wire.OK, "RtnMsg": "查詢作廢發票成功", "II_Invoice_No": row.number,
                "II_Date": _stamp(voids[-1]["at"]), "II_Upload_Status": _uploaded(message),
                "II_Upload_Date": "", "Reason": voids[-1]["reason"],
                "II_Seller_Identifier": self.context.invoices.seller.identifier,
                "II_Buyer_Identifier": row.buyer_ban or "0000000000"}

    async def get_allowance(self, payload: Payload) -> Payload:
        number = wire.text(payload, "AllowanceNo", limit=16)
        conn = self.context.invoices.store.connection()
        if number:
            found = allowances.by_number(conn, number)
            if found is None:
                raise refused(wire.NO_ALLOWANCE, number)
            records = [found]
        else:
            row = self._invoice(payload, wire.NO_ALLOWANCE)
            records = allowances.of_invoice(conn, row.id)
            if not records:
                raise refused(wire.NO_ALLOWANCE, row.number)
        return {"RtnCode": wire.OK, "RtnMsg": "查詢折讓成功",
                "AllowanceInfo": [_allowance_view(self.context, r.number) for r in records]}

    async def check_barcode(self, payload: Payload) -> Payload:
        code = wire.text(payload, "BarCode", required=True, limit=8).replace(" ", "+")
        return {"RtnCode": wire.OK, "RtnMsg": _NOT_ASKED, "IsExist": "Y" if is_mobile_barcode(code) else "N"}

    async def check_love_code(self, payload: Payload) -> Payload:
        code = wire.text(payload, "LoveCode", required=True, limit=7)
        if self.love_codes is None or not is_love_code(code):
            return {"RtnCode": wire.OK, "RtnMsg": _NOT_ASKED + " (no love-code list is imported on this box)",
                    "IsExist": "Y" if is_love_code(code) else "N"}
        return {"RtnCode": wire.OK, "RtnMsg": _NOT_ASKED + f" (against the {len(self.love_codes)} love codes "
                                                          "imported on this box)",
                "IsExist": "Y" if code in self.love_codes else "N"}

    async def invoice_print(self, payload: Payload) -> Payload:
        row = self._invoice(payload)
        try:
            printed = self.context.lifecycle.reprint(row.number)
        except TurnkeyError as error:
            raise _refusal(error, _COMMON) from None
        message = f"補印已送往本機印表機 (printed on the box's printer: {printed['status']})"
        return {"RtnCode": wire.OK, "RtnMsg": message, "InvoiceHtml": ""}

    async def invoice_notify(self, payload: Payload) -> Payload:
        """InvoiceNotify for an invoice (InvoiceTag I) by e-mail (Notify E, or A: einvd sends no SMS): the notice
        queued again through the mail queue, to NotifyMail or else the invoice's buyer.email."""
        tag, notify = wire.text(payload, "InvoiceTag") or "I", wire.text(payload, "Notify") or "E"
        if tag != "I" or notify not in ("E", "A"):
            raise Refused(wire.FAILED, f"通知類別不支援 (InvoiceTag {tag} / Notify {notify}: this box mails the "
                                       "invoice notice only, InvoiceTag I with Notify E or A; it sends no SMS)")
        if wire.text(payload, "InvoiceDate"):
            row = self._invoice(payload)
        else:
            number = wire.text(payload, "InvoiceNo", required=True, limit=10)
            found = invoices.by_number(self.context.invoices.store.connection(), number) \
                if is_invoice_number(number) else None
            if found is None:
                raise refused(wire.NO_INVOICE, number)
            row = found
        at = datetime.fromtimestamp(self.context.now(), TAIPEI)
        try:
            queued = notify_again(self.context.invoices.store, row.number, at,
                                  wire.text(payload, "NotifyMail", limit=100) or None)
        except TurnkeyError as error:
            raise _refusal(error, _COMMON) from None
        return {"RtnCode": wire.OK, "RtnMsg": f"發送通知成功 (the notice is queued to {queued['address']}; the box "
                                              "mails it through its SMTP relay, retrying while the relay is away)"}


def _uploaded(message: Mapping[str, Any] | None) -> str:
    """ECPay's upload status: 1 once Turnkey has the message, 0 while it waits in the outbox."""
    return "1" if message is not None and message["state"] not in ("queued", "pending") else "0"


def _allowance_lines(payload: Mapping[str, Any], lines: list[dict[str, Any]], business: bool) -> list[Requested]:
    """ECPay names the returned goods by ItemName (ItemSeq when sent): each is matched to the first line of the
    invoice with that name and enough left."""
    items = payload.get("Items")
    if not isinstance(items, list) or not items:
        raise Refused(wire.FAILED, "Items 不可為空 (Items must list at least one item)")
    left = {line["sequence"]: Decimal(line["quantity"]) - Decimal(line["allowed_quantity"]) for line in lines}
    wanted = []
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            raise Refused(wire.FAILED, f"Items[{index}] 格式錯誤 (each item is an object)")
        name = wire.text(raw, "ItemName", required=True, limit=500)
        count, amount = wire.number(raw, "ItemCount"), wire.number(raw, "ItemAmount")
        seq = wire.text(raw, "ItemSeq", limit=4)
        match = [line for line in lines if line["description"] == name and left[line["sequence"]] >= count
                 and (not seq.isdigit() or int(line["sequence"]) == int(seq))]
        if not match:
            raise Refused(wire.FAILED, f"Items[{index}].ItemName {name!r} 不在原發票或已無可折讓數量 (no line of the "
                                       "invoice with that name has that much left)")
        left[match[0]["sequence"]] -= count
        if business:  # the business invoice's lines are untaxed; ECPay's allowance amounts include the tax
            amount = Decimal(wire.exact(amount / wire.TAX_INCLUSIVE))
        wanted.append(Requested(match[0]["sequence"], count, amount))
    return wanted


def _remaining(context: ApiContext, row: InvoiceRecord) -> int:
    conn = context.invoices.store.connection()
    taken = sum((Decimal(a.total_amount) + a.tax_amount for a in allowances.of_invoice(conn, row.id)
                 if a.state == "live"), Decimal(0))  # G0401 totals are untaxed, the tax beside them
    return int(row.total - taken.to_integral_value())


def _allowance_view(context: ApiContext, number: str) -> dict[str, Any]:
    view = context.allowances.view(number)
    return {"IA_Allow_No": view["allowance_number"], "IA_Invo_No": view["invoice_number"], "IA_Date": view["date"],
            "IA_Tax_Amount": view["tax_amount"], "IA_Total_Amount": view["total_amount"],
            "IA_Invalid_Status": "1" if view["state"] != "live" else "0",
            "Items": [{"ItemSeq": int(line["sequence"]), "ItemName": line["description"],
                       "ItemCount": line["quantity"], "ItemWord": line["unit"], "ItemPrice": line["unit_price"],
                       "ItemAmount": line["amount"], "ItemTaxType": line["tax_type"]} for line in view["lines"]]}


def _issue_view(context: ApiContext, row: InvoiceRecord) -> Payload:
    """GetIssue's answer from the stored invoice (ECPay's IIS_* names)."""
    draft = stored_draft(row)
    body = context.lifecycle.view(row.number)
    buyer, carrier = draft.buyer, draft.carrier
    carrier_type = {"CQ0001": "2", "3J0002": "3"}.get(carrier.type, "") if carrier else ""
    return {
        "RtnCode": wire.OK, "RtnMsg": "查詢發票成功", "IIS_Mer_ID": context.invoices.seller.identifier,
        "IIS_Number": row.number, "IIS_Relate_Number": row.order_id, "IIS_Customer_ID": "",
        "IIS_Identifier": row.buyer_ban or "0000000000", "IIS_Customer_Name": buyer.name if buyer else "",
        "IIS_Customer_Addr": buyer.address if buyer else "", "IIS_Customer_Phone": buyer.phone if buyer else "",
        "IIS_Customer_Email": buyer.email if buyer else "",
        "IIS_Clearance_Mark": draft.customs_clearance_mark or "", "IIS_Type": draft.invoice_type,
        "IIS_Category": "B2B" if row.buyer_ban else "B2C", "IIS_Tax_Type": draft.tax_type,
        "IIS_Tax_Rate": str(draft.tax_rate), "IIS_Tax_Amount": draft.amounts.tax,
        "IIS_Sales_Amount": draft.amounts.total, "IIS_Check_Number": "", "IIS_Carrier_Type": carrier_type,
        "IIS_Carrier_Num": carrier.id if carrier else "", "IIS_Love_Code": draft.love_code or "", "IIS_IP": "",
        "IIS_Create_Date": _stamp(row.issued_at), "IIS_Issue_Status": "1" if row.lifecycle == "issued" else "0",
        "IIS_Invalid_Status": "1" if row.lifecycle == "voided" else "0",
        "IIS_Upload_Status": "1" if row.status not in ("queued",) else "0", "IIS_Upload_Date": "",
        "IIS_Turnkey_Status": row.status, "IIS_Remain_Allowance_Amt": _remaining(context, row),
        "IIS_Print_Flag": "1" if row.print_requested else "0", "IIS_Award_Flag": "", "IIS_Award_Type": "",
        "IIS_Random_Number": row.random_number, "IIS_Remark": draft.remark,
        "PosBarCode": body["barcode"], "QRCode_Left": body["qr_left"], "QRCode_Right": body["qr_right"],
        "Items": [{"ItemSeq": int(line.sequence), "ItemName": line.description, "ItemCount": str(line.quantity),
                   "ItemWord": line.unit, "ItemPrice": str(line.unit_price), "ItemTaxType": line.tax_type,
                   "ItemAmount": str(line.amount), "ItemRemark": line.remark} for line in draft.items],
    }


DESCRIPTION = (
    "ECPay's B2C e-invoice API (綠界 B2C 電子發票 API) answered by einvd on this box. Each operation is POST "
    "/ecpay/B2CInvoice/<Op> with ECPay's envelope {MerchantID, RqHeader{Timestamp, Revision}, Data} where Data = "
    "base64(AES-128-CBC(HashKey, HashIV, PKCS7, urlencode(JSON))); the answer is {MerchantID, RpHeader{Timestamp}, "
    "TransCode, TransMsg, Data} with Data the encrypted {RtnCode, RtnMsg, ...}. Configure [compat.ecpay] "
    "merchant_id, hash_key and hash_iv."
)
ENVELOPE = {"type": "object", "required": ["MerchantID", "RqHeader", "Data"], "properties": {
    "PlatformID": {"type": "string"}, "MerchantID": {"type": "string"},
    "RqHeader": {"type": "object", "required": ["Timestamp"], "properties": {
        "Timestamp": {"type": "integer", "description": "Unix seconds, within 10 minutes of the box's clock"},
        "Revision": {"type": "string"}}},
    "Data": {"type": "string", "description": "base64(AES-128-CBC(urlencode(JSON payload)))"}}}
ANSWER = {"type": "object", "properties": {
    "MerchantID": {"type": "string"}, "RpHeader": {"type": "object", "properties": {"Timestamp": {"type": "integer"}}},
    "TransCode": {"type": "integer", "description": "1 ok; 104 stale timestamp, 110 Data does not decrypt, "
                                                    "111 empty Data, 115 not this MerchantID (HTTP 500)"},
    "TransMsg": {"type": "string"},
    "Data": {"type": "string", "description": "encrypted {RtnCode (1 ok), RtnMsg, ...}"}}}


def build(context: ApiContext, settings: CompatSection) -> FastAPI:
    """The sub-application mounted at ``/ecpay`` (its document at ``/ecpay/openapi.json``)."""
    try:
        keys = Keys.of(settings.merchant, settings.key, settings.iv)
    except (ValueError, UnicodeError) as error:
        raise ConfigError(f"compat.ecpay: {error} (the ones ECPay gave for MerchantID {settings.merchant})") from None
    layer = EcpayLayer(context, keys, load_love_codes(settings.love_codes, "compat.ecpay"))
    app = FastAPI(title="einvd: ECPay B2C e-invoice API", version="1", description=DESCRIPTION, docs_url=None,
                  redoc_url=None)
    for name in layer.operations:
        app.add_api_route(f"/B2CInvoice/{name}", _endpoint(layer, name), methods=["POST"], name=name,
                          summary=f"ECPay B2CInvoice/{name}", response_class=JSONResponse,
                          openapi_extra={"requestBody": {"required": True, "content": {
                              "application/json": {"schema": ENVELOPE}}},
                              "responses": {"200": {"description": "answered", "content": {
                                  "application/json": {"schema": ANSWER}}},
                                  "500": {"description": "transport refusal (TransCode 104/110/111/115)",
                                          "content": {"application/json": {"schema": ANSWER}}}}})
    # another of ECPay's operations (DelayIssue, GetIssueList, ...): answered in ECPay's shape that it is not served
    app.add_api_route("/B2CInvoice/{operation}", _other(layer), methods=["POST"], include_in_schema=False)
    return app


def _other(layer: EcpayLayer) -> Callable[[Request, str], Awaitable[JSONResponse]]:
    async def other(request: Request, operation: str) -> JSONResponse:
        return await _endpoint(layer, operation[:40])(request)

    return other


def _endpoint(layer: EcpayLayer, name: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse(wire.answer(layer.keys, layer.context.now(), None, wire.NOT_ENVELOPE), 413)
        return await layer.handle(name, await request.body())

    endpoint.__name__ = f"ecpay_{name}"
    return endpoint
