"""Properties joining the core and the MIG engine: every document the core accepts renders to XML that passes the
official XSD and Turnkey's local checks; anything else is refused by the core with InvoiceInvalid before any
rendering, and never crashes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_mig_support import needs_spec, schemas
from test_validate import documents

from turnkey.errors import InvoiceInvalid
from turnkey.mig import preflight, render
from turnkey.model import Party
from turnkey.period import TAIPEI
from turnkey.validate import build_invoice, parse_document

SELLER = Party("12345676", "測試商店", "台北市信義區測試路1號", "王小明", "0212345678", email="shop@example.tw")
NUMBERS = st.from_regex(r"[A-Z]{2}[0-9]{8}", fullmatch=True)
RANDOMS = st.from_regex(r"[0-9]{4}", fullmatch=True)
NOW = datetime(2026, 11, 21, 14, 3, tzinfo=TAIPEI)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
FIELDS = ["order_id", "issued_at", "invoice_type", "buyer", "carrier", "donation", "print", "tax_type", "tax_rate",
          "zero_tax_rate_reason", "customs_clearance_mark", "items", "amounts", "remark", "unknown"]


def render_checked(doc: Any, number: str, random_number: str) -> list[Any]:
    draft = parse_document(doc)
    invoice = build_invoice(draft, number=number, random_number=random_number,
                            issued_at=draft.issued_at or NOW, seller=SELLER)
    xml = render(invoice)
    return preflight(invoice, xml, schemas())


@needs_spec
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents(), number=NUMBERS, random_number=RANDOMS)
def test_every_accepted_document_renders_to_valid_f0401(doc: dict[str, Any], number: str, random_number: str) -> None:
    assert render_checked(doc, number, random_number) == []


@st.composite
def damaged(draw: st.DrawFn) -> dict[str, Any]:
    """A valid document with one field (top level or in an item) replaced by an arbitrary JSON value."""
    doc = draw(documents())
    target = draw(st.sampled_from(["top", "item"]))
    value = draw(JSON_VALUES)
    if target == "item":
        item = doc["items"][0]
        item[draw(st.sampled_from(["description", "quantity", "unit_price", "amount", "tax_type", "unit"]))] = value
    else:
        doc[draw(st.sampled_from(FIELDS))] = value
    return doc


@needs_spec
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=damaged(), number=NUMBERS, random_number=RANDOMS)
def test_the_core_refuses_before_rendering_or_the_xml_passes(doc: dict[str, Any], number: str,
                                                             random_number: str) -> None:
    try:
        problems = render_checked(doc, number, random_number)
    except InvoiceInvalid as refused:
        assert refused.problems and all(not p.code.startswith("mig.") for p in refused.problems)
        return
    assert problems == []
