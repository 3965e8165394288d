"""註銷重開 (#15 item 1): the F0701 names the invoice it cancels; the re-issue is a new version, sent after the F0701.

Reproduces the report: issued to buyer 04595257 on 11-21, cancelled and re-issued to 10458575 the next day. The
official sample F0701-KZ10000012 carries the cancelled invoice's own InvoiceDate and BuyerId, so ours must too.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SELLER, sale, spec_schemas
from lxml import etree

from daemon import __main__ as cli
from daemon import outbox
from daemon.lifecycle import LifecycleService
from daemon.messages import BUILDERS
from daemon.services import InvoiceService
from daemon.store import outbox as table
from daemon.store import stamp
from hw_sim.clock import FakeClock
from turnkey.mig import render_checked

FIRST_BUYER, SECOND_BUYER = "04595257", "10458575"


def b2b(order_id: str, ban: str, **extra: Any) -> dict[str, Any]:
    return sale(order_id, buyer={"ban": ban, "name": "買方公司"},
                items=[{"description": "筆電", "quantity": 2, "unit_price": 100, "amount": 200}], **extra)


def fields(xml: bytes, *names: str) -> dict[str, str]:
    root = etree.fromstring(xml)
    return {name: str(root.xpath(f"string(//*[local-name()='{name}'])")) for name in names}


def cancel_and_reissue(service: InvoiceService, clock: FakeClock) -> tuple[LifecycleService, str]:
    number = service.issue(b2b("R-1", FIRST_BUYER)).body["invoice_number"]
    clock.advance(timedelta(days=1))
    life = LifecycleService(service, 13)
    life.cancel(number, "買方統編錯誤", b2b("R-1", SECOND_BUYER, issued_at="2026-11-22T09:30:00+08:00"))
    return life, number


def built(service: InvoiceService, rows: list[outbox.Claimed]) -> dict[str, bytes]:
    conn, schemas = service.store.connection(), spec_schemas()
    return {f"{r.message_type}#{r.id}": render_checked(BUILDERS[r.message_type](conn, r, SELLER), schemas)
            for r in rows}


def accept(service: InvoiceService, rows: list[outbox.Claimed], now: Any) -> None:
    with service.store.write() as tx:
        outbox.mark_dropped(tx, rows, now)
        for row in rows:
            table.set_outcome(tx, row.id, "accepted_local", stamp(now), None)


def test_the_f0701_names_the_cancelled_invoice_and_the_reissue_leaves_after_it(service: InvoiceService,
                                                                             clock: FakeClock) -> None:
    cancel_and_reissue(service, clock)
    now = clock.now()
    first = outbox.claim(service.store, now, 10)
    assert [r.message_type for r in first] == ["F0401"]  # the F0701 and the re-issue wait for it
    original = built(service, first)[f"F0401#{first[0].id}"]
    assert fields(original, "InvoiceDate", "Identifier") == {"InvoiceDate": "20261121", "Identifier": "12345676"}
    assert FIRST_BUYER.encode() in original and SECOND_BUYER.encode() not in original
    with service.store.write() as tx:
        outbox.mark_dropped(tx, first, now)  # in SRC, not yet taken by Turnkey
    assert outbox.claim(service.store, now, 10) == []
    with service.store.write() as tx:
        table.set_outcome(tx, first[0].id, "accepted_local", stamp(now), None)
    cancel = outbox.claim(service.store, now, 10)
    assert [r.message_type for r in cancel] == ["F0701"]
    f0701 = built(service, cancel)[f"F0701#{cancel[0].id}"]
    assert fields(f0701, "InvoiceDate", "BuyerId") == {"InvoiceDate": "20261121", "BuyerId": FIRST_BUYER}
    with service.store.write() as tx:
        outbox.mark_dropped(tx, cancel, now)
    assert outbox.claim(service.store, now, 10) == []  # the F0701 is in SRC: the re-issue still waits for BAK
    with service.store.write() as tx:
        table.set_outcome(tx, cancel[0].id, "accepted_local", stamp(now), None)
    again = outbox.claim(service.store, now, 10)
    assert [r.message_type for r in again] == ["F0401"] and again[0].id > cancel[0].id
    reissued = built(service, again)[f"F0401#{again[0].id}"]
    assert fields(reissued, "InvoiceDate") == {"InvoiceDate": "20261122"}
    assert SECOND_BUYER.encode() in reissued and FIRST_BUYER.encode() not in reissued


def test_a_reissue_is_a_new_version_and_the_history_shows_both(service: InvoiceService, clock: FakeClock) -> None:
    life, number = cancel_and_reissue(service, clock)
    view = life.view(number)
    assert view["state"] == "issued" and view["buyer_ban"] == SECOND_BUYER and view["invoice_date"] == "2026-11-22"
    assert [(v["version"], v["state"], v["buyer_ban"], v["issued_at"][:10]) for v in view["versions"]] == [
        (1, "cancelled", FIRST_BUYER, "2026-11-21"), (2, "issued", SECOND_BUYER, "2026-11-22")]
    assert [m["type"] for m in view["messages"]] == ["F0401", "F0701", "F0401"]
    assert [e["kind"] for e in view["events"]] == ["issued", "cancelled", "reissued"]
    rows = service.store.read("SELECT version, lifecycle, buyer_ban, document FROM invoices ORDER BY id")
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, "cancelled", FIRST_BUYER), (2, "issued", SECOND_BUYER)]
    assert FIRST_BUYER in rows[0][3]  # the cancelled version's document is the one it was issued with
    lines = service.store.read("SELECT invoice_id, description FROM invoice_lines ORDER BY invoice_id")
    assert len(lines) == 2 and lines[0][0] != lines[1][0]
    again = life.cancel(number, "買方統編錯誤", b2b("R-1", SECOND_BUYER, issued_at="2026-11-22T09:30:00+08:00"))
    assert again == life.view(number)  # the same 註銷重開 again changes nothing
    assert service.issue(b2b("R-1", SECOND_BUYER, issued_at="2026-11-22T09:30:00+08:00")).created is False
    # a second 註銷重開 of the same number: version 3 waits for the F0701 of version 2
    life.cancel(number, "再更正", b2b("R-1b", FIRST_BUYER, issued_at="2026-11-22T10:00:00+08:00"))
    history = life.view(number)["versions"]
    assert [(v["version"], v["state"], v["order_id"]) for v in history] == [
        (1, "cancelled", "R-1"), (2, "cancelled", "R-1"), (3, "issued", "R-1b")]
    assert service.issue(b2b("R-1b", FIRST_BUYER, issued_at="2026-11-22T10:00:00+08:00")).created is False


def test_a_reissue_cannot_take_the_order_id_of_another_invoice(service: InvoiceService, clock: FakeClock) -> None:
    number = service.issue(b2b("O-1", FIRST_BUYER)).body["invoice_number"]
    service.issue(sale("O-2"))
    life = LifecycleService(service, 13)
    try:
        life.cancel(number, "x", b2b("O-2", SECOND_BUYER))
    except Exception as error:
        assert [p.code for p in error.problems] == ["order_id.conflict"]  # type: ignore[attr-defined]
    else:
        raise AssertionError("a re-issue took another invoice's order id")
    assert life.view(number)["state"] == "issued" and len(life.view(number)["versions"]) == 1
    fresh = b2b("O-3", SECOND_BUYER)
    life.cancel(number, "x", fresh)
    assert service.issue(fresh).created is False  # O-3 is the re-issue's now: no new number for it
    assert service.store.read("SELECT count(*) FROM invoices")[0][0] == 3


def test_invoice_show_prints_every_version(service: InvoiceService, clock: FakeClock, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, number = cancel_and_reissue(service, clock)
    config = tmp_path / "einvd.toml"
    config.write_text(f'[seller]\nban = "{SELLER.identifier}"\nname = "測試商店"\naddress = "台北市"\n\n'
                      f'[store]\npath = "{service.store.path}"\n\n[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n',
                      encoding="utf-8")
    assert cli.main(["--config", str(config), "invoice", "show", number]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["state"], v["buyer_ban"]) for v in shown["versions"]] == [
        (1, "cancelled", FIRST_BUYER), (2, "issued", SECOND_BUYER)]
    assert cli.main(["--config", str(config), "invoice", "show", "ZZ99999999"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0]["code"] == "invoice.not_found"


def test_a_reissue_with_an_email_is_mailed_like_a_sale(service: InvoiceService, clock: FakeClock) -> None:
    number = service.issue(b2b("R-9", FIRST_BUYER)).body["invoice_number"]
    life = LifecycleService(service, 13)
    reissue = sale("R-9", buyer={"ban": SECOND_BUYER, "name": "買方公司", "email": "buyer@example.com"},
                   items=[{"description": "筆電", "quantity": 2, "unit_price": 100, "amount": 200}])
    life.cancel(number, "買方統編錯誤", reissue)
    mailed = service.store.read("SELECT m.address, i.version FROM mails m JOIN invoices i ON i.id = m.invoice_id")
    assert [tuple(row) for row in mailed] == [("buyer@example.com", 2)]
