"""A small signing client for the local API (stdlib only, one keep-alive connection).

    client = Client("http://127.0.0.1:8470", "pos1", secret)
    status, body = client.request("POST", "/v1/invoices", document)

An ``https://`` URL with ``pin`` (the SHA-256 fingerprint ``einvd tls cert`` printed) accepts exactly that
certificate, whoever signed it and whatever names it holds (``PinMismatch`` for any other, before a byte of the
request is sent); without a pin the certificate must be valid for the host under the system's CAs.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from daemon.api.auth import sign
from daemon.config import ApiSettings, ConfigError, fingerprint, pin


def signed_headers(key_id: str, secret: bytes, method: str, path: str, body: bytes, now: float,
                   nonce: str | None = None) -> dict[str, str]:
    """The four X-Einvd-* headers for one request (``path`` with its query string, as sent)."""
    timestamp, nonce = str(int(now)), nonce or secrets.token_hex(16)
    return {"X-Einvd-Key": key_id, "X-Einvd-Timestamp": timestamp, "X-Einvd-Nonce": nonce,
            "X-Einvd-Signature": sign(secret, method, path, timestamp, nonce, body)}


def encode(document: Any) -> bytes:
    """JSON as the daemon reads it: decimals stay exact (written as numbers, never through a float)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=_exact).encode()


def _exact(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


class PinMismatch(ssl.SSLError):
    """The server's certificate is not the pinned one: nothing was sent."""


class PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to a server whose certificate has the SHA-256 fingerprint ``pinned`` (TLS 1.2 or later); the chain
    and the names are not looked at, the pin is the whole trust."""

    def __init__(self, host: str, port: int, pinned: str, timeout: float) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__(host, port, timeout=timeout, context=context)
        self.pinned = pinned

    def connect(self) -> None:
        super().connect()
        assert isinstance(self.sock, ssl.SSLSocket)
        der = self.sock.getpeercert(binary_form=True)
        seen = fingerprint(der) if der else "none"
        if seen != self.pinned:
            self.close()
            raise PinMismatch(f"the certificate of {self.host}:{self.port} has SHA-256 fingerprint {seen}, not the "
                              f"pinned {self.pinned}: refused, nothing sent (a new certificate needs a new pin)")


def _connection(url: str, pinned: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http://HOST:PORT or https://HOST:PORT, got {url!r}")
    base = parts.path.rstrip("/")
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout), base
    if pinned:
        return PinnedConnection(parts.hostname, parts.port or 443, pin(pinned), timeout), base
    return http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                       context=ssl.create_default_context()), base


class Client:
    def __init__(self, url: str, key_id: str, secret: bytes, timeout: float = 30.0,
                 now: Callable[[], float] = time.time, pin: str = "") -> None:
        self.conn, self.base = _connection(url, pin, timeout)
        self.key_id, self.secret, self.now = key_id, secret, now

    def request(self, method: str, path: str, document: Any = None) -> tuple[int, Any]:
        """Send ``document`` as JSON (None: no body); the status and the decoded answer."""
        return self.send(method, path, b"" if document is None else encode(document))

    def send(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        target = self.base + path
        headers = signed_headers(self.key_id, self.secret, method, target, body, self.now())
        if body:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, target, body=body, headers=headers)
            response = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()  # the server closed the kept-alive connection: once more on a new one
            headers = signed_headers(self.key_id, self.secret, method, target, body, self.now())
            self.conn.request(method, target, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None

    def close(self) -> None:
        self.conn.close()


def issue_remote(settings: ApiSettings, url: str, key_id: str | None, body: bytes,
                 environ: Mapping[str, str] = os.environ, pinned: str | None = None) -> tuple[int, Any]:
    """``einvd invoice issue FILE --remote URL``: the document as read, signed and sent. A leading UTF-8 byte order
    mark (files saved by Windows editors) is dropped, as the local ``invoice issue`` ignores it; the API refuses
    one. Nothing else is changed."""
    body = body.removeprefix(b"\xef\xbb\xbf")
    key_id, secret = _credentials(settings, key_id, environ)
    client = Client(url, key_id, secret, pin=pinned or settings.tls_pin)
    try:
        return client.send("POST", "/v1/invoices", body)
    finally:
        client.close()


def _credentials(settings: ApiSettings, key_id: str | None, environ: Mapping[str, str]) -> tuple[str, bytes]:
    """The key to sign with: ``--key`` with ``$EINVD_API_SECRET``, or a key with issue permission from the file."""
    from daemon.api.keys import keys_path, load_keys

    if key_id and environ.get("EINVD_API_SECRET"):
        return key_id, environ["EINVD_API_SECRET"].encode()
    keys = load_keys(keys_path(settings))
    usable = [k for k in keys.values() if k.allows("issue") and (key_id is None or k.id == key_id)]
    if not usable:
        raise ConfigError(f"no API key {'named ' + key_id if key_id else 'with the issue permission'} to sign with")
    return usable[0].id, usable[0].secret
