"""Shared fixtures: a real SQLite store in a temporary directory, a fake clock and a seeded issuer.

The MOF XSDs and samples are read from the shared spec folder beside the checkout (``SPEC``), never copied into
the repository. Without it, every test that needs it skips with the reason: mark a test ``needs_spec``, or call
``spec_schemas()`` / ``spec_dir()`` inside it (they skip the calling test). Nothing reads the folder at import.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.services import InvoiceService
from daemon.store import Store
from daemon.tracks import add
from hw_sim.clock import FakeClock
from turnkey.mig import Schemas, required_sources
from turnkey.model import Party
from turnkey.numbers import TrackRange
from turnkey.period import TAIPEI, Period

SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "spec"
SCHEMA_DIR = SPEC / "mig41"
SPEC_ABSENT = f"shared spec folder {SPEC} not found: the MOF XSDs and samples are read from there, never copied"
needs_spec = pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason=SPEC_ABSENT)
SELLER = Party("12345676", "測試商店", "台北市信義區測試路1號")
KEY = bytes.fromhex("FE05F029154F6AA67A78B338ED2F6601")
START = datetime(2026, 11, 21, 14, 3, 0, tzinfo=TAIPEI)


def spec_dir() -> Path:
    """The MIG 4.1 XSD folder (``v41/``, ``common/``); skips the calling test when the shared spec is absent."""
    if not SCHEMA_DIR.is_dir():
        pytest.skip(SPEC_ABSENT)
    return SCHEMA_DIR


def spec_schemas() -> Schemas:
    """The compiled XSDs the pump and the archive check messages against; skips the test without the spec."""
    return _schemas(spec_dir())


@functools.cache
def _schemas(folder: Path) -> Schemas:
    return Schemas.from_sources({name: (folder / name).read_bytes() for name in required_sources()})


def sale(order_id: str, **extra: Any) -> dict[str, Any]:
    """A valid consumer document with one printed line (tax-inclusive 130)."""
    doc: dict[str, Any] = {
        "order_id": order_id,
        "items": [{"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65, "amount": 130}],
    }
    doc.update(extra)
    return doc


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "einvd.sqlite3")
    yield db
    db.close()


def hold(store: Store, period: Period, track: str, begin: int, end: int, invoice_type: str = "07") -> TrackRange:
    rng = TrackRange(period, invoice_type, track, begin, end)
    add(store, [rng], "test", START)
    return rng


@pytest.fixture
def service(store: Store, clock: FakeClock) -> InvoiceService:
    hold(store, Period.of(START), "AB", 1000, 1049)
    return InvoiceService(store, clock, random.Random(1), SELLER, KEY)
