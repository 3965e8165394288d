"""Bimonthly invoice periods in Taipei time (UTC+8, no daylight saving since 1980).

A period is named by its ROC year and its even month: ``11512`` is 115年11-12月 (Nov-Dec 2026).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

TAIPEI = timezone(timedelta(hours=8), "Asia/Taipei")
ROC_OFFSET = 1911
_CODE = re.compile(r"[0-9]{3}(02|04|06|08|10|12)", re.ASCII)

B2C_UPLOAD = timedelta(hours=48)
B2B_UPLOAD = timedelta(days=7)
E0402_DAYS = 10
LEGAL_VOID_DAY = 15
DEFAULT_VOID_CUTOFF_DAY = 13


def taipei(at: datetime) -> datetime:
    """``at`` (aware) expressed in Taipei time."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return at.astimezone(TAIPEI)


@dataclass(frozen=True, order=True)
class Period:
    """A bimonthly period: Gregorian ``year`` and its even ``end_month`` (2, 4, ..., 12)."""

    year: int
    end_month: int

    def __post_init__(self) -> None:
        if self.end_month not in (2, 4, 6, 8, 10, 12) or not 1912 <= self.year <= 2910:
            raise ValueError(f"no such period: {self.year}-{self.end_month}")

    @classmethod
    def of(cls, at: datetime) -> Period:
        local = taipei(at)
        return cls(local.year, local.month + local.month % 2)

    @classmethod
    def parse(cls, code: str) -> Period:
        """``11512`` -> Period(2026, 12)."""
        if not _CODE.fullmatch(code):
            raise ValueError(f"period must be ROC year + even month like 11512, got {code!r}")
        return cls(int(code[:3]) + ROC_OFFSET, int(code[3:]))

    @property
    def roc_year(self) -> int:
        return self.year - ROC_OFFSET

    @property
    def code(self) -> str:
        return f"{self.roc_year:03d}{self.end_month:02d}"

    @property
    def label(self) -> str:
        """As printed on the proof: ``115年11-12月``."""
        return f"{self.roc_year}年{self.end_month - 1:02d}-{self.end_month:02d}月"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.end_month - 1, 1, tzinfo=TAIPEI)

    @property
    def end(self) -> datetime:
        """Exclusive: the first instant of the next period (computed directly: 2910-12 has no next Period)."""
        return datetime(self.year + self.end_month // 12, self.end_month % 12 + 1, 1, tzinfo=TAIPEI)

    def next(self) -> Period:
        if self.end_month == 12:
            return Period(self.year + 1, 2)
        return Period(self.year, self.end_month + 2)

    def previous(self) -> Period:
        if self.end_month == 2:
            return Period(self.year - 1, 12)
        return Period(self.year, self.end_month - 2)

    def contains(self, at: datetime) -> bool:
        return self.start <= taipei(at) < self.end

    def e0402_deadline(self) -> datetime:
        """Exclusive deadline for the blank-number report: end of the 10th day of the next period."""
        return self.end + timedelta(days=E0402_DAYS)

    def void_deadline(self, cutoff_day: int = DEFAULT_VOID_CUTOFF_DAY) -> datetime:
        """Exclusive end of the void/cancel window for invoices of this period.

        The law allows voids until the 15th of the odd month after the period (the VAT filing deadline);
        ``cutoff_day`` (1-15, default 13 like the VACs) closes it earlier, at the end of that day, so the
        message still has time to reach the platform.
        """
        if not 1 <= cutoff_day <= LEGAL_VOID_DAY:
            raise ValueError(f"void cut-off day must be 1-{LEGAL_VOID_DAY}, got {cutoff_day}")
        return self.end + timedelta(days=cutoff_day)


def roc_date(at: datetime) -> str:
    """ROC ``yyyMMdd`` of the Taipei date, as in the left QR code: 2013-05-23 -> ``1020523``."""
    local = taipei(at)
    return f"{local.year - ROC_OFFSET:03d}{local.month:02d}{local.day:02d}"


def upload_deadline(issued_at: datetime, business_buyer: bool) -> datetime:
    """When the message must have reached the platform: 48 h for consumers, 7 days for businesses."""
    return taipei(issued_at) + (B2B_UPLOAD if business_buyer else B2C_UPLOAD)


def void_window_open(invoice_at: datetime, now: datetime, cutoff_day: int = DEFAULT_VOID_CUTOFF_DAY) -> bool:
    """Whether an invoice issued at ``invoice_at`` may still be voided or cancelled at ``now``."""
    return taipei(now) < Period.of(invoice_at).void_deadline(cutoff_day)
