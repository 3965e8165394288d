"""Drop-in layers for POS software already written against a Value-Added Center's API.

Each layer answers one centre's API on einvd's own listener under its own prefix (``/ecpay``, ``/ezpay``,
``/systemlead``) and is switched on by its own ``[compat.<name>]`` table. A layer is a thin translator: it
checks the centre's envelope (its encryption, signature and clock window), turns the request into einvd's own
invoice document and calls the same services the ``/v1`` routes call (one issuing path, one store, one outbox),
then answers in the centre's own shape and codes. The ``/v1`` HMAC signature does not apply under these prefixes:
each centre's own authentication does.

``LAYERS`` names each layer's module; the module has ``build(context, settings) -> FastAPI``, a sub-application
mounted at the prefix (so each layer has its own ``/<prefix>/openapi.json``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fastapi import FastAPI

    from daemon.api.context import ApiContext
    from daemon.config import CompatSection, CompatSettings

LAYERS: dict[str, str] = {
    "ecpay": "daemon.compat.ecpay",
    "ezpay": "daemon.compat.ezpay",
    "systemlead": "daemon.compat.systemlead",
}


class Layer(Protocol):
    """What a layer module provides."""

    def build(self, context: ApiContext, settings: CompatSection) -> FastAPI: ...


def mount(app: FastAPI, context: ApiContext, compat: CompatSettings) -> list[str]:
    """Mount every layer switched on in ``compat`` (``einvd run`` does this after ``create_app``); the prefixes
    mounted. Kept out of ``daemon.api`` so that layers may use the API's modules without an import cycle."""
    mounted = []
    for name, section in compat.enabled():
        module: Layer = importlib.import_module(LAYERS[name])
        app.mount(f"/{name}", module.build(context, section))
        mounted.append(f"/{name}")
    return mounted
