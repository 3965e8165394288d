"""Scheduled work of issue #7 on a real SQLite file, a real simulated Turnkey tree and real report/archive
folders, with the calendar driven by a fake clock: E0402 at period end (once, also across restarts and after
downtime), its due/missed alerts, the void-window reminder, the daily report and the per-period archive."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import SELLER, hold, sale, spec_dir, spec_schemas

from daemon import __main__ as cli
from daemon.archive import Archiver
from daemon.commands import blank_report
from daemon.config import load
from daemon.lifecycle import LifecycleService
from daemon.messages import BUILDERS
from daemon.periodic import BlankJob, close_period, window_alerts
from daemon.policy.settlement import original_name
from daemon.reports import DailyReports, write_daily
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.workers import Pump, Watch
from drivers.drop.local import LocalDrop
from hw_sim.clock import FakeClock
from hw_sim.turnkey import SimTurnkey
from turnkey.errors import Conflict
from turnkey.layout import Layout
from turnkey.mig import parse
from turnkey.model import BlankReport
from turnkey.period import TAIPEI, Period

PERIOD = Period(2026, 12)  # 115年11-12月: START (2026-11-21) lies in it
NEXT_DAY_2 = datetime(2027, 1, 2, 1, 0, tzinfo=TAIPEI)


@dataclass
class Site:
    store: Store
    clock: FakeClock
    service: InvoiceService
    turnkey: SimTurnkey
    pump: Pump
    watch: Watch
    root: Path

    def issue(self, count: int, **extra: object) -> list[str]:
        numbers = []
        for _ in range(count):
            self.clock.advance(seconds=1)
            order = f"POS1-{random.Random().getrandbits(40):x}"
            numbers.append(self.service.issue(sale(order, **extra)).body["invoice_number"])
        return numbers

    def cycle(self, advance: timedelta = timedelta(0)) -> None:
        self.clock.advance(advance)
        now = self.clock.now()
        self.pump.tick(now)
        self.turnkey.tick(now)
        self.watch.tick(now)

    def alerts(self, kind: str) -> dict[str, bool]:
        """entity_id -> still open."""
        return {r[0]: r[1] is None for r in self.store.read(
            "SELECT entity_id, cleared_at FROM alerts WHERE kind = ? ORDER BY id", (kind,))}


@pytest.fixture
def site(service: InvoiceService, store: Store, clock: FakeClock, tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "turnkey"
    turnkey = SimTurnkey(root, spec_dir(), party=SELLER.identifier, summary_delay=timedelta(minutes=30)).install()
    drop = LocalDrop(root, Layout(process_results="Unpack/BAK/ProcessResult"))
    pump = Pump(store, drop, SELLER, spec_schemas(), random.Random(1), builders=BUILDERS)
    yield Site(store, clock, service, turnkey, pump, Watch(store, drop, SELLER.identifier, deadlines=False), root)
    pump.close()


def blank_job(store: Store, ban: str = SELLER.identifier) -> BlankJob:
    return BlankJob(store, ban, ban, timedelta(hours=24), 8, spec_schemas())


def e0402_files(site: Site) -> dict[str, BlankReport]:
    """The E0402 files in Turnkey's SRC, parsed, by track."""
    found = {}
    for path in sorted((site.root / "UpCast" / "B2PMESSAGE" / "E0402" / "SRC").glob("*.xml")):
        message = parse(path.read_bytes())
        assert isinstance(message, BlankReport)
        found[message.track] = message
    return found


# --- E0402 -----------------------------------------------------------------------------------------------


def test_e0402_is_queued_once_after_the_period_and_reaches_turnkey(site: Site) -> None:
    hold(site.store, PERIOD, "AC", 2000, 2099)  # a second range of the period, never used
    assert site.issue(3) == ["AB00001000", "AB00001001", "AB00001002"]
    job = blank_job(site.store)

    site.clock.set(datetime(2026, 12, 31, 23, 0, tzinfo=TAIPEI))
    assert job.tick(site.clock.now())["closed"] == 0, "the period has not ended"
    site.clock.set(datetime(2027, 1, 1, 10, 0, tzinfo=TAIPEI))
    assert job.tick(site.clock.now())["closed"] == 0, "still inside close_after_hours"
    late = site.service.issue(sale("LATE-1", issued_at="2026-12-31T23:59:00+08:00")).body
    assert late["invoice_number"] == "AB00001003", "a back-dated sale still gets its number before the close"

    site.clock.set(NEXT_DAY_2)
    assert job.tick(site.clock.now()) == {"closed": 1, "queued": 2, "e0402.due": 0, "e0402.missed": 0,
                                          "cleared": 0}
    assert job.tick(site.clock.now())["queued"] == 0
    assert blank_job(site.store).tick(site.clock.now())["queued"] == 0, "a restarted job queues nothing again"
    assert close_period(site.store, PERIOD, SELLER.identifier, SELLER.identifier, site.clock.now()) is None
    rows = site.store.read("SELECT reference, state FROM outbox WHERE message_type = 'E0402' ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [("11512-07-AB", "READY"), ("11512-07-AC", "READY")]

    with pytest.raises(Conflict) as refused:
        site.service.issue(sale("LATE-2", issued_at="2026-12-31T23:59:30+08:00"))
    assert refused.value.problems[0].code == "period.closed", "nothing is issued into reported numbers"
    track = site.store.read("SELECT last_no, used_last_no, closed_at FROM tracks WHERE track = 'AB'")[0]
    assert (track[0], track[1]) == (1049, 1003) and track[2] is not None

    site.pump.tick(site.clock.now())
    sent = e0402_files(site)
    assert sent["AB"].ranges == ((1004, 1049),) and sent["AC"].ranges == ((2000, 2099),)
    assert (sent["AB"].head_ban, sent["AB"].branch_ban, sent["AB"].period) == (SELLER.identifier,) * 2 + (PERIOD,)
    site.cycle(timedelta(minutes=1))
    outcomes = site.store.read("SELECT state, outcome FROM outbox WHERE message_type = 'E0402'")
    assert [(r[0], r[1]) for r in outcomes] == [("DONE", "accepted_local")] * 2
    assert len(list((site.root / "UpCast" / "B2PMESSAGE" / "E0402" / "BAK").rglob("*.xml"))) == 2


def test_e0402_alerts_due_then_missed_and_clear_when_sent(site: Site) -> None:
    site.issue(1)
    unconfigured = blank_job(site.store, ban="")
    for day, due, missed in ((2, False, False), (7, False, False), (8, True, False), (11, True, True)):
        site.clock.set(datetime(2027, 1, day, 9, 0, tzinfo=TAIPEI))
        unconfigured.tick(site.clock.now())
        assert (site.alerts("e0402.due").get("11512", False), site.alerts("e0402.missed").get("11512", False)) == (
            due, missed), day
    message = site.store.read("SELECT message FROM alerts WHERE kind = 'e0402.due'")[0][0]
    assert "seller.ban is not set" in message
    assert unconfigured.tick(site.clock.now())["e0402.due"] == 0, "raised once"

    counts = blank_job(site.store).tick(site.clock.now())
    assert counts["queued"] == 1
    assert site.alerts("e0402.due") == {"11512": False}, "queued: due is cleared"
    assert site.alerts("e0402.missed") == {"11512": True}, "late and not yet in Turnkey's hands"
    site.pump.tick(site.clock.now())
    blank_job(site.store).tick(site.clock.now())
    assert site.alerts("e0402.missed") == {"11512": False}


def test_downtime_closes_each_missed_period_once_and_nothing_blank_sends_nothing(site: Site) -> None:
    later = Period(2027, 2)
    hold(site.store, later, "CD", 0, 49)
    site.issue(1)
    site.store.connection().execute("UPDATE tracks SET last_no = end_no WHERE track = 'CD'")  # used up
    site.clock.set(datetime(2027, 6, 15, 9, 0, tzinfo=TAIPEI))  # the box was off for five months
    counts = blank_job(site.store).tick(site.clock.now())
    assert (counts["closed"], counts["queued"]) == (2, 1)
    closed = site.store.read("SELECT period, messages FROM blank_periods ORDER BY period")
    assert [(r[0], r[1]) for r in closed] == [("11512", 1), ("11602", 0)]
    events = site.store.read("SELECT entity_id FROM events WHERE kind = 'closed' ORDER BY id")
    assert [r[0] for r in events] == ["11512", "11602"]
    assert site.alerts("e0402.missed") == {"11512": True}, "only the period that has something to send is late"
    for _ in range(3):
        assert blank_job(site.store).tick(site.clock.now())["closed"] == 0


# --- the void window ------------------------------------------------------------------------------------


def test_window_closing_alert_for_rejected_invoices_of_the_previous_period(site: Site) -> None:
    numbers = site.issue(2)
    site.turnkey.reject(numbers[1], "E0107", "發票年度字軌不符")
    site.cycle(timedelta(minutes=1))
    site.cycle(timedelta(minutes=40))
    assert site.store.read("SELECT status FROM invoices WHERE number = ?", (numbers[1],))[0][0] == "rejected"
    closes = PERIOD.void_deadline(13)  # 2027-01-14 00:00
    site.clock.set(closes - timedelta(days=3))
    assert window_alerts(site.store, site.clock.now(), 13, timedelta(days=2)) == 0, "too early"
    site.clock.set(closes - timedelta(days=1, hours=12))
    assert window_alerts(site.store, site.clock.now(), 13, timedelta(days=2)) == 1
    message = site.store.read("SELECT message, due_at FROM alerts WHERE kind = 'window.closing'")[0]
    assert "1 rejected" in message[0] and message[1] == "2027-01-14T00:00:00+08:00"
    assert window_alerts(site.store, site.clock.now(), 13, timedelta(days=2)) == 0, "raised once"
    LifecycleService(site.service, 13).void(numbers[1], "platform rejected")
    window_alerts(site.store, site.clock.now(), 13, timedelta(days=2))
    assert site.alerts("window.closing") == {"11512": True}, "the void has not reached Turnkey yet"
    site.cycle(timedelta(minutes=1))
    window_alerts(site.store, site.clock.now(), 13, timedelta(days=2))
    assert site.alerts("window.closing") == {"11512": False}


# --- daily report ---------------------------------------------------------------------------------------


def test_daily_report_once_a_day_with_catch_up_and_gaps(site: Site, tmp_path: Path) -> None:
    numbers = site.issue(4)  # 2026-11-21
    site.turnkey.reject(numbers[2], "E0107", "發票年度字軌不符")
    site.cycle(timedelta(minutes=1))
    site.cycle(timedelta(minutes=40))
    site.store.connection().execute("UPDATE invoices SET number = 'AB00001009' WHERE number = ?", (numbers[1],))
    reports = DailyReports(site.store, tmp_path / "reports", (0, 30))

    site.clock.set(datetime(2026, 11, 22, 0, 20, tzinfo=TAIPEI))
    assert reports.tick(site.clock.now()) is not None  # the day before yesterday was missing: written
    assert not (tmp_path / "reports" / "einvd-2026-11-21.json").exists(), "yesterday is not due before 00:30"
    site.clock.set(datetime(2026, 11, 22, 0, 31, tzinfo=TAIPEI))
    written = reports.tick(site.clock.now())
    assert written == str(tmp_path / "reports" / "einvd-2026-11-21.json")
    assert reports.tick(site.clock.now()) is None, "once a day"

    report = json.loads(Path(written).read_text(encoding="utf-8"))
    assert report["invoices"]["issued"] == 4 and report["invoices"]["total_amount"] == 520
    assert report["invoices"]["by_status"] == {"confirmed": 3, "rejected": 1}
    assert report["invoices"]["by_lifecycle"] == {"issued": 4}
    assert report["messages"] == {"F0401": {"DONE/accepted_local": 4}}
    assert report["results"]["SummaryResult"] and report["results"]["ProcessResult"]
    assert [(r["number"], r["code"]) for r in report["rejections"]] == [(numbers[2], "E0107")]
    assert report["numbers"][0]["used"] == 4 and report["numbers"][0]["first"] == "AB00001000"
    assert report["numbers"][0]["gap_numbers"] == ["AB00001001", "AB00001004", "AB00001005", "AB00001006",
                                                   "AB00001007", "AB00001008"]
    markdown = (tmp_path / "reports" / "einvd-2026-11-21.md").read_text(encoding="utf-8")
    assert "| Invoices issued | 4 (total 520) |" in markdown and f"| {numbers[2]} | E0107 |" in markdown
    assert not list((tmp_path / "reports").glob(".*")), "no temporary files left"

    site.clock.set(datetime(2026, 12, 30, 9, 0, tzinfo=TAIPEI))  # after five weeks off: one report, not 38
    before = set((tmp_path / "reports").glob("*.json"))
    reports.tick(site.clock.now())
    assert {p.name for p in set((tmp_path / "reports").glob("*.json")) - before} == {"einvd-2026-12-29.json"}
    again = write_daily(site.store, tmp_path / "reports", datetime(2026, 11, 21).date(), site.clock.now())
    assert again["report"]["invoices"]["issued"] == 4


# --- archive --------------------------------------------------------------------------------------------


def archiver(site: Site, directory: Path, fmt: str = "zip") -> Archiver:
    return Archiver(site.store, SELLER, BUILDERS, spec_schemas(), directory, fmt, 13, 45, 60)


def test_archive_after_settlement_holds_the_dropped_bytes_and_an_index(site: Site, tmp_path: Path) -> None:
    numbers = site.issue(3)
    site.cycle(timedelta(minutes=1))
    LifecycleService(site.service, 13).void(numbers[0], "wrong amount")
    site.cycle(timedelta(minutes=1))
    site.cycle(timedelta(minutes=40))
    archive = archiver(site, tmp_path / "archive")
    site.clock.set(NEXT_DAY_2)
    blank_job(site.store).tick(site.clock.now())
    site.cycle(timedelta(minutes=1))
    assert archive.tick(site.clock.now())["written"] == [], "the void window is still open"
    site.clock.set(PERIOD.void_deadline(13) + timedelta(hours=1))
    assert archive.unsettled(PERIOD) == []
    written = archive.tick(site.clock.now())["written"]
    assert written == [str(tmp_path / "archive" / f"einvd-archive-{SELLER.identifier}-11512.zip")]
    assert archive.tick(site.clock.now())["written"] == [], "once"

    dropped = {original_name(p.name): p.read_bytes() for p in (site.root / "UpCast").rglob("BAK/**/*.xml*")}
    with zipfile.ZipFile(written[0]) as z:
        messages = {name.removeprefix("messages/"): z.read(name) for name in z.namelist() if name.startswith("messag")}
        index = json.loads(z.read("index.json"))
        rows = list(csv.DictReader(io.StringIO(z.read("index.csv").decode("utf-8"))))
    assert len(messages) == 5 and messages == dropped, "F0401 x3, F0501, E0402: the very bytes Turnkey took"
    assert index["settled"] is True and len(index["messages"]) == 5
    by_type = sorted((m["message_type"], m["number"], m["outcome"], m["invoice_status"]) for m in index["messages"])
    assert by_type[0] == ("E0402", "11512-07-AB", "accepted_local", None)
    assert ("F0501", numbers[0], "accepted_local", "confirmed") in by_type
    assert [r["file"] for r in rows] == [m["file"] for m in index["messages"]]


def test_archive_of_an_unsettled_period_after_settle_days_and_retention(site: Site, tmp_path: Path) -> None:
    site.issue(1)  # never dropped: stays queued
    directory = tmp_path / "archive"
    directory.mkdir()
    for code in ("10012", "10502", "11002"):
        (directory / f"einvd-archive-{SELLER.identifier}-{code}.zip").write_bytes(b"old")
    (directory / "notes.txt").write_text("not ours")
    archive = archiver(site, directory, "dir")
    site.clock.set(PERIOD.end + timedelta(days=2))
    assert archive.export(PERIOD, site.clock.now())["settled"] is False, "by hand, early"
    site.clock.set(PERIOD.void_deadline(13) + timedelta(days=1))  # period 11602: keeps 10602 and later
    result = archive.tick(site.clock.now())
    assert result["written"] == [], "not settled, and settle_days have not passed"
    assert sorted(Path(p).name for p in result["deleted"]) == [f"einvd-archive-{SELLER.identifier}-10012.zip",
                                                                f"einvd-archive-{SELLER.identifier}-10502.zip"]
    site.clock.set(PERIOD.end + timedelta(days=45))
    result = archive.tick(site.clock.now())
    assert result == {"written": [str(directory / f"einvd-archive-{SELLER.identifier}-11512")], "deleted": []}
    index = json.loads((Path(result["written"][0]) / "index.json").read_text(encoding="utf-8"))
    assert index["settled"] is False and index["messages"][0]["note"] == "not sent yet"
    assert "1 message(s) not yet taken by Turnkey" in index["unsettled"]
    assert (directory / "notes.txt").exists() and (directory / f"einvd-archive-{SELLER.identifier}-11002.zip").exists()
    site.clock.advance(hours=1)
    assert archive.tick(site.clock.now())["written"] == [], "written after settle_days: final"
    assert not list(directory.glob(".*")), "no temporary or old directories left"


# --- the CLI verbs --------------------------------------------------------------------------------------


def test_report_and_archive_verbs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text('[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市信義區測試路1號"\n\n'
                      '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n\n[reports]\ndir = "out/reports"\n\n'
                      '[archive]\ndir = "out/archive"\n\n'
                      '[numbering]\nbackdate_limit = "36500d"\n',  # the sale is dated 2026-11-21, the clock is real
                      encoding="utf-8")
    assert cli.main(["--config", str(config), "invoice", "issue", str(_doc(tmp_path))]) == 0
    capsys.readouterr()
    assert cli.main(["--config", str(config), "report", "--date", "2026-11-21"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["report"]["invoices"]["issued"] == 1 and Path(out["markdown"]).is_file()
    assert Path(out["json"]) == tmp_path / "out" / "reports" / "einvd-2026-11-21.json"
    assert cli.main(["--config", str(config), "archive", "export", "--period", "11512"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["messages"] == 1 and out["files"] == 0 and out["settled"] is False
    assert zipfile.ZipFile(out["path"]).namelist() == ["index.csv", "index.json"]
    settings = load(config)
    store = Store(settings.store_path)
    try:
        close_period(store, PERIOD, SELLER.identifier, SELLER.identifier, NEXT_DAY_2)
    finally:
        store.close()
    reports = blank_report(settings, PERIOD, NEXT_DAY_2)
    assert [r.ranges for r, _ in reports] == [((1001, 1049),)], "a closed period: what was queued, not the cursors"
    assert parse(reports[0][1]) == reports[0][0]
    assert cli.main(["--config", str(config), "report", "--date", "21/11/2026"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0]["code"] == "date.format"
    config.write_text(config.read_text(encoding="utf-8") + '\n[alerts]\nprint_notices = true\n', encoding="utf-8")
    assert cli.main(["--config", str(config), "report"]) == 78
    assert "alerts.print_notices needs a printer" in capsys.readouterr().err


def _doc(tmp_path: Path) -> Path:
    from daemon.tracks import add
    from turnkey.numbers import TrackRange

    store = Store(tmp_path / "einvd.sqlite3")
    add(store, [TrackRange(PERIOD, "07", "AB", 1000, 1049)], "test", NEXT_DAY_2)
    store.close()
    path = tmp_path / "sale.json"
    path.write_text(json.dumps(sale("CLI-1", issued_at="2026-11-21T10:00:00+08:00")), encoding="utf-8")
    return path
