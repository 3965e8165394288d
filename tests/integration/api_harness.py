"""The API in process for tests: a real store, a fake clock, three keys, and a client that signs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from daemon.api.app import create_app
from daemon.api.context import ApiContext
from daemon.api.keys import ApiKey
from daemon.client import encode, signed_headers
from daemon.services import InvoiceService
from hw_sim.clock import FakeClock

SECRETS = {"pos": "pos-secret-0123456789-abcdefghijkl", "manager": "manager-secret-0123456789-abcdefgh",
           "admin": "admin-secret-0123456789-abcdefghijk"}
KEYS = {
    "pos": ApiKey("pos", SECRETS["pos"].encode(), frozenset({"issue"})),
    "manager": ApiKey("manager", SECRETS["manager"].encode(), frozenset({"issue", "void"})),
    "admin": ApiKey("admin", SECRETS["admin"].encode(), frozenset({"admin"})),
}


def build_context(service: InvoiceService, clock: FakeClock, cutoff_day: int = 13, echo: bool = False) -> ApiContext:
    return ApiContext.build(service, KEYS, cutoff_day=cutoff_day, now=lambda: clock.now().timestamp(), echo=echo)


@dataclass
class Api:
    client: TestClient
    clock: FakeClock
    context: ApiContext

    def call(self, method: str, path: str, document: Any = None, key: str = "manager", raw: bytes | None = None,
             nonce: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body = raw if raw is not None else b"" if document is None else encode(document)
        signed = signed_headers(key, SECRETS[key].encode(), method, path, body, self.clock.now().timestamp(), nonce)
        response = self.client.request(method, path, content=body, headers={**signed, **(headers or {})})
        return response.status_code, response.json() if response.content else None

    def codes(self, method: str, path: str, document: Any = None, **options: Any) -> tuple[int, list[str]]:
        status, body = self.call(method, path, document, **options)
        return status, [e["code"] for e in body["errors"]] if body and "errors" in body else []


@contextmanager
def running(service: InvoiceService, clock: FakeClock, **options: Any) -> Iterator[Api]:
    context = build_context(service, clock, **options)
    app = create_app(context)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, clock, context)
    context.close()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
