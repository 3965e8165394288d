"""Helpers shared by the tests of the pure core (this module holds no tests).

Reference vectors are read from the shared spec folder beside the repository at test time (located by
``test_mig_support.SPEC``), never copied into the repo; tests that need a file skip with a clear reason when it
is absent.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_mig_support import OFFICIAL, SPEC

VECTORS_FILE = SPEC / "samples" / "proof-print-and-crypto-vectors.txt"
KNOWN_ANSWERS_FILE = SPEC / "peer-samples" / "known-answer-vectors.json"


def needs_file(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not path.is_file(),
        reason=f"{path} not found: reference data is read from the shared spec folder beside the repo, never copied",
    )


needs_vectors = needs_file(VECTORS_FILE)
needs_known_answers = needs_file(KNOWN_ANSWERS_FILE)
needs_official = pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason=f"{OFFICIAL} not found: the official MOF samples are read from there, never copied"
)


# --- proof-print-and-crypto-vectors.txt -------------------------------------------------------------------

def vector_sections() -> list[tuple[str, list[str]]]:
    """The vectors file as (heading, data lines).

    A heading is a run of consecutive ``## `` lines; data lines are the other non-comment lines up to the next
    heading, with trailing ``# comments`` removed. Single-``#`` lines are comments.
    """
    sections: list[tuple[str, list[str]]] = []
    in_heading = False
    for raw in VECTORS_FILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("## "):
            if in_heading:
                sections[-1] = (f"{sections[-1][0]} {line[3:]}", sections[-1][1])
            else:
                sections.append((line[3:], []))
            in_heading = True
        elif line and not line.startswith("#") and sections:
            sections[-1][1].append(re.split(r"\s+#", line)[0].strip())
            in_heading = False
    return sections


def vectors(keyword: str) -> list[str]:
    """The data lines of the first section whose heading contains ``keyword`` (fails if there is none)."""
    for heading, lines in vector_sections():
        if keyword in heading:
            assert lines, f"section {heading!r} of {VECTORS_FILE} has no data lines"
            return lines
    raise AssertionError(f"no section about {keyword!r} in {VECTORS_FILE}")


def vector_heading(keyword: str) -> str:
    return next(heading for heading, _ in vector_sections() if keyword in heading)


def known_answers(key: str) -> Any:
    return json.loads(KNOWN_ANSWERS_FILE.read_text(encoding="utf-8"))[key]


# --- invoice documents ------------------------------------------------------------------------------------

VALID_BAN = "53538851"


def base_document() -> dict[str, Any]:
    """A valid consumer document (printed proof, one line, amounts computed): every table row mutates a copy."""
    return {
        "order_id": "POS1-20261121-0001",
        "issued_at": "2026-11-21T14:03:00+08:00",
        "invoice_type": "07",
        "items": [
            {"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65, "amount": 130, "tax_type": "1",
             "remark": ""},
        ],
        "remark": "",
    }


Mutation = Callable[[dict[str, Any]], None]
_STEP = re.compile(r"[^.\[\]]+|\[\d+\]")


def _walk(doc: dict[str, Any], path: str) -> tuple[Any, str | int]:
    """The container holding ``path`` (``items[0].quantity``) and the last key or index."""
    steps: list[str | int] = [int(s[1:-1]) if s.startswith("[") else s for s in _STEP.findall(path)]
    node: Any = doc
    for step in steps[:-1]:
        node = node[step]
    return node, steps[-1]


def put(path: str, value: Any) -> Mutation:
    """Set ``path`` to (a fresh copy of) ``value``."""
    def mutate(doc: dict[str, Any]) -> None:
        node, key = _walk(doc, path)
        node[key] = copy.deepcopy(value)
    return mutate


def drop(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        node, key = _walk(doc, path)
        del node[key]
    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(doc)
    return mutate


def unchanged(doc: dict[str, Any]) -> None:
    """The base document as it is."""


def mutated(*mutations: Mutation) -> dict[str, Any]:
    doc = base_document()
    for mutation in mutations:
        mutation(doc)
    return doc
