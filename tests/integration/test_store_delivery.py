"""The delivery query modules of daemon/store return frozen typed records, and write what they say."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.store import Store, alerts, blanks, exports, invoices, jobs, outbox, results

AT, LATER = "2026-12-03T12:00:00+08:00", "2026-12-03T13:00:00+08:00"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "einvd.db")
    yield opened
    opened.close()


def typed(record: object) -> None:
    assert dataclasses.is_dataclass(record) and not isinstance(record, sqlite3.Row)
    assert not hasattr(record, "__dict__")  # slots
    field = dataclasses.fields(record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, None)


def test_outbox_rows_through_their_states(store: Store) -> None:
    with store.write() as tx:
        first = outbox.enqueue_unlinked(tx, "E0402", "11510-07-AB", AT)
        second = outbox.enqueue_unlinked(tx, "E0402", "11510-07-AC", AT)
    conn = store.connection()
    assert outbox.ready_types(conn) == ["E0402"]
    found = outbox.candidates(conn, "E0402", 10)
    typed(found[0])
    assert [(c.id, c.blocked, c.invoice, c.file_name) for c in found] == [(first, False, None, None),
                                                                          (second, False, None, None)]
    with store.write() as tx:
        outbox.lock(tx, [(first, "a.xml"), (second, "b.xml")], AT)
        outbox.mark_done(tx, first, AT, None)
        outbox.retry_later(tx, second, AT, LATER, "OSError: gone")
    assert outbox.dropped_unsettled(conn)[0] == outbox.Dropped(first, "E0402", "11510-07-AB", None, "a.xml")
    assert outbox.head_error(conn) == outbox.HeadError("OSError: gone", LATER)
    assert [(w.message_type, w.count) for w in outbox.waiting(conn)] == [("E0402", 1)]
    with store.write() as tx:
        outbox.set_outcome(tx, first, "accepted_local", AT, None)
        outbox.fail(tx, second, AT, "broken")
    assert outbox.dropped_unsettled(conn) == [] and outbox.failed_count(conn) == 1


def test_results_seen_exports_and_job_runs(store: Store) -> None:
    with store.write() as tx:
        results.record_seen(tx, "ERR/x.xml", "ERR", 10, AT, "unmatched", "why")
        exports.record(tx, "report", "2026-12-03", "/r/1.json", AT)
        exports.record(tx, "report", "2026-12-03", "/r/2.json", LATER, "again")
        jobs.record_success(tx, "pump", AT)
        jobs.record_success(tx, "pump", LATER)
    conn = store.connection()
    assert results.seen(conn, "ERR") == {"ERR/x.xml"} and results.seen(conn, "E0501") == set()
    found = exports.find(conn, "report", "2026-12-03")
    assert found == exports.Export("report", "2026-12-03", "/r/2.json", LATER, "again")
    assert jobs.last_runs(conn) == [jobs.JobRun("pump", LATER)] and jobs.last_run(conn, "watch") is None
    assert invoices.find_invoice(conn, "AB00000001", None) is None and invoices.status_of(conn, 1) is None
    assert blanks.open_periods(conn) == [] and not blanks.is_closed(conn, "11510")


def test_alerts_and_their_deliveries(store: Store) -> None:
    with store.write() as tx:
        assert alerts.insert_once(tx, "outbox.failed", "outbox", "1", AT, None, "cannot be sent")
        assert not alerts.insert_once(tx, "outbox.failed", "outbox", "1", AT, None, "again")
    conn = store.connection()
    assert alerts.any_unnotified(conn) and alerts.open_counts(conn) == {"outbox.failed": 1}
    taken = alerts.unnotified(conn)
    typed(taken[0])
    with store.write() as tx:
        alerts.add_deliveries(tx, taken[0].id, ["webhook", "printer"], AT)
        alerts.mark_notified(tx, taken[0].id, AT)
    assert not alerts.any_unnotified(conn)
    assert alerts.printed_kinds_since(conn, AT) == {"outbox.failed"}
    due = alerts.due_deliveries(conn, "webhook", AT, 10)
    assert [(d.alert.message, d.attempts) for d in due] == [("cannot be sent", 0)]
    with store.write() as tx:
        alerts.delivery_retry(tx, taken[0].id, "webhook", 1, LATER, "HTTP 500")
        alerts.delivery_sent(tx, taken[0].id, "printer", 1, AT)
    assert alerts.due_deliveries(conn, "webhook", AT, 10) == []
    assert alerts.due_deliveries(conn, "printer", LATER, 10) == []
    with store.write() as tx:
        assert alerts.clear(tx, AT, "outbox.failed", "outbox", "1") == 1
        assert alerts.clear(tx, AT, "outbox.failed", "outbox", "1") == 0
    assert alerts.open_counts(conn) == {} and alerts.open_entity_ids(conn, "outbox.failed") == []
