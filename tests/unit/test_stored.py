"""turnkey.stored: a stored document loads into the draft its validation gave, and is never judged again."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from test_core_support import VALID_BAN, base_document
from test_validate import documents

from turnkey.errors import InvoiceInvalid
from turnkey.stored import load_document
from turnkey.validate import parse_document


def stored(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as einvd stores it (canonical JSON: sorted keys, decimals as strings) and reads it back."""
    return dict(json.loads(json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)))


@settings(max_examples=200, deadline=None)
@given(documents())
def test_loads_what_validation_gave(doc: dict[str, Any]) -> None:
    assert load_document(stored(doc)) == parse_document(doc)
    assert load_document(doc) == parse_document(doc)


def test_examples_with_every_optional_field() -> None:
    business = {**base_document(), "buyer": {"ban": VALID_BAN, "name": "買方公司", "address": "台北市"},
                "tax_type": "1", "tax_rate": "0.05", "remark": "備註"}
    mixed = {**base_document(), "tax_type": "9", "items": [
        {"description": "a", "quantity": 1, "unit_price": "10.5", "tax_type": "1"},
        {"description": "b", "quantity": "2", "unit_price": 3, "amount": "6", "tax_type": "3"}]}
    special = {**base_document(), "invoice_type": "08", "tax_rate": "0.25",
               "items": [{"description": "x", "quantity": 1, "unit_price": 100, "tax_type": "4"}]}
    zero = {**base_document(), "zero_tax_rate_reason": "71", "customs_clearance_mark": "1",
            "items": [{"description": "z", "quantity": 1, "unit_price": 100, "tax_type": "2"}]}
    donated = {**base_document(), "print": False, "donation": {"love_code": "919"}}
    carried = {**base_document(), "print": False, "carrier": {"type": "3J0002", "id": "/ABC+123"}}
    no_time = {key: value for key, value in base_document().items() if key != "issued_at"}
    explicit_nulls = {**base_document(), "invoice_type": None, "tax_type": None, "buyer": None}
    for doc in (business, mixed, special, zero, donated, carried, no_time, explicit_nulls):
        assert load_document(stored(doc)) == parse_document(doc), doc


def test_special_tax_without_a_rate_falls_back_to_the_standard_rate() -> None:
    doc = {**base_document(), "invoice_type": "08",
           "items": [{"description": "x", "quantity": 1, "unit_price": 100, "tax_type": "4"}]}
    assert load_document(doc).tax_rate == Decimal("0.05")


def test_a_document_the_rules_now_refuse_still_loads() -> None:
    doc = {**base_document(), "remark": "x" * 500}  # longer than the 200 characters the rules allow
    with pytest.raises(InvoiceInvalid):
        parse_document(doc)
    assert load_document(doc).remark == "x" * 500


@pytest.mark.parametrize("damaged", [{}, {**base_document(), "items": [{"quantity": "x", "unit_price": 1}]},
                                     {**base_document(), "buyer": "someone"}, {**base_document(), "items": None}])
def test_a_damaged_document_is_a_value_error(damaged: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        load_document(damaged)
