"""The value objects' derived properties and the typed errors of the core."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from test_mig_support import AT, COMPANY, CONSUMER, invoice

from turnkey.errors import Conflict, InvoiceInvalid, Problem, ResultUnreadable, TrackError, TurnkeyError, WindowClosed
from turnkey.model import Buyer, InvoiceDraft, Party
from turnkey.money import Amounts
from turnkey.period import Period


@pytest.mark.parametrize(("identifier", "consumer"), [
    ("0000000000", True), ("00000000", True), ("0000 000000", True), ("", True),
    ("53538851", False), ("0000000001", False),
])
def test_party_is_consumer(identifier: str, consumer: bool) -> None:
    assert Party(identifier, "x").is_consumer is consumer


def draft(buyer: Buyer | None) -> InvoiceDraft:
    return InvoiceDraft("A", None, "07", buyer, None, None, True, "1", Decimal("0.05"), None, None, (),
                        Amounts(0, 0, 0, 0, 0), "")


def test_draft_business() -> None:
    assert not draft(None).business
    assert not draft(Buyer(None, "王小明")).business
    assert draft(Buyer("53538851")).business


def test_invoice_donated_and_period() -> None:
    assert not invoice().donated
    assert invoice(npoban="8999").donated
    assert invoice().period == Period.of(AT) == Period(2025, 2)
    # 2025-02-28 20:00 UTC is already 1 March in Taipei
    assert invoice(issued_at=datetime(2025, 2, 28, 20, tzinfo=UTC)).period == Period(2025, 4)
    assert CONSUMER.is_consumer and not COMPANY.is_consumer


def test_models_are_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        invoice().number = "AB00000000"  # type: ignore[misc]
    assert replace(invoice(), number="AB00000000").number == "AB00000000"


def test_problem_as_dict() -> None:
    problem = Problem("buyer.ban.checksum", "buyer.ban", "buyer.ban 53538852 fails the 統一編號 checksum")
    assert problem.as_dict() == {"code": "buyer.ban.checksum", "field": "buyer.ban",
                                 "message": "buyer.ban 53538852 fails the 統一編號 checksum"}


@pytest.mark.parametrize("kind", [InvoiceInvalid, TrackError, Conflict, WindowClosed, ResultUnreadable])
def test_errors_carry_their_problems(kind: type[TurnkeyError]) -> None:
    first, second = Problem("a.rule", "a", "first"), Problem("b.rule", "b[0]", "second")
    error = kind(first, second)
    assert isinstance(error, TurnkeyError) and isinstance(error, Exception)
    assert error.problems == (first, second)
    assert str(error) == "a.rule: first; b.rule: second"
    with pytest.raises(TurnkeyError):
        raise error
