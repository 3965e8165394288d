"""統一編號 (business administration number, BAN) checksum.

Written here rather than taken from python-stdnum: stdnum 2.2 (``stdnum.tw.ubn``) still applies only the
pre-2023 rule (sum divisible by 10) and so rejects numbers issued since April 2023 that are valid only under
the new rule (sum divisible by 5), e.g. ``62140097`` or ``00501508``.
"""

from __future__ import annotations

_WEIGHTS = (1, 2, 1, 2, 1, 2, 4, 1)
_DIGITS = frozenset("0123456789")


def is_ascii_digits(value: str, length: int | None = None) -> bool:
    """Only the ASCII digits 0-9 (full-width and other Unicode digits are refused)."""
    return bool(value) and set(value) <= _DIGITS and (length is None or len(value) == length)


def _digit_sum(product: int) -> int:
    return product // 10 + product % 10


def is_valid_ban(value: str) -> bool:
    """The 2023 rule: digit sums of weighted digits divisible by 5; a 7th digit 7 may also count as +1."""
    if not is_ascii_digits(value, 8):
        return False
    total = sum(_digit_sum(int(d) * w) for d, w in zip(value, _WEIGHTS, strict=True))
    return total % 5 == 0 or (value[6] == "7" and (total + 1) % 5 == 0)
