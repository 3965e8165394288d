"""The FastAPI application: signed requests checked before any route, strict bodies, documented errors.

``create_app(context)`` builds it; ``bind(settings)`` opens the configured TCP address and the optional unix socket
for ``uvicorn.Server.serve(sockets=...)``; ``ServerThread`` runs it in a thread for tests and benchmarks.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import uvicorn
from fastapi import FastAPI

from daemon.api import errors, health, ranges, routes, scanning
from daemon.api.auth import AuthError, verify
from daemon.api.context import ApiContext
from daemon.api.docs import register_docs
from daemon.config import ApiSettings

MAX_BODY = 8 * 1024 * 1024
"""Largest request body read (413 ``body.too_large`` beyond it, before reading when Content-Length says so)."""
UNSIGNED = ("/v1/health",)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _TooLarge(Exception):
    """The body is (or says it is) larger than MAX_BODY."""


async def _read(receive: Receive, headers: Mapping[str, str]) -> bytes | None:
    """The whole body (None: the client went away); _TooLarge as soon as it is known to exceed MAX_BODY."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _TooLarge  # refused unread: a client must not make the daemon wait for (or hold) 50 MB
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(send: Send, status: int, problem: dict[str, str], headers: list[tuple[bytes, bytes]]) -> None:
    data = json.dumps({"errors": [problem]}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class SignedRequests:
    """Pure ASGI middleware: reads the body once, checks the signature and the clock, passes both on in the scope.

    The nonce is admitted by the route with the permission check (``routes.authorised``).
    """

    def __init__(self, app: ASGIApp, context: ApiContext) -> None:
        self.app, self.context = app, context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/") or scope["path"] in UNSIGNED:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            data = await _read(receive, headers)
        except _TooLarge:
            await _reply(send, 413, {"code": "body.too_large", "field": "",
                                     "message": f"the body is larger than {MAX_BODY} bytes"},
                         [(b"connection", b"close")])
            return
        if data is None:
            return  # the client went away: nobody to answer
        raw = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        path = (raw + (b"?" + query if query else b"")).decode("latin-1")
        try:
            scope["einvd.signed"] = verify(self.context.keys, scope["method"], path, headers, data,
                                           self.context.now())
        except AuthError as error:
            problem = {"code": error.code, "field": "", "message": str(error)}
            await _reply(send, 401, problem, [(b"www-authenticate", b"Einvd-HMAC-SHA256")])
            return
        scope["einvd.body"] = data
        await self.app(scope, _replay(data, receive), send)


def _replay(data: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": data, "more_body": False}

    return again


def create_app(context: ApiContext) -> FastAPI:
    description = ("Taiwan e-invoicing on this box: issue, void, cancel, allowances, reprints. Every /v1 path but "
                   "health is signed (see the X-Einvd-* headers).")
    app = FastAPI(title="einvd", version="1", description=description, docs_url=None, redoc_url=None)
    app.state.context = context
    errors.install(app)
    routes.register(app, context)
    ranges.register(app, context)
    health.register(app, context)
    scanning.register(app, context)
    register_docs(app)
    app.add_middleware(SignedRequests, context=context)
    return app


def bind(settings: ApiSettings) -> list[socket.socket]:
    """The listening sockets: ``api.listen`` and, when set, ``api.unix_socket`` (mode 0660: the service group)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sockets = [socket.create_server((settings.host, settings.port), family=family)]
    if settings.unix_socket is not None:
        settings.unix_socket.unlink(missing_ok=True)
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind(str(settings.unix_socket))
        os.chmod(settings.unix_socket, 0o660)
        unix.listen(128)
        sockets.append(unix)
    return sockets


class ServerThread:
    """uvicorn in a thread: on 127.0.0.1 (port 0 picks a free one) or on given sockets; for tests and the benchmark."""

    def __init__(self, app: FastAPI, port: int = 0, sockets: list[socket.socket] | None = None) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": sockets}, name="einvd-api",
                                       daemon=True)

    def start(self, timeout: float = 10.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        address = self.server.servers[0].sockets[0].getsockname()
        return f"http://127.0.0.1:{address[1]}" if isinstance(address, tuple) else f"unix:{address}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
