"""``/v1/scans``: scanned carriers for the POS, as a long poll or as server-sent events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from daemon.api import models
from daemon.api.context import ApiContext
from daemon.api.docs import SECURITY
from daemon.api.errors import one, responses
from daemon.api.handling import read
from daemon.scans import ScanHub

STREAM_WAIT = 15.0


def register(app: FastAPI, context: ApiContext) -> None:
    @app.get("/v1/scans", summary="scanned carriers, long poll", openapi_extra={"security": [SECURITY]},
             responses={200: {"model": models.ScansOut}, **responses(401, 403, 422, 503)})
    async def scans(request: Request, wait: Annotated[float, Query(ge=0, le=60)] = 30,
                    scanner: Annotated[str | None, Query(min_length=1, max_length=64)] = None) -> JSONResponse:
        def work() -> JSONResponse:
            if context.scans is None:
                return one(503, "scanner.unavailable", "no scanner is configured on this box")
            return JSONResponse({"scans": [d.as_dict() for d in context.scans.take(wait, scanner)]})

        return await read(request, work)

    @app.get("/v1/scans/stream", summary="scanned carriers as server-sent events",
             openapi_extra={"security": [SECURITY]},
             responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        **responses(401, 403, 503)})
    async def stream(request: Request) -> Response:
        def work() -> Response:
            if context.scans is None:
                return one(503, "scanner.unavailable", "no scanner is configured on this box")
            return StreamingResponse(_events(context.scans), media_type="text/event-stream")

        return await read(request, work)


def _events(hub: ScanHub) -> Iterator[str]:
    yield ": einvd scans\n\n"
    while True:
        deliveries = hub.take(STREAM_WAIT)
        for delivery in deliveries:
            yield f"id: {delivery.id}\nevent: scan\ndata: {json.dumps(delivery.as_dict(), ensure_ascii=False)}\n\n"
        if not deliveries:
            yield ": keep-alive\n\n"
