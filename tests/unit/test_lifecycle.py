"""Pure lifecycle rules: transitions, windows, allowance limits and amounts, numbers, reprints."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from turnkey import lifecycle as lc
from turnkey.errors import Conflict, InvoiceInvalid, WindowClosed
from turnkey.period import TAIPEI

AT = datetime(2026, 11, 21, 14, 3, tzinfo=TAIPEI)
NOW = AT + timedelta(hours=1)
CLOSE_13 = datetime(2027, 1, 14, 0, 0, tzinfo=TAIPEI)  # end of 13 January: period 11512's cut-off
ORIGIN = lc.Origin("AB00001000", AT.date())
D = Decimal


def inv(state: str = lc.ISSUED, live: tuple[str, ...] = ()) -> lc.InvoiceState:
    return lc.InvoiceState("AB00001000", state, AT, live)


def codes(error: pytest.ExceptionInfo[Exception]) -> list[str]:
    return [p.code for p in error.value.problems]  # type: ignore[attr-defined]


def test_transitions_table() -> None:
    assert lc.transition(inv(), lc.VOID) == lc.VOIDED
    assert lc.transition(inv(), lc.CANCEL) == lc.CANCELLED
    assert lc.transition(inv(lc.CANCELLED), lc.REISSUE) == lc.ISSUED
    for state, action in ((lc.VOIDED, lc.VOID), (lc.VOIDED, lc.CANCEL), (lc.CANCELLED, lc.VOID),
                          (lc.ISSUED, lc.REISSUE), (lc.VOIDED, lc.REISSUE)):
        with pytest.raises(Conflict) as error:
            lc.transition(inv(state), action)
        assert codes(error) == [f"state.{state}"]


def test_void_inside_window_and_up_to_the_cutoff() -> None:
    assert lc.check_void(inv(), NOW, 13) == lc.VOIDED
    assert lc.check_void(inv(), CLOSE_13 - timedelta(seconds=1), 13) == lc.VOIDED


def test_void_after_the_cutoff_points_to_an_allowance() -> None:
    with pytest.raises(WindowClosed) as error:
        lc.check_void(inv(), CLOSE_13, 13)
    assert codes(error) == ["window.closed"]
    assert "allowance" in error.value.problems[0].message
    assert lc.check_void(inv(), CLOSE_13, 15) == lc.VOIDED  # the legal limit is the 15th


def test_void_refused_with_live_allowance_and_when_voided() -> None:
    with pytest.raises(Conflict) as error:
        lc.check_void(inv(live=("AL00000001",)), NOW, 13)
    assert codes(error) == ["state.allowance_live"]
    assert "AL00000001" in error.value.problems[0].message
    with pytest.raises(Conflict) as error:
        lc.check_void(inv(lc.VOIDED), NOW, 13)
    assert codes(error) == ["state.voided"]


def test_cancel_rules() -> None:
    assert lc.check_cancel(inv(), NOW, 13) == lc.CANCELLED
    with pytest.raises(Conflict) as error:
        lc.check_cancel(inv(live=("X",)), NOW, 13)
    assert codes(error) == ["state.allowance_live"]
    with pytest.raises(WindowClosed):
        lc.check_cancel(inv(), CLOSE_13, 13)
    with pytest.raises(Conflict) as error:
        lc.check_cancel(inv(lc.CANCELLED), NOW, 13)
    assert codes(error) == ["state.cancelled"]


def test_reissue_rules() -> None:
    cancelled = inv(lc.CANCELLED)
    assert lc.check_reissue(cancelled, AT, NOW, 13) == lc.ISSUED
    with pytest.raises(InvoiceInvalid) as error:
        lc.check_reissue(cancelled, datetime(2027, 1, 1, tzinfo=TAIPEI), datetime(2027, 1, 2, tzinfo=TAIPEI), 13)
    assert codes(error) == ["reissue.issued_at.period"]
    with pytest.raises(InvoiceInvalid) as error:
        lc.check_reissue(cancelled, NOW + timedelta(minutes=1), NOW, 13)
    assert codes(error) == ["reissue.issued_at.future"]
    with pytest.raises(WindowClosed):
        lc.check_reissue(cancelled, AT, CLOSE_13, 13)
    with pytest.raises(Conflict):
        lc.check_reissue(inv(), AT, NOW, 13)


def test_allowance_target_and_allowance_void() -> None:
    lc.check_allowance_target(inv())
    for state in (lc.VOIDED, lc.CANCELLED):
        with pytest.raises(Conflict) as error:
            lc.check_allowance_target(inv(state))
        assert codes(error) == [f"state.{state}"]
    lc.check_allowance_void("AL00000001", lc.LIVE, AT, NOW, 13)
    with pytest.raises(Conflict) as error:
        lc.check_allowance_void("AL00000001", "voided", AT, NOW, 13)
    assert codes(error) == ["state.voided"]
    with pytest.raises(WindowClosed):
        lc.check_allowance_void("AL00000001", lc.LIVE, AT, CLOSE_13, 13)


def test_reprint_rules() -> None:
    lc.check_reprint(inv(), print_requested=True)
    with pytest.raises(Conflict) as error:
        lc.check_reprint(inv(), print_requested=False)
    assert codes(error) == ["print.not_requested"]
    with pytest.raises(Conflict) as error:
        lc.check_reprint(inv(lc.VOIDED), print_requested=True)
    assert codes(error) == ["state.voided"]


def test_reason_collapses_whitespace_and_limits_length() -> None:
    assert lc.check_reason("  作廢   發票 ") == "作廢 發票"
    for bad in ("", "   ", "x" * 21):
        with pytest.raises(InvoiceInvalid) as error:
            lc.check_reason(bad)
        assert codes(error) == ["reason.length"]


def test_allowance_numbers() -> None:
    assert lc.allowance_number("ALW", 10000013) == "ALW10000013"
    assert lc.allowance_number("AL", 1) == "AL00000001"
    assert len(lc.allowance_number("ABCDEFGH", 99_999_999)) == 16
    assert lc.is_allowance_prefix("A1") and not lc.is_allowance_prefix("al") and not lc.is_allowance_prefix("")
    with pytest.raises(ValueError, match="prefix"):
        lc.allowance_number("TOOLONGPREFIX", 1)
    with pytest.raises(Conflict) as error:
        lc.allowance_number("AL", 100_000_000)
    assert codes(error) == ["allowance.sequence_exhausted"]


def line(seq: str = "001", qty: str = "2", price: str = "65", amount: str = "130", tax_type: str = "1",
         aq: str = "0", aa: str = "0") -> lc.OriginalLine:
    return lc.OriginalLine(seq, "拿鐵", D(qty), "杯", D(price), D(amount), tax_type, D(aq), D(aa))


B2C = lc.Terms(inclusive=True, rate=D("0.05"))


def test_consumer_allowance_matches_official_sample_alw10000013() -> None:
    tea = line(qty="1", price="20", amount="20")
    (planned,) = lc.plan_allowance(ORIGIN, {"001": tea}, [lc.Requested("001", D(1))], B2C)
    assert (planned.quantity, planned.unit_price, planned.amount, planned.tax) == (1, 20, 19, 1)
    assert planned.original_invoice_number == "AB00001000" and planned.original_invoice_date == date(2026, 11, 21)
    assert (planned.sequence, planned.original_sequence_number, planned.unit) == ("1", "001", "杯")
    assert lc.allowance_totals([planned]) == (1, D(19))


def test_business_allowance_matches_official_sample_alw10000003() -> None:
    terms = lc.Terms(inclusive=False, rate=D("0.05"), tax_left=10)
    item = line(qty="2", price="100", amount="200")
    (planned,) = lc.plan_allowance(ORIGIN, {"001": item}, [lc.Requested("001", D(2))], terms)
    assert (planned.amount, planned.tax) == (200, 10)


def test_business_tax_never_exceeds_what_the_invoice_has_left() -> None:
    terms = lc.Terms(inclusive=False, rate=D("0.05"), tax_left=1)
    lines = {"001": line("001", "1", "10", "10"), "002": line("002", "1", "10", "10")}
    planned = lc.plan_allowance(ORIGIN, lines, [lc.Requested("001", D(1)), lc.Requested("002", D(1))], terms)
    assert [p.tax for p in planned] == [1, 0]


def test_zero_rated_and_exempt_lines_carry_no_tax() -> None:
    assert lc.split_line(D(100), "2", B2C) == (100, 0)
    assert lc.split_line(D(100), "3", B2C) == (100, 0)
    assert lc.split_line(D(100), "1", lc.Terms(True, D(0))) == (100, 0)
    assert lc.split_line(D(105), "4", lc.Terms(True, D("0.05"))) == (100, 5)


def test_default_amounts_follow_quantity_and_take_the_rest_at_the_end() -> None:
    odd = line(qty="3", price="43.3333333", amount="130")
    one = lc.plan_allowance(ORIGIN, {"001": odd}, [lc.Requested("001", D(1))], B2C)[0]
    assert one.amount + one.tax == D("43.3333333")
    taken = line(qty="3", price="43.3333333", amount="130", aq="1", aa="43.3333333")
    rest = lc.plan_allowance(ORIGIN, {"001": taken}, [lc.Requested("001", D(2))], B2C)[0]
    assert rest.amount + rest.tax == D("86.6666667")
    capped = line(qty="3", price="50", amount="130", aq="1", aa="100")
    part = lc.plan_allowance(ORIGIN, {"001": capped}, [lc.Requested("001", D(1))], B2C)[0]
    assert part.amount + part.tax == 30


def test_explicit_amount_is_a_price_reduction() -> None:
    (planned,) = lc.plan_allowance(ORIGIN, {"001": line()}, [lc.Requested("001", D(2), D(10))], B2C)
    assert (planned.quantity, planned.amount, planned.tax) == (2, D(10), 0)  # round(10 - 10/1.05) = 0


def test_every_line_problem_reported_at_once() -> None:
    lines = {"001": line(aq="1", aa="65"), "002": line("002")}
    requested = [
        lc.Requested("009", D(1)),
        lc.Requested("001", D(2)),
        lc.Requested("002", D(0), D(0)),
        lc.Requested("002", D(1), D(66)),
    ]
    with pytest.raises(InvoiceInvalid) as error:
        lc.plan_allowance(ORIGIN, lines, requested, B2C)
    assert codes(error) == [
        "lines.sequence.duplicate", "lines.sequence.unknown", "lines.quantity.exceeds_remaining",
        "lines.quantity.positive", "lines.amount.positive", "lines.amount.exceeds_quantity",
    ]
    fields = [p.field for p in error.value.problems]
    assert fields[:3] == ["lines[3].sequence", "lines[0].sequence", "lines[1].quantity"]


def test_amount_beyond_what_is_left() -> None:
    taken = line(aq="0", aa="125")
    with pytest.raises(InvoiceInvalid) as error:
        lc.plan_allowance(ORIGIN, {"001": taken}, [lc.Requested("001", D(1), D(6))], B2C)
    assert codes(error) == ["lines.amount.exceeds_remaining"]
    assert "5 of 130 left" in error.value.problems[0].message


def test_an_allowance_needs_lines() -> None:
    with pytest.raises(InvoiceInvalid) as error:
        lc.plan_allowance(ORIGIN, {"001": line()}, [], B2C)
    assert codes(error) == ["lines.required"]


def test_remaining_properties() -> None:
    taken = line(aq="1.5", aa="97.5")
    assert (taken.quantity_left, taken.amount_left) == (D("0.5"), D("32.5"))
