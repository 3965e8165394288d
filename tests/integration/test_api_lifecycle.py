"""Every lifecycle rule through HTTP, with its refusal: void, cancel and re-issue, allowances, reprints, events."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from api_harness import Api, running
from conftest import SELLER, SPEC, sale

from daemon.allowances import allowance_message
from daemon.lifecycle import action_message
from daemon.messages import BUILDERS
from daemon.outbox import Claimed
from daemon.services import InvoiceService
from hw_sim.clock import FakeClock
from turnkey.mig import Schemas, render_checked, required_sources
from turnkey.model import Allowance, AllowanceVoid, Cancel, Void
from turnkey.period import TAIPEI

CLOSED = datetime(2027, 1, 14, 0, 0, tzinfo=TAIPEI)  # period 11512: after the 13 January cut-off
B2B = {"buyer": {"ban": "53538851", "name": "買方公司"},
       "items": [{"description": "筆電", "quantity": 2, "unit_price": 100, "amount": 200}]}


@pytest.fixture
def api(service: InvoiceService, clock: FakeClock) -> Any:
    with running(service, clock) as running_api:
        yield running_api


def issue(api: Api, order_id: str, **extra: Any) -> str:
    status, body = api.call("POST", "/v1/invoices", sale(order_id, **extra))
    assert status == 201, body
    return str(body["invoice_number"])


def allowance(api: Api, number: str, *lines: dict[str, Any], **extra: Any) -> tuple[int, Any]:
    return api.call("POST", "/v1/allowances", {"invoice_number": number, "lines": list(lines), **extra})


def test_issue_is_idempotent_and_conflicts_are_409(api: Api) -> None:
    status, first = api.call("POST", "/v1/invoices", sale("I-1"))
    assert status == 201
    assert api.call("POST", "/v1/invoices", sale("I-1")) == (200, first)
    assert api.codes("POST", "/v1/invoices", sale("I-1", remark="other")) == (409, ["order_id.conflict"])


def test_bodies_are_strict(api: Api) -> None:
    assert api.codes("POST", "/v1/invoices", raw=b"{nope") == (400, ["body.json"])
    assert api.codes("POST", "/v1/invoices", raw=b'{"order_id": "a", "order_id": "b"}') == (400, ["body.json"])
    good = json.dumps(sale("S-0"), ensure_ascii=False)
    for raw in (b"\xef\xbb\xbf" + good.encode(), good.encode("utf-16"), good.encode("utf-16-le"),
                good.encode("utf-32"), good.encode("big5")):  # Big5: what an old POS might send
        assert api.codes("POST", "/v1/invoices", raw=raw) == (400, ["body.json"])  # UTF-8 only, no BOM
    assert api.call("POST", "/v1/invoices", sale("S-0"))[0] == 201
    status, codes = api.codes("POST", "/v1/invoices", sale("S-1", extra=1))
    assert (status, codes) == (422, ["document.unknown_field"])
    doc = sale("S-2")
    doc["items"][0]["quantity"] = True
    assert api.codes("POST", "/v1/invoices", doc) == (422, ["items.quantity.type"])
    number = issue(api, "S-3")
    assert api.codes("POST", f"/v1/invoices/{number}/void", {"reason": 5}) == (422, ["reason.type"])
    assert api.codes("POST", f"/v1/invoices/{number}/void", {"reason": "x", "why": 1}) == (422, ["why.unknown_field"])
    assert api.codes("POST", f"/v1/invoices/{number}/void", {}) == (422, ["reason.required"])
    assert api.codes("POST", f"/v1/invoices/{number}/void", {"reason": "x" * 21}) == (422, ["reason.length"])
    assert api.codes("POST", "/v1/allowances", {"invoice_number": number, "lines": [
        {"sequence": "001", "quantity": False}]}) == (422, ["lines.quantity.type"])
    assert api.codes("POST", "/v1/allowances", {"invoice_number": number, "lines": [
        {"sequence": "001", "quantity": "1e3"}]}) == (422, ["lines.quantity.format"])


def test_unknown_numbers_are_404(api: Api) -> None:
    assert api.codes("GET", "/v1/invoices/ZZ99999999") == (404, ["invoice.not_found"])
    assert api.codes("POST", "/v1/invoices/ZZ99999999/void", {"reason": "x"}) == (404, ["invoice.not_found"])
    assert api.codes("GET", "/v1/invoices/nonsense")[0] == 422
    assert api.codes("GET", "/v1/allowances/AL99999999") == (404, ["allowance.not_found"])
    assert api.codes("GET", "/v1/nothing-here") == (404, ["path.not_found"])


def test_void_inside_the_window_then_never_again(api: Api) -> None:
    number = issue(api, "V-1")
    status, view = api.call("POST", f"/v1/invoices/{number}/void", {"reason": "  客訴  退貨 "})
    assert status == 200 and view["state"] == "voided"
    assert [e["kind"] for e in view["events"]] == ["issued", "voided"]
    assert view["events"][1]["reason"] == "客訴 退貨"
    assert [m["type"] for m in view["messages"]] == ["F0401", "F0501"]
    assert api.codes("POST", f"/v1/invoices/{number}/void", {"reason": "again"}) == (409, ["state.voided"])
    assert api.codes("POST", f"/v1/invoices/{number}/cancel", {"reason": "x"}) == (409, ["state.voided"])
    assert allowance(api, number, {"sequence": "001", "quantity": 1})[0] == 409
    assert api.codes("POST", f"/v1/invoices/{number}/print") == (409, ["state.voided"])


def test_void_after_the_cutoff_points_to_an_allowance(api: Api, clock: FakeClock) -> None:
    number = issue(api, "W-1")
    clock.advance(datetime(2026, 12, 31, 23, 0, tzinfo=TAIPEI) - clock.now())
    number2 = issue(api, "W-2")  # issued in time: back-dating past the upload deadline is refused (issue 15)
    clock.advance(CLOSED - clock.now() - timedelta(seconds=1))
    assert api.call("POST", f"/v1/invoices/{number2}/void", {"reason": "x"})[0] == 200
    clock.advance(timedelta(seconds=1))
    status, body = api.call("POST", f"/v1/invoices/{number}/void", {"reason": "late"})
    assert status == 409 and body["errors"][0]["code"] == "window.closed"
    assert "POST /v1/allowances" in body["errors"][0]["message"]
    assert api.codes("POST", f"/v1/invoices/{number}/cancel", {"reason": "late"}) == (409, ["window.closed"])
    assert allowance(api, number, {"sequence": "001", "quantity": 1})[0] == 201


def test_void_refused_while_an_allowance_is_live(api: Api) -> None:
    number = issue(api, "L-1")
    status, made = allowance(api, number, {"sequence": "001", "quantity": 1})
    assert status == 201
    assert api.codes("POST", f"/v1/invoices/{number}/void", {"reason": "x"}) == (409, ["state.allowance_live"])
    assert api.codes("POST", f"/v1/invoices/{number}/cancel", {"reason": "x"}) == (409, ["state.allowance_live"])
    status, voided = api.call("POST", f"/v1/allowances/{made['allowance_number']}/void", {"reason": "錯誤"})
    assert status == 200 and voided["state"] == "voided"
    assert api.codes("POST", f"/v1/allowances/{made['allowance_number']}/void", {"reason": "x"}) == (
        409, ["state.voided"])
    assert api.call("POST", f"/v1/invoices/{number}/void", {"reason": "x"})[0] == 200


def test_consumer_allowance_follows_the_official_sample(api: Api) -> None:
    number = issue(api, "A-1", items=[{"description": "紅茶", "quantity": 1, "unit_price": 20}])
    status, made = allowance(api, number, {"sequence": "001", "quantity": 1})
    assert status == 201
    assert made["allowance_number"] == "AL00000001" and made["state"] == "live"
    assert (made["tax_amount"], made["total_amount"]) == (1, "19")
    line = made["lines"][0]
    assert (line["quantity"], line["unit_price"], line["amount"], line["tax"]) == ("1", "20", "19", 1)
    assert line["original_sequence"] == "001"
    assert allowance(api, number, {"sequence": "001", "quantity": 1})[1]["errors"][0]["code"] == (
        "lines.quantity.exceeds_remaining")


def test_business_allowance_follows_the_official_sample(api: Api) -> None:
    number = issue(api, "B-1", **B2B)
    status, made = allowance(api, number, {"sequence": "001", "quantity": 2})
    assert status == 201
    assert (made["tax_amount"], made["total_amount"], made["lines"][0]["tax"]) == (10, "200", 10)


def test_allowances_take_from_what_is_left(api: Api) -> None:
    number = issue(api, "R-1")  # 2 × 65 = 130 tax-inclusive
    assert allowance(api, number, {"sequence": "001", "quantity": 1, "amount": 100})[0] == 422  # > 1 × 65
    assert allowance(api, number, {"sequence": "001", "quantity": 1, "amount": "60.5"})[0] == 201
    view = api.call("GET", f"/v1/invoices/{number}")[1]
    assert (view["lines"][0]["allowed_quantity"], view["lines"][0]["allowed_amount"]) == ("1", "60.5")
    status, body = allowance(api, number, {"sequence": "001", "quantity": 1, "amount": 70})
    assert body["errors"][0]["code"] == "lines.amount.exceeds_remaining" and "69.5 of 130" in (
        body["errors"][0]["message"])
    status, rest = allowance(api, number, {"sequence": "001", "quantity": 1})
    assert status == 201 and Decimal(rest["total_amount"]) + rest["tax_amount"] == Decimal("69.5")
    assert allowance(api, number, {"sequence": "002", "quantity": 1})[1]["errors"][0]["code"] == (
        "lines.sequence.unknown")
    assert [a["number"] for a in api.call("GET", f"/v1/invoices/{number}")[1]["allowances"]] == [
        "AL00000001", "AL00000002"]


def test_allowance_request_id_makes_retries_safe(api: Api) -> None:
    number = issue(api, "Q-1")
    first = allowance(api, number, {"sequence": "001", "quantity": 1}, request_id="RET-1")
    assert first[0] == 201
    assert allowance(api, number, {"sequence": "001", "quantity": 1}, request_id="RET-1") == (200, first[1])
    assert api.codes("POST", "/v1/allowances", {"invoice_number": number, "request_id": "RET-1",
                                                "lines": [{"sequence": "001", "quantity": 2}]}) == (
        409, ["request_id.conflict"])


def test_allowance_void_window(api: Api, clock: FakeClock) -> None:
    number = issue(api, "X-1")
    made = allowance(api, number, {"sequence": "001", "quantity": 1})[1]
    clock.advance(CLOSED - clock.now())
    assert api.codes("POST", f"/v1/allowances/{made['allowance_number']}/void", {"reason": "x"}) == (
        409, ["window.closed"])


def test_cancel_and_reissue_the_same_number(api: Api) -> None:
    number = issue(api, "C-1")
    corrected = sale("C-1", remark="更正")
    status, view = api.call("POST", f"/v1/invoices/{number}/cancel", {"reason": "更正", "reissue": corrected})
    assert status == 200 and view["state"] == "issued" and view["invoice_number"] == number
    assert [e["kind"] for e in view["events"]] == ["issued", "cancelled", "reissued"]
    assert [m["type"] for m in view["messages"]] == ["F0401", "F0701", "F0401"]
    assert api.call("POST", f"/v1/invoices/{number}/cancel", {"reason": "更正", "reissue": corrected}) == (200, view)
    assert api.call("POST", "/v1/invoices", corrected)[1]["invoice_number"] == number
    other = sale("C-2", issued_at="2027-01-01T10:00:00+08:00")
    assert api.codes("POST", f"/v1/invoices/{number}/cancel", {"reason": "x", "reissue": other}) == (
        422, ["reissue.issued_at.period"])
    assert api.codes("POST", f"/v1/invoices/{number}/cancel", {"reason": "x", "reissue": {"order_id": 1}})[0] == 422
    status, view = api.call("POST", f"/v1/invoices/{number}/cancel", {"reason": "作廢"})
    assert status == 200 and view["state"] == "cancelled"
    assert api.codes("POST", f"/v1/invoices/{number}/cancel", {"reason": "x"}) == (409, ["state.cancelled"])


def test_reissue_cannot_take_an_order_id_of_another_invoice(api: Api) -> None:
    number = issue(api, "O-1")
    issue(api, "O-2")
    assert api.codes("POST", f"/v1/invoices/{number}/cancel", {"reason": "x", "reissue": sale("O-2")}) == (
        409, ["order_id.conflict"])
    assert api.call("GET", f"/v1/invoices/{number}")[1]["state"] == "issued"


def test_reprint_is_always_a_copy(api: Api) -> None:
    number = issue(api, "P-1")
    status, first = api.call("POST", f"/v1/invoices/{number}/print")
    assert status == 202 and first == {"invoice_number": number, "copy": True, "copies": 1, "status": "queued"}
    assert api.call("POST", f"/v1/invoices/{number}/print", {})[1]["copies"] == 2
    assert api.codes("POST", f"/v1/invoices/{number}/print", {"copies": 3})[0] == 422
    kinds = [e["kind"] for e in api.call("GET", f"/v1/invoices/{number}")[1]["events"]]
    assert kinds == ["issued", "reprint_requested", "reprint_requested"]
    carrier = issue(api, "P-2", carrier={"type": "3J0002", "id": "/ABC1234"}, print=False)
    assert api.codes("POST", f"/v1/invoices/{carrier}/print") == (409, ["print.not_requested"])


def test_search_pages_newest_first(api: Api) -> None:
    numbers = [issue(api, f"F-{n}") for n in range(5)]
    api.call("POST", f"/v1/invoices/{numbers[0]}/void", {"reason": "x"})
    status, page = api.call("GET", "/v1/invoices?limit=2")
    assert status == 200 and [i["invoice_number"] for i in page["invoices"]] == numbers[:2:-1][:2]
    rest = api.call("GET", f"/v1/invoices?limit=10&cursor={page['next_cursor']}")[1]
    assert len(rest["invoices"]) == 3 and rest["next_cursor"] is None
    assert [i["order_id"] for i in api.call("GET", "/v1/invoices?status=voided")[1]["invoices"]] == ["F-0"]
    assert len(api.call("GET", "/v1/invoices?status=queued&period=11512")[1]["invoices"]) == 5
    assert api.call("GET", "/v1/invoices?order_id=F-3")[1]["invoices"][0]["invoice_number"] == numbers[3]
    assert api.codes("GET", "/v1/invoices?limit=0")[0] == 422


def test_tracks_health_and_metrics(api: Api) -> None:
    issue(api, "H-1")
    tracks = api.call("GET", "/v1/tracks", key="pos")[1]["tracks"]
    assert tracks[0]["next"] == "AB00001001"
    assert api.codes("POST", "/v1/tracks", {"period": "11512", "track": "AB", "begin": "00001000",
                                            "end": "00001049"}, key="admin") == (409, ["tracks.overlap"])
    assert api.codes("POST", "/v1/tracks", {"period": "11512", "track": "AB", "begin": "00001049",
                                            "end": "00001000"}, key="admin") == (409, ["tracks.range"])
    health = api.client.get("/v1/health").json()
    assert health["status"] == "ok" and health["backlog"]["waiting"] == 1
    assert health["backlog"]["by_type"] == {"F0401": 1} and health["invoices"] == {"queued": 1}
    assert health["alerts"] == {} and health["backlog"]["oldest_age_seconds"] >= 0
    metrics = api.client.get("/metrics").text
    assert 'einvd_invoices{state="issued"} 1' in metrics and 'einvd_outbox{type="F0401",state="READY"} 1' in metrics
    assert api.codes("GET", "/v1/scans?wait=0") == (503, ["scanner.unavailable"])


def test_messages_for_the_pump_pass_the_preflight(api: Api) -> None:
    schema_dir = SPEC / "mig41"
    schemas = Schemas.from_sources({n: (schema_dir / n).read_bytes() for n in required_sources()}) \
        if schema_dir.is_dir() else None
    conn = api.context.invoices.store.connection()
    first, second = issue(api, "M-1"), issue(api, "M-2", **B2B)
    api.call("POST", f"/v1/invoices/{first}/void", {"reason": "作廢發票"})
    cancelled = issue(api, "M-3")
    api.call("POST", f"/v1/invoices/{cancelled}/cancel", {"reason": "註銷"})
    made = allowance(api, second, {"sequence": "001", "quantity": 1})[1]
    api.call("POST", f"/v1/allowances/{made['allowance_number']}/void", {"reason": "作廢折讓"})
    rows = conn.execute("SELECT id, message_type FROM outbox WHERE message_type != 'F0401' ORDER BY id").fetchall()
    assert [r["message_type"] for r in rows] == ["F0501", "F0701", "G0401", "G0501"]
    built = [action_message(conn, rows[0]["id"], SELLER), action_message(conn, rows[1]["id"], SELLER),
             allowance_message(conn, rows[2]["id"], SELLER), allowance_message(conn, rows[3]["id"], SELLER)]
    assert [type(m) for m in built] == [Void, Cancel, Allowance, AllowanceVoid]
    g0401 = built[2]
    assert isinstance(g0401, Allowance) and g0401.buyer.identifier == "53538851" and g0401.tax_amount == 5
    for message in built:
        assert render_checked(message, schemas).startswith(b"<?xml")
    for row in rows:
        claimed = Claimed(row["id"], row["message_type"], "", None, 0, "", False)
        assert BUILDERS[row["message_type"]](conn, claimed, SELLER) in built
    with pytest.raises(Exception, match="not_found"):
        action_message(conn, rows[2]["id"], SELLER)
    with pytest.raises(Exception, match="not_found"):
        allowance_message(conn, rows[0]["id"], SELLER)


def test_unknown_query_parameters_are_refused(api: Api) -> None:
    assert api.codes("GET", "/v1/invoices?limit=1&colour=red") == (422, ["query.unknown_field"])
    assert api.codes("POST", "/v1/invoices?dry=1", sale("U-1")) == (422, ["query.unknown_field"])
    assert api.codes("GET", "/v1/invoices?status=voided&status=issued") == (422, ["query.repeated"])


def test_openapi_document_and_offline_docs_page(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    assert {"/v1/invoices", "/v1/invoices/{number}/void", "/v1/allowances", "/v1/health"} <= set(document["paths"])
    assert "InvoiceDocument" in document["components"]["schemas"]
    page = api.client.get("/docs")
    assert page.status_code == 200 and "POST /v1/invoices" in page.text and "cdn" not in page.text.lower()
