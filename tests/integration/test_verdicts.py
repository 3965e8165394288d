"""Issue #15 item 2: every correction's verdict moves its delivery state and tells the merchant.

Verdicts are built directly (``daemon.policy.settlement.Verdict``): reading them from result files is
``daemon/results.py``'s part and changes apart; ``apply_verdict`` must work on any Verdict. The outbox rows are
moved the way the pump and the Turnkey reconcile move them (``daemon/store/outbox.py``), on a real SQLite file.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import sale

from daemon.allowances import AllowanceRequest, AllowanceService
from daemon.deadlines import DeadlinePolicy, check_deadlines
from daemon.lifecycle import LifecycleService
from daemon.policy.delivery import ACCEPTED_LOCAL, CONFIRMED, REJECTED, REJECTED_LOCAL
from daemon.policy.settlement import Verdict
from daemon.reports import daily, markdown
from daemon.services import InvoiceService
from daemon.store import Store, stamp
from daemon.store import outbox as outbox_table
from daemon.verdicts import Tally, apply_verdict
from hw_sim.clock import FakeClock
from turnkey import lifecycle as rules

POLICY = DeadlinePolicy()
DAY = date(2026, 11, 21)


class Shop:
    def __init__(self, store: Store, clock: FakeClock, service: InvoiceService) -> None:
        self.store, self.clock, self.service = store, clock, service
        self.lifecycle = LifecycleService(service, 13)
        self.allowances = AllowanceService(self.lifecycle, "AL")

    def sell(self, order: str, **extra: Any) -> str:
        number: str = self.service.issue(sale(order, **extra)).body["invoice_number"]
        return number

    def allowance(self, number: str) -> str:
        body = self.allowances.issue(AllowanceRequest(number, (rules.Requested("001", Decimal(1)),))).body
        allowance: str = body["allowance_number"]
        return allowance

    def rows(self, message_type: str) -> list[int]:
        return [r[0] for r in self.store.read("SELECT id FROM outbox WHERE message_type = ? ORDER BY id",
                                              (message_type,))]

    def taken(self, outbox_id: int, outcome: str = ACCEPTED_LOCAL) -> None:
        """The pump dropped the row and Turnkey took it (BAK: accepted_local, ERR: rejected_local)."""
        at = stamp(self.clock.now())
        with self.store.write() as tx:
            outbox_table.lock(tx, [(outbox_id, f"x_{outbox_id}.xml")], at)
            outbox_table.mark_done(tx, outbox_id, at, None)
            outbox_table.set_outcome(tx, outbox_id, outcome, at, "moved to ERR by Turnkey"
                                     if outcome == REJECTED_LOCAL else None)

    def verdict(self, *verdicts: Verdict) -> dict[str, int]:
        tally = Tally()
        with self.store.write() as tx:
            for verdict in verdicts:
                apply_verdict(tx, verdict, self.clock.now(), tally)
        return dict(tally.counts)

    def alerts(self, kind_prefix: str = "") -> dict[str, str]:
        return {f"{r['kind']} {r['entity']} {r['entity_id']}": r["message"] for r in self.store.read(
            "SELECT kind, entity, entity_id, message FROM alerts WHERE cleared_at IS NULL AND kind LIKE ? "
            "ORDER BY id", (f"{kind_prefix}%",))}

    def delivery(self, outbox_id: int) -> str:
        rows = self.store.read("SELECT state FROM deliveries WHERE outbox_id = ?", (outbox_id,))
        return str(rows[0][0]) if rows else ""


@pytest.fixture
def shop(store: Store, clock: FakeClock, service: InvoiceService) -> Shop:
    return Shop(store, clock, service)


def test_a_rejected_allowance_changes_its_state_and_alerts(shop: Shop) -> None:
    number = shop.sell("o1")
    shop.taken(shop.rows("F0401")[0])
    allowance = shop.allowance(number)
    g0401 = shop.rows("G0401")[0]
    shop.taken(g0401)
    counts = shop.verdict(Verdict("G0401", allowance, DAY, REJECTED, "E0221", "折讓金額大於發票銷售額減已折讓金額"))
    assert counts.get("unmatched", 0) == 0 and counts["G0401 rejected"] == 1
    assert shop.delivery(g0401) == REJECTED
    view = shop.allowances.view(allowance)
    assert view["delivery"]["delivery"] == REJECTED and view["delivery"]["code"] == "E0221"
    assert view["void_delivery"] is None
    alerts = shop.alerts("rejected.")
    assert list(alerts) == [f"rejected.G0401 message {g0401}"]
    text = alerts[f"rejected.G0401 message {g0401}"]
    assert allowance in text and number in text and "E0221" in text
    assert "not adjusted on the platform" in text and "send it again" in text
    assert "exceeds what is left" in text  # the code's meaning (domain.md §3.2)


def test_a_confirmed_allowance_and_its_rejected_void(shop: Shop) -> None:
    number = shop.sell("o1")
    shop.taken(shop.rows("F0401")[0])
    allowance = shop.allowance(number)
    shop.taken(shop.rows("G0401")[0])
    shop.allowances.void(allowance, "開錯")
    g0501 = shop.rows("G0501")[0]
    shop.taken(g0501)
    shop.verdict(Verdict("G0401", allowance, DAY, CONFIRMED, "", "SummaryResult"),
                 Verdict("G0501", allowance, DAY, REJECTED, "E0213", ""))
    view = shop.allowances.view(allowance)
    assert view["delivery"]["delivery"] == CONFIRMED and view["void_delivery"]["delivery"] == REJECTED
    text = shop.alerts("rejected.")[f"rejected.G0501 message {g0501}"]
    assert "still live on the platform" in text and "lifecycle" in text


def test_a_rejected_void_changes_its_state_alerts_and_shows_on_the_invoice(shop: Shop) -> None:
    number = shop.sell("o1")
    f0401 = shop.rows("F0401")[0]
    shop.taken(f0401)
    shop.verdict(Verdict("F0401", number, DAY, CONFIRMED, "", "SummaryResult"))
    shop.lifecycle.void(number, "開錯")
    f0501 = shop.rows("F0501")[0]
    shop.taken(f0501)
    shop.verdict(Verdict("F0501", number, DAY, REJECTED, "E0207", "資料已過期"))
    assert shop.delivery(f0501) == REJECTED
    view = shop.lifecycle.view(number)
    assert [(d["type"], d["delivery"], d["code"]) for d in view["deliveries"]] == [
        ("F0401", CONFIRMED, ""), ("F0501", REJECTED, "E0207")]
    text = shop.alerts("rejected.")[f"rejected.F0501 message {f0501}"]
    assert number in text and "still live on the platform" in text and "lottery" in text
    assert "issue an allowance instead" in text and "call the platform" in text and "expired" in text


def test_a_rejected_cancel_warns_that_the_reissue_will_collide(shop: Shop) -> None:
    number = shop.sell("o1")
    shop.taken(shop.rows("F0401")[0])
    shop.lifecycle.cancel(number, "買方統編錯")
    f0701 = shop.rows("F0701")[0]
    shop.taken(f0701)
    shop.verdict(Verdict("F0701", number, DAY, REJECTED, "E0402", "已作廢"))
    text = shop.alerts("rejected.")[f"rejected.F0701 message {f0701}"]
    assert "cancel" in text and "collide" in text


def test_turnkey_refusing_a_void_alerts_once(shop: Shop) -> None:
    number = shop.sell("o1")
    shop.taken(shop.rows("F0401")[0])
    shop.lifecycle.void(number, "開錯")
    f0501 = shop.rows("F0501")[0]
    shop.taken(f0501, REJECTED_LOCAL)
    check_deadlines(shop.store, shop.clock.now(), POLICY)
    check_deadlines(shop.store, shop.clock.now(), POLICY)
    assert shop.store.read("SELECT count(*) FROM alerts")[0][0] == 1  # once
    text = shop.alerts("rejected.")[f"rejected.F0501 message {f0501}"]
    assert text.startswith("Turnkey refused the F0501") and "ERR" in text and number in text


def test_a_void_stuck_in_the_outbox_raises_the_deadline_alerts(shop: Shop) -> None:
    number = shop.sell("o1")
    shop.taken(shop.rows("F0401")[0])
    shop.verdict(Verdict("F0401", number, DAY, CONFIRMED, "", ""))
    shop.lifecycle.void(number, "開錯")
    f0501 = shop.rows("F0501")[0]
    seen: list[str] = []
    for hours in (23, 2, 20, 4, 5):  # 23 h, 25 h (half of 48), 45 h (90 %), 49 h (missed), 54 h
        shop.clock.advance(timedelta(hours=hours))
        counts = check_deadlines(shop.store, shop.clock.now(), POLICY)
        seen.append(",".join(k for k in ("deadline.half", "deadline.near", "deadline.missed") if counts[k]))
    assert seen == ["", "deadline.half", "deadline.near", "deadline.missed", ""]
    alerts = shop.alerts("deadline.")
    assert f"deadline.missed message {f0501}" in alerts and number in alerts[f"deadline.missed message {f0501}"]
    shop.taken(f0501)  # Turnkey takes it at last: the deadline alerts clear
    counts = check_deadlines(shop.store, shop.clock.now(), POLICY)
    assert counts["cleared"] == 3 and shop.alerts("deadline.") == {}


def test_an_allowance_without_a_verdict_becomes_unknown(shop: Shop) -> None:
    number = shop.sell("o1")
    shop.taken(shop.rows("F0401")[0])
    shop.verdict(Verdict("F0401", number, DAY, CONFIRMED, "", ""))
    allowance = shop.allowance(number)
    g0401 = shop.rows("G0401")[0]
    shop.taken(g0401)
    shop.clock.advance(timedelta(hours=48 + 23))
    assert check_deadlines(shop.store, shop.clock.now(), POLICY)["unknown"] == 0
    shop.clock.advance(timedelta(hours=2))
    assert check_deadlines(shop.store, shop.clock.now(), POLICY)["unknown"] == 1
    assert shop.delivery(g0401) == "unknown" and f"verdict.missing message {g0401}" in shop.alerts()
    shop.verdict(Verdict("G0401", allowance, DAY, CONFIRMED, "", "late SummaryResult"))
    assert shop.allowances.view(allowance)["delivery"]["delivery"] == CONFIRMED


def test_a_void_blocked_behind_a_refused_invoice_alerts_naming_both(shop: Shop) -> None:
    number = shop.sell("o1")
    f0401 = shop.rows("F0401")[0]
    shop.taken(f0401, REJECTED_LOCAL)
    shop.lifecycle.void(number, "開錯")
    f0501 = shop.rows("F0501")[0]
    check_deadlines(shop.store, shop.clock.now(), POLICY)
    text = shop.alerts("blocked.")[f"blocked.refused message {f0501}"]
    assert "F0501" in text and "F0401" in text and number in text and "refused by Turnkey" in text
    assert f"rejected.F0401 message {f0401}" in shop.alerts("rejected.")
    check_deadlines(shop.store, shop.clock.now(), POLICY)
    assert shop.store.read("SELECT count(*) FROM alerts WHERE kind = 'blocked.refused'")[0][0] == 1  # once
    with shop.store.write() as tx:  # a person settles it (here: the void is dropped by hand)
        outbox_table.mark_done(tx, f0501, stamp(shop.clock.now()), None)
    assert check_deadlines(shop.store, shop.clock.now(), POLICY)["cleared"] == 1
    assert shop.alerts("blocked.") == {}


def test_an_allowance_void_blocked_behind_a_refused_allowance(shop: Shop) -> None:
    number = shop.sell("o1")
    shop.taken(shop.rows("F0401")[0])
    allowance = shop.allowance(number)
    shop.taken(shop.rows("G0401")[0], REJECTED_LOCAL)
    shop.allowances.void(allowance, "開錯")
    g0501 = shop.rows("G0501")[0]
    check_deadlines(shop.store, shop.clock.now(), POLICY)
    text = shop.alerts("blocked.")[f"blocked.refused message {g0501}"]
    assert text.count(allowance) == 2 and "G0501" in text and "G0401" in text


def test_unmatched_verdicts_inside_and_outside_own_ranges(shop: Shop) -> None:
    shop.sell("o1")  # AB00001000 of the range AB00001000-1049
    counts = shop.verdict(Verdict("F0401", "AB00001020", DAY, CONFIRMED, "", ""),  # own range, never sent
                          Verdict("F0401", "AB00002000", DAY, CONFIRMED, "", ""),  # another box's
                          Verdict("F0501", "ZZ00000001", DAY, REJECTED, "E0202", ""),  # another box's
                          Verdict("G0401", "XY00000001", DAY, CONFIRMED, "", ""))  # another box's prefix
    assert counts["unmatched"] == 4 and counts["stranger"] == 1 and counts["foreign"] == 3
    alerts = shop.alerts("verdict.")
    assert list(alerts) == ["verdict.stranger number F0401 AB00001020"]
    assert "never sent" in alerts["verdict.stranger number F0401 AB00001020"]
    shop.allowance(shop.service.store.read("SELECT number FROM invoices")[0][0])
    counts = shop.verdict(Verdict("G0401", "AL00000099", DAY, REJECTED, "", ""))  # own prefix, never issued
    assert counts["stranger"] == 1
    report = daily(shop.store, DAY, shop.clock.now())
    assert report["foreign_verdicts"] == {"F0401": {CONFIRMED: 1}, "F0501": {REJECTED: 1},
                                          "G0401": {CONFIRMED: 1}}
    assert "other boxes' F0401 verdicts confirmed | 1" in markdown(report)


def _blank_report(shop: Shop) -> int:
    at = stamp(shop.clock.now())
    with shop.store.write() as tx:
        outbox_id = outbox_table.enqueue_unlinked(tx, "E0402", "11510-07-AB", at)
        tx.execute("INSERT INTO blank_periods (period, closed_at, messages) VALUES ('11510', ?, 1)", (at,))
        tx.execute("INSERT INTO blank_reports (period, invoice_type, track, part, head_ban, branch_ban, spans, "
                   "outbox_id) VALUES ('11510', '07', 'AB', 0, '12345676', '12345676', ?, ?)",
                   (json.dumps([[1001, 1049]]), outbox_id))
    shop.taken(outbox_id)
    return outbox_id


def test_blank_report_verdicts_by_turnkey_identifier(shop: Shop) -> None:
    outbox_id = _blank_report(shop)
    shop.verdict(Verdict("E0402", "12345676-AB07", None, REJECTED, "E0609", "overlap"))
    assert shop.delivery(outbox_id) == REJECTED
    text = shop.alerts("rejected.")[f"rejected.E0402 message {outbox_id}"]
    assert "unreported" in text and "10th" in text and "overlap" in text
    shop.verdict(Verdict("E0402", "AB", None, CONFIRMED, "", ""))  # the track alone: rejected is not undone
    assert shop.delivery(outbox_id) == REJECTED


def test_a_blank_report_without_a_verdict_becomes_unknown(shop: Shop) -> None:
    outbox_id = _blank_report(shop)  # period 11510: due 2026-11-10, the clock is at 11-21
    assert check_deadlines(shop.store, shop.clock.now(), POLICY)["unknown"] == 1
    assert shop.delivery(outbox_id) == "unknown" and f"verdict.missing message {outbox_id}" in shop.alerts()
    shop.verdict(Verdict("E0402", "11510-07-AB", None, CONFIRMED, "", ""))  # einvd's reference also names it
    assert shop.delivery(outbox_id) == CONFIRMED


def test_status_and_daily_report_show_every_type(shop: Shop) -> None:
    from daemon.deliveries import status_summary

    number = shop.sell("o1")
    shop.taken(shop.rows("F0401")[0])
    allowance = shop.allowance(number)
    shop.taken(shop.rows("G0401")[0])
    shop.verdict(Verdict("G0401", allowance, DAY, REJECTED, "E0221", ""))
    shop.lifecycle.void(shop.sell("o2"), "開錯")
    summary = status_summary(shop.store)
    assert summary["deliveries"]["F0401"] == {ACCEPTED_LOCAL: 1, "queued": 1}
    assert summary["deliveries"]["G0401"] == {REJECTED: 1}
    assert summary["deliveries"]["F0501"] == {"queued": 1} and summary["deliveries"]["E0402"] == {}
    assert summary["alerts"] == {"rejected.G0401": 1}
    from daemon.api.health import _metrics

    assert 'einvd_deliveries{type="G0401",state="rejected"} 1' in _metrics(shop.store).splitlines()
    report = daily(shop.store, DAY, shop.clock.now())
    assert report["deliveries"]["G0401"] == {REJECTED: 1}
    assert [(r["type"], r["reference"], r["code"]) for r in report["correction_rejections"]] == [
        ("G0401", allowance, "E0221")]
    assert f"| G0401 | {allowance} | rejected | E0221 |" in markdown(report)


def test_einvd_status_prints_the_counts(shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from daemon.__main__ import main

    shop.sell("o1")
    config = tmp_path / "einvd.toml"
    config.write_text(f'[store]\npath = "{shop.store.path}"\n', encoding="utf-8")
    assert main(["--config", str(config), "status", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["deliveries"]["F0401"] == {"queued": 1}


def test_verdicts_after_a_reissue_name_the_right_version(shop: Shop) -> None:
    """After 註銷重開 one number has two versions: the F0701 is the cancelled version's, and an F0401 verdict's date
    (its InvoiceDate) tells which version's F0401 it is."""
    number = shop.sell("o1")
    first_f0401 = shop.rows("F0401")[0]
    shop.taken(first_f0401)
    shop.clock.advance(timedelta(days=1))
    shop.lifecycle.cancel(number, "買方統編錯", sale("o1", issued_at=shop.clock.now().isoformat()))
    f0701 = shop.rows("F0701")[0]
    shop.taken(f0701)
    second_f0401 = shop.rows("F0401")[1]
    shop.taken(second_f0401)
    reissued = shop.clock.now().date()
    counts = shop.verdict(Verdict("F0701", number, reissued, REJECTED, "E0402", "已作廢"),
                          Verdict("F0401", number, DAY, CONFIRMED, "", "the cancelled version's upload"),
                          Verdict("F0401", number, reissued, REJECTED, "E0209", "the re-issue's"))
    assert "unmatched" not in counts
    assert (shop.delivery(f0701), shop.delivery(first_f0401), shop.delivery(second_f0401)) == (
        REJECTED, CONFIRMED, REJECTED)
