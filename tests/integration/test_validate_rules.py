"""``invoice validate`` (CLI) and ``POST /v1/validate`` apply every rule issue applies, the clock and the
ranges included, and take no number (issue 15 item 6); the same refusals come from issue."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import api_harness
import pytest
from api_harness import Api, running
from conftest import START, hold, sale

from daemon import __main__ as cli
from daemon.api.keys import ApiKey
from daemon.services import InvoiceService
from daemon.store import Store
from hw_sim.clock import FakeClock
from turnkey.period import Period

FUTURE = (START + timedelta(minutes=5)).isoformat()
TOO_OLD = (START - timedelta(days=3)).isoformat()


@pytest.fixture
def api(service: InvoiceService, clock: FakeClock) -> Any:
    with running(service, clock) as running_api:
        yield running_api


def counts(store: Store) -> tuple[int, int | None]:
    row = store.read("SELECT (SELECT count(*) FROM invoices), (SELECT max(last_no) FROM tracks)")[0]
    return row[0], row[1]


def test_api_validate_answers_the_normalised_document_and_takes_no_number(api: Api, store: Store) -> None:
    status, body = api.call("POST", "/v1/validate", sale("V-1"), key="pos")
    assert status == 200
    assert body["amounts"] == {"sales": 130, "free_tax_sales": 0, "zero_tax_sales": 0, "tax": 0, "total": 130}
    assert body["order_id"] == "V-1" and body["items"][0]["amount"] == "130"
    assert counts(store) == (0, None)
    assert api.call("POST", "/v1/invoices", sale("V-1"))[0] == 201


@pytest.mark.parametrize(("doc", "status", "code"), [
    (sale("F", issued_at=FUTURE), 422, "issued_at.future"),
    (sale("O", issued_at=TOO_OLD), 422, "issued_at.too_old"),
    (sale("B", buyer={"ban": "00000000"}), 422, "buyer.ban.consumer"),
    (sale("T", invoice_type="08", tax_rate="0.15",
          items=[{"description": "x", "quantity": 1, "unit_price": 10, "tax_type": "4"}]), 409, "track.missing"),
], ids=["future", "too old", "00000000", "no 08 range"])
def test_api_validate_refuses_what_issue_refuses_with_the_same_answer(api: Api, store: Store, doc: dict[str, Any],
                                                                      status: int, code: str) -> None:
    assert api.codes("POST", "/v1/validate", doc) == (status, [code])
    assert api.codes("POST", "/v1/invoices", doc) == (status, [code])
    assert counts(store) == (0, None)


def test_api_validate_sees_the_date_order_and_the_order_ids(api: Api, store: Store, clock: FakeClock) -> None:
    issued = api.call("POST", "/v1/invoices", sale("A"))[1]
    earlier = (START - timedelta(minutes=1)).isoformat()
    assert api.codes("POST", "/v1/validate", sale("B", issued_at=earlier)) == (409, ["issued_at.out_of_order"])
    assert api.codes("POST", "/v1/validate", sale("A", remark="x")) == (409, ["order_id.conflict"])
    assert api.call("POST", "/v1/validate", sale("A"))[0] == 200  # issue would answer it again
    assert counts(store) == (1, 1000) and issued["invoice_number"] == "AB00001000"


def test_api_validate_needs_the_issue_permission(service: InvoiceService, clock: FakeClock,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "reader-secret-0123456789-abcdefghij"
    monkeypatch.setitem(api_harness.SECRETS, "reader", secret)
    monkeypatch.setitem(api_harness.KEYS, "reader", ApiKey("reader", secret.encode(), frozenset()))
    with running(service, clock) as reader:
        assert reader.codes("POST", "/v1/validate", sale("P"), key="reader") == (403, ["auth.permission"])
        assert reader.call("POST", "/v1/validate", sale("P"), key="pos")[0] == 200


# --- the CLI ---------------------------------------------------------------------------------------------------


def write_config(tmp: Path) -> Path:
    config = tmp / "einvd.toml"
    config.write_text('[store]\npath = "db/einvd.sqlite3"\n', encoding="utf-8")
    return config


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = cli.main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_cli_validate_applies_the_clock_and_the_ranges(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 15 item 6: an issued_at in the future passed ``invoice validate`` and then got a 422 from issue."""
    config = str(write_config(tmp_path))
    doc = tmp_path / "sale.json"
    doc.write_text(json.dumps(sale("CLI-1", issued_at=START.isoformat())), encoding="utf-8")
    before = (START - timedelta(seconds=1)).isoformat()
    code, out = run(capsys, "--config", config, "invoice", "validate", str(doc), "--now", START.isoformat())
    assert code == 1 and [e["code"] for e in out["errors"]] == ["track.missing"]  # no store: no range held
    assert not (tmp_path / "db").exists()  # validating stores nothing, not even an empty database
    store = Store(tmp_path / "db" / "einvd.sqlite3")
    hold(store, Period.of(START), "AB", 1000, 1049)
    store.close()
    code, out = run(capsys, "--config", config, "invoice", "validate", str(doc), "--now", before)
    assert code == 1 and [e["code"] for e in out["errors"]] == ["issued_at.future"]
    code, out = run(capsys, "--config", config, "invoice", "validate", str(doc), "--now",
                    (START + timedelta(hours=48)).isoformat())
    assert code == 1 and [e["code"] for e in out["errors"]] == ["issued_at.too_old"]
    code, out = run(capsys, "--config", config, "invoice", "validate", str(doc), "--now", START.isoformat())
    assert code == 0 and out["amounts"]["total"] == 130 and out["issued_at"] == START.isoformat()
    store = Store(tmp_path / "db" / "einvd.sqlite3")
    assert counts(store) == (0, None)
    store.close()


def test_cli_validate_now_must_be_an_aware_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "sale.json"
    doc.write_text(json.dumps(sale("CLI-1")), encoding="utf-8")
    for bad in ("yesterday", "2026-12-03T10:00:00"):
        with pytest.raises(SystemExit) as usage:
            cli.main(["invoice", "validate", str(doc), "--now", bad])
        assert usage.value.code == 2
    assert "--now" in capsys.readouterr().err
