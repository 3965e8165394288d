"""Issue #15 "Done when": one period played end to end on the simulated Turnkey 3.2.0.

Box A (the reporting box, ``e0402.role = "reporter"``) holds AB00001000-1049 of period 11512 and sells through a
real pump into a LocalDrop over a SimTurnkey folder; the real watcher reads the SummaryResults/ProcessResults back.
Box B (``"part"``) holds AB00001050-1099 of the same track. Everything runs on real SQLite files and a FakeClock.

1. Day 1: sales (a consumer with a mobile-barcode carrier, a donation, B2B ones, plain consumer ones), confirmed.
2. Day 2: a void (F0501), a 註銷重開 with a new buyer (F0701, then the re-issue's F0401), two allowances (G0401)
   and a void of one of them (G0501), all confirmed.
3. Day 3: one rejected correction of each kind: an F0501 failed by a ``No. 2`` Info of its merged message, an F0701
   failed as a whole message, a G0401 failed by a ``No. n`` Info, a G0501 failed as a whole message, and an F0501
   that Turnkey's local checks refuse to ERR.
4. The period ends: box B exports, box A exports and merges both with ``--queue``; the E0402 is sent and confirmed.

Then every message file Turnkey took is checked against the official XSD and Turnkey's local rules
(``hw_sim.turnkey_checks``), the F0701 names the cancelled invoice's date and buyer, and every delivery state and
every alert (open and cleared) is what the story says, nothing more.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, SELLER, hold, sale, spec_dir, spec_schemas
from lxml import etree

from daemon import __main__ as cli
from daemon import wiring
from daemon.allowances import AllowanceRequest, AllowanceService
from daemon.config import load
from daemon.lifecycle import LifecycleService
from daemon.periodic import EXPORT, MERGE
from daemon.reports import daily
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.workers import Pump, Watch
from drivers.drop.local import LocalDrop
from hw_sim.clock import FakeClock
from hw_sim.turnkey import FAMILIES, MemoryTurnkeyLog, SimTurnkey
from hw_sim.turnkey_checks import XsdSet, inspect
from turnkey.layout import Layout
from turnkey.lifecycle import Requested
from turnkey.period import TAIPEI, Period

START = datetime(2026, 11, 21, 14, 3, tzinfo=TAIPEI)  # period 11512
PERIOD = Period.of(START)
AFTER = datetime(2027, 1, 2, 10, 0, tzinfo=TAIPEI)  # period 11512 ended a day and more ago
FIRST_BUYER, SECOND_BUYER = "04595257", "10458575"
CARRIER = {"type": "3J0002", "id": "/ABC+123"}


def b2b(order_id: str, ban: str, **extra: Any) -> dict[str, Any]:
    return sale(order_id, buyer={"ban": ban, "name": "買方公司"},
                items=[{"description": "筆電", "quantity": 2, "unit_price": 100, "amount": 200}], **extra)


def config(folder: Path, role: str, store_path: Path) -> Path:
    path = folder / "einvd.toml"
    path.write_text(
        f'[seller]\nban = "{SELLER.identifier}"\nname = "測試商店"\naddress = "{SELLER.address}"\n\n'
        f'[store]\npath = "{store_path}"\n\n[qr]\nkey = "{KEY.hex()}"\n\n[mig]\nschema_dir = "{spec_dir()}"\n\n'
        f'[e0402]\nrole = "{role}"\n', encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else out


def fields(xml: bytes, *names: str) -> dict[str, str]:
    root = etree.fromstring(xml)
    return {name: str(root.xpath(f"string(//*[local-name()='{name}'])")) for name in names}


@dataclass
class Box:
    store: Store
    clock: FakeClock
    service: InvoiceService
    lifecycle: LifecycleService
    allowances: AllowanceService
    turnkey: SimTurnkey
    pump: Pump
    watch: Watch

    def sell(self, order: str, document: dict[str, Any] | None = None) -> str:
        self.clock.advance(seconds=1)
        number: str = self.service.issue(document or sale(order)).body["invoice_number"]
        return number

    def allowance(self, number: str, request_id: str) -> str:
        self.clock.advance(seconds=1)
        body = self.allowances.issue(AllowanceRequest(number, (Requested("001", Decimal(1)),), request_id)).body
        found: str = body["allowance_number"]
        return found

    def cycle(self, advance: timedelta = timedelta(seconds=1)) -> dict[str, int]:
        """Time passes; the pump drops what may leave, Turnkey works, the watcher reads it back."""
        self.clock.advance(advance)
        self.pump.tick(self.clock.now())
        self.turnkey.tick(self.clock.now())
        return self.watch.tick(self.clock.now())

    def settle(self) -> dict[str, int]:
        """Cycles until the outbox is empty and every upload has its ProcessResult and SummaryResult."""
        total: dict[str, int] = {}
        for _ in range(6):
            for key, value in self.cycle(timedelta(minutes=31)).items():
                total[key] = total.get(key, 0) + value
        return total

    def alerts(self, open_only: bool = True) -> dict[str, str]:
        where = "WHERE cleared_at IS NULL" if open_only else ""
        return {f"{r['kind']} {r['entity']} {r['entity_id']}": r["message"]
                for r in self.store.read(f"SELECT kind, entity, entity_id, message FROM alerts {where} ORDER BY id")}

    def deliveries(self, number: str) -> list[tuple[str, str, str]]:
        return [(d["type"], d["delivery"], d["code"]) for d in self.lifecycle.view(number)["deliveries"]]


@pytest.fixture
def box(tmp_path: Path) -> Any:
    folder = tmp_path / "a"
    folder.mkdir()
    store = Store(folder / "einvd.sqlite3")
    clock = FakeClock(START)
    hold(store, PERIOD, "AB", 1000, 1049)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    lifecycle = LifecycleService(service, 13)
    turnkey = SimTurnkey(tmp_path / "turnkey", spec_dir(), party=SELLER.identifier,
                         summary_delay=timedelta(minutes=30)).install()
    drop = LocalDrop(turnkey.root, Layout())
    pump = Pump(store, drop, SELLER, spec_schemas(), random.Random(1))
    yield Box(store, clock, service, lifecycle, AllowanceService(lifecycle, "AL"), turnkey, pump,
              Watch(store, drop, SELLER.identifier))
    pump.close()
    store.close()


def part_box(tmp_path: Path) -> Path:
    """Box B: AB00001050-1099 of the period, three numbers used."""
    folder = tmp_path / "b"
    folder.mkdir()
    path = config(folder, "part", folder / "einvd.sqlite3")
    assert cli.main(["--config", str(path), "tracks", "add", "--period", PERIOD.code, "--track", "AB", "--begin",
                     "00001050", "--end", "00001099"]) == 0
    conn = sqlite3.connect(folder / "einvd.sqlite3")
    conn.execute("UPDATE tracks SET last_no = 1052 WHERE track = 'AB'")
    conn.commit()
    conn.close()
    return path


def blank_tick(path: Path) -> dict[str, int]:
    """The E0402 job of ``einvd run`` on one box, at the period's end."""
    settings = load(path)
    store = Store(settings.store_path)
    try:
        job = wiring.blank_job(settings, store)
        assert job is not None
        return job.tick(AFTER)
    finally:
        store.close()


def position(box: Box, code: str, reference: str) -> int:
    """The place (from 1) of ``reference`` in the last merged ``code`` upload holding it; that upload holds two."""
    (message,) = [m for m in box.turnkey.messages if m.code == code and reference in [d.reference for d in
                                                                                    m.documents]]
    assert len(message.documents) == 2
    return [d.reference for d in message.documents].index(reference) + 1


def infos(box: Box, code: str) -> list[list[tuple[str, str, tuple[str, ...]]]]:
    """(Code, Description, Parameters) of each ProcessResult Info, per uploaded ``code`` message in upload order."""
    found = []
    for message in (m for m in box.turnkey.messages if m.code == code):
        (path,) = (box.turnkey.root / "Unpack/BAK/ProcessResult").rglob(f"{message.id}_ProcessResult")
        root = etree.fromstring(path.read_bytes())
        found.append([(info.findtext("{*}Code") or "", info.findtext("{*}Description") or "",
                       tuple(kid.text or "" for kid in info if etree.QName(kid).localname.startswith("Parameter")))
                      for info in root.iter("{*}Info")])
    return found


def taken_files(turnkey: SimTurnkey, which: str) -> dict[str, list[tuple[Path, bytes]]]:
    """Every file in each message type's BAK (or ERR) folder, by path: by the day and hour Turnkey took it, then
    by name (which holds the document's number)."""
    found: dict[str, list[tuple[Path, bytes]]] = {}
    for code in FAMILIES:
        files = sorted(turnkey.folder(code, which).rglob("*"))
        found[code] = [(p, p.read_bytes()) for p in files if p.is_file()]
    return found


def test_a_period_end_to_end(box: Box, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --- day 1: sales -------------------------------------------------------------------------------------
    carrier = box.sell("S-1", sale("S-1", carrier=CARRIER, print=False))
    donated = box.sell("S-2", sale("S-2", donation={"love_code": "168001"}, print=False))
    reissued = box.sell("S-3", b2b("S-3", FIRST_BUYER))
    voided = box.sell("S-4")
    allowed = box.sell("S-5", b2b("S-5", FIRST_BUYER))
    voided_ok = box.sell("S-6")  # its void goes through in the same upload as the rejected one
    cancel_rejected = box.sell("S-7", b2b("S-7", SECOND_BUYER))
    allowance_rejected = box.sell("S-8", b2b("S-8", SECOND_BUYER))
    allowance_void_rejected = box.sell("S-9", b2b("S-9", SECOND_BUYER))
    void_refused = box.sell("S-10")
    sold = [carrier, donated, reissued, voided, allowed, voided_ok, cancel_rejected, allowance_rejected,
            allowance_void_rejected, void_refused]
    assert sold == [f"AB{n:08d}" for n in range(1000, 1010)]
    assert box.settle() == {"accepted_local": 10, "ProcessResult": 1, "SummaryResult": 1, "confirmed": 10}
    assert len(box.turnkey.messages) == 1  # one merged upload of ten files

    # --- day 2: the corrections that go through --------------------------------------------------------------
    box.clock.advance(timedelta(hours=19))  # 2026-11-22 09:03
    box.lifecycle.void(voided, "開錯品項")
    box.lifecycle.cancel(reissued, "買方統編錯誤", b2b("S-3", SECOND_BUYER, issued_at="2026-11-22T09:30:00+08:00"))
    first = box.allowance(allowed, "R-1")
    second = box.allowance(allowed, "R-2")
    box.allowances.void(second, "重複折讓")
    counts = box.settle()
    assert counts == {"accepted_local": 6, "ProcessResult": 6, "SummaryResult": 4, "confirmed": 1,  # the re-issue
                      "F0501 confirmed": 1, "F0701 confirmed": 1, "G0401 confirmed": 2, "G0501 confirmed": 1}, counts

    # --- day 3: one rejected correction of each kind -------------------------------------------------------
    box.clock.advance(timedelta(hours=20))  # 2026-11-23
    void_rejected = box.sell("S-11")
    counts = box.settle()  # confirmed before any rejection is scripted (the simulator's reject() is by number)
    assert counts == {"accepted_local": 1, "ProcessResult": 1, "SummaryResult": 2, "confirmed": 1}, counts
    box.lifecycle.void(voided_ok, "開錯")
    box.lifecycle.void(void_rejected, "開錯")
    box.lifecycle.void(void_refused, "開錯")
    box.lifecycle.cancel(cancel_rejected, "買方要求註銷")
    third = box.allowance(allowance_rejected, "R-3")
    fourth = box.allowance(allowance_void_rejected, "R-4")
    box.turnkey.reject(void_rejected, "E0207", "資料已過期")  # a No. n Info of the merged F0501 upload
    box.turnkey.refuse(void_refused, "CancelReason 不可空白")  # Turnkey's local checks: to ERR
    box.turnkey.fail_message("E0402", "發票已作廢", message_type="F0701")  # the whole F0701 message fails
    box.turnkey.reject(third, "E0221", "折讓金額大於發票銷售額減已折讓金額")  # a No. n Info of the G0401 upload
    # the voids, the cancel and the G0401s leave; S-10's void is refused; the G0501 waits for its G0401's BAK
    assert box.cycle() == {"accepted_local": 5, "rejected_local": 1}
    box.allowances.void(fourth, "開錯")
    box.turnkey.fail_message("E0213", "折讓單狀態不符", message_type="G0501")  # the whole G0501 message fails
    counts = box.settle()
    assert counts == {"accepted_local": 1, "ProcessResult": 4, "SummaryResult": 2, "F0501 confirmed": 1,
                      "F0501 rejected": 1, "F0701 rejected": 1, "G0401 confirmed": 1, "G0401 rejected": 1,
                      "G0501 rejected": 1}, counts
    f0501 = [m for m in box.turnkey.messages if m.code == "F0501"]
    assert [sorted(d.reference for d in m.documents) for m in f0501] == [[voided], [voided_ok, void_rejected]]
    # in a merged upload, the failed document is named by its position (Turnkey merges SRC files by mtime)
    assert infos(box, "F0501")[-1] == [("E0207", f"No. {position(box, 'F0501', void_rejected)} 資料已過期",
                                        (void_rejected, "20261123"))]
    too_much = "折讓金額大於發票銷售額減已折讓金額"
    assert infos(box, "G0401")[-1] == [("E0221", f"No. {position(box, 'G0401', third)} {too_much}",
                                        (third, "20261123"))]
    assert infos(box, "F0701")[-1] == [("E0402", "發票已作廢", ())]  # the whole message failed
    assert infos(box, "G0501")[-1] == [("E0213", "折讓單狀態不符", ())]
    order = [(m.code, d.reference) for m in box.turnkey.messages for d in m.documents]
    assert order.index(("F0701", reissued)) < len(order) - 1 - order[::-1].index(("F0401", reissued))
    assert order.count(("F0401", reissued)) == 2  # the re-issue left after the F0701 of the version it replaces

    # --- the period ends: E0402 merged from two boxes ---------------------------------------------------------
    a_config = config(tmp_path / "a", "reporter", box.store.path)
    b_config = part_box(tmp_path)
    box.clock.advance(AFTER - box.clock.now())
    blank_tick(b_config)
    blank_tick(a_config)
    assert MERGE in {r[0] for r in box.store.read("SELECT kind FROM alerts WHERE cleared_at IS NULL")}
    now = AFTER.isoformat()
    exports = []
    for name, path in (("b", b_config), ("a", a_config)):
        out = tmp_path / f"{name}.json"
        code, doc = run(capsys, "--config", str(path), "blank-report", "--export", "--period", PERIOD.code, "-o",
                        str(out), "--now", now)
        assert code == 0 and doc["file"] == str(out), doc
        exports.append(str(out))
    code, out = run(capsys, "--config", str(a_config), "blank-report", "--merge", *exports, "--queue", "--now", now)
    assert code == 0 and out["queued"] is True, out
    assert [m["blank"] for m in out["messages"]] == [["00001011-00001049", "00001053-00001099"]]
    counts = box.settle()
    assert counts == {"accepted_local": 1, "ProcessResult": 1, "SummaryResult": 2, "E0402 confirmed": 1}, counts
    seen = box.store.read("SELECT outcome, count(*) FROM results_seen GROUP BY outcome ORDER BY outcome")
    assert [r[0] for r in seen] == ["applied", "cross-checked"]  # nothing quarantined or unreadable
    assert seen[1][1] == 3  # the -Final summaries of 11-21, 11-22 and 11-23

    assert box.store.read("SELECT kind, reason FROM events WHERE entity = 'result'") == []  # no final.mismatch
    log = box.turnkey.log
    assert isinstance(log, MemoryTurnkeyLog)  # Turnkey's database: each document's STATUS agrees with einvd
    statuses = sorted(row.status for row in log.rows.values() if row.identifier[:5] in ("F0501", "F0701", "G0501"))
    assert statuses == ["C"] * 4 + ["E"] * 4  # F0501 S-4/S-6, F0701 S-3, G0501 R-2; three rejected, one refused
    check_files(box, locals())
    check_states(box, locals())
    check_alerts(box, b_config, locals())
    check_status(box, a_config, capsys)
    report = daily(box.store, date(2026, 11, 23), box.clock.now())  # the daily report of the rejections' day
    assert [(r["type"], r["reference"], r["status"], r["code"]) for r in report["correction_rejections"]] == [
        ("F0501", void_refused, "rejected_local", ""), ("F0501", void_rejected, "rejected", "E0207"),
        ("F0701", cancel_rejected, "rejected", "E0402"), ("G0401", third, "rejected", "E0221"),
        ("G0501", fourth, "rejected", "E0213")]


def check_files(box: Box, seen: dict[str, Any]) -> None:
    """Every file Turnkey took passes the official XSD and Turnkey's local rules; the one it refused too (its
    refusal was scripted); the F0701 names the cancelled invoice's date and buyer."""
    reissued, void_refused, carrier, donated = (seen[n] for n in ("reissued", "void_refused", "carrier", "donated"))
    xsd = XsdSet(spec_dir())
    bak, err = taken_files(box.turnkey, "BAK"), taken_files(box.turnkey, "ERR")
    assert {code: len(files) for code, files in bak.items()} == {
        "F0401": 12, "F0501": 3, "F0701": 2, "G0401": 4, "G0501": 2, "E0401": 0, "E0402": 1}
    assert {code: len(files) for code, files in err.items() if files} == {"F0501": 1}
    for code, files in (*bak.items(), *err.items()):
        for path, data in files:
            found = inspect(code, data, xsd)
            assert found.problems == (), (path, found.problems)
    ((_, refused),) = err["F0501"]
    assert inspect("F0501", refused, xsd).reference == void_refused
    f0701 = {fields(d, "VoidInvoiceNumber")["VoidInvoiceNumber"]: d for _, d in bak["F0701"]}
    assert fields(f0701[reissued], "InvoiceDate", "BuyerId") == {"InvoiceDate": "20261121", "BuyerId": FIRST_BUYER}
    versions = [d for _, d in bak["F0401"] if fields(d, "InvoiceNumber")["InvoiceNumber"] == reissued]
    assert [fields(d, "InvoiceDate", "Identifier") for d in versions] == [
        {"InvoiceDate": "20261121", "Identifier": SELLER.identifier},
        {"InvoiceDate": "20261122", "Identifier": SELLER.identifier}]
    assert FIRST_BUYER.encode() in versions[0] and SECOND_BUYER.encode() in versions[1]
    sales = {fields(d, "InvoiceNumber")["InvoiceNumber"]: d for _, d in bak["F0401"]}
    assert sorted(sales) == [f"AB{n:08d}" for n in range(1000, 1011)]
    carried = fields(sales[carrier], "CarrierType", "CarrierId1", "NPOBAN")
    assert carried == {"CarrierType": "3J0002", "CarrierId1": "/ABC+123", "NPOBAN": ""}
    assert fields(sales[donated], "NPOBAN", "DonateMark") == {"NPOBAN": "168001", "DonateMark": "1"}
    blank = fields(bak["E0402"][0][1], "InvoiceTrack", "YearMonth")
    assert blank == {"InvoiceTrack": "AB", "YearMonth": PERIOD.code}


def check_states(box: Box, seen: dict[str, Any]) -> None:
    ok = ("F0401", "confirmed", "")
    for number in (seen["carrier"], seen["donated"]):
        assert box.deliveries(number) == [ok]
    assert box.deliveries(seen["voided"]) == [ok, ("F0501", "confirmed", "")]
    assert box.deliveries(seen["voided_ok"]) == [ok, ("F0501", "confirmed", "")]
    assert box.deliveries(seen["reissued"]) == [ok, ("F0701", "confirmed", ""), ok]
    view = box.lifecycle.view(seen["reissued"])
    assert [(v["version"], v["state"], v["buyer_ban"]) for v in view["versions"]] == [
        (1, "cancelled", FIRST_BUYER), (2, "issued", SECOND_BUYER)]
    assert box.deliveries(seen["void_rejected"]) == [ok, ("F0501", "rejected", "E0207")]
    assert box.deliveries(seen["void_refused"]) == [ok, ("F0501", "rejected_local", "")]
    assert box.deliveries(seen["cancel_rejected"]) == [ok, ("F0701", "rejected", "E0402")]
    assert box.deliveries(seen["allowed"]) == [ok, ("G0401", "confirmed", ""), ("G0401", "confirmed", ""),
                                               ("G0501", "confirmed", "")]
    assert box.deliveries(seen["allowance_rejected"]) == [ok, ("G0401", "rejected", "E0221")]
    assert box.deliveries(seen["allowance_void_rejected"]) == [ok, ("G0401", "confirmed", ""),
                                                               ("G0501", "rejected", "E0213")]

    def allowance(number: str) -> tuple[str, str | None]:
        view = box.allowances.view(number)
        void = view["void_delivery"]
        return view["delivery"]["delivery"], void["delivery"] if void else None

    assert [allowance(seen[n]) for n in ("first", "second", "third", "fourth")] == [
        ("confirmed", None), ("confirmed", "confirmed"), ("rejected", None), ("confirmed", "rejected")]


def check_alerts(box: Box, b_config: Path, seen: dict[str, Any]) -> None:
    """Every alert raised, open and cleared: the rejections stay open and say what to do; the E0402 ones cleared."""
    everything = box.alerts(open_only=False)
    kinds = sorted(key.split()[0] for key in everything)
    assert kinds == [MERGE, "rejected.F0501", "rejected.F0501", "rejected.F0701", "rejected.G0401",
                     "rejected.G0501"], everything
    opened = box.alerts()
    assert sorted(k.split()[0] for k in opened) == kinds[1:]
    expected = {
        "rejected.F0501": (seen["void_rejected"], "E0207", "issue an allowance instead"),
        "rejected.F0701": (seen["cancel_rejected"], "E0402", "collide"),
        "rejected.G0401": (seen["third"], "E0221", "send it again"),
        "rejected.G0501": (seen["fourth"], "E0213", "still reduces the sale"),
    }
    for key, text in opened.items():
        kind = key.split()[0]
        assert "What to do:" in text, text
        if kind == "rejected.F0501" and text.startswith("Turnkey refused"):
            assert seen["void_refused"] in text and "ERR" in text
            continue
        number, code, hint = expected[kind]
        assert number in text and code in text and hint in text, text
    assert sum(t.startswith("Turnkey refused") for t in opened.values()) == 1
    merge_alert = next(t for k, t in everything.items() if k.startswith(MERGE))
    assert "--merge" in merge_alert
    store = Store(load(b_config).store_path)
    try:
        rows = store.read("SELECT kind, message, cleared_at FROM alerts")
        assert [(r[0], r[2] is not None) for r in rows] == [(EXPORT, True)]
        assert "einvd blank-report --export" in rows[0][1]
    finally:
        store.close()


def check_status(box: Box, a_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed = run(capsys, "--config", str(a_config), "status", "--json")
    assert code == 0
    assert printed["deliveries"] == {
        "F0401": {"confirmed": 12},
        "F0501": {"confirmed": 2, "rejected": 1, "rejected_local": 1},
        "F0701": {"confirmed": 1, "rejected": 1},
        "G0401": {"confirmed": 3, "rejected": 1},
        "G0501": {"confirmed": 1, "rejected": 1},
        "E0402": {"confirmed": 1},
    }
    assert printed["alerts"] == {"rejected.F0501": 2, "rejected.F0701": 1, "rejected.G0401": 1,
                                 "rejected.G0501": 1}


def test_blank_report_now_must_carry_its_offset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = part_box(tmp_path)
    capsys.readouterr()
    for bad in ("2027-01-02T10:00:00", "tomorrow"):
        code, out = run(capsys, "--config", str(path), "blank-report", "--export", "--now", bad)
        assert code == 1 and [(e["code"], e["field"]) for e in out["errors"]] == [("now.format", "now")], out
    code, out = run(capsys, "--config", str(path), "blank-report", "--export", "--period", PERIOD.code, "--now",
                    "2026-12-31T23:59:00+08:00")
    assert code == 1 and out["errors"][0]["code"] == "period.not_ended"  # pinned before the period's end
    code, out = run(capsys, "--config", str(path), "blank-report", "--export", "--now", AFTER.isoformat())
    assert code == 0 and out["period"] == PERIOD.code  # the default period is the one before --now's
