"""``/v1/tracks``: the number ranges held by this box, and adding one (admin)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from daemon import tracks
from daemon.api import models
from daemon.api.context import ApiContext
from daemon.api.docs import SECURITY
from daemon.api.errors import responses
from daemon.api.handling import change, json_body, read
from turnkey.errors import Problem, TrackError
from turnkey.numbers import TrackRange
from turnkey.period import Period


def register(app: FastAPI, context: ApiContext) -> None:
    store = context.invoices.store

    @app.get("/v1/tracks", summary="number ranges held by this box", openapi_extra={"security": [SECURITY]},
             responses={200: {"model": models.TracksOut}, **responses(401, 403, 503)})
    async def list_tracks(request: Request) -> JSONResponse:
        return await read(request, lambda: JSONResponse({"tracks": [h.as_dict() for h in tracks.held(store)]}))

    @app.post("/v1/tracks", summary="add a number range (admin)",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/TrackIn"}}}}, "security": [SECURITY]},
              responses={201: {"model": models.TracksAdded}, **responses(400, 401, 403, 409, 422, 503)})
    async def add_track(request: Request) -> JSONResponse:
        def work() -> JSONResponse:
            given = models.TrackIn.model_validate(json_body(request))
            try:
                span = TrackRange(Period.parse(given.period), given.invoice_type, given.track, int(given.begin),
                                 int(given.end))
            except ValueError as error:
                raise TrackError(Problem("tracks.range", "range", str(error))) from error
            source = f"api {request.scope['einvd.signed'].key.id}"
            added = tracks.add(store, [span], source, context.invoices.clock.now())
            return JSONResponse({"added": [r.label for r in added]}, status_code=201)

        return await change(request, "admin", work)
