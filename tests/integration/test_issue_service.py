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
from daemon.store.blanks import close
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


# --- issue 15 items 4 and 5: date order across every range of a track, and the back-dating limit ---------------


def test_date_order_holds_across_the_ranges_of_a_track(store: Store) -> None:
    """Issue 15 item 4 (E0209 發票日期及票號必須依序): AB00001001 at 11-22 10:00, then an issue dated 11-21 15:00
    that would take AB00001050 from the next range must be refused, under the issuing lock."""
    clock = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=TAIPEI))
    hold(store, Period(2026, 12), "AB", 1000, 1001)
    hold(store, Period(2026, 12), "AB", 1050, 1099)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    service.issue(sale("A", issued_at="2026-11-21T09:00:00+08:00"))
    assert service.issue(sale("B", issued_at="2026-11-22T10:00:00+08:00")).body["invoice_number"] == "AB00001001"
    with pytest.raises(Conflict) as refused:
        service.issue(sale("C", issued_at="2026-11-21T15:00:00+08:00"))
    problem = refused.value.problems[0]
    assert (problem.code, problem.field) == ("issued_at.out_of_order", "issued_at")
    assert "2026-11-22T10:00:00+08:00" in problem.message
    assert counts(store)[0] == 2 and cursor_of(store, 1050) is None
    assert service.issue(sale("D", issued_at="2026-11-22T10:00:00+08:00")).body["invoice_number"] == "AB00001050"


def test_date_order_is_per_track(store: Store) -> None:
    """Another track of the same period keeps its own order (numbers are per period and letters)."""
    clock = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=TAIPEI))
    hold(store, Period(2026, 12), "AB", 1000, 1000)
    hold(store, Period(2026, 12), "AC", 0, 49)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    service.issue(sale("A", issued_at="2026-11-22T10:00:00+08:00"))
    assert service.issue(sale("B", issued_at="2026-11-21T15:00:00+08:00")).body["invoice_number"] == "AC00000000"


def cursor_of(store: Store, begin: int) -> int | None:
    return store.read("SELECT last_no FROM tracks WHERE begin_no = ?", (begin,))[0][0]


def test_nothing_whose_upload_deadline_has_passed(store: Store) -> None:
    """Issue 15 item 5: with the clock at 12-03, issued_at 11-01 is refused; the limit is the upload deadline:
    48 h for a consumer, 7 days for a business buyer (domain.md §7.4)."""
    now = datetime(2026, 12, 3, 12, 0, tzinfo=TAIPEI)
    hold(store, Period(2026, 12), "AB", 1000, 1049)
    service = InvoiceService(store, FakeClock(now), random.Random(1), SELLER, KEY)
    with pytest.raises(InvoiceInvalid) as refused:
        service.issue(sale("A", issued_at="2026-11-01T10:00:00+08:00"))
    problem = refused.value.problems[0]
    assert (problem.code, problem.field) == ("issued_at.too_old", "issued_at")
    assert "2026-11-03T10:00:00+08:00" in problem.message  # the deadline it missed
    assert counts(store)[0] == 0
    ban = {"ban": "04595257"}
    refusals = [sale("B", issued_at=(now - timedelta(days=7)).isoformat(), buyer=ban),
                sale("C", issued_at=(now - timedelta(hours=48)).isoformat())]
    for doc in refusals:
        with pytest.raises(InvoiceInvalid) as late:
            service.issue(doc)
        assert late.value.problems[0].code == "issued_at.too_old"
    business = service.issue(sale("D", issued_at=(now - timedelta(days=6)).isoformat(), buyer=ban)).body
    consumer = service.issue(sale("E", issued_at=(now - timedelta(hours=48, seconds=-1)).isoformat())).body
    assert (business["invoice_number"], consumer["invoice_number"]) == ("AB00001000", "AB00001001")


def test_the_back_dating_limit_is_configurable(store: Store) -> None:
    """A fixed limit (``numbering.backdate_limit``) replaces the upload deadline."""
    now = datetime(2026, 12, 3, 12, 0, tzinfo=TAIPEI)
    hold(store, Period(2026, 12), "AB", 1000, 1049)
    service = InvoiceService(store, FakeClock(now), random.Random(1), SELLER, KEY,
                             backdate_limit=timedelta(minutes=30))
    with pytest.raises(InvoiceInvalid) as refused:
        service.issue(sale("A", issued_at=(now - timedelta(minutes=31)).isoformat()))
    assert refused.value.problems[0].code == "issued_at.too_old"
    assert "30 minutes" in refused.value.problems[0].message
    assert service.issue(sale("B", issued_at=(now - timedelta(minutes=30)).isoformat())).created


def test_nothing_into_a_closed_period(store: Store) -> None:
    """Issue 15 item 5: a period whose ranges were closed for E0402 takes no invoice: period.closed, not the
    misleading track.exhausted; and no range can be added to it afterwards."""
    now = datetime(2027, 1, 1, 0, 30, tzinfo=TAIPEI)
    hold(store, Period(2026, 12), "AB", 1000, 1049)
    with store.write() as tx:
        close(tx, "11512", "2027-01-01T00:10:00+08:00", 1)
    service = InvoiceService(store, FakeClock(now), random.Random(1), SELLER, KEY)
    with pytest.raises(Conflict) as refused:
        service.issue(sale("A", issued_at="2026-12-31T23:00:00+08:00"))
    assert (refused.value.problems[0].code, refused.value.problems[0].field) == ("period.closed", "issued_at")
    with pytest.raises(TrackError) as added:
        hold(store, Period(2026, 12), "AB", 2000, 2049)
    assert added.value.problems[0].code == "tracks.closed"


def test_a_retry_is_answered_from_the_store_whatever_the_clock_says_now(store: Store) -> None:
    """An order already issued comes back (200, same invoice) even when its issued_at would now be refused as out
    of order or too old: the retry of a POS that lost the answer is not a new sale."""
    clock = FakeClock(datetime(2026, 11, 21, 10, 0, tzinfo=TAIPEI))
    hold(store, Period(2026, 12), "AB", 1000, 1049)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    first = service.issue(sale("A", issued_at="2026-11-21T09:00:00+08:00"))
    service.issue(sale("B"))
    clock.advance(hours=72)
    again = service.issue(sale("A", issued_at="2026-11-21T09:00:00+08:00"))
    assert not again.created and again.body == first.body
    with pytest.raises(Conflict) as other:
        service.issue(sale("A", issued_at="2026-11-21T09:00:00+08:00", remark="changed"))
    assert other.value.problems[0].code == "order_id.conflict"
    with pytest.raises(InvoiceInvalid):
        service.issue(sale("C", issued_at="2026-11-21T09:00:00+08:00"))


def test_a_range_imported_below_numbers_already_issued_is_passed_over(store: Store) -> None:
    """A lower range imported after a higher one was used can never be issued in date order (E0209): numbering
    goes on above, and the lower numbers stay unused (reported blank in the period's E0402)."""
    clock = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=TAIPEI))
    hold(store, Period(2026, 12), "AB", 1050, 1050)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    assert service.issue(sale("A")).body["invoice_number"] == "AB00001050"
    hold(store, Period(2026, 12), "AB", 1000, 1049)
    hold(store, Period(2026, 12), "AB", 1100, 1149)
    clock.advance(seconds=1)
    assert service.issue(sale("B")).body["invoice_number"] == "AB00001100"
    assert cursor_of(store, 1000) is None
    hold(store, Period(2026, 12), "AC", 0, 0)  # another track keeps its own order: its range is used
    numbers = [service.issue(sale(f"C{n}")).body["invoice_number"] for n in range(50)]
    assert numbers[-1] == "AC00000000" and "AB00001000" not in numbers
    with pytest.raises(TrackError) as refused:
        service.issue(sale("D"))
    assert refused.value.problems[0].code == "track.exhausted"
    assert "below numbers already issued" in refused.value.problems[0].message
