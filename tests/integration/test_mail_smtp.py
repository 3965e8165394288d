"""The consumer's e-mail notice end to end: issued with buyer.email, queued in the issue transaction, sent by
``MailSender`` through the real SMTP driver to a real SMTP server (aiosmtpd) on loopback, read back, and its QR
images decoded (zxing-cpp) to the proof's payloads; an outage then recovery; a refused recipient; the resend."""

from __future__ import annotations

import email
import email.policy
import io
import json
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from api_harness import running
from conftest import KEY, SELLER, sale
from PIL import Image

from daemon.__main__ import main
from daemon.client import Client
from daemon.config import ConfigError, load
from daemon.mail import MailSender, notify_again, outcome
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.store import mails as table
from daemon.wiring.mail import mail_sender
from drivers.smtp import SmtpRelay, qr_png
from hw_sim.clock import FakeClock
from turnkey.errors import InvoiceInvalid
from turnkey.period import TAIPEI, Period

SENDER = "shop@example.tw"


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and refuses the addresses in ``refused`` with a 550."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refused: set[str] = set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address in self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK queued"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def server(mailbox: Mailbox, port: int) -> Iterator[Controller]:
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller
    controller.stop()


def sender(store: Store, port: int, max_attempts: int = 5) -> MailSender:
    relay = SmtpRelay("127.0.0.1", port, "none", timeout=5.0)
    return MailSender(store, SELLER, KEY, "1", SENDER, relay.send, qr_png, max_attempts, random.Random(3))


def qr_texts(message: EmailMessage) -> dict[str, str]:
    """The text of each QR image of the message, by file name."""
    found = {}
    for part in message.walk():
        if part.get_content_type() == "image/png":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(payload)).convert("L"))
            assert len(codes) == 1 and codes[0].format == zxingcpp.BarcodeFormat.QRCode
            found[str(part.get_filename())] = codes[0].text
    return found


def mail_rows(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.read("SELECT address, reason, state, attempts, last_error FROM mails ORDER BY id")]


def test_the_notice_is_queued_with_the_sale_and_arrives_with_the_proofs_qr_codes(
        service: InvoiceService, store: Store, clock: FakeClock, server: Controller, mailbox: Mailbox,
        port: int) -> None:
    items = [{"description": "拿鐵", "quantity": 2, "unit": "杯", "unit_price": 65, "amount": 130},
             {"description": "可頌", "quantity": 1, "unit_price": 55, "amount": 55}]
    body = service.issue(sale("M-1", items=items, buyer={"name": "王小明", "email": "wang@example.tw"},
                              carrier={"type": "3J0002", "id": "/ABC+123"})).body
    service.issue(sale("M-2"))  # no address: no notice
    assert mail_rows(store) == [("wang@example.tw", "issue", "READY", 0, "")]

    assert sender(store, port).tick(clock.now()) == {"sent": 1, "retry": 0, "failed": 0}
    assert mailbox.envelopes == [(SENDER, ["wang@example.tw"])]
    message = mailbox.messages[0]
    number = body["invoice_number"]
    assert number in str(message["Subject"]) and message["To"] == "wang@example.tw"
    assert message["Message-ID"] == f"<einvd.{number}.v1.m1@example.tw>"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    for shown in (f"{number[:2]}-{number[2:]}", body["random_number"], "2026-11-21 14:03:00", "NT$ 185", "拿鐵",
                  "可頌", "手機條碼 /ABC+123", "115年11-12月"):
        assert shown in plain
    assert 'src="cid:qr-left@einvd"' in html.get_content()
    assert qr_texts(message) == {"qr-left.png": body["qr_left"], "qr-right.png": body["qr_right"]}
    assert mail_rows(store) == [("wang@example.tw", "issue", "SENT", 1, "")]
    assert sender(store, port).tick(clock.now()) == {"sent": 0, "retry": 0, "failed": 0}  # exactly once
    assert len(mailbox.messages) == 1


def test_an_smtp_outage_is_retried_with_backoff_and_sent_once_the_relay_is_back(
        service: InvoiceService, store: Store, clock: FakeClock, mailbox: Mailbox, port: int) -> None:
    service.issue(sale("M-1", buyer={"email": "a@example.tw"}))
    service.issue(sale("M-2", buyer={"email": "b@example.tw"}))
    mailer = sender(store, port)
    assert mailer.tick(clock.now()) == {"sent": 0, "retry": 1, "failed": 0}  # refused connection: the rest wait
    rows = mail_rows(store)
    assert rows[0][2:4] == ("READY", 1) and "ConnectionRefusedError" in rows[0][4]
    assert rows[1][2:4] == ("READY", 0)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()  # the relay is back
    try:
        clock.advance(seconds=10)  # the first waits 15-30 s after its first try; the second was never tried
        assert mailer.tick(clock.now()) == {"sent": 1, "retry": 0, "failed": 0}
        assert [m["To"] for m in mailbox.messages] == ["b@example.tw"]
        clock.advance(seconds=30)
        assert mailer.tick(clock.now()) == {"sent": 1, "retry": 0, "failed": 0}
    finally:
        controller.stop()
    assert [r[2] for r in mail_rows(store)] == ["SENT", "SENT"]
    assert sorted(m["To"] for m in mailbox.messages) == ["a@example.tw", "b@example.tw"]
    first = next(m for m in mailbox.messages if m["To"] == "a@example.tw")
    assert first["X-Einvd-Attempt"] == "2"


def test_a_refused_recipient_fails_for_good_and_raises_an_alert(
        service: InvoiceService, store: Store, clock: FakeClock, server: Controller, mailbox: Mailbox,
        port: int) -> None:
    mailbox.refused.add("gone@example.tw")
    service.issue(sale("M-1", buyer={"email": "gone@example.tw"}))
    service.issue(sale("M-2", buyer={"email": "here@example.tw"}))
    assert sender(store, port).tick(clock.now()) == {"sent": 1, "retry": 0, "failed": 1}
    rows = mail_rows(store)
    assert rows[0][2:4] == ("FAILED", 1) and "550" in rows[0][4]
    assert rows[1][2] == "SENT"
    alerts = store.read("SELECT kind, entity, entity_id, message FROM alerts")
    assert [(a[0], a[1], a[2]) for a in alerts] == [("mail.failed", "mail", "1")]
    assert "gone@example.tw" in alerts[0][3]


def test_resend_queues_a_new_request_with_its_own_message_id(
        service: InvoiceService, store: Store, clock: FakeClock, server: Controller, mailbox: Mailbox,
        port: int) -> None:
    number = service.issue(sale("M-1", buyer={"email": "a@example.tw"})).body["invoice_number"]
    other = service.issue(sale("M-2")).body["invoice_number"]
    mailer = sender(store, port)
    mailer.tick(clock.now())
    assert notify_again(store, number, clock.now())["address"] == "a@example.tw"
    assert notify_again(store, number, clock.now(), "c@example.tw")["mail_id"] == 3
    with pytest.raises(InvoiceInvalid) as missing:
        notify_again(store, other, clock.now())
    assert missing.value.problems[0].code == "email.missing"
    with pytest.raises(InvoiceInvalid) as bad:
        notify_again(store, other, clock.now(), "not an address")
    assert bad.value.problems[0].code == "email.format"
    assert mailer.tick(clock.now())["sent"] == 2
    assert [m["Message-ID"] for m in mailbox.messages] == [
        f"<einvd.{number}.v1.m{n}@example.tw>" for n in (1, 2, 3)]
    assert str(mailbox.messages[1]["Subject"]).startswith("(補寄)")
    assert [(r.reason, r.state, r.address) for r in table.of_invoice(store.connection(), 1)] == [
        ("issue", "SENT", "a@example.tw"), ("resend", "SENT", "a@example.tw"), ("resend", "SENT", "c@example.tw")]


def test_outcome_classifies_smtp_answers() -> None:
    import smtplib
    assert outcome(smtplib.SMTPRecipientsRefused({"a@b.tw": (450, b"busy")})) == ("recipient refused: a@b.tw: 450 busy",
                                                                                  False)
    assert outcome(smtplib.SMTPDataError(554, b"spam"))[1] is True
    assert outcome(smtplib.SMTPDataError(451, "later"))[1] is False
    assert outcome(smtplib.SMTPAuthenticationError(535, b"bad login")) == (
        "SMTPAuthenticationError: 535 bad login", False)  # the relay's settings: a person fixes them, then it goes
    assert outcome(smtplib.SMTPServerDisconnected("gone")) == ("SMTPServerDisconnected: gone", False)


def test_the_api_and_the_cli_queue_a_resend(service: InvoiceService, store: Store, clock: FakeClock,
                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    number = service.issue(sale("M-1", buyer={"email": "a@example.tw"})).body["invoice_number"]
    plain = service.issue(sale("M-2")).body["invoice_number"]
    with running(service, clock) as api:
        status, answer = api.call("POST", f"/v1/invoices/{number}/notify", key="pos")
        assert (status, answer) == (202, {"invoice_number": number, "mail_id": 2, "address": "a@example.tw",
                                          "state": "READY"})
        assert api.call("POST", f"/v1/invoices/{plain}/notify", {"email": "b@example.tw"})[1]["mail_id"] == 3
        assert api.codes("POST", f"/v1/invoices/{plain}/notify") == (422, ["email.missing"])
        assert api.codes("POST", f"/v1/invoices/{plain}/notify", {"email": "b@x.tw\r\nBcc: c@x.tw"}) == (
            422, ["email.format"])
        assert api.codes("POST", f"/v1/invoices/{plain}/notify", {"to": "b@x.tw"})[0] == 422
        assert api.codes("POST", "/v1/invoices/AB99999999/notify")[0] == 404
    config = tmp_path / "einvd.toml"
    config.write_text('[store]\npath = "einvd.sqlite3"\n')
    assert main(["--config", str(config), "invoice", "notify", number, "--to", "c@example.tw"]) == 0
    assert json.loads(capsys.readouterr().out)["address"] == "c@example.tw"
    assert main(["--config", str(config), "invoice", "notify", plain]) == 1
    assert [(r[0], r[1], r[2]) for r in mail_rows(store)] == [
        ("a@example.tw", "issue", "READY"), ("a@example.tw", "resend", "READY"), ("b@example.tw", "resend", "READY"),
        ("c@example.tw", "resend", "READY")]


def test_the_sender_is_built_from_notify_smtp(tmp_path: Path, store: Store, port: int, server: Controller,
                                              mailbox: Mailbox, service: InvoiceService, clock: FakeClock) -> None:
    config = tmp_path / "einvd.toml"
    base = (f'[seller]\nban = "{SELLER.identifier}"\nname = "{SELLER.name}"\naddress = "{SELLER.address}"\n'
            f'[qr]\nkey = "{KEY.hex().upper()}"\n')
    config.write_text(base)
    assert mail_sender(load(config), store, random.Random(1)) is None  # no relay: the notices wait
    config.write_text(base + f'[notify.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                             'from = "shop@example.tw"\nmax_attempts = 2\n')
    mailer = mail_sender(load(config), store, random.Random(1))
    assert mailer is not None and mailer.max_attempts == 2
    service.issue(sale("M-1", buyer={"email": "a@example.tw"}))
    assert mailer.tick(clock.now())["sent"] == 1
    assert str(mailbox.messages[0]["From"]) == f"{SELLER.name} <shop@example.tw>"


@pytest.mark.parametrize(("table_text", "error"), [
    ('host = "relay"\n', "notify.smtp.from"),
    ('security = "tls"\n', "notify.smtp.security"),
    ("port = 0\n", "notify.smtp.port"),
    ("timeout = 0\n", "notify.smtp.timeout"),
    ("max_attempts = 0\n", "notify.smtp.max_attempts"),
])
def test_bad_smtp_settings_name_the_key(tmp_path: Path, table_text: str, error: str) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text("[notify.smtp]\n" + table_text)
    with pytest.raises(ConfigError, match=error):
        load(config)


def test_the_password_may_come_from_the_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "einvd-smtp").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    config = tmp_path / "einvd.toml"
    config.write_text('[notify.smtp]\nhost = "relay"\nfrom = "a@b.tw"\nuser = "shop"\n')
    assert load(config).smtp.password == "s3cret"
    config.write_text('[notify.smtp]\nhost = "relay"\nfrom = "a@b.tw"\nuser = "shop"\npassword = "given"\n')
    assert load(config).smtp.password == "given"


def tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts for a self-signed 127.0.0.1 certificate made by ``einvd tls cert``."""
    assert main(["tls", "cert", "--out", str(tmp_path), "--host", "127.0.0.1"]) == 0
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(tmp_path / "einvd-api.crt", tmp_path / "einvd-api.key")
    return served, ssl.create_default_context(cafile=str(tmp_path / "einvd-api.crt"))


def login_check(logins: list[tuple[bytes, bytes]]) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login, data.password))
        ok = data.password == b"s3cret"
        return AuthResult(success=ok, handled=ok)  # handled=False: aiosmtpd answers the refusal (535)

    return check


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_the_relay_is_reached_over_tls_with_a_login(
        security: str, service: InvoiceService, store: Store, clock: FakeClock, mailbox: Mailbox, port: int,
        tmp_path: Path) -> None:
    served, client = tls_pair(tmp_path)
    logins: list[tuple[bytes, bytes]] = []
    # aiosmtpd offers AUTH only after its own STARTTLS when auth_require_tls is set: over implicit TLS the
    # connection is encrypted from the start, so the flag is off there
    tls: dict[str, Any] = ({"tls_context": served, "require_starttls": True, "auth_require_tls": True}
                           if security == "starttls" else {"ssl_context": served, "auth_require_tls": False})
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=login_check(logins),
                            auth_required=True, server_hostname="127.0.0.1", **tls)
    controller.start()
    try:
        service.issue(sale("M-1", buyer={"email": "a@example.tw"}))
        wrong = SmtpRelay("127.0.0.1", port, security, "shop", "wrong", 5.0, client)
        refused = MailSender(store, SELLER, KEY, "1", SENDER, wrong.send, qr_png, 5, random.Random(3))
        assert refused.tick(clock.now()) == {"sent": 0, "retry": 1, "failed": 0}  # a bad login is retried
        assert "535" in refused.last_error
        right = SmtpRelay("127.0.0.1", port, security, "shop", "s3cret", 5.0, client)
        clock.advance(seconds=60)
        mailer = MailSender(store, SELLER, KEY, "1", SENDER, right.send, qr_png, 5, random.Random(3))
        assert mailer.tick(clock.now()) == {"sent": 1, "retry": 0, "failed": 0}
    finally:
        controller.stop()
    assert set(logins[:-1]) == {(b"shop", b"wrong")} and logins[-1] == (b"shop", b"s3cret")  # smtplib tries
    # each mechanism the relay offers (PLAIN, then LOGIN) before it gives up a login
    assert [m["To"] for m in mailbox.messages] == ["a@example.tw"]


def test_a_crash_after_the_relay_accepted_sends_again_with_the_same_message_id(
        service: InvoiceService, store: Store, clock: FakeClock, server: Controller, mailbox: Mailbox,
        port: int) -> None:
    relay = SmtpRelay("127.0.0.1", port, "none", timeout=5.0)

    def accepted_then_crash(message: EmailMessage) -> None:
        relay.send(message)
        raise KeyboardInterrupt  # the process dies before the row is marked SENT

    service.issue(sale("M-1", buyer={"email": "a@example.tw"}))
    crashing = MailSender(store, SELLER, KEY, "1", SENDER, accepted_then_crash, qr_png, 5, random.Random(3))
    with pytest.raises(KeyboardInterrupt):
        crashing.tick(clock.now())
    assert mail_rows(store)[0][2:4] == ("READY", 0)
    assert sender(store, port).tick(clock.now())["sent"] == 1  # after the restart
    assert len(mailbox.messages) == 2
    assert mailbox.messages[0]["Message-ID"] == mailbox.messages[1]["Message-ID"]  # a recognisable duplicate


def test_einvd_run_mails_the_sale_and_the_resend(tmp_path: Path, mailbox: Mailbox, server: Controller,
                                                port: int) -> None:
    """The mail job of a real ``einvd run`` process, the invoice issued and the resend asked through the API."""
    api_port = free_port()
    secret = "mail-run-secret-0123456789-abcdefghij"
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.pos]\nsecret = "{secret}"\npermissions = ["issue"]\n', encoding="utf-8")
    keys.chmod(0o600)
    config = tmp_path / "einvd.toml"
    config.write_text(
        f'[seller]\nban = "{SELLER.identifier}"\nname = "{SELLER.name}"\naddress = "{SELLER.address}"\n'
        f'[qr]\nkey = "{KEY.hex().upper()}"\n[turnkey]\ndrop = "sim:turnkey"\n'
        f'[api]\nlisten = "127.0.0.1:{api_port}"\nkeys_file = "keys.toml"\n'
        f'[notify.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nfrom = "{SENDER}"\n', encoding="utf-8")
    period = Period.of(datetime.now(TAIPEI)).code
    assert main(["--config", str(config), "tracks", "add", "--period", period, "--track", "AB", "--begin",
                 "00000000", "--end", "00000049"]) == 0
    process = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(config), "run"],
                               stderr=subprocess.PIPE, text=True)
    try:
        client = Client(f"http://127.0.0.1:{api_port}", "pos", secret.encode())
        issued = until(lambda: client_call(client, "POST", "/v1/invoices",
                                           sale("RUN-1", buyer={"email": "run@example.tw"}, print=False,
                                                carrier={"type": "3J0002", "id": "/ABC+123"})))
        number = issued["invoice_number"]
        until(lambda: len(mailbox.messages) == 1)
        assert client.request("POST", f"/v1/invoices/{number}/notify", {"email": "again@example.tw"})[0] == 202
        until(lambda: len(mailbox.messages) == 2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        assert process.stderr is not None
        print(process.stderr.read())  # shown when the test fails
    assert [m["To"] for m in mailbox.messages] == ["run@example.tw", "again@example.tw"]
    assert qr_texts(mailbox.messages[0])["qr-left.png"] == issued["qr_left"]


def client_call(client: Client, method: str, path: str, document: Any) -> Any:
    try:
        status, body = client.request(method, path, document)
    except OSError:
        return None  # not listening yet
    assert status in (200, 201), (status, body)
    return body


def until(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_notice_that_cannot_be_written_fails_alone(service: InvoiceService, store: Store, clock: FakeClock,
                                                     server: Controller, mailbox: Mailbox, port: int) -> None:
    service.issue(sale("M-1", buyer={"email": "a@example.tw"}))
    service.issue(sale("M-2", buyer={"email": "b@example.tw"}))
    with store.write() as tx:  # a stored document this release cannot read (written by hand, say)
        tx.execute("UPDATE invoices SET document = ? WHERE order_id = 'M-1'", ('{"items": 7}',))
    assert sender(store, port).tick(clock.now()) == {"sent": 1, "retry": 0, "failed": 1}
    assert [r[2] for r in mail_rows(store)] == ["FAILED", "SENT"]
    assert "cannot write the notice" in mail_rows(store)[0][4]
    assert [m["To"] for m in mailbox.messages] == ["b@example.tw"]
