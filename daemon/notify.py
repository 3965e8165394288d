"""Alerts that reach a person. An alert row (``alerts.raise_alert``) is new until the notifier takes it
(``alerts.notified_at``): it is logged at once (error for missed deadlines and failed messages, else warning;
journald keeps the priority), and gets a delivery row per further channel, tried by later ticks:

- ``webhook``: a JSON POST (kind, entity, entity_id, message, raised_at, due_at, box) to ``alerts.webhook_url``,
  at most one per alert kind an hour (policy/alerting.py): a lone alert goes as itself; several of a kind that
  waited go as one summary (``"summary": true``, count, oldest, newest, the first entity ids, first/last alert id),
  and each alert's delivery row is marked sent with the summary's time (``alerts.carried_with`` finds the rest);
  with ``X-Einvd-Signature: sha256=<hex HMAC-SHA256 of the body>`` when a secret is set. Failures are retried
  with a jittered exponential backoff (30 s doubling to 1 h) up to ``webhook_max_attempts``; a 4xx answer
  other than 408/429 is final. Each request has a timeout and no database lock is held while it runs, and the
  rest wait for the next tick after a failure, so a dead endpoint costs one timeout per tick and never holds
  up issuing.
- ``printer``: for the kinds in ``alerts.print_kinds``, at most one notice per kind an hour on the receipt
  printer, through the same ESC/POS encoder and device as the proofs and from the print job's thread
  (``print_due``), so a notice never interleaves with a proof. The first alert of a quiet kind prints at once as
  itself (title, time, kind, message), even when others of its kind came with it; the ones that follow print an
  hour later as one summary (title, count, kind, oldest and newest with their times, the first entity ids:
  ``summary_doc``), and each alert's printer delivery row is marked sent with it. A failure (paper out) retries
  the notice whole, with what joined it meanwhile, with the webhook's backoff and ``webhook_max_attempts``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta

from daemon.config import AlertSettings
from daemon.policy.alerting import Message, Waiting, due_times, print_messages, webhook_messages
from daemon.policy.backoff import Backoff, after_failure, http_outcome
from daemon.ports import Encoder, Printer, PrintFailed, RandomSource
from daemon.store import Store, stamp
from daemon.store import alerts as table
from daemon.store.alerts import Alert
from turnkey.period import taipei
from turnkey.proof_layout import CENTER, Element, ProofDoc, Rule, Slip, Text

log = logging.getLogger("einvd.alerts")
ERROR_KINDS = frozenset({"deadline.missed", "verdict.missing", "outbox.failed", "e0402.missed"})
NOTICE_TITLE = "einvd 系統通知"
RETRY = Backoff(timedelta(seconds=30), timedelta(hours=1))
PRINT_EVERY = timedelta(hours=1)  # at most one printed notice per alert kind in this time
SUMMARY_EVERY = timedelta(hours=1)  # at most one webhook message per alert kind in this time

Post = Callable[[str, bytes, dict[str, str], float], int]
"""Sends one POST (url, body, headers, timeout) and returns the HTTP status; raises OSError when unreachable."""


def urllib_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # http(s) only: checked in config
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def level(kind: str) -> int:
    return logging.ERROR if kind in ERROR_KINDS else logging.WARNING


def notice_doc(alert: Alert) -> ProofDoc:
    """The printed notice: title, when, what, the message (wrapped by the encoder), the deadline if any."""
    raised = taipei(datetime.fromisoformat(alert.raised_at))
    elements: list[Element] = [Text(NOTICE_TITLE, large=True, align=CENTER), Text(f"{raised:%Y-%m-%d %H:%M}"),
                               Text(alert.kind), Rule(), Text(str(alert.message)[:240])]
    if alert.due_at:
        elements.append(Text(f"due {taipei(datetime.fromisoformat(alert.due_at)):%Y-%m-%d %H:%M}"))
    return ProofDoc(f"alert-{alert.id}", (Slip("notice", tuple(elements)),))


def _when(at: datetime) -> str:
    return f"{taipei(at):%Y-%m-%d %H:%M}"


def summary_doc(message: Message) -> ProofDoc:
    """The printed summary of several alerts of a kind: title, how many of what, the oldest and the newest (when,
    which), the first entity ids. As short for thirty thousand alerts as for two."""
    old, new = message.oldest, message.newest
    elements: list[Element] = [
        Text(NOTICE_TITLE, large=True, align=CENTER), Text(f"{message.count} alerts"), Text(message.kind), Rule(),
        Text(f"oldest {_when(old.raised_at)}"), Text(f"  {old.entity} {old.entity_id}"[:64]),
        Text(f"newest {_when(new.raised_at)}"), Text(f"  {new.entity} {new.entity_id}"[:64]),
        Text("first: " + ", ".join(message.sample())[:160])]
    return ProofDoc(f"alerts-{message.alert_ids[0]}-{message.alert_ids[-1]}", (Slip("notice", tuple(elements)),))


class Notifier:
    def __init__(self, store: Store, conf: AlertSettings, box: str = "", post: Post = urllib_post,
                 printer: Printer | None = None, encoder: Encoder | None = None,
                 rng: RandomSource | None = None) -> None:
        self.store, self.conf, self.box, self.post = store, conf, box, post
        self.printer, self.encoder = printer, encoder
        self.rng: RandomSource = rng or random.SystemRandom()
        self.last_error = ""
        self._quiet_until: datetime | None = None  # no webhook message can be due before this (None: look)
        self._print_quiet_until: datetime | None = None  # the same for printed notices
        self._taken = 0  # alerts taken so far: the print thread's quiet time holds only if none came meanwhile

    @property
    def printing(self) -> bool:
        return self.conf.print_notices and self.printer is not None and self.encoder is not None

    def tick(self, now: datetime) -> dict[str, int]:
        """Take new alerts, then send the webhooks that are due."""
        taken = self.take_new(now)
        sent, failed = self.send_webhooks(now)
        return {"new": taken, "webhook_sent": sent, "webhook_failed": failed}

    def take_new(self, now: datetime) -> int:
        if not table.any_unnotified(self.store.connection()):
            return 0  # the common case: no write transaction (and no fsync) every tick
        at = stamp(now)
        with self.store.write() as tx:
            alerts = table.unnotified(tx)
            for alert in alerts:
                log.log(level(alert.kind), "alert %s %s %s: %s", alert.kind, alert.entity, alert.entity_id,
                        alert.message)
                table.add_deliveries(tx, alert.id, self._channels(alert), at)
                table.mark_notified(tx, alert.id, at)
        self._taken += len(alerts)
        self._quiet_until = self._print_quiet_until = None  # a new kind may go at once
        return len(alerts)

    def _channels(self, alert: Alert) -> list[str]:
        """The webhook when one is set; the printer for the kinds configured. Each alert gets its delivery rows;
        the messages that carry them are one per kind an hour (policy/alerting.py), so an outage that raises a
        deadline alert per invoice prints one slip an hour, not one per invoice."""
        channels = ["webhook"] if self.conf.webhook_url else []
        if self.printing and alert.kind in self.conf.print_kinds:
            channels.append("printer")
        return channels

    def _waiting(self, channel: str) -> list[Waiting]:
        return [Waiting(i, kind, entity, entity_id, datetime.fromisoformat(raised), datetime.fromisoformat(nb),
                        attempts)
                for i, kind, entity, entity_id, raised, nb, attempts in table.pending_rows(self.store.connection(),
                                                                                          channel)]

    def body(self, message: Message) -> bytes:
        """One alert as it always was; a summary (``"summary": true``) gives how many, the oldest and newest, the
        first entity ids and its first and last alert ids (the store knows every one it carried:
        ``alerts.carried_with``), and its ``message`` says so in words. A summary stays small however many."""
        alert = message.alerts[0]
        if message.count == 1:
            full = table.alert_by_id(self.store.connection(), alert.alert_id)
            payload: dict[str, object] = {
                "id": alert.alert_id, "kind": alert.kind, "entity": alert.entity, "entity_id": alert.entity_id,
                "message": full.message if full else "", "raised_at": full.raised_at if full else "",
                "due_at": full.due_at if full else None, "box": self.box}
        else:
            oldest, newest = message.oldest, message.newest
            payload = {"summary": True, "kind": message.kind, "count": message.count, "box": self.box,
                       "message": message.summary_text(), "entity": oldest.entity,
                       "oldest": {"id": oldest.alert_id, "entity_id": oldest.entity_id,
                                  "raised_at": stamp(oldest.raised_at)},
                       "newest": {"id": newest.alert_id, "entity_id": newest.entity_id,
                                  "raised_at": stamp(newest.raised_at)},
                       "first_entity_ids": list(message.sample()), "first_alert_id": message.alert_ids[0],
                       "last_alert_id": message.alert_ids[-1]}
        return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")

    def _messages(self, now: datetime) -> list[Message]:
        if self._quiet_until is not None and now < self._quiet_until:
            return []  # a storm waiting for its hourly summary: no need to read its thousands of rows each tick
        conn = self.store.connection()
        if not table.any_pending(conn, "webhook", stamp(now)):
            return []
        waiting = self._waiting("webhook")
        last = {kind: datetime.fromisoformat(at)
                for kind, at in table.last_sent_by_kind(conn, "webhook", stamp(now - SUMMARY_EVERY)).items()}
        messages = webhook_messages(waiting, last, now, SUMMARY_EVERY)
        going = {m.kind for m in messages}
        later = [at for kind, at in due_times(waiting, last, SUMMARY_EVERY).items() if kind not in going]
        self._quiet_until = min(later) if later else None
        return messages

    def send_webhooks(self, now: datetime) -> tuple[int, int]:
        """POST the messages due (policy/alerting.py: one per kind an hour, carrying every alert of its kind that
        waits); the rest wait after the first one that does not get through. Returns the alerts sent and failed
        for good. The settings are read once (a reload swaps ``conf`` whole); without a URL the deliveries wait."""
        conf = self.conf
        sent = failed = 0
        if not conf.webhook_url:
            return sent, failed
        for message in self._messages(now):
            body = self.body(message)
            headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "einvd",
                       "X-Einvd-Alert-Id": str(message.alerts[0].alert_id),
                       "X-Einvd-Alert-Count": str(message.count)}
            if conf.webhook_secret:
                headers["X-Einvd-Signature"] = signature(conf.webhook_secret, body)
            try:
                error, final = http_outcome(self.post(conf.webhook_url, body, headers, conf.webhook_timeout))
            except OSError as problem:  # URLError, timeouts and refused connections are OSErrors
                error, final = f"{type(problem).__name__}: {problem}", False
            if not error:
                with self.store.write() as tx:
                    table.message_sent(tx, message.alert_ids, "webhook", message.attempts + 1, stamp(now))
                sent += message.count
                continue
            self._quiet_until = None  # the retry may come before the next kind's hour is up
            failed += self._failed("webhook", message, now, error, final)
            break
        return sent, failed

    def _failed(self, channel: str, message: Message, now: datetime, error: str, final: bool) -> int:
        """Retried later, or failed for good (logged as an error): the alerts failed for good."""
        attempts, ids = message.attempts + 1, message.alert_ids
        self.last_error = f"{channel}: {error}"
        with self.store.write() as tx:
            if after_failure(attempts, self.conf.webhook_max_attempts, final) == "failed":
                table.message_failed(tx, ids, channel, attempts, error[:500])
                log.error("alert %s (%s, %d in the message) could not be sent by %s: %s", ids[0],
                          message.kind, len(ids), channel, error)
                return len(ids)
            retry = stamp(now + RETRY.delay(attempts, self.rng))
            table.message_retry(tx, ids, channel, attempts, retry, error[:500])
        log.warning("alert %s (%s, %d in the message): %s failed (%s), next try %s", ids[0], message.kind,
                    len(ids), channel, error, retry)
        return 0

    def _print_messages(self, now: datetime) -> list[Message]:
        """The notices due (policy/alerting.py ``print_messages``); notes when the next one can be due."""
        if self._print_quiet_until is not None and now < self._print_quiet_until:
            return []  # called every 2 s: a storm waiting for its summary is not read again each time
        conn = self.store.connection()
        if not table.any_pending(conn, "printer", stamp(now)):
            return []
        taken = self._taken
        waiting = self._waiting("printer")
        since = min(a.raised_at for a in waiting) - PRINT_EVERY  # how far back "quiet" looks
        last = {kind: datetime.fromisoformat(at)
                for kind, at in table.last_sent_by_kind(conn, "printer", stamp(since)).items()}
        messages = print_messages(waiting, last, now, PRINT_EVERY)
        going = {m.kind for m in messages}
        later = [at for kind, at in due_times(waiting, last, PRINT_EVERY, first_alone=True).items()
                 if kind not in going]
        if taken == self._taken:  # else an alert came meanwhile: look again next time
            self._print_quiet_until = min(later) if later else None
        return messages

    def print_due(self, now: datetime) -> int:
        """Print the notices due (call from the thread that prints proofs): one per kind, a lone alert as itself,
        several as one summary; the number of alerts they carried. A failure retries the notice whole later."""
        if not self.printing:
            return 0
        assert self.printer is not None and self.encoder is not None
        printed = 0
        for message in self._print_messages(now):
            doc = summary_doc(message) if message.count > 1 else self._lone_doc(message)
            try:
                self.printer.print_job(self.encoder(doc))
            except PrintFailed as failure:
                self._print_quiet_until = None
                self._failed("printer", message, now, f"{failure.code}: {failure}", False)
                break
            with self.store.write() as tx:
                table.message_sent(tx, message.alert_ids, "printer", message.attempts + 1, stamp(now))
            printed += message.count
        return printed

    def _lone_doc(self, message: Message) -> ProofDoc:
        full = table.alert_by_id(self.store.connection(), message.alerts[0].alert_id)
        return notice_doc(full) if full is not None else summary_doc(message)
