"""How every handler runs: the nonce admitted and the key's permission checked (``authorised``), changes on the
event loop's thread (``change``), reads in a worker thread (``read``), and the strict JSON body (``json_body``)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from daemon import jsonio
from daemon.api.auth import AuthError, Signed
from daemon.api.context import ApiContext
from turnkey.errors import InvoiceInvalid, Problem

T = TypeVar("T")


def authorised(request: Request, permission: str, admit: bool = True) -> Signed:
    """Admit the nonce (``auth.replay`` when seen; ``admit=False``: the caller records it in its own
    transaction) and check the key's permission (403)."""
    context: ApiContext = request.app.state.context
    signed: Signed = request.scope["einvd.signed"]
    if admit:
        context.guard.admit(signed, context.now())
    if not signed.key.allows(permission):
        raise AuthError("auth.permission", f"key {signed.key.id} lacks the {permission} permission", 403)
    _known_query(request)
    return signed


def _known_query(request: Request) -> None:
    """Unknown query parameters are refused like unknown fields (422 ``query.unknown_field``)."""
    route = request.scope.get("route")
    allowed = {param.alias for param in route.dependant.query_params} if route is not None else set()
    problems = [Problem("query.unknown_field", name, f"{name!r} is not a parameter of this path")
                for name in sorted(set(request.query_params) - allowed)]
    problems += [Problem("query.repeated", name, f"{name!r} may be given once")
                 for name in sorted(allowed) if len(request.query_params.getlist(name)) > 1]
    if problems:
        raise InvoiceInvalid(*problems)


async def change(request: Request, permission: str, work: Callable[[], JSONResponse]) -> JSONResponse:
    """Writes run on the event loop's own thread, the API's one SQLite writer: they never wait on each other inside
    SQLite (whose busy handler sleeps), and no thread hop or GIL hand-over is paid. A write holds the loop for
    its commit (about a millisecond); the nonce is admitted the same way."""
    authorised(request, permission)
    return work()


async def read(request: Request, work: Callable[[], T]) -> T:
    """Reads admit the nonce on the loop, then run in a worker thread (WAL readers never wait for writers)."""
    authorised(request, "read")
    return await run_in_threadpool(work)


MAX_DEPTH = 32
"""Deepest nesting of arrays and objects a body may have (an invoice document needs 4)."""
MAX_EXPONENT = 1000
"""Largest decimal exponent of a JSON number (the decimal context cannot compare beyond about 10**999999)."""


def json_body(request: Request) -> Any:
    """The body as JSON, refused (400 ``body.json``) when it is not UTF-8 without a byte order mark (RFC 8259 8.1;
    ``json.loads`` alone would take UTF-16 and a BOM), is not strict JSON, nests deeper than MAX_DEPTH, holds a
    number beyond 10**±MAX_EXPONENT or a string with a lone surrogate (``"\\ud800"``: no Unicode)."""
    doc = jsonio.loads(_utf8(request.scope["einvd.body"]))
    _sane(doc)
    return doc


def _utf8(body: bytes) -> str:
    if body.startswith(b"\xef\xbb\xbf"):
        raise jsonio.JsonRefused("the body starts with a byte order mark: send UTF-8 without one")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise jsonio.JsonRefused(f"the body is not UTF-8 (byte {error.start}); JSON is sent as UTF-8") from None


def _sane(doc: Any) -> None:
    pending: list[tuple[Any, int]] = [(doc, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise jsonio.JsonRefused(f"the body nests deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                _sane_scalar(key)
                pending.append((item, depth + 1))
        else:
            _sane_scalar(value)


def _sane_scalar(value: Any) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise jsonio.JsonRefused("a string holds a lone surrogate escape (\\ud800-\\udfff): not Unicode") from None
    elif isinstance(value, Decimal) and value.is_finite() and value and abs(value.adjusted()) > MAX_EXPONENT:
        raise jsonio.JsonRefused(f"a number lies beyond 10**±{MAX_EXPONENT}")
