"""Alerts that reach a person: the log, a signed webhook on a real loopback ``http.server`` (retries, final
refusals, unreachable and slow endpoints), a notice on the virtual receipt printer decoded from its ESC/POS
bytes, and the scheduled jobs ``einvd run`` wires (driven by a fake clock)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import START

from daemon.alerts import raise_alert
from daemon.config import AlertSettings, load
from daemon.notify import NOTICE_TITLE, Notifier
from daemon.runner import Daemon
from daemon.store import MIGRATIONS, Store, stamp
from daemon.store import alerts as alerts_table
from daemon.wiring.printer import DevicePrinter, slip_encoder
from drivers.printer.device import EscposPrinter
from drivers.printer.encode import PrinterProfile
from hw_sim.clock import FakeClock
from hw_sim.escpos_decode import Slip as DecodedSlip
from hw_sim.printer import SimPrinter, SimTransport
from turnkey.period import TAIPEI

SECRET = "webhook-secret-0123456789"


@dataclass
class Hook:
    """A webhook receiver on loopback: answers with ``statuses`` in turn (then 200), records each request."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            time.sleep(state.delay)
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/einvd"
    yield state
    server.shutdown()
    server.server_close()


def alert(store: Store, kind: str, entity_id: str, now: datetime, message: str = "something needs a person",
          due: datetime | None = None) -> None:
    with store.write() as tx:
        raise_alert(tx, kind, "period", entity_id, now, message, due)


def deliveries(store: Store) -> list[tuple[str, str, int]]:
    return [(r[0], r[1], r[2]) for r in store.read(
        "SELECT channel, state, attempts FROM alert_deliveries ORDER BY alert_id, channel")]


def test_new_alert_is_logged_and_posted_once_with_a_signature(
        store: Store, clock: FakeClock, hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(store, AlertSettings(hook.url, SECRET), "12345676", rng=random.Random(1))
    alert(store, "e0402.missed", "11510", clock.now(), "E0402 for period 11510 missed", clock.now())
    alert(store, "ranges.low", "11512", clock.now(), "only 10 numbers left")
    with caplog.at_level(logging.WARNING, "einvd.alerts"):
        assert notifier.tick(clock.now()) == {"new": 2, "webhook_sent": 2, "webhook_failed": 0}
    levels = [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records]
    assert levels == [("ERROR", "alert e0402.missed period 11510"), ("WARNING", "alert ranges.low period 11512")]
    assert len(hook.received) == 2
    headers, body = hook.received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-einvd-signature"] == expected and headers["content-type"].startswith("application/json")
    payload = json.loads(body)
    assert {k: payload[k] for k in ("kind", "entity", "entity_id", "message", "box")} == {
        "kind": "e0402.missed", "entity": "period", "entity_id": "11510", "message": "E0402 for period 11510 missed",
        "box": "12345676"}
    assert payload["raised_at"] == payload["due_at"] == "2026-11-21T14:03:00+08:00"
    clock.advance(minutes=5)
    assert notifier.tick(clock.now()) == {"new": 0, "webhook_sent": 0, "webhook_failed": 0}
    assert len(hook.received) == 2, "each alert is sent once"
    assert deliveries(store) == [("webhook", "sent", 1)] * 2
    assert store.read("SELECT count(*) FROM alerts WHERE notified_at IS NULL")[0][0] == 0


def test_failures_are_retried_with_backoff_and_4xx_is_final(store: Store, clock: FakeClock, hook: Hook,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    hook.statuses = [500, 503]
    notifier = Notifier(store, AlertSettings(hook.url, ""), rng=random.Random(1))
    alert(store, "deadline.missed", "1", clock.now())
    alert(store, "outbox.failed", "2", clock.now())
    assert notifier.tick(clock.now())["webhook_sent"] == 0
    assert len(hook.received) == 1, "after a failure the rest wait for the next tick"
    assert "x-einvd-signature" not in hook.received[0][0], "no secret, no signature"
    assert notifier.tick(clock.now())["webhook_sent"] == 0
    assert len(hook.received) == 2, "the first is backing off; the second gets its try"
    assert deliveries(store) == [("webhook", "pending", 1)] * 2
    assert notifier.tick(clock.now())["webhook_sent"] == 0 and len(hook.received) == 2, "both backing off"
    clock.advance(minutes=2)
    assert notifier.tick(clock.now())["webhook_sent"] == 2
    assert [json.loads(b)["entity_id"] for _, b in hook.received] == ["1", "2", "1", "2"]
    assert deliveries(store) == [("webhook", "sent", 2)] * 2

    hook.statuses = [400]
    alert(store, "ranges.low", "3", clock.now())
    with caplog.at_level(logging.ERROR, "einvd.alerts"):
        assert notifier.tick(clock.now())["webhook_failed"] == 1
    assert deliveries(store)[-1] == ("webhook", "failed", 1)
    assert "could not be sent by webhook: HTTP 400" in caplog.text


def test_a_storm_of_one_kind_is_one_webhook_message_an_hour(store: Store, clock: FakeClock, hook: Hook) -> None:
    """500 alerts of one kind and 2 of another: a handful of posts naming the counts; every alert row is marked
    sent through the message that carried it, and each stays in the store."""
    notifier = Notifier(store, AlertSettings(hook.url, SECRET), "12345676", rng=random.Random(1))
    alert(store, "deadline.missed", "first", clock.now())
    alert(store, "e0402.missed", "11510", clock.now())
    assert notifier.tick(clock.now()) == {"new": 2, "webhook_sent": 2, "webhook_failed": 0}
    assert [json.loads(b)["entity_id"] for _, b in hook.received] == ["first", "11510"], "a new kind goes at once"
    for n in range(499):
        clock.advance(seconds=5)
        alert(store, "deadline.missed", f"inv{n}", clock.now())
        if n % 50 == 0:
            notifier.tick(clock.now())
    alert(store, "e0402.missed", "11512", clock.now())
    notifier.tick(clock.now())
    assert len(hook.received) == 2, "within the hour the rest of each kind wait"
    hook.statuses = [503]
    clock.advance(minutes=30)  # an hour since the first messages
    assert notifier.tick(clock.now())["webhook_sent"] == 0 and len(hook.received) == 3
    assert notifier.tick(clock.now())["webhook_sent"] == 1, "the other kind goes while the summary backs off"
    clock.advance(minutes=2)
    assert notifier.tick(clock.now()) == {"new": 0, "webhook_sent": 499, "webhook_failed": 0}
    clock.advance(hours=2)
    assert notifier.tick(clock.now())["webhook_sent"] == 0
    assert len(hook.received) == 5
    summary = json.loads(hook.received[-1][1])
    assert hook.received[-1][0]["x-einvd-signature"] == "sha256=" + hmac.new(
        SECRET.encode(), hook.received[-1][1], hashlib.sha256).hexdigest()
    assert hook.received[-1][0]["x-einvd-alert-count"] == "499"
    assert {k: summary[k] for k in ("summary", "kind", "count", "box", "first_entity_ids")} == {
        "summary": True, "kind": "deadline.missed", "count": 499, "box": "12345676",
        "first_entity_ids": ["inv0", "inv1", "inv2", "inv3", "inv4"]}
    assert summary["oldest"]["entity_id"] == "inv0" and summary["newest"]["entity_id"] == "inv498"
    assert summary["message"].startswith("499 deadline.missed alerts: oldest period inv0 raised 2026-11-21T14:03:05")
    lone = json.loads(hook.received[3][1])
    assert lone["entity_id"] == "11512" and "summary" not in lone, "one waiting alert goes as itself"
    assert store.read("SELECT count(*) FROM alerts")[0][0] == 502
    assert deliveries(store).count(("webhook", "sent", 2)) == 499
    assert deliveries(store).count(("webhook", "sent", 1)) == 3
    last_id = store.read("SELECT id FROM alerts WHERE entity_id = 'inv498'")[0][0]
    with store.write() as tx:
        carried = alerts_table.carried_with(tx, last_id, "webhook")
    storm_ids = [r[0] for r in store.read(
        "SELECT id FROM alerts WHERE kind = 'deadline.missed' AND entity_id LIKE 'inv%' ORDER BY id")]
    assert carried == storm_ids and len(carried) == 499
    assert (summary["first_alert_id"], summary["last_alert_id"]) == (storm_ids[0], storm_ids[-1])
    assert len(hook.received[-1][1]) < 2000, "a summary stays small"


def test_a_failed_message_is_retried_while_another_kind_waits_for_its_hour(store: Store, clock: FakeClock,
                                                                            hook: Hook) -> None:
    notifier = Notifier(store, AlertSettings(hook.url), rng=random.Random(1))
    alert(store, "deadline.missed", "1", clock.now())
    assert notifier.tick(clock.now())["webhook_sent"] == 1
    alert(store, "deadline.missed", "2", clock.now())
    hook.statuses = [500]
    alert(store, "outbox.failed", "3", clock.now())
    assert notifier.tick(clock.now())["webhook_sent"] == 0 and len(hook.received) == 2
    clock.advance(minutes=2)
    assert notifier.tick(clock.now())["webhook_sent"] == 1, "the retry is not held back by the other kind's hour"
    assert [json.loads(b)["entity_id"] for _, b in hook.received] == ["1", "3", "3"]
    clock.advance(minutes=57)
    assert notifier.tick(clock.now())["webhook_sent"] == 0
    clock.advance(minutes=1)
    assert notifier.tick(clock.now())["webhook_sent"] == 1 and json.loads(hook.received[-1][1])["entity_id"] == "2"


def test_an_unreachable_or_slow_endpoint_never_raises(store: Store, clock: FakeClock, hook: Hook) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    notifier = Notifier(store, AlertSettings(closed, webhook_timeout=0.5, webhook_max_attempts=2),
                        rng=random.Random(1))
    alert(store, "deadline.near", "1", clock.now())
    notifier.tick(clock.now())
    assert deliveries(store) == [("webhook", "pending", 1)]
    assert "ConnectionRefusedError" in store.read("SELECT last_error FROM alert_deliveries")[0][0] or \
        "URLError" in store.read("SELECT last_error FROM alert_deliveries")[0][0]
    clock.advance(hours=2)
    assert notifier.tick(clock.now())["webhook_failed"] == 1
    assert deliveries(store) == [("webhook", "failed", 2)]

    hook.delay = 1.5
    slow = Notifier(store, AlertSettings(hook.url, webhook_timeout=0.3), rng=random.Random(1))
    alert(store, "deadline.near", "2", clock.now())
    slow.tick(clock.now())
    assert deliveries(store)[-1] == ("webhook", "pending", 1)
    assert "timed out" in store.read("SELECT last_error FROM alert_deliveries WHERE alert_id = 2")[0][0]


def test_notice_on_the_virtual_printer(store: Store, clock: FakeClock) -> None:
    sim = SimPrinter()
    printer = EscposPrinter(lambda: SimTransport(sim))
    conf = AlertSettings(print_notices=True, print_kinds=("e0402.missed",))
    notifier = Notifier(store, conf, printer=DevicePrinter(printer), encoder=slip_encoder(PrinterProfile("cp950", 58)),
                        rng=random.Random(1))
    due = datetime(2027, 1, 11, tzinfo=TAIPEI)
    alert(store, "e0402.missed", "11512", clock.now(), "E0402 for period 11512 missed its deadline", due)
    alert(store, "ranges.low", "11512", clock.now(), "only 10 numbers left")
    notifier.tick(clock.now())
    assert deliveries(store) == [("printer", "pending", 0)], "only the configured kinds are printed"
    sim.paper_out = True
    assert notifier.print_due(clock.now()) == 0
    assert deliveries(store) == [("printer", "pending", 1)] and sim.slips == []
    sim.paper_out = False
    clock.advance(hours=1)
    assert notifier.print_due(clock.now()) == 1
    assert [line.strip() for line in sim.text() if line.strip() and not set(line.strip()) <= {"-"}] == [
        NOTICE_TITLE, "2026-11-21 14:03", "e0402.missed", "E0402 for period 11512 missed it", "s deadline",
        "due 2027-01-11 00:00"]
    assert len(sim.slips) == 1 and notifier.print_due(clock.now()) == 0
    assert deliveries(store) == [("printer", "sent", 2)]


def test_alerts_cleared_before_the_upgrade_are_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:5], start=1):
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version={number}")
    conn.execute("INSERT INTO alerts (kind, entity, entity_id, raised_at, message, cleared_at) VALUES "
                 "('deadline.near', 'invoice', '1', 'x', 'old', 'y'), "
                 "('deadline.near', 'invoice', '2', 'x', 'open', NULL)")
    conn.close()
    store = Store(path)
    try:
        assert Notifier(store, AlertSettings()).take_new(START) == 1
    finally:
        store.close()


def test_einvd_run_schedules_the_calendar_jobs(tmp_path: Path) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text('[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市信義區測試路1號"\n\n'
                      '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n', encoding="utf-8")
    clock = FakeClock(START)
    daemon = Daemon(load(config), clock, random.Random(1))
    daemon.store = Store(tmp_path / "einvd.sqlite3")
    try:
        daemon._start_calendar()
        names = {job.name: job.every for job in daemon.jobs}
        assert names == {"deadlines": 60.0, "e0402": 900.0, "void-window": 3600.0, "daily-report": 300.0,
                         "archive": 3600.0, "notify": 10.0}
        for job in daemon.jobs:
            job.tick(clock.now())
        assert (tmp_path / "reports" / "einvd-2026-11-20.json").is_file()
        assert daemon.store.read("SELECT count(*) FROM alerts WHERE kind = 'job.failed'")[0][0] == 0
        broken = daemon._guarded("archive", lambda now: 1 / 0)
        assert broken(clock.now()) is None and broken(clock.now()) is None
        assert [r[0] for r in daemon.store.read("SELECT entity_id FROM alerts WHERE kind = 'job.failed'")] == [
            "archive:2026-11-21"]
    finally:
        daemon.store.close()


def printing_notifier(store: Store, sim: SimPrinter) -> Notifier:
    conf = AlertSettings(print_notices=True, print_kinds=("deadline.missed", "e0402.missed"))
    return Notifier(store, conf, printer=DevicePrinter(EscposPrinter(lambda: SimTransport(sim))),
                    encoder=slip_encoder(PrinterProfile("cp950", 58)), rng=random.Random(1))


def lines(slip: DecodedSlip) -> list[str]:
    return [line.strip() for line in slip.lines if line.strip() and not set(line.strip()) <= {"-"}]


def test_a_storm_of_one_kind_prints_the_first_then_one_summary_an_hour(store: Store, clock: FakeClock) -> None:
    """A long outage raises a deadline alert per invoice: 30 of them print 2 notices in two hours, the first as
    itself and then one summary naming 29, the oldest and the newest; every alert row is marked printed by the
    notice that carried it, and each stays in the store."""
    sim = SimPrinter()
    notifier = printing_notifier(store, sim)
    for n in range(10):
        alert(store, "deadline.missed", f"inv{n}", clock.now(), f"invoice inv{n} missed its deadline")
    alert(store, "e0402.missed", "11512", clock.now())
    assert notifier.take_new(clock.now()) == 11
    assert notifier.print_due(clock.now()) == 2, "each quiet kind prints its first alert at once, alone"
    assert [lines(slip)[2:4] for slip in sim.slips] == [
        ["deadline.missed", "invoice inv0 missed its deadline"], ["e0402.missed", "something needs a person"]]
    start = clock.now()
    for n in range(10, 30):  # the rest of the storm within the hour; the printer thread runs throughout
        clock.advance(minutes=2)
        alert(store, "deadline.missed", f"inv{n}", clock.now())
        notifier.take_new(clock.now())
        assert notifier.print_due(clock.now()) == 0
    for _ in range(12):  # two hours in all, in 10-minute steps
        clock.advance(minutes=10)
        notifier.take_new(clock.now())
        notifier.print_due(clock.now())
    assert clock.now() - start >= timedelta(hours=2)
    assert len(sim.slips) == 3, "the storm of 30 printed twice, the other kind once"
    summary = lines(sim.slips[2])
    assert summary[:7] == [NOTICE_TITLE, "29 alerts", "deadline.missed", "oldest 2026-11-21 14:03", "period inv1",
                           "newest 2026-11-21 14:43", "period inv29"]
    assert "".join(summary[7:]) == "first: inv1, inv2, inv3, inv4, inv5", "wrapped by the encoder"
    assert store.read("SELECT count(*) FROM alerts")[0][0] == 31
    assert deliveries(store) == [("printer", "sent", 1)] * 31, "every row accounted for"
    sent_at = [r[0] for r in store.read("SELECT d.sent_at FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
                                        "WHERE a.kind = 'deadline.missed' ORDER BY a.id")]
    assert sent_at[0] == stamp(start) and set(sent_at[1:]) == {stamp(start + timedelta(hours=1))}
    last_id = store.read("SELECT id FROM alerts WHERE entity_id = 'inv29'")[0][0]
    with store.write() as tx:
        assert len(alerts_table.carried_with(tx, last_id, "printer")) == 29


def test_a_printed_summary_that_fails_is_printed_whole_once_after_recovery(store: Store, clock: FakeClock) -> None:
    sim = SimPrinter()
    notifier = printing_notifier(store, sim)
    alert(store, "deadline.missed", "first", clock.now())
    notifier.take_new(clock.now())
    assert notifier.print_due(clock.now()) == 1
    for n in range(5):
        clock.advance(minutes=5)
        alert(store, "deadline.missed", f"inv{n}", clock.now())
    notifier.take_new(clock.now())
    clock.advance(minutes=35)  # an hour since the first notice: the summary is due, and the paper is out
    sim.paper_out = True
    assert notifier.print_due(clock.now()) == 0 and len(sim.slips) == 1
    assert deliveries(store)[1:] == [("printer", "pending", 1)] * 5, "the summary failed whole"
    alert(store, "deadline.missed", "late", clock.now())  # joins it while it backs off
    notifier.take_new(clock.now())
    assert notifier.print_due(clock.now()) == 0 and len(sim.slips) == 1
    sim.paper_out = False
    clock.advance(minutes=2)
    assert notifier.print_due(clock.now()) == 6
    for _ in range(20):
        clock.advance(minutes=10)
        assert notifier.print_due(clock.now()) == 0
    assert len(sim.slips) == 2, "the summary printed once"
    assert lines(sim.slips[1])[1:3] == ["6 alerts", "deadline.missed"]
    assert deliveries(store) == [("printer", "sent", 1)] + [("printer", "sent", 2)] * 6
