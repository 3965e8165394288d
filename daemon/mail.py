"""The consumer's e-mail notice: a durable queue (``mails``) and the worker that sends it through the merchant's
SMTP relay (``[notify.smtp]``).

- **Queued with the sale.** ``InvoiceService`` writes a ``mails`` row in the transaction that issues an invoice
  whose document has ``buyer.email``; ``notify_again`` (``einvd invoice notify``, ``POST
  /v1/invoices/{n}/notify``, ECPay's InvoiceNotify) writes another. A box that is offline keeps them and sends
  them once the relay answers again.
- **Sent by ``MailSender.tick``**, outside any database lock: the invoice (number, period, time, random number,
  amounts, items, carrier or donation) as text and HTML, with the two QR codes of the proof (the same payloads:
  ``turnkey.proof``) as PNG images shown inline by the HTML part (``cid:``).
- **Retries.** An unreachable relay or a 4xx answer is tried again with a jittered exponential backoff (30 s
  doubling to 1 h) up to ``max_attempts``; the other notices wait for the next tick. A refused recipient or message
  (5xx, RFC 5321 §4.2.1) is final. Either way a notice given up is ``FAILED`` and raises a ``mail.failed`` alert.
- **Exactly once per request, except after a crash**: the row is marked ``SENT`` right after the relay accepted
  the message. A crash (or a lost connection after the final ``250``) between the two sends it again on restart.
  Every try of one request carries the same ``Message-ID`` (invoice number, version and request id), so such a
  duplicate is recognisable (and most mail clients show it once); ``X-Einvd-Attempt`` counts the tries.
"""

from __future__ import annotations

import json
import logging
import random
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from daemon.alerts import raise_alert
from daemon.lifecycle import invoice_row
from daemon.policy.backoff import Backoff, after_failure
from daemon.ports import RandomSource
from daemon.services import ThreadCiphers, stored_draft
from daemon.store import Store, event, stamp
from daemon.store import mails as table
from daemon.store.mails import DueMail
from turnkey.errors import InvoiceInvalid, Problem, TurnkeyError
from turnkey.mail import LEFT_CID, RIGHT_CID, MailFacts, compose
from turnkey.model import CONSUMER_ID, Party
from turnkey.proof import ProofFacts, payloads
from turnkey.validate import is_email_address

log = logging.getLogger("einvd.mail")
RETRY = Backoff(timedelta(seconds=30), timedelta(hours=1))
ALERT_KIND = "mail.failed"

Transport = Callable[[EmailMessage], None]
"""Hands one message to the relay; raises ``smtplib.SMTPException`` or ``OSError`` when it was not accepted."""
QrImage = Callable[[bytes], bytes]
"""The PNG image of a QR code holding these bytes."""


def outcome(error: Exception) -> tuple[str, bool]:
    """A failed send as (error text, final): a 5xx refusal of the recipient or the message is final; an
    unreachable relay, a 4xx, a refused login or sender (the relay's settings, which a person fixes) are retried."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        text = "; ".join(f"{who}: {code} {_text(msg)}" for who, (code, msg)
                         in error.recipients.items())
        return f"recipient refused: {text}", bool(codes) and all(code >= 500 for code in codes)
    if isinstance(error, smtplib.SMTPDataError):
        return f"message refused: {error.smtp_code} {_text(error.smtp_error)}", error.smtp_code >= 500
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{type(error).__name__}: {error.smtp_code} {_text(error.smtp_error)}", False
    return f"{type(error).__name__}: {error}", False


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "einvd.invalid"


@dataclass(frozen=True)
class Sent:
    mail_id: int
    message_id: str


class MailSender:
    def __init__(self, store: Store, seller: Party, qr_key: bytes, qr_encoding: str, sender: str,
                 send: Transport, qr_image: QrImage, max_attempts: int = 10,
                 rng: RandomSource | None = None, batch: int = 20) -> None:
        self.store, self.seller, self.ciphers, self.qr_encoding = store, seller, ThreadCiphers(qr_key), qr_encoding
        self.sender, self.send, self.qr_image, self.max_attempts = sender, send, qr_image, max_attempts
        self.rng: RandomSource = rng or random.SystemRandom()
        self.batch = batch
        self.last_error = ""

    def tick(self, now: datetime) -> dict[str, int]:
        """Send the notices due; after a failure that is not the recipient's, the rest wait for the next tick."""
        counts = {"sent": 0, "retry": 0, "failed": 0}
        if not table.any_due(self.store.connection(), stamp(now)):
            return counts  # the common case: no read of the invoices, no write
        for row in table.due(self.store.connection(), stamp(now), self.batch):
            try:
                message = self.message(row, now)
            except (ValueError, TypeError, KeyError, AttributeError, TurnkeyError) as problem:  # unreadable document
                counts[self._failed(row, now, f"cannot write the notice: {problem}", True)] += 1
                continue
            try:
                self.send(message)
            except (smtplib.SMTPException, OSError) as problem:
                error, final = outcome(problem)
                state = self._failed(row, now, error, final)
                counts[state] += 1
                if state == "retry":
                    break
                continue
            with self.store.write() as tx:
                table.sent(tx, row.id, row.attempts + 1, stamp(now))
                event(tx, stamp(now), "invoice", row.number, "mail_sent", f"{row.address} {message['Message-ID']}")
            counts["sent"] += 1
            self.last_error = ""
        return counts

    def _failed(self, row: DueMail, now: datetime, error: str, final: bool) -> str:
        attempts = row.attempts + 1
        self.last_error = error
        with self.store.write() as tx:
            if after_failure(attempts, self.max_attempts, final) == "failed":
                table.failed(tx, row.id, attempts, error[:500], stamp(now))
                raise_alert(tx, ALERT_KIND, "mail", str(row.id), now,
                            f"the e-mail notice of invoice {row.number} to {row.address} was given up after "
                            f"{attempts} tries: {error}"[:500])
                log.error("mail %s (invoice %s to %s) failed: %s", row.id, row.number, row.address, error)
                return "failed"
            retry = stamp(now + RETRY.delay(attempts, self.rng))
            table.retry(tx, row.id, attempts, retry, error[:500], stamp(now))
        log.warning("mail %s (invoice %s): %s, next try %s", row.id, row.number, error, retry)
        return "retry"

    def message_id(self, row: DueMail) -> str:
        """The same for every try of one request: a duplicate sent after a crash is recognisable."""
        return f"<einvd.{row.number}.v{row.version}.m{row.id}@{domain_of(self.sender)}>"

    def facts(self, row: DueMail) -> MailFacts:
        draft = stored_draft(row)
        issued_at = datetime.fromisoformat(row.issued_at)
        buyer_ban = draft.buyer.ban if draft.buyer else None
        proof = payloads(ProofFacts(row.number, issued_at, row.random_number, buyer_ban or CONSUMER_ID,
                                    self.seller.identifier, draft.amounts, draft.tax_rate, draft.items),
                         self.ciphers.get(), self.qr_encoding)
        return MailFacts(row.number, issued_at, row.random_number, self.seller.name, self.seller.identifier,
                         buyer_ban, draft.amounts, draft.items, draft.carrier, draft.love_code, proof.qr_left,
                         proof.qr_right, resend=row.reason == "resend")

    def message(self, row: DueMail, now: datetime) -> EmailMessage:
        facts = self.facts(row)
        content = compose(facts)
        message = EmailMessage()
        message["Subject"] = content.subject
        message["From"] = Address(self.seller.name, addr_spec=self.sender)
        message["To"] = row.address
        message["Date"] = format_datetime(now)
        message["Message-ID"] = self.message_id(row)
        message["X-Einvd-Invoice"] = row.number
        message["X-Einvd-Attempt"] = str(row.attempts + 1)
        message.set_content(content.text)
        message.add_alternative(content.html, subtype="html")
        html = next(part for part in message.iter_parts() if part.get_content_type() == "text/html")
        assert isinstance(html, EmailMessage)
        codec = "cp950" if self.qr_encoding == "0" else "utf-8"  # as the printer encodes them (turnkey.proof)
        for name, cid, text in (("qr-left.png", LEFT_CID, facts.qr_left), ("qr-right.png", RIGHT_CID, facts.qr_right)):
            html.add_related(self.qr_image(text.encode(codec)), maintype="image", subtype="png", cid=f"<{cid}>",
                             filename=name, disposition="inline")
        return message


def notify_again(store: Store, number: str, now: datetime, address: str | None = None) -> dict[str, Any]:
    """Queue the notice of invoice ``number`` (its newest version) again, to ``address`` or to the document's
    ``buyer.email``: the resend behind ``einvd invoice notify``, ``POST /v1/invoices/{n}/notify`` and ECPay's
    InvoiceNotify. ``email.missing`` when neither gives an address, ``email.format`` for a bad one."""
    with store.write() as tx:
        row = invoice_row(tx, number)
        if address is None:
            buyer = json.loads(row.document).get("buyer") or {}
            address = str(buyer.get("email") or "")
            if not address:
                raise InvoiceInvalid(Problem("email.missing", "email",
                                             f"invoice {number} has no buyer.email: give the address to send to"))
        if not is_email_address(address):
            raise InvoiceInvalid(Problem("email.format", "email", "email must be an e-mail address"))
        mail_id = table.enqueue(tx, row.id, address, "resend", stamp(now))
        event(tx, stamp(now), "invoice", number, "mail_requested", address)
    return {"invoice_number": number, "mail_id": mail_id, "address": address, "state": "READY"}

