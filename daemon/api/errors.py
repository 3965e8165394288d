"""Every refusal in the contract's shape ``{"errors": [{"code", "field", "message"}]}`` with its status."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from daemon.api.auth import AuthError
from daemon.api.models import ErrorBody
from daemon.jsonio import JsonRefused
from daemon.lifecycle import NotFound
from daemon.store import OperationalError, StoreUnavailable
from turnkey.errors import Conflict, InvoiceInvalid, Problem, TrackError, TurnkeyError, WindowClosed

log = logging.getLogger("einvd.api")
STATUS: dict[type[TurnkeyError], int] = {
    InvoiceInvalid: 422, TrackError: 409, Conflict: 409, WindowClosed: 409, NotFound: 404,
}
RULES = {
    "missing": "required", "extra_forbidden": "unknown_field", "string_too_long": "length",
    "string_too_short": "length", "string_pattern_mismatch": "format", "literal_error": "invalid",
    "too_short": "count", "too_long": "count",
}
_INDEX = re.compile(r"\[\d+\]")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)


def body(status: int, problems: Iterable[Problem], headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The error body; text echoed from the request that is not Unicode (lone surrogates) is escaped, not a 500."""
    errors = [{k: v.encode("utf-8", "backslashreplace").decode("utf-8") for k, v in p.as_dict().items()}
              for p in problems]
    return JSONResponse({"errors": errors}, status_code=status, headers=headers)


def one(status: int, code: str, message: str, field: str = "") -> JSONResponse:
    return body(status, [Problem(code, field, message)])


def _field(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def problems_of(errors: Sequence[Any], skip: int = 0) -> list[Problem]:
    """Pydantic errors -> problems; ``skip`` drops leading location parts (``body``, ``query``)."""
    found = []
    for error in errors:
        field = _field(error["loc"][skip:])
        kind = str(error["type"])
        rule = kind.removeprefix("decimal_") if kind.startswith("decimal_") else RULES.get(kind, "type")
        area = _INDEX.sub("", field) or "body"
        if kind == "extra_forbidden" and not _NAME.fullmatch(str(error["loc"][-1])):
            area = _INDEX.sub("", _field(error["loc"][skip:-1])) or "body"  # codes stay dotted identifiers
        found.append(Problem(f"{area}.{rule}", field, f"{field or 'body'}: {error['msg']}"))
    return found


def _turnkey(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TurnkeyError)
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 409)
    return body(status, error.problems)


def _auth(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AuthError)
    headers = {"WWW-Authenticate": "Einvd-HMAC-SHA256"} if error.status == 401 else None
    return body(error.status, [Problem(error.code, "", str(error))], headers)


def _json(_: Request, error: Exception) -> JSONResponse:
    return one(400, "body.json", str(error))


def _store(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StoreUnavailable)
    return one(503, error.code, str(error))


def _sqlite(_: Request, error: Exception) -> JSONResponse:
    log.warning("store error: %s", error)
    return one(503, "store.busy", "the invoice database is busy; try again")


def _validation(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ValidationError | RequestValidationError)
    skip = 1 if isinstance(error, RequestValidationError) else 0
    return body(422, problems_of(error.errors(), skip))


def _allowed(request: Request) -> str:
    """Every method of every route on this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "\0"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods - {"HEAD"}))


def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    code = {404: "path.not_found", 405: "method.not_allowed"}.get(error.status_code, "http.error")
    headers = {"Allow": _allowed(request)} if error.status_code == 405 else error.headers
    return body(error.status_code, [Problem(code, "", str(error.detail))], headers)


def _internal(_: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=error)
    return one(500, "internal", "einvd failed to answer this request; the log has the details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(TurnkeyError, _turnkey)
    app.add_exception_handler(AuthError, _auth)
    app.add_exception_handler(JsonRefused, _json)
    app.add_exception_handler(StoreUnavailable, _store)
    app.add_exception_handler(OperationalError, _sqlite)
    app.add_exception_handler(ValidationError, _validation)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _internal)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "unreadable body (body.json)", 413: "body larger than 8 MiB (body.too_large)",
            401: "not authenticated (auth.*)", 403: "the key lacks the permission",
            404: "no such number", 409: "state, window or idempotency conflict", 422: "invalid request",
            503: "store unavailable (store.full, store.unavailable, store.busy)"}
    return {status: {"model": ErrorBody, "description": text[status]} for status in statuses}
