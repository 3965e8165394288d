"""What a refused message means for the merchant (daemon/policy/rejections.py)."""

from __future__ import annotations

import pytest

from daemon.policy import rejections


@pytest.mark.parametrize(("code", "meaning"), [
    ("E0221", "exceeds what is left"), ("e0107 ", "track does not match"), ("E0213", "lifecycle"),
    ("E0225", "special-tax"), ("E0610", "track report"), ("E9999", ""), ("", ""), ("E02130", ""),
])
def test_code_meanings_follow_domain_3_2(code: str, meaning: str) -> None:
    found = rejections.code_meaning(code)
    assert (meaning in found) if meaning else found == ""


@pytest.mark.parametrize(("message_type", "says"), [
    ("F0401", "not on the platform"), ("F0501", "lottery"), ("F0701", "collide"),
    ("G0401", "not adjusted"), ("G0501", "still reduces the sale"), ("E0402", "before the 10th"),
    ("X0000", "fix it and send it again"),
])
def test_every_type_says_what_it_means_and_what_to_do(message_type: str, says: str) -> None:
    text = rejections.rejection_text(message_type, "AB00001000", False, "E0202", "查無發票")
    assert says in text and "What to do:" in text and "AB00001000" in text
    assert text.startswith(f"the platform rejected the {message_type}") and "does not exist" in text


def test_a_local_refusal_says_turnkey_and_where_the_reason_is() -> None:
    text = rejections.rejection_text("F0401", "AB00001000", True, "", "")
    assert text.startswith("Turnkey refused") and "ERR" in text and "no reason given" in text


def test_kinds_are_stable() -> None:
    assert rejections.ALERT_KINDS == ("rejected.F0401", "rejected.F0501", "rejected.F0701", "rejected.G0401",
                                      "rejected.G0501", "rejected.E0402", "blocked.refused", "verdict.stranger")
    assert "refused by einvd" in rejections.blocked_text("F0501", "A", "F0401", "A", "failed")
    assert "AB00001000" in rejections.stranger_text("", "AB00001000", "confirmed", "")
