"""The API's documentation: the OpenAPI document (security schemes, the strict request models) and ``/docs``, the
same document as one self-contained HTML page (no script or style from a CDN: a POS box is often offline)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from pydantic.json_schema import models_json_schema

from daemon.api import models

STYLE = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}code,pre{background:#f4f4f4}"
         "h2{border-top:1px solid #ccc;padding-top:1em}pre{padding:.5em;overflow:auto;font-size:85%}")


SECURITY: dict[str, list[str]] = {"EinvdKey": [], "EinvdTimestamp": [], "EinvdNonce": [], "EinvdSignature": []}
SCHEMES = {
    "EinvdKey": {"type": "apiKey", "in": "header", "name": "X-Einvd-Key", "description": "key id"},
    "EinvdTimestamp": {"type": "apiKey", "in": "header", "name": "X-Einvd-Timestamp", "description": "Unix seconds"},
    "EinvdNonce": {"type": "apiKey", "in": "header", "name": "X-Einvd-Nonce", "description": "16-64 characters"},
    "EinvdSignature": {"type": "apiKey", "in": "header", "name": "X-Einvd-Signature",
                       "description": "hex HMAC-SHA256(secret, METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\n"
                                      "hex(SHA-256(body)))"},
}
REQUEST_MODELS = (models.InvoiceDocument, models.ReasonIn, models.CancelIn, models.AllowanceIn, models.TrackIn)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _, extra = models_json_schema([(m, "validation") for m in REQUEST_MODELS],
                                          ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(extra.get("$defs", {}))
            components["securitySchemes"] = SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    return build


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    statuses = ", ".join(f"{code} {html.escape(str(r.get('description', '')))}"
                         for code, r in operation.get("responses", {}).items())
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    signed = "signed (X-Einvd-* headers)" if operation.get("security") else "no key needed"
    parts = [f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>",
             f"<p>{html.escape(operation.get('summary', ''))} — {signed}</p>", f"<p>Answers: {statuses}</p>"]
    if body:
        parts.append(f"<p>Body: <code>{html.escape(body.get('$ref', '').rsplit('/', 1)[-1])}</code></p>")
    return "\n".join(parts)


def page(document: dict[str, Any]) -> str:
    operations = [_operation(path, method, op) for path, item in document["paths"].items()
                  for method, op in item.items()]
    schemas = html.escape(json.dumps(document.get("components", {}).get("schemas", {}), indent=1,
                                     ensure_ascii=False))
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>einvd API</title><style>{STYLE}</style>"
            f"<h1>einvd API {html.escape(document['info']['version'])}</h1>"
            f"<p>{html.escape(document['info'].get('description', ''))} "
            f"The machine-readable document is <a href=/openapi.json>/openapi.json</a>.</p>"
            + "\n".join(operations) + f"<h2>Schemas</h2><pre>{schemas}</pre></html>")


def register_docs(app: FastAPI) -> None:
    """``/openapi.json`` with the security schemes and request models, and ``/docs``."""
    app.openapi = _openapi(app)  # type: ignore[method-assign]  # FastAPI's documented way to replace the schema

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page(app.openapi()))
