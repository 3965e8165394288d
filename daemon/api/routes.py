"""The endpoints of the contract for invoices and allowances. Every handler first admits the request's nonce and
checks the key's permission, then calls one use case (see ``daemon.api.handling``)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from daemon.allowances import AllowanceRequest
from daemon.api import models
from daemon.api.batch import Later
from daemon.api.context import ApiContext
from daemon.api.docs import SECURITY
from daemon.api.errors import responses
from daemon.api.handling import authorised, change, json_body, read
from daemon.mail import notify_again
from daemon.store import invoices
from turnkey.lifecycle import Requested

Number = Annotated[str, Path(pattern=models.INVOICE_NUMBER, description="invoice number, e.g. AB12345678")]
AllowanceNumber = Annotated[str, Path(pattern=r"^[A-Z0-9]{1,16}$", description="allowance number")]
CHANGE = (400, 401, 403, 404, 409, 413, 422, 503)
VIEW = {200: {"model": models.InvoiceView}, **responses(*CHANGE)}


def _body(model: type[models.Strict]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}, "security": [SECURITY]}


def _documented(model: type[Any], status: int = 200, *errors: int) -> dict[str, Any]:
    return {"responses": {status: {"model": model}, **responses(*errors)}, "openapi_extra": {"security": [SECURITY]}}


def register(app: FastAPI, context: ApiContext) -> None:
    _invoices(app, context)
    _changes(app, context)
    _allowances(app, context)


def _invoices(app: FastAPI, context: ApiContext) -> None:
    @app.post("/v1/invoices", summary="issue an invoice (F0401)", openapi_extra=_body(models.InvoiceDocument),
              responses={200: {"model": models.IssuedInvoice, "description": "the same order again"},
                         201: {"model": models.IssuedInvoice, "description": "issued"},
                         **responses(400, 401, 403, 409, 413, 422, 503)})
    async def issue(request: Request) -> JSONResponse:
        """Issued in a group commit with the requests that arrived alongside (daemon/api/batch.py)."""
        signed = authorised(request, "issue", admit=False)
        doc = json_body(request)

        def work() -> Later[JSONResponse]:
            finish = context.invoices.prepare(doc)

            def answer() -> JSONResponse:  # the QR payloads and the JSON, built while the commit syncs
                issued = finish()
                return JSONResponse(issued.body, status_code=201 if issued.created else 200)

            return Later(answer)

        return await context.batcher.submit(signed, work)

    @app.post("/v1/validate", summary="check an invoice document as issue would; nothing is issued",
              openapi_extra=_body(models.InvoiceDocument),
              responses={200: {"model": models.InvoiceDocument, "description": "the normalised document (amounts "
                                                                              "filled in); no number was taken"},
                         **responses(400, 401, 403, 409, 413, 422, 503)})
    async def validate(request: Request) -> JSONResponse:
        """Every rule of issue, the clock and the ranges included, read from a snapshot: no number is taken and
        nothing is stored, so it runs beside the writer (issue 15 item 6). Not ``/v1/invoices/validate``: that
        path is also ``GET /v1/invoices/{number}``'s (a number is any path segment to the router)."""
        authorised(request, "issue")
        doc = json_body(request)
        return await run_in_threadpool(lambda: JSONResponse(context.invoices.validate(doc)))

    @app.get("/v1/invoices/{number}", summary="one invoice: state, lines left, allowances, messages, events",
             **_documented(models.InvoiceView, 200, 401, 403, 404, 422, 503))
    async def one(request: Request, number: Number) -> JSONResponse:
        return await read(request, lambda: JSONResponse(context.lifecycle.view(number)))

    @app.get("/v1/invoices", summary="search invoices, newest first, paged",
             **_documented(models.InvoicePage, 200, 401, 403, 422, 503))
    async def search(request: Request,
               order_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
               period: Annotated[str | None, Query(pattern=r"^[0-9]{3}(02|04|06|08|10|12)$")] = None,
               status: Annotated[str | None, Query(min_length=1, max_length=20, description="delivery status or "
                                                   "issued/voided/cancelled")] = None,
               cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 50) -> JSONResponse:
        return await read(request, lambda: JSONResponse(_search(context, order_id, period, status, cursor, limit)))


LIFECYCLE_STATES = ("issued", "voided", "cancelled")


def _search(context: ApiContext, order_id: str | None, period: str | None, status: str | None,
            cursor: str | None, limit: int) -> dict[str, Any]:
    lifecycle = status if status in LIFECYCLE_STATES else None
    rows = invoices.search(context.invoices.store.connection(), before_id=int(cursor) if cursor else 2**62,
                           limit=limit + 1, order_id=order_id, period=period,
                           status=None if lifecycle else status, lifecycle=lifecycle)
    page = [{"invoice_number": r.number, "period": r.period, "order_id": r.order_id, "issued_at": r.issued_at,
             "total": r.total, "status": r.status, "state": r.lifecycle, "print_status": r.print_status}
            for r in rows[:limit]]
    return {"invoices": page, "next_cursor": str(rows[limit - 1].id) if len(rows) > limit else None}


def _changes(app: FastAPI, context: ApiContext) -> None:
    @app.post("/v1/invoices/{number}/void", summary="void (作廢, F0501) inside the window",
              openapi_extra=_body(models.ReasonIn), responses=VIEW)
    async def void(request: Request, number: Number) -> JSONResponse:
        def work() -> JSONResponse:
            given = models.ReasonIn.model_validate(json_body(request))
            return JSONResponse(context.lifecycle.void(number, given.reason))

        return await change(request, "void", work)

    @app.post("/v1/invoices/{number}/cancel", summary="cancel (註銷, F0701), optionally issuing the number again",
              openapi_extra=_body(models.CancelIn), responses=VIEW)
    async def cancel(request: Request, number: Number) -> JSONResponse:
        def work() -> JSONResponse:
            doc = json_body(request)
            given = models.CancelIn.model_validate({**doc, "reissue": None} if isinstance(doc, dict) else doc)
            reissue = doc.get("reissue") if isinstance(doc, dict) else None
            return JSONResponse(context.lifecycle.cancel(number, given.reason, reissue))

        return await change(request, "void", work)

    @app.post("/v1/invoices/{number}/print", summary="print the proof again (a copy, 補印)",
              responses={202: {"model": models.ReprintOut}, **responses(400, 401, 403, 404, 409, 422, 503)},
              openapi_extra={"security": [SECURITY]})
    async def reprint(request: Request, number: Number) -> JSONResponse:
        def work() -> JSONResponse:
            if request.scope["einvd.body"].strip() not in (b"", b"{}"):
                models.ReasonIn.model_validate(json_body(request))  # no body is expected: refuse what was sent
            return JSONResponse(context.lifecycle.reprint(number), status_code=202)

        return await change(request, "issue", work)

    @app.post("/v1/invoices/{number}/notify", summary="e-mail the invoice to the buyer again (queued, 補寄)",
              responses={202: {"model": models.NotifyOut}, **responses(400, 401, 403, 404, 413, 422, 503)},
              openapi_extra={"security": [SECURITY]})
    async def notify(request: Request, number: Number) -> JSONResponse:  # MAIL: daemon/mail.py notify_again
        def work() -> JSONResponse:
            raw = request.scope["einvd.body"].strip()
            given = models.NotifyIn.model_validate(json_body(request)) if raw else models.NotifyIn()
            now = context.invoices.clock.now()
            return JSONResponse(notify_again(context.invoices.store, number, now, given.email), status_code=202)

        return await change(request, "issue", work)


def _allowances(app: FastAPI, context: ApiContext) -> None:
    @app.post("/v1/allowances", summary="allowance (折讓, G0401) on lines of an issued invoice",
              openapi_extra=_body(models.AllowanceIn),
              responses={200: {"model": models.AllowanceOut, "description": "the same request_id again"},
                         201: {"model": models.AllowanceOut, "description": "issued"}, **responses(*CHANGE)})
    async def allowance(request: Request) -> JSONResponse:
        def work() -> JSONResponse:
            given = models.AllowanceIn.model_validate(json_body(request))
            wanted = tuple(Requested(line.sequence, line.quantity, line.amount) for line in given.lines)
            issued = context.allowances.issue(AllowanceRequest(given.invoice_number, wanted, given.request_id))
            return JSONResponse(issued.body, status_code=201 if issued.created else 200)

        return await change(request, "issue", work)

    @app.get("/v1/allowances/{number}", summary="one allowance",
             **_documented(models.AllowanceOut, 200, 401, 403, 404, 422, 503))
    async def one_allowance(request: Request, number: AllowanceNumber) -> JSONResponse:
        return await read(request, lambda: JSONResponse(context.allowances.view(number)))

    @app.post("/v1/allowances/{number}/void", summary="void an allowance (G0501)",
              openapi_extra=_body(models.ReasonIn), responses={200: {"model": models.AllowanceOut},
                                                               **responses(*CHANGE)})
    async def void_allowance(request: Request, number: AllowanceNumber) -> JSONResponse:
        def work() -> JSONResponse:
            given = models.ReasonIn.model_validate(json_body(request))
            return JSONResponse(context.allowances.void(number, given.reason))

        return await change(request, "void", work)

    if context.echo:
        @app.post("/v1/echo", summary="signed echo (benchmark floor)", include_in_schema=False)
        async def echo(request: Request) -> JSONResponse:
            def work() -> JSONResponse:
                return JSONResponse({"key": request.scope["einvd.signed"].key.id,
                                     "body_sha256": hashlib.sha256(request.scope["einvd.body"]).hexdigest()})

            return await change(request, "read", work)
