"""Strict JSON in, exact JSON out: numbers become Decimals (never binary floats), NaN/Infinity and duplicate keys
are refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


class JsonRefused(ValueError):
    """The body is not acceptable JSON (HTTP 400 ``body.json``)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonRefused(f"duplicate key {key!r}")
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a number JSON allows")


def loads(data: str | bytes) -> Any:
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=_constant, object_pairs_hook=_pairs)
    except (ValueError, RecursionError) as error:
        if isinstance(error, JsonRefused):
            raise
        raise JsonRefused(f"not valid JSON: {error}") from error


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)
