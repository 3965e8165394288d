"""Signed requests: HMAC-SHA256 over method, path with query, timestamp, nonce and the body's SHA-256.

    signature = hex(HMAC-SHA256(secret, METHOD \\n PATH?QUERY \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(body))))

Checked in this order: the four headers are there and well formed (``auth.missing``), the key is known and the
signature matches in constant time (``auth.signature``, the same answer for an unknown key), the timestamp is
within ``WINDOW`` seconds of the daemon's clock (``auth.expired``), and the nonce was not seen for this key within
the window (``auth.replay``, kept in SQLite so a restart forgets nothing). Secrets are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from daemon.api.keys import ApiKey
from daemon.store import Connection, OperationalError, Store, StoreUnavailable, nonces

WINDOW = 300
HEADERS = ("x-einvd-key", "x-einvd-timestamp", "x-einvd-nonce", "x-einvd-signature")
_NONCE = re.compile(r"[\x21-\x7e]{16,64}", re.ASCII)
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)
_PRUNE_EVERY = 256


class AuthError(Exception):
    """401 (``auth.*``) or 403 (``auth.permission``)."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join((method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest())).encode()


def sign(secret: bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret, string_to_sign(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Signed:
    """A request whose signature checked out; the nonce is admitted later, in a worker thread."""

    key: ApiKey
    timestamp: int
    nonce: str


def _headers(headers: Mapping[str, str]) -> tuple[str, str, str, str]:
    values = [headers.get(name, "") for name in HEADERS]
    missing = [name for name, value in zip(HEADERS, values, strict=True) if not value]
    if missing:
        raise AuthError("auth.missing", f"sign the request: {', '.join(missing)} missing")
    key_id, timestamp, nonce, signature = values
    if not _TIMESTAMP.fullmatch(timestamp):
        raise AuthError("auth.missing", "X-Einvd-Timestamp must be Unix seconds")
    if not _NONCE.fullmatch(nonce):
        raise AuthError("auth.missing", "X-Einvd-Nonce must be 16-64 printable ASCII characters")
    if not _SIGNATURE.fullmatch(signature):
        raise AuthError("auth.signature", "X-Einvd-Signature must be 64 lowercase hex digits")
    return key_id, timestamp, nonce, signature


def verify(keys: Mapping[str, ApiKey], method: str, path: str, headers: Mapping[str, str], body: bytes,
           now: float) -> Signed:
    """The key of a correctly signed, fresh request (the nonce is checked by ``NonceGuard.admit``)."""
    key_id, timestamp, nonce, signature = _headers(headers)
    key = keys.get(key_id)
    secret = key.secret if key is not None else b"\0" * 32  # same work for unknown keys
    expected = sign(secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, signature) or key is None:
        raise AuthError("auth.signature", "the signature does not match the request for this key")
    if abs(now - int(timestamp)) > WINDOW:
        raise AuthError("auth.expired", f"X-Einvd-Timestamp is more than {WINDOW} s away from the daemon's clock "
                                        f"({int(now)}); check the clock of both machines")
    return Signed(key, int(timestamp), nonce)


class NonceGuard:
    """Nonces seen within the window, per key, in the store's SQLite file (table ``api_nonces``).

    Its own connections run with ``synchronous=NORMAL``: a nonce survives a process restart at once and a power
    loss after the next durable commit (the invoice's own), which comes before the answer that could be replayed.
    """

    def __init__(self, path: Path) -> None:
        self.store = Store(path, synchronous="NORMAL")
        self._count = 0

    def admit(self, signed: Signed, now: float) -> None:
        try:
            with self.store.write() as tx:
                self.admit_in(tx, signed, now)
        except OperationalError as error:  # busy past the timeout
            raise StoreUnavailable("store.unavailable", "the store is busy") from error

    def admit_in(self, tx: Connection, signed: Signed, now: float) -> None:
        """Record the nonce inside the caller's transaction (the issue batch's: one commit for both)."""
        self._count += 1
        prune_before = int(now) - 2 * WINDOW if self._count % _PRUNE_EVERY == 0 else None
        try:
            nonces.admit(tx, signed.key.id, signed.nonce, signed.timestamp, prune_before)
        except nonces.NonceSeen:
            raise AuthError("auth.replay", "this nonce was already used: every request needs a new one") from None

    def close(self) -> None:
        self.store.close()
