"""e首發票 (SystemLead) OpenAPI on the box, at ``/systemlead/...``: a POS written against e首發票 changes its base URL
(``https://webapi.systemlead.com/terpapi`` -> ``http://<box>:8470/systemlead``) and keeps its code.

Served (the seed's paths and bodies, ``systemlead_wire``): ``/Append/Invoices`` (invoice mode: the POS gives the
number), ``/Update/CancelInvoices`` (作廢, F0501), ``/Update/AllowanceInvoice`` (折讓, G0401),
``/Update/CancelAllowances`` (G0501), ``/Inquire/GetInvoicesStatus``, ``/Inquire/GetInvoiceIDList`` (the ranges
this POS numbers from). Every request is the envelope or an array of them; every answer is an array with one
object per item (``AuthCode`` on success, ``Message`` on failure), HTTP 200 as the centre answers.

Invoice mode: the number must lie in a range added with ``einvd tracks add ... --numbered-by <pos>`` for the POS
named in ``[compat.systemlead] pos``, be that range's next number, and keep the date order of its track
(``InvoiceService.prepare_numbered``); the invoice is then stored, queued and reported exactly as einvd's own.

Where einvd differs from e首發票, and why (the README's ``compat`` section says the same):

* The POS numbers its ranges in order: a skipped number is refused (``invoice_number.skipped``), because E0402
  reports each range's unused tail as blank and a number skipped inside would be a blank nobody reports
  (e首發票's /Append/BlankCancel, which declares such numbers, is not served).
* The same InvoiceID with the same content answers the invoice already issued (same AuthCode); with other content
  it is refused as a duplicate.
* The Timestamp is not checked against a clock window: the centre documents none (field notes §3.3).
* An allowance covers the lines of one invoice (einvd's G0401 is per invoice); AllowanceNumberPrefix is the
  idempotency key and einvd numbers the allowance.
* /Append/Order(s) (order mode: the centre numbers) numbers from einvd's own ranges and answers InvoiceID,
  InvoiceDateTime and RandomNumber with the AuthCode (the seed shows no answer for it).
* /Update/Invoices, /Append/PrintInvoices, /Append/TrackBlank and /Append/BlankCancel are not
  served: each item answers a Message naming what is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from daemon.allowances import AllowanceRequest
from daemon.api.context import ApiContext
from daemon.compat import systemlead_wire as wire
from daemon.compat.common import issue_batched
from daemon.compat.systemlead_wire import Refused
from daemon.config import CompatSection, ConfigError
from daemon.store import StoreUnavailable, invoices
from daemon.store import tracks as stored_tracks
from turnkey.errors import TurnkeyError
from turnkey.lifecycle import Requested
from turnkey.numbers import is_invoice_number
from turnkey.period import Period

log = logging.getLogger("einvd.compat.systemlead")
KEY_ID = "compat.systemlead"
MAX_BODY = 4 * 1024 * 1024
Payload = dict[str, Any]
Operation = Callable[[Payload, str], Awaitable[Payload]]

# ProcessStatus (GetInvoicesStatus.md): the last message's kind, then how far its delivery got.
_KIND = {"F0401": "I", "F0701": "I", "F0501": "C", "G0401": "A", "G0501": "D"}
_STEP = {"queued": "1", "dropped": "2", "accepted_local": "2", "unknown": "2", "confirmed": "9",
         "rejected": "P", "rejected_local": "P"}
_WORDS = {"I": "開立", "C": "作廢", "A": "折讓", "D": "折讓作廢"}
_STEP_WORDS = {"1": "待上傳", "2": "上傳待確認", "9": "上傳完成", "P": "暫停上傳"}


def _refusal(error: TurnkeyError) -> Refused:
    """einvd's problems as one Message: each with its field and einvd's stable code in brackets."""
    return Refused("; ".join(f"{p.field}: {p.message} [{p.code}]" for p in error.problems))


class SystemLeadLayer:
    def __init__(self, context: ApiContext, settings: CompatSection) -> None:
        self.context, self.company, self.salt, self.pos = context, settings.merchant, settings.key, settings.pos
        self.operations: dict[str, Operation] = {
            "Append/Invoices": self.append_invoice, "Append/Order": self.append_order,
            "Append/Orders": self.append_order, "Update/CancelInvoices": self.cancel_invoice,
            "Update/AllowanceInvoice": self.allowance, "Update/CancelAllowances": self.cancel_allowance,
            "Inquire/GetInvoicesStatus": self.status, "Inquire/GetInvoiceIDList": self.id_list,
        }

    async def handle(self, name: str, body: bytes) -> JSONResponse:
        try:
            items, _ = wire.envelopes(body)
        except (ValueError, UnicodeError):
            return JSONResponse([{"Message": "格式錯誤 (the body is not JSON)"}], status_code=400)
        operation = self.operations.get(name)
        answers = []
        for item in items:
            found = item.get("Data") if isinstance(item, dict) else None
            echo: Payload = found if isinstance(found, dict) else {}
            try:
                if operation is None:
                    raise Refused(f"{name} 不支援 (einvd does not serve this operation; it serves "
                                  f"{', '.join('/' + n for n in self.operations)})")
                envelope = wire.open_item(item, self.company, self.salt)
                answers.append(await operation(envelope.data, envelope.timestamp))
            except Refused as error:
                answers.append({**_echo(name, echo), "Message": error.message})
            except StoreUnavailable as error:
                answers.append({**_echo(name, echo), "Message": f"系統忙碌中，請稍後再試 ({error})"})
            except Exception:  # a defect: logged, answered in the centre's shape rather than a bare HTTP 500
                log.exception("e首發票 %s failed", name)
                answers.append({**_echo(name, echo), "Message": "系統錯誤 (einvd could not complete it: see its log)"})
        return JSONResponse(answers)

    # --- issue ----------------------------------------------------------------------------------------------

    async def append_invoice(self, data: Payload, timestamp: str) -> Payload:
        doc = wire.invoice_document(data)
        number = wire.text(data, "InvoiceID", required=True, limit=10).upper()
        random_number = wire.random_number(data)
        try:
            issued = await issue_batched(self.context, KEY_ID, lambda: self.context.invoices.prepare_numbered(
                doc, number, self.pos, random_number))
        except TurnkeyError as error:
            raise _refusal(error) from None
        body = issued.body
        return {"InvoiceID": body["invoice_number"],
                "InvoiceDateTime": f"{body['invoice_date']}T{body['invoice_time']}",
                "AuthCode": wire.auth_code(self.company, "invoice", body["period"], body["invoice_number"])}

    async def append_order(self, data: Payload, timestamp: str) -> Payload:
        """Order mode: einvd numbers the invoice from its own ranges; RelateNumber is the idempotency key."""
        doc = wire.order_document(data)
        try:
            issued = await issue_batched(self.context, KEY_ID, lambda: self.context.invoices.prepare(doc))
        except TurnkeyError as error:
            raise _refusal(error) from None
        body = issued.body
        return {"RelateNumber": body["order_id"], "InvoiceID": body["invoice_number"],
                "InvoiceDateTime": f"{body['invoice_date']}T{body['invoice_time']}",
                "RandomNumber": body["random_number"],
                "AuthCode": wire.auth_code(self.company, "invoice", body["period"], body["invoice_number"])}

    # --- void, allowance, allowance void ----------------------------------------------------------------------

    def _seller(self, data: Payload) -> None:
        if wire.text(data, "SellerID", required=True, limit=10) != self.company:
            raise Refused(wire.COMPANY_ERROR)

    async def cancel_invoice(self, data: Payload, timestamp: str) -> Payload:
        self._seller(data)
        number = wire.text(data, "InvoiceNumber", required=True, limit=10).upper()
        reason = wire.text(data, "CancelReason", required=True, limit=20)
        try:
            view = self.context.lifecycle.void(number, reason)
        except TurnkeyError as error:
            raise _refusal(error) from None
        return {"InvoiceNumber": number,
                "AuthCode": wire.auth_code(self.company, "void", view["period"], number)}

    async def allowance(self, data: Payload, timestamp: str) -> Payload:
        self._seller(data)
        prefix = wire.text(data, "AllowanceNumberPrefix", required=True, limit=40)
        details = data.get("Details")
        if not isinstance(details, list) or not details or not all(isinstance(d, dict) for d in details):
            raise Refused("Details 不可為空 (Details is a list of the invoice lines allowed)")
        numbers = {wire.text(d, "InvoiceNumber", required=True, limit=10).upper() for d in details}
        if len(numbers) != 1:
            raise Refused("Details 只能含一張發票 (einvd's allowance covers the lines of one invoice)")
        (number,) = numbers
        row = invoices.by_number(self.context.invoices.store.connection(), number) \
            if is_invoice_number(number) else None
        if row is None:
            raise Refused(f"InvoiceNumber: {number} 查無發票 (no such invoice on this box) [invoice.not_found]")
        inclusive = row.buyer_ban is None  # consumer invoices price tax-inclusive; the seed's Amount is untaxed
        stored = {_sequence(line.sequence): line.sequence
                  for line in invoices.lines_of(self.context.invoices.store.connection(), row.id)}
        wanted = tuple(
            Requested(stored.get(_sequence(wire.text(d, "SequenceNumber", required=True, limit=4)), "?"),
                      wire.amount(d, "Quantity"),
                      wire.amount(d, "Amount") + (wire.amount(d, "Tax", Decimal(0)) if inclusive else 0))
            for d in details)
        try:
            issued = self.context.allowances.issue(AllowanceRequest(number, wanted, f"systemlead:{prefix}"))
        except TurnkeyError as error:
            raise _refusal(error) from None
        allowance_number = issued.body["allowance_number"]
        return {"AllowanceNumber": allowance_number, "InvoiceNumber": number,
                "AuthCode": wire.auth_code(self.company, "allowance", allowance_number)}

    async def cancel_allowance(self, data: Payload, timestamp: str) -> Payload:
        self._seller(data)
        number = wire.text(data, "AllowanceNumber", required=True, limit=16)
        reason = wire.text(data, "CancelReason", required=True, limit=20)
        try:
            self.context.allowances.void(number, reason)
        except TurnkeyError as error:
            raise _refusal(error) from None
        return {"AllowanceNumber": number, "AuthCode": wire.auth_code(self.company, "allowance-void", number)}

    # --- reads ----------------------------------------------------------------------------------------------

    async def status(self, data: Payload, timestamp: str) -> Payload:
        number = wire.text(data, "InvoiceID", required=True, limit=10).upper()
        if wire.text(data, "CompanyID", limit=10) not in ("", self.company):
            raise Refused(wire.COMPANY_ERROR)
        row = invoices.by_number(self.context.invoices.store.connection(), number) \
            if is_invoice_number(number) else None
        if row is None:
            raise Refused(f"InvoiceID: {number} 查無發票 (no such invoice on this box) [invoice.not_found]")
        last = self.context.lifecycle.view(number)["deliveries"][-1]
        kind, step = _KIND.get(last["type"], "I"), _STEP.get(last["delivery"], "2")
        return {"InvoiceID": number, "ProcessStatus": kind + step,
                "ProcessStatusMessage": _WORDS[kind] + _STEP_WORDS[step]}

    async def id_list(self, data: Payload, timestamp: str) -> Payload:
        company = wire.text(data, "CompanyID", required=True, limit=10)
        year = wire.text(data, "StageYear", required=True, limit=4)
        month = wire.text(data, "StageMonth", limit=2)
        if not year.isdigit() or (month and (not month.isdigit() or not 1 <= int(month) <= 12)):
            raise Refused("StageYear / StageMonth 格式錯誤 (a year, an even month)")
        answer: Payload = {"CompanyID": company, "StageYear": year, **({"StageMonth": month} if month else {})}
        if company != self.company:
            return {"IDList": [], **answer}
        held = stored_tracks.numbered_by(self.context.invoices.store.connection(), self.pos)
        answer["IDList"] = [_id_entry(company, r) for r in held if _in_stage(r.period, int(year), month)]
        return answer


def _sequence(text: str) -> str:
    """A line's sequence without leading zeros (the seed writes ``003``)."""
    return text.lstrip("0") or "0"


def _in_stage(period: str, year: int, month: str) -> bool:
    parsed = Period.parse(period)
    return parsed.year == year and (not month or parsed.end_month in (int(month), int(month) + 1))


def _id_entry(company: str, record: stored_tracks.TrackRecord) -> Payload:
    """One range as GetInvoiceIDList.md shows a track with one booklet span (``Details``)."""
    period = Period.parse(record.period)
    current = record.begin_no if record.last_no is None else min(record.last_no + 1, record.end_no)
    begin, end = f"{record.begin_no:08d}", f"{record.end_no:08d}"
    return {
        "IDKey": f"{company}{record.period}{record.track}{begin}", "CompanyID": company, "Word": record.track,
        "StageYear": str(period.year), "StageMonth": period.end_month, "BeginNumber": begin, "EndNumber": end,
        "InvoiceType": record.invoice_type,
        "Details": [{"Code": "01", "StartNumber": begin, "EndNumber": end, "CurrentNumber": f"{current:08d}",
                     "InvoiceCount": record.end_no - record.begin_no + 1,
                     "LastUseDate": record.last_issued_at, "RowStatus": "A" if record.closed_at is None else "C",
                     "UseFor": record.numbered_by, "Note": ""}],
    }


def _echo(name: str, data: Payload) -> Payload:
    """The keys of the item a failure answer repeats, as the seed's examples do."""
    keys = {"Append/Invoices": ("InvoiceID", "InvoiceDateTime"), "Append/Order": ("RelateNumber",),
            "Append/Orders": ("RelateNumber",), "Update/CancelInvoices": ("InvoiceNumber",),
            "Update/CancelAllowances": ("AllowanceNumber",), "Inquire/GetInvoicesStatus": ("InvoiceID",),
            "Inquire/GetInvoiceIDList": ("CompanyID", "StageYear")}.get(name, ())
    return {key: data[key] for key in keys if isinstance(data.get(key), (str, int))}


DESCRIPTION = __doc__ or ""
ENVELOPE = {"type": "object", "required": ["CompanyID", "Timestamp", "Signature", "Data"], "properties": {
    "CompanyID": {"type": "string", "description": "the seller's 統一編號 ([compat.systemlead] company_id)"},
    "Timestamp": {"type": "string", "description": "Unix seconds (signed, not checked against a clock)"},
    "Signature": {"type": "string", "description": "upper-hex SHA256(Timestamp + Salt)"},
    "Data": {"type": "object", "description": "the operation's body as e首發票 documents it"}}}
ANSWER = {"type": "array", "items": {"type": "object", "description": "AuthCode (GUID) on success, Message on "
                                                                     "failure, the item's keys echoed"}}


def build(context: ApiContext, settings: CompatSection) -> FastAPI:
    """The sub-application mounted at ``/systemlead`` (its document at ``/systemlead/openapi.json``)."""
    if not settings.merchant or not settings.key or not settings.pos:
        raise ConfigError("compat.systemlead: company_id, salt and pos are all needed (pos names the ranges "
                          "added with `einvd tracks add ... --numbered-by <pos>`)")
    layer = SystemLeadLayer(context, settings)
    app = FastAPI(title="einvd: e首發票 (SystemLead) OpenAPI", version="1", description=DESCRIPTION, docs_url=None,
                  redoc_url=None)
    body = {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [ENVELOPE, {"type": "array", "items": ENVELOPE}]}}}}
    for name in layer.operations:
        app.add_api_route(f"/{name}", _endpoint(layer, name), methods=["POST"], name=name.replace("/", "_"),
                          summary=f"e首發票 /{name}", response_class=JSONResponse,
                          openapi_extra={"requestBody": body, "responses": {"200": {
                              "description": "one answer per item", "content": {
                                  "application/json": {"schema": ANSWER}}}}})
    app.add_api_route("/{group}/{operation}", _other(layer), methods=["POST"], include_in_schema=False)
    return app


def _other(layer: SystemLeadLayer) -> Callable[[Request, str, str], Awaitable[JSONResponse]]:
    async def other(request: Request, group: str, operation: str) -> JSONResponse:
        return await _endpoint(layer, f"{group[:20]}/{operation[:40]}")(request)

    return other


def _endpoint(layer: SystemLeadLayer, name: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse([{"Message": "內容過大 (the body is too large)"}], status_code=413)
        return await layer.handle(name, await request.body())

    endpoint.__name__ = f"systemlead_{name.replace('/', '_')}"
    return endpoint
