"""End to end in process: issue -> F0401 in the simulated Turnkey's SRC -> BAK/ERR -> SummaryResult/ProcessResult
-> invoice state, on real directories and a real SQLite file, with the time driven by a fake clock."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import KEY, SELLER, START, hold, sale, spec_dir, spec_schemas

from daemon.allowances import AllowanceRequest, AllowanceService
from daemon.config import ConfigError, load
from daemon.lifecycle import LifecycleService
from daemon.policy.settlement import Verdict
from daemon.services import InvoiceService
from daemon.store import Connection, Store
from daemon.verdicts import Tally, apply_verdict
from daemon.wiring import check_drop, open_drop, open_simulator, pump_worker, result_trigger, watch_worker
from daemon.workers import Pump, Watch, health
from drivers.drop.local import LocalDrop
from drivers.drop.watch import Rescan, Trigger
from hw_sim.clock import FakeClock
from hw_sim.turnkey import MemoryTurnkeyLog, SimTurnkey
from hw_sim.turnkey_results import Verdict as Verdict_
from hw_sim.turnkey_results import process_result, summary_result
from turnkey.layout import Layout
from turnkey.lifecycle import Requested
from turnkey.period import Period

LAYOUT = Layout()  # ProcessResults are read by default (Unpack/BAK/ProcessResult)


@dataclass
class Site:
    store: Store
    clock: FakeClock
    service: InvoiceService
    turnkey: SimTurnkey
    pump: Pump
    watch: Watch

    def issue(self, count: int, **extra: object) -> list[str]:
        numbers = []
        for _ in range(count):
            self.clock.advance(seconds=1)
            order = f"POS1-{random.Random().getrandbits(40):x}"
            numbers.append(self.service.issue(sale(order, **extra)).body["invoice_number"])
        return numbers

    def cycle(self, advance: timedelta = timedelta(0)) -> dict[str, int]:
        """Time passes; the pump drops, Turnkey works, the watcher reads it back."""
        self.clock.advance(advance)
        self.pump.tick(self.clock.now())
        self.turnkey.tick(self.clock.now())
        return self.watch.tick(self.clock.now())

    def status(self, number: str) -> tuple[str, str, str]:
        row = self.store.read("SELECT status, result_code, result_reason FROM invoices WHERE number = ?", (number,))[0]
        return row[0], row[1], row[2]


@pytest.fixture
def site(service: InvoiceService, store: Store, clock: FakeClock, tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "turnkey"
    turnkey = SimTurnkey(root, spec_dir(), party=SELLER.identifier, summary_delay=timedelta(minutes=30)).install()
    drop = LocalDrop(root, LAYOUT)
    pump = Pump(store, drop, SELLER, spec_schemas(), random.Random(1))
    yield Site(store, clock, service, turnkey, pump, Watch(store, drop, SELLER.identifier))
    pump.close()


def test_issue_to_confirmed(site: Site) -> None:
    """One merged upload (three files, one message, one UUID) confirmed by one ``00000`` ProcessResult."""
    numbers = site.issue(3)
    assert {site.status(n)[0] for n in numbers} == {"queued"}
    site.pump.tick(site.clock.now())
    assert {site.status(n)[0] for n in numbers} == {"dropped"}
    assert len(site.turnkey.tick(site.clock.now())) == 3
    (message,) = site.turnkey.messages
    # merged oldest mtime first (§5.5a): files written within one mtime tick may come in either order
    assert sorted(d.reference for d in message.documents) == numbers and message.id.startswith("v41-F0401-")
    assert site.watch.tick(site.clock.now()) == {"accepted_local": 3}
    assert site.cycle(timedelta(minutes=31)) == {"ProcessResult": 1, "SummaryResult": 1, "confirmed": 3}
    assert {site.status(n) for n in numbers} == {("confirmed", "", f"ProcessResult {message.id}")}
    kinds = [r[0] for r in site.store.read("SELECT kind FROM events WHERE entity_id = ? ORDER BY id", (numbers[0],))]
    assert kinds == ["dropped", "accepted_local", "confirmed"]
    (process,) = site.store.read("SELECT path FROM results_seen WHERE kind = 'ProcessResult'")
    assert process[0].endswith(f"/{message.id}_ProcessResult")  # no .xml, as Turnkey 3.2.0 names it
    log = site.turnkey.log
    assert isinstance(log, MemoryTurnkeyLog)
    assert {log.status(d.identifier) for d in message.documents} == {"C"}


def test_two_numbered_failures_reject_exactly_those_two(site: Site) -> None:
    numbers = site.issue(5)
    site.turnkey.reject(numbers[1], "E0107", "發票年度字軌不符")
    site.turnkey.reject(numbers[3], "E1001", "發票受贈統編/格式錯誤")
    site.cycle()
    assert len(site.turnkey.messages) == 1
    counts = site.cycle(timedelta(minutes=31))
    assert counts == {"ProcessResult": 1, "SummaryResult": 1, "rejected": 2, "confirmed": 3}
    assert site.status(numbers[1]) == ("rejected", "E0107", "發票年度字軌不符")
    assert site.status(numbers[3]) == ("rejected", "E1001", "發票受贈統編/格式錯誤")
    assert {site.status(n)[:2] for n in (numbers[0], numbers[2], numbers[4])} == {("confirmed", "")}


def test_a_whole_message_failure_rejects_every_document_through_the_summary(site: Site) -> None:
    numbers = site.issue(3)
    site.turnkey.fail_message("E0301", "簽章驗證失敗")
    site.cycle()
    process_folder = site.turnkey.root / LAYOUT.process_results
    site.clock.advance(minutes=31)
    site.turnkey.tick(site.clock.now())
    (process,) = process_folder.rglob("*ProcessResult")
    aside = site.turnkey.root / "aside"
    process.rename(aside)  # the SummaryResult is read first: it waits for the ProcessResult of its message
    assert site.watch.tick(site.clock.now()) == {"SummaryResult": 1}
    assert {site.status(n)[0] for n in numbers} == {"accepted_local"}
    aside.rename(process)
    assert site.watch.tick(site.clock.now()) == {"ProcessResult": 1, "rejected": 3}
    assert {site.status(n) for n in numbers} == {("rejected", "E0301", "簽章驗證失敗")}
    assert site.watch.tick(site.clock.now()) == {}


def test_a_summary_without_its_process_result_is_applied_alone_after_the_wait(site: Site) -> None:
    site.turnkey.process_results = False  # a site whose Turnkey keeps no ProcessResults
    good, bad = site.issue(2)
    site.turnkey.reject(bad, "E0107")
    site.cycle()
    assert site.cycle(timedelta(minutes=31)) == {"SummaryResult": 1}
    assert site.cycle(timedelta(minutes=119)) == {}
    assert site.cycle(timedelta(minutes=2)) == {"confirmed": 1, "rejected": 1}
    assert site.status(bad)[:2] == ("rejected", "") and site.status(good)[0] == "confirmed"


def test_a_final_summary_is_cross_checked_never_counted_twice(site: Site) -> None:
    numbers = site.issue(2)
    site.cycle()
    site.cycle(timedelta(minutes=31))
    events = site.store.read("SELECT count(*) FROM events")[0][0]
    final = site.turnkey.final_summary(site.clock.now())
    assert final is not None and final.name.endswith("-Final.SummaryResult")
    assert site.watch.tick(site.clock.now()) == {"SummaryResult": 1}
    assert site.store.read("SELECT count(*) FROM events")[0][0] == events  # nothing applied again
    seen = site.store.read("SELECT outcome FROM results_seen WHERE path LIKE '%-Final.SummaryResult'")
    assert [r[0] for r in seen] == ["cross-checked"]
    assert {site.status(n)[0] for n in numbers} == {"confirmed"}


def test_a_final_summary_that_differs_is_logged(site: Site) -> None:
    site.issue(1)
    site.cycle()
    site.cycle(timedelta(minutes=31))
    final = site.turnkey.final_summary(site.clock.now())
    assert final is not None
    text = final.read_text(encoding="utf-8")
    final.write_text(text.replace("v41-F0401-", "v41-F0401-X"), encoding="utf-8")  # a message never summarised
    assert site.watch.tick(site.clock.now()) == {"SummaryResult": 1}
    (row,) = site.store.read("SELECT kind, reason FROM events WHERE entity = 'result'")
    assert row[0] == "final.mismatch" and "in the Final summary only" in row[1]


def test_a_rejected_allowance_is_named_by_its_allowance_number(site: Site) -> None:
    (number,) = site.issue(1)
    site.cycle()
    site.cycle(timedelta(minutes=31))
    lifecycle = LifecycleService(site.service, 13)
    allowance = AllowanceService(lifecycle, "AL").issue(
        AllowanceRequest(number, (Requested("001", Decimal(1)),))).body["allowance_number"]
    seen: list[Verdict] = []

    def recording(tx: Connection, verdict: Verdict, now: datetime, tally: Tally) -> None:
        seen.append(verdict)
        apply_verdict(tx, verdict, now, tally)

    site.watch.results.apply = recording
    site.cycle()
    (message,) = [m for m in site.turnkey.messages if m.code == "G0401"]
    assert [d.reference for d in message.documents] == [allowance]
    site.turnkey.reject(allowance, "E0221", "折讓金額超過發票可折讓金額")
    site.cycle(timedelta(minutes=31))
    assert [(v.message_type, v.number, v.status, v.code, v.message_id) for v in seen] == [
        ("G0401", allowance, "rejected", "E0221", message.id)]
    log = site.turnkey.log
    assert isinstance(log, MemoryTurnkeyLog) and log.status(message.documents[0].identifier) == "E"


def test_a_file_turnkey_cannot_read_and_write_stays_in_src(site: Site) -> None:
    site.turnkey.user = (4321, (4321,))  # Turnkey runs as another user than the one that dropped the file
    (number,) = site.issue(1)
    assert site.cycle() == {}
    (stuck,) = site.turnkey.skipped
    assert stuck.parent == site.turnkey.folder("F0401", "SRC") and site.status(number)[0] == "dropped"
    assert site.cycle(timedelta(hours=1)) == {} and stuck.exists()
    os.chmod(stuck, 0o666)  # readable and writable by everyone: Turnkey takes it
    assert site.cycle() == {"accepted_local": 1}


def test_an_older_turnkey_layout_is_still_read(site: Site) -> None:
    """Hour-range folders, ``_<epoch ms>.xml`` names and ``.xml`` result files (an older Turnkey, domain.md §5.2)."""
    good, refused = site.issue(2)
    site.pump.tick(site.clock.now())
    for number, which in ((good, "BAK"), (refused, "ERR")):
        (path,) = site.turnkey.folder("F0401", "SRC").glob(f"*{number}*")
        target = site.turnkey.folder("F0401", which) / "20261121" / "14-15" / f"{path.stem}_1795240980000.xml"
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    assert site.watch.tick(site.clock.now()) == {"accepted_local": 1, "rejected_local": 1}
    (message_id,) = {f"4.1-F0401-20261121-140300000-{'0' * 8}-0000-4000-8000-{'0' * 12}"}
    summary = summary_result(SELLER.identifier, [(message_id, "F0401", [Verdict_(good, "20261121")])])
    older = site.turnkey.root / LAYOUT.result_folder("SummaryResult") / "20261121" / "14-15" / "s_SummaryResult.xml"
    older.parent.mkdir(parents=True)
    older.write_bytes(summary)
    process = process_result(SELLER.identifier, message_id, "F0401", 1, [("00000", "處理成功", ())])
    older_process = site.turnkey.root / LAYOUT.process_results / "20261121" / "14-15" / "p_ProcessResult.xml"
    older_process.parent.mkdir(parents=True)
    older_process.write_bytes(process)
    assert site.watch.tick(site.clock.now()) == {"ProcessResult": 1, "SummaryResult": 1, "confirmed": 1}
    assert site.status(good)[0] == "confirmed"


def test_turnkey_refuses_a_file_locally(site: Site) -> None:
    good, refused = site.issue(2)
    site.turnkey.refuse(refused, "Seller 統一編號 not registered in Turnkey")
    assert site.cycle() == {"accepted_local": 1, "rejected_local": 1}
    status, code, reason = site.status(refused)
    assert code == ""
    assert status == "rejected_local" and "only to its database" in reason  # Turnkey 3.2.0 writes no reason file
    log = site.turnkey.log
    assert isinstance(log, MemoryTurnkeyLog)
    (refusal,) = [e for e in log.events if refused in e.identifier]
    assert refusal.error_code == "-008" and "[7001] Seller 統一編號 not registered in Turnkey" in refusal.message
    assert not list(site.turnkey.folder("F0401", "ERR").rglob("*.log"))
    err = site.store.read("SELECT path, outcome FROM results_seen WHERE kind = 'ERR'")
    assert len(err) == 1 and err[0]["outcome"] == "applied" and "/ERR/" in err[0]["path"]
    assert site.cycle(timedelta(hours=1)) == {"ProcessResult": 1, "SummaryResult": 1, "confirmed": 1}
    assert site.status(good)[0] == "confirmed" and site.status(refused)[0] == "rejected_local"


def test_the_platform_rejects_an_invoice_with_its_code(site: Site) -> None:
    good, bad = site.issue(2)
    site.turnkey.reject(bad, "E0107", "發票年度字軌不符")
    site.cycle()
    counts = site.cycle(timedelta(minutes=31))
    assert counts == {"ProcessResult": 1, "SummaryResult": 1, "rejected": 1, "confirmed": 1}
    assert site.status(bad) == ("rejected", "E0107", "發票年度字軌不符")  # the summary's failure keeps the code
    assert site.status(good)[0] == "confirmed"


def test_each_result_file_counts_once_also_after_a_restart(site: Site) -> None:
    numbers = site.issue(2)
    site.cycle()
    site.cycle(timedelta(minutes=31))
    events = site.store.read("SELECT count(*) FROM events")[0][0]
    restarted = Watch(site.store, LocalDrop(site.turnkey.root, LAYOUT), SELLER.identifier)
    assert restarted.tick(site.clock.now()) == {}
    assert site.store.read("SELECT count(*) FROM events")[0][0] == events
    assert {site.status(n)[0] for n in numbers} == {"confirmed"}


def test_e0501_allocations_become_ranges_once(site: Site) -> None:
    nxt = Period.of(site.clock.now()).next()
    site.turnkey.allocate(site.clock.now(), SELLER.identifier, nxt.code, "CD", 100, 199)
    site.turnkey.allocate(site.clock.now(), "99999997", nxt.code, "EF", 100, 149)  # another business's
    assert site.watch.tick(site.clock.now()) == {"E0501": 2, "ranges": 1}
    held = site.store.read("SELECT period, track, begin_no, end_no, source FROM tracks WHERE track = 'CD'")
    assert [tuple(r) for r in held] == [(nxt.code, "CD", 100, 199, "E0501")]
    assert Watch(site.store, LocalDrop(site.turnkey.root), SELLER.identifier).tick(site.clock.now()) == {}


def test_no_verdict_by_the_deadline_means_unknown(site: Site) -> None:
    site.turnkey.summary_delay = timedelta(days=30)  # the download task is broken: no SummaryResult comes back
    (number,) = site.issue(1)
    site.cycle()
    assert site.cycle(timedelta(hours=48)) == {}
    counts = site.cycle(timedelta(hours=24))
    assert counts == {"unknown": 1}
    assert site.status(number)[0] == "unknown"
    assert health(site.store, site.clock.now())["alerts"] == {"verdict.missing": 1}


def test_turnkey_down_raises_deadline_alerts_and_clears_them(site: Site) -> None:
    site.turnkey.down = True
    (number,) = site.issue(1)
    assert site.cycle(timedelta(hours=23)) == {}
    assert site.cycle(timedelta(hours=2)) == {"deadline.half": 1}  # 24 h of 48 h
    assert site.cycle(timedelta(hours=17)) == {}
    assert site.cycle(timedelta(hours=2)) == {"deadline.near": 1}  # 43.2 h: 90 %
    assert site.cycle(timedelta(hours=5)) == {"deadline.missed": 1}
    assert site.status(number)[0] == "dropped"
    site.turnkey.down = False
    assert site.cycle() == {"accepted_local": 1, "cleared": 3}
    assert health(site.store, site.clock.now())["alerts"] == {}


def test_a_garbled_result_file_is_retried_then_recorded_unreadable(site: Site) -> None:
    bad = site.turnkey.root / "Unpack/BAK/SummaryResult/20261121/14/broken_SummaryResult.xml"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"<SummaryResult><DetailList>")
    assert site.watch.tick(site.clock.now()) == {}  # may still be arriving
    assert site.watch.tick(site.clock.now()) == {"unreadable": 1}
    assert site.watch.tick(site.clock.now()) == {}
    assert health(site.store, site.clock.now())["alerts"] == {"result.unreadable": 1}


def test_watchdog_wakes_the_rescan_early(tmp_path: Path) -> None:
    turnkey = SimTurnkey(tmp_path / "turnkey").install()
    trigger = Trigger([turnkey.folder("F0401", "SRC"), turnkey.folder("F0401", "ERR")])
    rescan = Rescan(timedelta(minutes=5), trigger.fired)
    clock = FakeClock(START)
    trigger.start()
    try:
        assert rescan.due(clock.now()) and not rescan.due(clock.now())
        (turnkey.folder("F0401", "SRC") / "F0401_AB00001000_1.xml").write_bytes(b"<x/>")
        assert trigger.wait(10)  # a real inotify thread: bounded wait
        assert rescan.due(clock.now())
    finally:
        trigger.stop()
    assert not rescan.due(clock.advance(minutes=4)) and rescan.due(clock.advance(minutes=1))


def test_the_app_wires_a_simulated_turnkey_by_url(tmp_path: Path, clock: FakeClock) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text(f'[seller]\nban = "{SELLER.identifier}"\nname = "測試商店"\naddress = "{SELLER.address}"\n'
                      f'[qr]\nkey = "{KEY.hex()}"\n[mig]\nschema_dir = "{spec_dir()}"\n'
                      '[turnkey]\ndrop = "sim:' + str(tmp_path / "tk") + '"\nrescan_seconds = 60\n')
    settings = load(config)
    store = Store(settings.store_path)
    hold(store, Period.of(clock.now()), "AB", 1000, 1049)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    turnkey = open_simulator(settings)
    drop = open_drop(settings)
    assert turnkey is not None and isinstance(drop, LocalDrop) and check_drop(drop) == []
    trigger = result_trigger(settings, drop)
    assert trigger is not None and trigger.folders
    pump, watch = pump_worker(settings, store, drop, random.Random(1)), watch_worker(settings, store, drop)
    number = service.issue(sale("APP-1")).body["invoice_number"]
    pump.tick(clock.now())
    turnkey.tick(clock.now())
    assert watch.tick(clock.now()) == {"accepted_local": 1}
    assert watch.tick(clock.advance(minutes=10)) == {}
    turnkey.tick(clock.now())  # the SummaryResult arrives just after a rescan
    assert watch.tick(clock.now()) == {}  # not due yet: rescans every 60 s
    assert watch.tick(clock.advance(seconds=60)) == {"ProcessResult": 1, "SummaryResult": 1, "confirmed": 1}
    assert store.read("SELECT status FROM invoices WHERE number = ?", (number,))[0][0] == "confirmed"
    pump.close()
    store.close()


@pytest.mark.parametrize("table, message", [
    ('drop = "sftp://u@h/p"', "needs turnkey.key"),
    ('src = "UpCast/{nope}/SRC"', "layout"),
    ('batch = 0', "turnkey.batch must be positive"),
    ('codes = ["F0401", "Z9999"]', "unknown message code"),
])
def test_turnkey_configuration_is_checked(tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text(f"[turnkey]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load(config)


def test_drop_urls(tmp_path: Path) -> None:
    for url, kind in ((str(tmp_path), "LocalDrop"), (f"file://{tmp_path}", "LocalDrop"), ("memory:", "MemoryDrop"),
                      ("", "NoneType")):
        config = tmp_path / "einvd.toml"
        config.write_text(f'[turnkey]\ndrop = "{url}"\n')
        assert type(open_drop(load(config))).__name__ == kind
    config.write_text('[turnkey]\ndrop = "sftp://einvd@127.0.0.1:2222/srv/tk"\nkey = "k"\nknown_hosts = "kh"\n')
    sftp = open_drop(load(config))
    assert repr(sftp) == "SftpDrop('sftp://einvd@127.0.0.1:2222/srv/tk')"
    assert check_drop(sftp)[0].startswith("SftpDrop('sftp://einvd@127.0.0.1:2222/srv/tk'): ")
