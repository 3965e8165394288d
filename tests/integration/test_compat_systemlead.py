"""The e首發票 (SystemLead) layer driven as that centre's clients drive it: an envelope client written here from the
vendor docs (SL-PD/Einvoice_Erp_api, field notes §1.7/§3.6), the seed's example bodies read from
``../shared/spec/peer-samples/systemlead`` and the signature known-answer vector. Real SQLite, the real app
(``compat.mount`` as ``einvd run`` does), the simulated Turnkey checking each F0401 against the MIG 4.1 XSD."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_harness import KEYS
from conftest import SELLER, SPEC, START, hold, sale, spec_dir, spec_schemas
from fastapi.testclient import TestClient

from daemon import __main__ as cli
from daemon import compat
from daemon.api.app import create_app
from daemon.api.context import ApiContext
from daemon.compat import systemlead_wire
from daemon.config import CompatSection, CompatSettings
from daemon.periodic import close_period
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.tracks import add as add_ranges
from daemon.workers import Pump
from drivers.drop.local import LocalDrop
from hw_sim.clock import FakeClock
from hw_sim.turnkey import SimTurnkey
from turnkey.errors import Conflict, TrackError
from turnkey.layout import Layout
from turnkey.numbers import TrackRange
from turnkey.period import Period

PEER = SPEC / "peer-samples"
SEED = PEER / "systemlead"
COMPANY, SALT, POS = SELLER.identifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "pos1"
PERIOD = Period.of(START)


def _peer_text(name: str) -> str:
    path = SEED / name
    if not path.is_file():
        pytest.skip(f"{path} not found: the e首發票 samples are read from the shared spec folder, never copied")
    return path.read_text(encoding="utf-8")


def seed_body(name: str) -> dict[str, Any]:
    """The first JSON block of a seed page; its upstream trailing commas (peer-samples README) dropped."""
    block = re.search(r"```\s*\n(.*?)```", _peer_text(name), re.S)
    assert block is not None
    text = re.sub(r",(\s*[}\]])", r"\1", block.group(1))
    text = re.sub(r'"[ \t]*\n(\s*")', r'",\n\1', text)  # b2bJsonSample.md: a comma missing upstream
    parsed: dict[str, Any] = json.loads(text)
    return parsed


# --- an e首發票 client, from the vendor docs (not from einvd's code) --------------------------------------------

class SystemLeadClient:
    """POST [{CompanyID, Timestamp, Signature, Data}] to <base>/<path>, Signature = upper-hex SHA256(Timestamp +
    Salt) as CHT/Signature.md computes it."""

    def __init__(self, post: Callable[[str, bytes], tuple[int, Any]], now: Callable[[], float],
                 company: str = COMPANY, salt: str = SALT) -> None:
        self.post, self.now, self.company, self.salt = post, now, company, salt

    def envelope(self, data: dict[str, Any], company: str | None = None) -> dict[str, Any]:
        timestamp = str(int(self.now()))
        signed = hashlib.sha256((timestamp + self.salt).encode("ascii")).hexdigest().upper()
        return {"CompanyID": company or self.company, "Timestamp": timestamp, "Signature": signed, "Data": data}

    def many(self, path: str, *items: dict[str, Any]) -> list[dict[str, Any]]:
        status, body = self.post(f"/systemlead/{path}", json.dumps([self.envelope(d) for d in items]).encode())
        assert status == 200 and isinstance(body, list) and len(body) == len(items), body
        return body

    def one(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        status, body = self.post(f"/systemlead/{path}", json.dumps(self.envelope(data)).encode())
        assert status == 200 and isinstance(body, list) and len(body) == 1, body
        answer: dict[str, Any] = body[0]
        return answer


def invoice(number: str, at: datetime, relate: str | None = None, **extra: Any) -> dict[str, Any]:
    """A B2C invoice shaped as b2cJsonSample.md (tax-inclusive amounts, consumer BuyerID)."""
    data: dict[str, Any] = {
        "CompanyID": COMPANY, "InvoiceID": number, "InvoiceDateTime": at.strftime("%Y-%m-%dT%H:%M:%S"),
        "InvoiceFor": "C", "BuyerID": "0000000000", "BuyerName": "王小明", "BuyerEmailAddress": "buyer@example.com",
        "RelateNumber": relate or f"OD-{number}", "PrintMark": "Y", "RandomNumber": "3716", "SalesAmount": 185,
        "TaxType": "1", "TaxAmount": 0, "TotalAmount": 185,
        "Details": [
            {"DetailID": "001", "ProductID": "P1", "ProductName": "拿鐵", "Quantity": 2.0, "UnitPrice": 65.0,
             "SubTotal": 130.0},
            {"DetailID": "002", "ProductID": "P2", "ProductName": "可頌", "Quantity": 1.0, "UnitPrice": 55.0,
             "SubTotal": 55.0, "Remark": "加熱"},
        ],
    }
    data.update(extra)
    return data


SETTINGS = CompatSettings(systemlead=CompatSection("systemlead", COMPANY, SALT, pos=POS))


def pos_ranges(store: Store) -> None:
    """pos1 numbers AA00000000-99 (letters before einvd's own AB range: einvd must still skip it); pos2 AC."""
    add_ranges(store, [TrackRange(PERIOD, "07", "AA", 0, 99)], "test", START, numbered_by=POS)
    add_ranges(store, [TrackRange(PERIOD, "07", "AC", 0, 9)], "test", START, numbered_by="pos2")


@pytest.fixture
def box(service: InvoiceService, store: Store, clock: FakeClock) -> Iterator[tuple[SystemLeadClient, TestClient]]:
    pos_ranges(store)
    context = ApiContext.build(service, KEYS, now=lambda: clock.now().timestamp())
    app = create_app(context)
    assert compat.mount(app, context, SETTINGS) == ["/systemlead"]
    with TestClient(app, raise_server_exceptions=False) as http:
        def post(path: str, body: bytes) -> tuple[int, Any]:
            response = http.post(path, content=body, headers={"content-type": "application/json"})
            return response.status_code, response.json()

        yield SystemLeadClient(post, lambda: clock.now().timestamp()), http
    context.close()


def at(minutes: int) -> datetime:
    return START - timedelta(hours=2) + timedelta(minutes=minutes)


# --- the tests --------------------------------------------------------------------------------------------------

def test_the_signature_known_answer_vector() -> None:
    path = PEER / "known-answer-vectors.json"
    if not path.is_file():
        pytest.skip(f"{path} not found: the vectors are read from the shared spec folder, never copied")
    vectors = json.loads(path.read_text(encoding="utf-8"))["systemlead_signature"]["vectors"]
    assert vectors
    for vector in vectors:
        assert systemlead_wire.signature(vector["timestamp"], vector["salt"]) == vector["signature"]


def test_issue_replay_status_void_allowance_and_its_void(box: tuple[SystemLeadClient, TestClient],
                                                        store: Store, clock: FakeClock) -> None:
    client = box[0]
    first = client.one("Append/Invoices", invoice("AA00000000", at(0)))
    assert first["InvoiceID"] == "AA00000000" and first["InvoiceDateTime"] == at(0).strftime("%Y-%m-%dT%H:%M:%S")
    assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", first["AuthCode"])
    # the POS's random number, its e-mail and its lines are what einvd stored and queued
    row = store.read("SELECT number, random_number, order_id, document, print_status FROM invoices "
                     "WHERE number = 'AA00000000'")[0]
    assert (row[1], row[2], row[4]) == ("3716", "OD-AA00000000", "by_pos")  # the POS printed it, not the box
    assert json.loads(row[3])["buyer"]["email"] == "buyer@example.com"
    # replay: same number, same content -> the same answer, no second invoice
    assert client.one("Append/Invoices", invoice("AA00000000", at(0))) == first
    assert store.read("SELECT count(*) FROM invoices")[0][0] == 1
    assert client.one("Inquire/GetInvoicesStatus", {"CompanyID": COMPANY, "InvoiceID": "AA00000000"}) == {
        "InvoiceID": "AA00000000", "ProcessStatus": "I1", "ProcessStatusMessage": "開立待上傳"}
    # two more in one request (an array of envelopes), answered item by item
    answers = client.many("Append/Invoices", invoice("AA00000001", at(1)), invoice("AA00000002", at(2)))
    assert [a["InvoiceID"] for a in answers] == ["AA00000001", "AA00000002"] and all("AuthCode" in a for a in answers)
    void = client.one("Update/CancelInvoices", {"SellerID": COMPANY, "InvoiceNumber": "AA00000001",
                                               "CancelDate": at(3).isoformat()[:19], "CancelReason": "訂單退貨"})
    assert void["InvoiceNumber"] == "AA00000001" and "AuthCode" in void
    assert client.one("Inquire/GetInvoicesStatus", {"CompanyID": COMPANY, "InvoiceID": "AA00000001"})[
        "ProcessStatus"] == "C1"
    allowance = client.one("Update/AllowanceInvoice", {
        "AllowanceNumberPrefix": "2026112101", "SellerID": COMPANY, "BuyerID": "0000000000", "AllowanceType": "2",
        "TaxAmount": 3, "TotalAmount": 62,
        "Details": [{"InvoiceNumber": "AA00000002", "SequenceNumber": "001", "Description": "拿鐵",
                     "Amount": 62, "Quantity": 1, "UnitPrice": 62, "Tax": 3}]})
    assert "AuthCode" in allowance and allowance["InvoiceNumber"] == "AA00000002", allowance
    number = allowance["AllowanceNumber"]
    assert client.one("Inquire/GetInvoicesStatus", {"CompanyID": COMPANY, "InvoiceID": "AA00000002"})[
        "ProcessStatus"] == "A1"
    again = client.one("Update/AllowanceInvoice", {
        "AllowanceNumberPrefix": "2026112101", "SellerID": COMPANY, "BuyerID": "0000000000", "AllowanceType": "2",
        "TaxAmount": 3, "TotalAmount": 62,
        "Details": [{"InvoiceNumber": "AA00000002", "SequenceNumber": "001", "Description": "拿鐵",
                     "Amount": 62, "Quantity": 1, "UnitPrice": 62, "Tax": 3}]})
    assert again == allowance  # the same AllowanceNumberPrefix again: the allowance already issued
    cancelled = client.one("Update/CancelAllowances", {"SellerID": COMPANY, "AllowanceNumber": number,
                                                       "CancelDate": at(5).isoformat()[:19],
                                                       "CancelReason": "折讓單誤開", "Remark": "說明備註"})
    assert cancelled["AllowanceNumber"] == number and "AuthCode" in cancelled
    assert client.one("Inquire/GetInvoicesStatus", {"CompanyID": COMPANY, "InvoiceID": "AA00000002"})[
        "ProcessStatus"] == "D1"
    types = [tuple(r) for r in store.read("SELECT message_type, reference FROM outbox ORDER BY id")]
    assert [t for t, _ in types] == ["F0401", "F0401", "F0401", "F0501", "G0401", "G0501"]


def test_the_error_cases(box: tuple[SystemLeadClient, TestClient], service: InvoiceService) -> None:
    client = box[0]
    assert "AuthCode" in client.one("Append/Invoices", invoice("AA00000000", at(10)))

    def refused(data: dict[str, Any], code: str) -> None:
        answer = client.one("Append/Invoices", data)
        assert "AuthCode" not in answer and f"[{code}]" in answer["Message"], answer
        assert answer["InvoiceID"] == data["InvoiceID"]

    refused(invoice("AB00001000", at(11)), "invoice_number.range")  # einvd's own range
    refused(invoice("AC00000000", at(11)), "invoice_number.range")  # another POS's range
    refused(invoice("ZZ00000000", at(11)), "invoice_number.range")  # held by nobody
    refused(invoice("AA00000000", at(11)), "invoice_number.conflict")  # used, with other content
    refused(invoice("AA00000000", at(10), RandomNumber="0001"), "invoice_number.conflict")
    refused(invoice("AA00000005", at(11)), "invoice_number.skipped")
    refused(invoice("AA00000001", at(9)), "issued_at.out_of_order")  # before AA00000000's time
    refused(invoice("AA00000001", at(11), relate="OD-AA00000000"), "order_id.conflict")
    refused(invoice("AA00000001", at(11), SalesAmount=999, TotalAmount=999), "amounts.sales.mismatch")
    assert "AuthCode" in client.one("Append/Invoices", invoice("AA00000001", at(11)))
    # einvd's own numbering never takes a number from a POS range (AA sorts before AB)
    assert service.issue(sale("OWN-1")).body["invoice_number"] == "AB00001000"
    # bad signature, wrong CompanyID: refused per item, the seed's message
    good = client.envelope(invoice("AA00000002", at(12)))
    bad = {**good, "Signature": good["Signature"][:-1] + ("0" if good["Signature"][-1] != "0" else "1")}
    other = client.envelope(invoice("AA00000002", at(12)), company="89430377")
    status, body = client.post("/systemlead/Append/Invoices", json.dumps([bad, other, good]).encode())
    assert status == 200 and body[0]["Message"] == "簽章驗證錯誤" and "CompanyID" in body[1]["Message"]
    assert body[2]["InvoiceID"] == "AA00000002" and "AuthCode" in body[2]
    status, body = client.post("/systemlead/Append/Invoices", b"{not json")
    assert status == 400 and "Message" in body[0]
    unserved = client.one("Append/PrintInvoices", {"RelateNumber": "O1"})
    assert "不支援" in unserved["Message"] and "/Append/Invoices" in unserved["Message"]
    wrong_seller = client.one("Update/CancelInvoices", {"SellerID": "89430377", "InvoiceNumber": "AA00000000",
                                                       "CancelReason": "x"})
    assert "CompanyID" in wrong_seller["Message"]
    missing = client.one("Inquire/GetInvoicesStatus", {"CompanyID": COMPANY, "InvoiceID": "AA00000099"})
    assert "[invoice.not_found]" in missing["Message"]


def test_a_used_number_below_the_cursor_is_refused(service: InvoiceService, store: Store) -> None:
    pos_ranges(store)
    service.prepare_numbered(sale("P0", issued_at=at(0).isoformat()), "AA00000000", POS)()
    service.prepare_numbered(sale("P1", issued_at=at(1).isoformat()), "AA00000001", POS)()
    with pytest.raises(Conflict) as used:
        service.prepare_numbered(sale("P-other", issued_at=at(2).isoformat()), "AA00000000", POS)()
    assert used.value.problems[0].code == "invoice_number.conflict"
    # a number below the cursor that was never stored here (the cursor came from a period close or another box)
    with store.write() as tx:
        tx.execute("UPDATE tracks SET last_no = 5 WHERE track = 'AA'")
    with pytest.raises(Conflict) as below:
        service.prepare_numbered(sale("P3", issued_at=at(3).isoformat()), "AA00000003", POS)()
    assert below.value.problems[0].code == "invoice_number.used"
    with pytest.raises(TrackError) as other:
        service.prepare_numbered(sale("P4", issued_at=at(3).isoformat()), "AA00000006", "pos2")()
    assert other.value.problems[0].code == "invoice_number.range"


def test_the_seeds_example_bodies(box: tuple[SystemLeadClient, TestClient], store: Store) -> None:
    """b2cJsonSample.md, CancelInvoice.md, InsertAllowance.md, CancelAllowance.md, GetInvoicesStatus.md and
    GetInvoiceIDList.md as written, only the seller, numbers and dates made this box's."""
    client = box[0]
    data = seed_body("b2cJsonSample.md")
    data.update({"CompanyID": COMPANY, "InvoiceID": "AA00000000", "InvoiceDateTime": at(0).isoformat()[:19]})
    # as written, the sample is neither printed nor on a carrier nor donated: the MOF's matrix refuses it
    assert "[print.required]" in client.one("Append/Invoices", data)["Message"]
    issued = client.one("Append/Invoices", {**data, "PrintMark": "Y"})
    assert issued["InvoiceID"] == "AA00000000" and "AuthCode" in issued, issued
    status = seed_body("GetInvoicesStatus.md")
    status.update({"CompanyID": COMPANY, "InvoiceID": "AA00000000"})
    assert client.one("Inquire/GetInvoicesStatus", status)["ProcessStatus"] == "I1"
    allowance = seed_body("InsertAllowance.md")
    allowance.update({"SellerID": COMPANY, "BuyerID": "0000000000"})
    allowance["Details"] = [{**d, "InvoiceNumber": "AA00000000"} for d in allowance["Details"]
                            if d["SequenceNumber"] == "003"]  # the seed's invoice has lines 001-003
    allowed = client.one("Update/AllowanceInvoice", allowance)
    assert "AuthCode" in allowed, allowed
    cancel_allowance = seed_body("CancelAllowance.md")
    cancel_allowance.update({"SellerID": COMPANY, "AllowanceNumber": allowed["AllowanceNumber"]})
    assert "AuthCode" in client.one("Update/CancelAllowances", cancel_allowance)
    b2b = seed_body("b2bJsonSample.md")  # upstream JSON misses a comma
    b2b.update({"CompanyID": COMPANY, "InvoiceID": "AA00000001", "InvoiceDateTime": at(1).isoformat()[:19]})
    refusal = client.one("Append/Invoices", b2b)["Message"]  # as written: a BAN failing its checksum, not printed
    assert "buyer.ban:" in refusal and "[print.required]" in refusal
    issued = client.one("Append/Invoices", {**b2b, "BuyerID": "53538851", "PrintMark": "Y"})
    assert "AuthCode" in issued, issued
    stored = store.read("SELECT random_number, buyer_ban, document FROM invoices WHERE number = 'AA00000001'")[0]
    assert (stored[0], stored[1]) == ("8943", "53538851")
    assert json.loads(stored[2])["buyer"]["name"] == "矽聯科技股份有限公司南區營業所"
    cancel = seed_body("CancelInvoice.md")  # upstream JSON has a trailing comma
    cancel.update({"SellerID": COMPANY, "InvoiceNumber": "AA00000000"})
    assert "AuthCode" in client.one("Update/CancelInvoices", cancel)
    # GetInvoiceIDList.md's request is an array of envelopes; its Data as written, this box's company and stage
    listing = client.many("Inquire/GetInvoiceIDList",
                          {"CompanyID": COMPANY, "StageYear": str(PERIOD.year)},
                          {"CompanyID": "34567890", "StageYear": str(PERIOD.year), "StageMonth": "8"})
    assert [(e["Word"], e["BeginNumber"], e["EndNumber"], e["Details"][0]["UseFor"]) for e in listing[0]["IDList"]] \
        == [("AA", "00000000", "00000099", POS)]  # only this POS's ranges
    assert listing[0]["IDList"][0]["Details"][0]["CurrentNumber"] == "00000002"
    assert listing[1]["IDList"] == []


def test_openapi_document_is_served(box: tuple[SystemLeadClient, TestClient]) -> None:
    document = box[1].get("/systemlead/openapi.json").json()
    assert {"/Append/Invoices", "/Update/CancelInvoices", "/Update/AllowanceInvoice", "/Update/CancelAllowances",
            "/Inquire/GetInvoicesStatus", "/Inquire/GetInvoiceIDList"} <= set(document["paths"])


def test_issued_invoices_drain_to_turnkey_as_valid_f0401(box: tuple[SystemLeadClient, TestClient], store: Store,
                                                         clock: FakeClock, tmp_path: Path) -> None:
    client = box[0]
    numbers = [f"AA{n:08d}" for n in range(3)]
    for n, number in enumerate(numbers):
        business: dict[str, Any] = {"BuyerID": "53538851", "BuyerInvoiceTitle": "買方公司", "TaxAmount": 9,
                                    "TotalAmount": 194}
        assert "AuthCode" in client.one("Append/Invoices", invoice(number, at(n), **(business if n else {})))
    outbox = store.read("SELECT message_type, reference FROM outbox ORDER BY id")
    assert [tuple(r) for r in outbox] == [("F0401", n) for n in numbers]
    root = tmp_path / "turnkey"
    turnkey = SimTurnkey(root, spec_dir(), party=SELLER.identifier).install()
    pump = Pump(store, LocalDrop(root, Layout(process_results="Unpack/BAK/ProcessResult")), SELLER, spec_schemas(),
                random.Random(1))
    try:
        pump.tick(clock.now())
        done = turnkey.tick(clock.now())
    finally:
        pump.close()
    assert sorted((m.code, m.reference, m.accepted, m.problems) for m in done) == [
        ("F0401", n, True, ()) for n in numbers]
    assert all("/F0401/BAK/" in m.path for m in done)
    assert client.one("Inquire/GetInvoicesStatus", {"CompanyID": COMPANY, "InvoiceID": "AA00000000"})[
        "ProcessStatus"] == "I2"


def test_cli_numbered_by(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text('[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市"\n\n'
                      '[store]\npath = "db.sqlite3"\n\n[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n',
                      encoding="utf-8")
    base = ["--config", str(config), "tracks"]
    assert cli.main([*base, "add", "--period", PERIOD.code, "--track", "AA", "--begin", "00000000", "--end",
                     "00000049", "--numbered-by", POS]) == 0
    csv_file = tmp_path / "ranges.csv"
    csv_file.write_text(f"period,invoice_type,track,begin,end\n{PERIOD.code},07,AB,00000000,00000049\n",
                        encoding="utf-8")
    assert cli.main([*base, "import", str(csv_file), "--numbered-by", "pos2"]) == 0
    capsys.readouterr()
    assert cli.main([*base, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["track"], r["numbered_by"]) for r in listed] == [("AA", POS), ("AB", "pos2")]
    with pytest.raises(SystemExit):
        cli.main([*base, "add", "--period", PERIOD.code, "--track", "AC", "--begin", "00000000", "--end",
                  "00000049", "--numbered-by", " bad name"])
    store = Store(tmp_path / "db.sqlite3")
    try:
        hold(store, PERIOD, "AD", 0, 0)
        assert [r[0] for r in store.read("SELECT numbered_by FROM tracks ORDER BY track")] == [POS, "pos2", None]
    finally:
        store.close()


def test_order_mode_numbers_from_einvds_own_ranges(box: tuple[SystemLeadClient, TestClient], store: Store) -> None:
    client = box[0]
    order = invoice("unused", at(0), relate="ORDER-1")
    del order["InvoiceID"], order["InvoiceDateTime"], order["RandomNumber"]
    first = client.one("Append/Orders", order)
    assert first["InvoiceID"] == "AB00001000" and first["RelateNumber"] == "ORDER-1" and "AuthCode" in first
    assert client.one("Append/Order", order) == first  # the same RelateNumber and content: the invoice issued
    other = client.one("Append/Orders", {**order, "SalesAmount": 130, "TotalAmount": 130, "Details": order[
        "Details"][:1]})
    assert "[order_id.conflict]" in other["Message"] and other["RelateNumber"] == "ORDER-1"
    assert store.read("SELECT count(*) FROM invoices")[0][0] == 1


def test_unused_numbers_of_pos_ranges_are_reported_blank(service: InvoiceService, store: Store) -> None:
    pos_ranges(store)
    for n in range(3):
        service.prepare_numbered(sale(f"P{n}", issued_at=at(n).isoformat()), f"AA{n:08d}", POS)()
    service.issue(sale("OWN"))
    assert close_period(store, PERIOD, SELLER.identifier, SELLER.identifier, PERIOD.end) is not None
    spans = {(r[0], r[1]) for r in store.read("SELECT track, spans FROM blank_reports")}
    assert spans == {("AA", "[[3, 99]]"), ("AB", "[[1001, 1049]]"), ("AC", "[[0, 9]]")}
    with pytest.raises(Conflict) as closed:  # the period is closed: nothing more from the POS range
        service.prepare_numbered(sale("P3", issued_at=at(3).isoformat()), "AA00000003", POS)()
    assert closed.value.problems[0].code == "period.closed"


def test_the_layer_needs_company_salt_and_pos(service: InvoiceService, clock: FakeClock) -> None:
    from daemon.compat import systemlead
    from daemon.config import ConfigError

    context = ApiContext.build(service, KEYS, now=lambda: clock.now().timestamp())
    try:
        for section in (CompatSection("systemlead", COMPANY, SALT), CompatSection("systemlead", COMPANY, "", pos=POS)):
            with pytest.raises(ConfigError, match=r"compat\.systemlead"):
                systemlead.build(context, section)
    finally:
        context.close()
