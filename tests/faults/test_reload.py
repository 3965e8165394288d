"""``systemctl reload einvd`` under signed load: a real ``einvd run`` gets SIGHUP while client threads issue.

The key file is rewritten (a new key added, the old one removed) and the daemon told to reload: no request fails
but those signed with the old key after the reload (401 ``auth.signature``), the new key works at once, and every
acknowledged invoice is in the database. Then a broken configuration and an unreadable key file: the daemon runs
on with what it had, logs why and raises ``config.reload_failed``; a good file with a changed listen address is
taken with that setting reported as needing a restart; SIGTERM still ends it with exit 0.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import CLIENT_ERRORS, KEY_ID, SECRET, Box, check, log, sale, wait_until

from daemon.client import Client

NEW_ID = "pos-2"
NEW_SECRET = "reload-test-new-secret-0123456789-abcdef"
THREADS = 3


def write_keys(box: Box, text: str, mode: int = 0o600) -> None:
    """The key file replaced as an editor or ``einvd setup`` would: a new file renamed over the old."""
    staged = box.root / "keys.toml.new"
    staged.write_text(text, encoding="utf-8")
    staged.chmod(mode)
    os.replace(staged, box.root / "keys.toml")


def reloaded(box: Box, pid: int) -> tuple[str, str]:
    """SIGHUP, then the RELOADING=1 and READY=1 datagrams systemd would see (in that order)."""
    os.kill(pid, signal.SIGHUP)
    messages: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("READY=1" in m for m in messages):
        box.notify.settimeout(0.5)
        try:
            messages.append(box.notify.recv(4096).decode())
        except TimeoutError:
            continue
    reloading = next((m for m in messages if "RELOADING=1" in m), "")
    ready = next((m for m in messages if "READY=1" in m), "")
    assert reloading and ready and messages.index(reloading) < messages.index(ready), messages
    return reloading, ready


@dataclass
class Outcome:
    key: str
    order: str
    status: int  # 0: no answer
    code: str
    answered_after_hup: bool
    number: str = ""


@dataclass
class Issuers:
    """Client threads issuing without pause; each signs with the old key until it is refused, then with the new."""

    url: str
    hup: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for index in range(THREADS):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True, name=f"reload-load-{index}")
            worker.start()
            self.workers.append(worker)

    def _run(self, index: int) -> None:
        clients = [Client(self.url, KEY_ID, SECRET.encode(), timeout=30),
                   Client(self.url, NEW_ID, NEW_SECRET.encode(), timeout=30)]
        n = 0
        while not self.stop.is_set():
            client = clients[0] if len(clients) == 2 else clients[-1]
            order = f"R{index}-{n}"
            n += 1
            number = ""
            try:
                status, body = client.request("POST", "/v1/invoices", sale(order))
                code = body["errors"][0]["code"] if isinstance(body, dict) and body.get("errors") else ""
                number = body.get("invoice_number", "") if isinstance(body, dict) else ""
            except CLIENT_ERRORS as error:
                status, code = 0, type(error).__name__
            after = self.hup.is_set()  # set just before the signal is sent
            with self.lock:
                self.outcomes.append(Outcome(client.key_id, order, status, code, after, number))
            if client.key_id == KEY_ID and status == 401:
                clients.pop(0).close()
        for client in clients:
            client.close()

    def count(self, key: str, status: int) -> int:
        with self.lock:
            return sum(1 for o in self.outcomes if o.key == key and o.status == status)

    def finish(self) -> list[Outcome]:
        self.stop.set()
        for worker in self.workers:
            worker.join(60)
        return list(self.outcomes)


def alerts(box: Box) -> list[tuple[str, str, str | None]]:
    with box.db() as conn:
        return [(r["entity_id"], r["message"], r["cleared_at"]) for r in conn.execute(
            "SELECT entity_id, message, cleared_at FROM alerts WHERE kind = 'config.reload_failed' ORDER BY id")]


def test_reload_swaps_keys_under_load_and_keeps_running_on_a_bad_configuration(tmp_path: Path) -> None:
    box = Box(tmp_path)
    try:
        daemon = box.start()
        pid = daemon.process.pid
        load = Issuers(box.url)
        load.start()
        wait_until(lambda: load.count(KEY_ID, 201) >= 30, 120)
        write_keys(box, f'[keys.{NEW_ID}]\nsecret = "{NEW_SECRET}"\npermissions = ["issue"]\n')
        wait_until(lambda: load.count(KEY_ID, 201) >= 40, 120)  # a rewritten file alone changes nothing
        load.hup.set()
        reloading, ready = reloaded(box, pid)
        assert "MONOTONIC_USEC=" in reloading and "configuration reloaded" in ready, (reloading, ready)
        wait_until(lambda: load.count(NEW_ID, 201) >= 10 * THREADS, 120)
        outcomes = load.finish()
        assert daemon.alive(), daemon.log_tail()

        # A request is checked against the keys when the daemon reads it: one signed with the old key and sent just
        # before the signal may be checked after the swap and refused; one already past the check completes.
        failed = [o for o in outcomes if o.status not in (200, 201)]
        expected = [o for o in failed if o.key == KEY_ID and (o.status, o.code) == (401, "auth.signature")
                    and o.answered_after_hup]
        assert failed == expected, [o for o in failed if o not in expected][:5]
        assert len(expected) == THREADS  # each thread was refused once with the old key, then used the new one
        new = [o for o in outcomes if o.key == NEW_ID]
        assert new and all(o.status == 201 for o in new)
        acked = {o.order: o.number for o in outcomes if o.status in (200, 201)}
        log(f"{len(outcomes)} requests under reload: {sum(1 for o in outcomes if o.key == KEY_ID)} with the old "
            f"key ({len(expected)} refused after the reload), {len(new)} with the new key, none failed otherwise")

        old_client, new_client = box.client(), Client(box.url, NEW_ID, NEW_SECRET.encode())
        status, body = old_client.request("POST", "/v1/invoices", sale("OLD-AFTER"))
        assert (status, body["errors"][0]["code"]) == (401, "auth.signature")
        status, body = new_client.request("POST", "/v1/invoices", sale("NEW-AFTER"))
        assert status == 201, body

        good_config = box.config.read_text(encoding="utf-8")
        box.config.write_text(good_config + "\n[alerts\nwebhook_url = \n", encoding="utf-8")  # not TOML
        _, ready = reloaded(box, pid)
        assert "reload failed" in ready
        assert daemon.alive(), daemon.log_tail()
        assert new_client.request("POST", "/v1/invoices", sale("NEW-AFTER-BROKEN"))[0] == 201
        assert old_client.request("POST", "/v1/invoices", sale("OLD-AFTER-BROKEN"))[0] == 401
        raised = alerts(box)
        assert len(raised) == 1 and "cannot read configuration" in raised[0][1] and raised[0][2] is None, raised
        assert "still running on the previous configuration" in daemon.log_tail(200)

        box.config.write_text(good_config, encoding="utf-8")
        write_keys(box, f'[keys.{NEW_ID}]\nsecret = "{NEW_SECRET}"\npermissions = ["issue"]\n', mode=0o644)
        _, ready = reloaded(box, pid)
        assert "reload failed" in ready and daemon.alive()
        raised = alerts(box)
        assert len(raised) == 2 and "readable by its owner only" in raised[1][1], raised
        assert new_client.request("POST", "/v1/invoices", sale("NEW-AFTER-MODE"))[0] == 201

        (box.root / "keys.toml").chmod(0o600)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            other_port = probe.getsockname()[1]
        box.config.write_text(good_config.replace(f"127.0.0.1:{box.port}", f"127.0.0.1:{other_port}")
                              + '\n[alerts]\nwebhook_url = "http://127.0.0.1:9/alerts"\n', encoding="utf-8")
        _, ready = reloaded(box, pid)
        assert "configuration reloaded" in ready
        tail = daemon.log_tail(200)
        assert "api.listen changed" in tail and "needs a restart" in tail, tail
        assert "changed live: alerts.webhook_url" in tail, tail
        assert new_client.request("POST", "/v1/invoices", sale("NEW-SAME-PORT"))[0] == 201  # still the old port
        assert all(cleared is not None for _, _, cleared in alerts(box)), alerts(box)
        old_client.close()
        new_client.close()

        assert daemon.stop() == 0, daemon.log_tail()
        for line in daemon.log_tail(400).splitlines():
            if "reload" in line or "needs a restart" in line:
                log(f"daemon: {line.strip()[:200]}")
        found = check(box, acked)  # every acknowledged invoice stored under its number, and the other invariants
        log(f"after the reloads: {found}")
    finally:
        box.close()
