"""The issue use case on a real SQLite file: numbering, idempotency, refusals, atomicity, period rollover."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import datetime, timedelta

import pytest
from conftest import KEY, SELLER, START, hold, sale

from daemon.services import InvoiceService
from daemon.store import Store
from hw_sim.clock import FakeClock
from turnkey.errors import Conflict, InvoiceInvalid, TrackError
from turnkey.period import TAIPEI, Period
from turnkey.proof import qr_aes


def counts(store: Store) -> tuple[int, int, int]:
    row = store.read(
        "SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM invoice_lines), (SELECT count(*) FROM outbox)"
    )[0]
    return row[0], row[1], row[2]


def cursor(store: Store, track: str = "AB") -> int | None:
    return store.read("SELECT last_no FROM tracks WHERE track = ?", (track,))[0][0]


def test_issue_commits_number_invoice_lines_and_outbox(service: InvoiceService, store: Store) -> None:
    issued = service.issue(sale("POS1-0001"))
    body = issued.body
    assert issued.created
    assert body["invoice_number"] == "AB00001000"
    assert body["period"] == "11512"
    assert (body["invoice_date"], body["invoice_time"]) == ("2026-11-21", "14:03:00")
    assert body["amounts"] == {"sales": 130, "free_tax_sales": 0, "zero_tax_sales": 0, "tax": 0, "total": 130}
    assert body["barcode"] == f"11512AB00001000{body['random_number']}"
    assert body["qr_left"].startswith(f"AB000010001151121{body['random_number']}")
    assert qr_aes(KEY, "AB00001000", body["random_number"]) in body["qr_left"]
    assert body["qr_right"] == "**"
    assert body["status"] == "queued" and body["print"] == {"requested": True, "status": "pending"}
    assert counts(store) == (1, 1, 1)
    outbox = store.read("SELECT message_type, reference, state FROM outbox")[0]
    assert tuple(outbox) == ("F0401", "AB00001000", "READY")
    assert cursor(store) == 1000


def test_numbers_ascend_and_stay_in_the_range(service: InvoiceService, store: Store, clock: FakeClock) -> None:
    numbers = []
    for n in range(50):
        clock.advance(seconds=1)
        numbers.append(service.issue(sale(f"POS1-{n:04d}")).body["invoice_number"])
    assert numbers == [f"AB{n:08d}" for n in range(1000, 1050)]
    with pytest.raises(TrackError) as refused:
        service.issue(sale("POS1-9999"))
    problem = refused.value.problems[0]
    assert problem.code == "track.exhausted"
    assert "11512" in problem.message and "AB00001000-00001049" in problem.message
    assert counts(store) == (50, 50, 50)


def test_next_range_is_used_when_the_first_is_exhausted(service: InvoiceService, store: Store) -> None:
    hold(store, Period.of(START), "AB", 1050, 1051)
    hold(store, Period.of(START), "AC", 0, 0)
    numbers = [service.issue(sale(f"O-{n}")).body["invoice_number"] for n in range(53)]
    assert numbers[49:] == ["AB00001049", "AB00001050", "AB00001051", "AC00000000"]


def test_same_order_and_document_returns_the_same_invoice(service: InvoiceService, store: Store) -> None:
    first = service.issue(sale("POS1-0001"))
    again = service.issue(json.loads(json.dumps(sale("POS1-0001"), sort_keys=True)))
    assert not again.created
    assert again.body == first.body
    assert counts(store) == (1, 1, 1)
    assert cursor(store) == 1000


def test_same_order_with_another_document_is_a_conflict(service: InvoiceService, store: Store) -> None:
    service.issue(sale("POS1-0001"))
    with pytest.raises(Conflict) as refused:
        service.issue(sale("POS1-0001", remark="changed"))
    assert refused.value.problems[0].code == "order_id.conflict"
    assert "AB00001000" in refused.value.problems[0].message
    assert counts(store) == (1, 1, 1) and cursor(store) == 1000


def test_invalid_document_writes_nothing(service: InvoiceService, store: Store) -> None:
    with pytest.raises(InvoiceInvalid) as refused:
        service.issue(sale("POS1-0001", buyer={"ban": "12345678"}))
    assert [p.code for p in refused.value.problems] == ["buyer.ban.checksum"]
    assert counts(store) == (0, 0, 0) and cursor(store) is None


def test_no_range_for_the_period_names_it(store: Store, clock: FakeClock) -> None:
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    with pytest.raises(TrackError) as refused:
        service.issue(sale("POS1-0001"))
    assert refused.value.problems[0].code == "track.missing"
    assert "11512" in refused.value.problems[0].message


def test_special_tax_invoices_use_their_own_ranges(service: InvoiceService, store: Store) -> None:
    doc = sale("POS1-0008", invoice_type="08", tax_rate="0.25",
               items=[{"description": "特種", "quantity": 1, "unit_price": 100, "tax_type": "4"}])
    with pytest.raises(TrackError):
        service.issue(doc)
    hold(store, Period.of(START), "XY", 500, 549, invoice_type="08")
    assert service.issue(doc).body["invoice_number"] == "XY00000500"


def test_period_rolls_over_at_midnight_taipei(store: Store) -> None:
    last_second = datetime(2026, 12, 31, 23, 59, 59, tzinfo=TAIPEI)
    clock = FakeClock(last_second)
    hold(store, Period(2026, 12), "AB", 0, 49)
    hold(store, Period(2027, 2), "CD", 0, 49)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    before = service.issue(sale("A")).body
    clock.advance(seconds=1)
    after = service.issue(sale("B")).body
    assert (before["invoice_number"], before["period"]) == ("AB00000000", "11512")
    assert (after["invoice_number"], after["period"], after["invoice_date"]) == ("CD00000000", "11602", "2027-01-01")


def test_issued_at_selects_the_period_and_may_not_be_in_the_future(store: Store) -> None:
    clock = FakeClock(datetime(2027, 1, 1, 0, 5, tzinfo=TAIPEI))
    hold(store, Period(2026, 12), "AB", 0, 49)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    late = service.issue(sale("A", issued_at="2026-12-31T15:59:00Z")).body
    assert (late["period"], late["invoice_time"]) == ("11512", "23:59:00")
    with pytest.raises(InvoiceInvalid) as refused:
        service.issue(sale("B", issued_at="2027-01-01T00:06:00+08:00"))
    assert refused.value.problems[0].code == "issued_at.future"


def test_issued_at_may_not_go_back_inside_a_range(service: InvoiceService, clock: FakeClock) -> None:
    service.issue(sale("A"))
    earlier = (START - timedelta(minutes=1)).isoformat()
    with pytest.raises(Conflict) as refused:
        service.issue(sale("B", issued_at=earlier))
    assert refused.value.problems[0].code == "issued_at.out_of_order"
    assert service.issue(sale("C", issued_at=START.isoformat())).body["invoice_number"] == "AB00001001"


def test_a_failure_inside_the_transaction_leaves_nothing_behind(service: InvoiceService, store: Store) -> None:
    store.connection().execute(
        "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'injected'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        service.issue(sale("POS1-0001"))
    assert counts(store) == (0, 0, 0) and cursor(store) is None
    store.connection().execute("DROP TRIGGER fail_outbox")
    assert service.issue(sale("POS1-0001")).body["invoice_number"] == "AB00001000"


def test_committed_invoice_is_durable_for_a_fresh_connection(service: InvoiceService, store: Store) -> None:
    service.issue(sale("POS1-0001"))
    other = Store(store.path)
    try:
        conn = other.connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert conn.execute("SELECT number FROM invoices").fetchone()[0] == "AB00001000"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        other.close()


def test_stored_lines_and_document_are_exact(service: InvoiceService, store: Store) -> None:
    doc = sale("P", items=[{"description": "秤重", "quantity": "0.333", "unit_price": "30", "amount": 10},
                           {"description": "袋", "quantity": 1, "unit_price": "1.5", "tax_type": "3"}])
    body = service.issue(doc).body
    assert body["amounts"]["sales"] == 10 and body["amounts"]["free_tax_sales"] == 2
    lines = [tuple(r) for r in store.read("SELECT sequence, quantity, unit_price, amount, tax_type FROM invoice_lines")]
    assert lines == [("001", "0.333", "30", "10", "1"), ("002", "1", "1.5", "1.5", "3")]
