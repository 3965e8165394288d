"""The FastAPI application: signed requests checked before any route, strict bodies, documented errors.

``create_app(context)`` builds it; ``bind(settings)`` opens the configured TCP address and the optional unix socket
for ``uvicorn.Server.serve(sockets=...)``; ``server_tls(settings)`` loads ``api.tls_cert`` into a TLS context (and
logs its fingerprint); ``ServerThread`` runs it in a thread (``einvd run``, tests and benchmarks).

uvicorn applies one ``Config.ssl`` to every socket it is given, so with TLS the TCP sockets and the unix socket
(local, always plain) are served by two ``uvicorn.Server``s sharing the app and one event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import ssl
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
from daemon.config import ApiSettings, ConfigError, fingerprint, is_loopback

log = logging.getLogger("einvd.api")

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


def _encrypted(*_: object) -> bytes:
    raise ConfigError("the TLS private key is encrypted: einvd reads it unattended, so it must be unencrypted "
                      "(protect it with mode 0600 or a systemd credential)")


def server_tls(settings: ApiSettings) -> ssl.SSLContext | None:
    """The TLS context for ``api.listen`` (None: no ``api.tls_cert``): TLS 1.2 or later, the certificate chain and
    key loaded now, so a missing or mismatched file is a ConfigError at start. Logs the certificate's SHA-256
    fingerprint, the value a POS pins. Plain HTTP beyond loopback (``allow_plain_http``) is logged as a warning."""
    if settings.tls_cert is None:
        if not is_loopback(settings.host):
            log.warning("api.listen %s:%d is not a loopback address and serves plain HTTP (allow_plain_http): anyone "
                        "on the network can read the requests", settings.host, settings.port)
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key, password=_encrypted)
        text = settings.tls_cert.read_text(encoding="ascii")
        first = text[text.index("-----BEGIN CERTIFICATE-----"):]
        der = ssl.PEM_cert_to_DER_cert(first[:first.index("-----END CERTIFICATE-----") + 25])
    except (OSError, ssl.SSLError, ValueError) as error:
        raise ConfigError(f"api.tls_cert {settings.tls_cert} / tls_key {settings.tls_key or '(in the certificate)'}: "
                          f"cannot load them: {error}") from error
    log.info("API TLS certificate %s, SHA-256 fingerprint %s", settings.tls_cert, fingerprint(der))
    return context


class ServerThread:
    """uvicorn in a thread: on 127.0.0.1 (port 0 picks a free one) or on given sockets; ``tls`` (``server_tls``)
    encrypts the TCP sockets, never a unix socket."""

    def __init__(self, app: FastAPI, port: int = 0, sockets: list[socket.socket] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        groups: list[tuple[list[socket.socket] | None, ssl.SSLContext | None]] = [(sockets, tls)]
        if sockets is not None and tls is not None:
            network = [s for s in sockets if s.family != socket.AF_UNIX]
            local = [s for s in sockets if s.family == socket.AF_UNIX]
            groups = [(group, context) for group, context in ((network, tls), (local, None)) if group]
        self.groups = [group for group, _ in groups]
        self.servers = [uvicorn.Server(_config(app, port, context, lifespan=index == 0))
                        for index, (_, context) in enumerate(groups)]
        self.server = self.servers[0]
        self.thread = threading.Thread(target=self._run, name="einvd-api", daemon=True)

    def _run(self) -> None:
        if len(self.servers) == 1:
            self.server.run(sockets=self.groups[0])
            return

        async def serve() -> None:
            await asyncio.gather(*(server.serve(sockets=group) for server, group in zip(self.servers, self.groups,
                                                                                     strict=True)))

        asyncio.run(serve())

    def start(self, timeout: float = 10.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not all(server.started for server in self.servers):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        address = self.server.servers[0].sockets[0].getsockname()
        if not isinstance(address, tuple):
            return f"unix:{address}"
        scheme = "https" if self.tls is not None else "http"
        host = address[0] if address[0] not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{address[1]}"

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        self.thread.join(10)


def _config(app: FastAPI, port: int, tls: ssl.SSLContext | None, lifespan: bool) -> uvicorn.Config:
    """uvicorn's configuration, loaded now so that our TLS context replaces the one uvicorn would build from file
    names (``Config.load`` sets ``ssl``; ``Server.serve`` loads only a configuration not loaded yet)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            lifespan="auto" if lifespan else "off")
    config.load()
    config.ssl = tls
    return config
