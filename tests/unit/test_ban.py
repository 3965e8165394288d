"""統一編號 (BAN) checksum: the 2023 rule, the reference vectors and ASCII-only digits."""

from __future__ import annotations

import re

import pytest
from test_core_support import known_answers, needs_known_answers, needs_vectors, vectors

from turnkey.ban import is_ascii_digits, is_valid_ban

WEIGHTS = (1, 2, 1, 2, 1, 2, 4, 1)


def digit_sum(value: str) -> int:
    return sum(sum(divmod(int(d) * w, 10)) for d, w in zip(value, WEIGHTS, strict=True))


def old_rule(value: str) -> bool:
    """The pre-2023 rule (python-stdnum 2.2): sum divisible by 10, or by 10 after +1 when the 7th digit is 7."""
    total = digit_sum(value)
    return total % 10 == 0 or (value[6] == "7" and (total + 1) % 10 == 0)


# From the docs (ban.py, domain.md §7.1): these tell the 2023 rule apart from the old one.
RULE_2023 = [
    ("62140097", True),  # sum 35
    ("00501508", True),  # sum 15
    ("00000074", True),  # sum 14, 7th digit 7: 14 + 1 = 15
    ("10458570", True),  # sum 25
    ("00501502", False),  # sum 9
]


@pytest.mark.parametrize(("value", "valid"), RULE_2023)
def test_numbers_valid_only_under_the_2023_rule(value: str, valid: bool) -> None:
    assert is_valid_ban(value) is valid
    assert not old_rule(value)  # the old rule refuses all of them: an implementation of it fails this table


@needs_vectors
def test_vectors_file() -> None:
    rows = [re.fullmatch(r"(\d{8}) (valid|invalid)\b.*", line) for line in vectors("統一編號")]
    assert all(rows) and len(rows) >= 5
    for row in rows:
        assert row is not None
        value, verdict = row.groups()
        assert is_valid_ban(value) is (verdict == "valid"), value
        sum_note = re.search(r"sum (\d+)", row.group(0))
        if sum_note:
            assert digit_sum(value) == int(sum_note.group(1)), value


@needs_known_answers
def test_peer_known_answer_vectors() -> None:
    ubn = known_answers("ubn_checksum")
    assert ubn["valid"] and ubn["invalid"]
    for value in ubn["valid"]:
        assert is_valid_ban(value), value
    for value in ubn["invalid"]:
        assert not is_valid_ban(value), value


@pytest.mark.parametrize("value", ["5353885", "535388510", "", "5353885a", "５３５３８８５１", "٥٣٥٣٨٨٥١", " 3538851",
                                   "0000000000"])
def test_not_eight_ascii_digits(value: str) -> None:
    assert not is_valid_ban(value)


@pytest.mark.parametrize(("value", "length", "expected"), [
    ("0123456789", None, True),
    ("12", 2, True),
    ("12", 3, False),
    ("", None, False),
    ("１２", None, False),
    ("1 2", None, False),
    ("12a", None, False),
    ("²", None, False),
])
def test_is_ascii_digits(value: str, length: int | None, expected: bool) -> None:
    assert is_ascii_digits(value, length) is expected


def test_every_seventh_digit_seven_rule() -> None:
    """With a 7th digit 7 the number is valid when sum or sum + 1 is divisible by 5 — never with sum - 1."""
    for prefix in range(0, 1000, 7):
        for last in range(10):
            value = f"{prefix:06d}7{last}"
            total = digit_sum(value)
            assert is_valid_ban(value) is (total % 5 == 0 or (total + 1) % 5 == 0), value
            other = f"{prefix:06d}6{last}"
            assert is_valid_ban(other) is (digit_sum(other) % 5 == 0), other
