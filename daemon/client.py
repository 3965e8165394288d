"""A small signing client for the local API (stdlib only, one keep-alive connection).

    client = Client("http://127.0.0.1:8470", "pos1", secret)
    status, body = client.request("POST", "/v1/invoices", document)
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from daemon.api.auth import sign
from daemon.config import ApiSettings, ConfigError


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


class Client:
    def __init__(self, url: str, key_id: str, secret: bytes, timeout: float = 30.0,
                 now: Callable[[], float] = time.time) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected http://HOST:PORT, got {url!r}")
        self.base = parts.path.rstrip("/")
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
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
                 environ: Mapping[str, str] = os.environ) -> tuple[int, Any]:
    """``einvd invoice issue FILE --remote URL``: the document as read, signed and sent. A leading UTF-8 byte order
    mark (files saved by Windows editors) is dropped, as the local ``invoice issue`` ignores it; the API refuses
    one. Nothing else is changed."""
    body = body.removeprefix(b"\xef\xbb\xbf")
    key_id, secret = _credentials(settings, key_id, environ)
    client = Client(url, key_id, secret)
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
