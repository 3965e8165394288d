"""Tracks, health, metrics and scans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from daemon import tracks, workers
from daemon.api import models
from daemon.api.errors import one, responses
from turnkey.errors import Problem, TrackError
from turnkey.numbers import TrackRange
from turnkey.period import Period, taipei

STREAM_WAIT = 15.0


def _security() -> dict[str, Any]:
    from daemon.api.app import SECURITY

    return {"security": [SECURITY]}


def register_extra(app: FastAPI, context: Any) -> None:
    from daemon.api.routes import change, json_body, read

    store = context.invoices.store

    @app.get("/v1/tracks", summary="number ranges held by this box", openapi_extra=_security(),
             responses={200: {"model": models.TracksOut}, **responses(401, 403, 503)})
    async def list_tracks(request: Request) -> JSONResponse:
        return await read(request, lambda: JSONResponse({"tracks": [h.as_dict() for h in tracks.held(store)]}))

    @app.post("/v1/tracks", summary="add a number range (admin)",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/TrackIn"}}}}, **_security()},
              responses={201: {"model": models.TracksAdded}, **responses(400, 401, 403, 409, 422, 503)})
    async def add_track(request: Request) -> JSONResponse:
        def work() -> JSONResponse:
            given = models.TrackIn.model_validate(json_body(request))
            try:
                rng = TrackRange(Period.parse(given.period), given.invoice_type, given.track, int(given.begin),
                                 int(given.end))
            except ValueError as error:
                raise TrackError(Problem("tracks.range", "range", str(error))) from error
            source = f"api {request.scope['einvd.signed'].key.id}"
            added = tracks.add(store, [rng], source, context.invoices.clock.now())
            return JSONResponse({"added": [r.label for r in added]}, status_code=201)

        return await change(request, "admin", work)

    @app.get("/v1/health", summary="liveness and backlog (no key needed)",
             responses={200: {"model": models.Health}, **responses(503)})
    def health() -> JSONResponse:
        now = context.invoices.clock.now()
        state = workers.health(store, now)
        return JSONResponse({"status": "ok", "time": taipei(now).isoformat(), "backlog": state["outbox"],
                             "invoices": state["invoices"], "alerts": state["alerts"]})

    @app.get("/metrics", summary="Prometheus text format", response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **responses(503)})
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(_metrics(store), media_type="text/plain; version=0.0.4")

    _scans(app, context)


def _metrics(store: Any) -> str:
    lines = ["# HELP einvd_invoices Invoices by lifecycle state.", "# TYPE einvd_invoices gauge"]
    for row in store.read("SELECT lifecycle, count(*) AS n FROM invoices GROUP BY lifecycle"):
        lines.append(f'einvd_invoices{{state="{row["lifecycle"]}"}} {row["n"]}')
    lines += ["# HELP einvd_outbox Outbox messages by type and state.", "# TYPE einvd_outbox gauge"]
    for row in store.read("SELECT message_type, state, count(*) AS n FROM outbox GROUP BY message_type, state"):
        lines.append(f'einvd_outbox{{type="{row["message_type"]}",state="{row["state"]}"}} {row["n"]}')
    lines += ["# HELP einvd_allowances Allowances by state.", "# TYPE einvd_allowances gauge"]
    for row in store.read("SELECT state, count(*) AS n FROM allowances GROUP BY state"):
        lines.append(f'einvd_allowances{{state="{row["state"]}"}} {row["n"]}')
    return "\n".join(lines) + "\n"


def _scans(app: FastAPI, context: Any) -> None:
    from daemon.api.routes import read

    @app.get("/v1/scans", summary="scanned carriers, long poll", openapi_extra=_security(),
             responses={200: {"model": models.ScansOut}, **responses(401, 403, 422, 503)})
    async def scans(request: Request, wait: Annotated[float, Query(ge=0, le=60)] = 30,
                    scanner: Annotated[str | None, Query(min_length=1, max_length=64)] = None) -> JSONResponse:
        def work() -> JSONResponse:
            if context.scans is None:
                return one(503, "scanner.unavailable", "no scanner is configured on this box")
            return JSONResponse({"scans": [d.as_dict() for d in context.scans.take(wait, scanner)]})

        return await read(request, work)

    @app.get("/v1/scans/stream", summary="scanned carriers as server-sent events", openapi_extra=_security(),
             responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        **responses(401, 403, 503)})
    async def stream(request: Request) -> Any:
        def work() -> Any:
            if context.scans is None:
                return one(503, "scanner.unavailable", "no scanner is configured on this box")
            return StreamingResponse(_events(context.scans), media_type="text/event-stream")

        return await read(request, work)


def _events(hub: Any) -> Iterator[str]:
    yield ": einvd scans\n\n"
    while True:
        deliveries = hub.take(STREAM_WAIT)
        for delivery in deliveries:
            yield f"id: {delivery.id}\nevent: scan\ndata: {json.dumps(delivery.as_dict(), ensure_ascii=False)}\n\n"
        if not deliveries:
            yield ": keep-alive\n\n"
