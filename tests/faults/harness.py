"""A harness for fault tests: an einvd installation in a directory (``Box``), the daemon as a real ``einvd run``
process (``Daemon``), a signed issuing load from client threads (``Load``) and the invariants every fault must
leave intact (``check``), over the SQLite file and the simulated Turnkey tree.

Nothing here knows which fault a test injects: tests start, kill and restart daemons, fill disks or cut links,
then call ``check`` with what the clients were told.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from daemon import __main__ as cli
from daemon.client import Client
from turnkey.period import TAIPEI, Period

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO.parent / "shared" / "spec"
KEY_ID = "pos"
SECRET = "faults-test-secret-0123456789-abcdefghij"
SELLER_BAN = "12345676"
TRACK = "AB"
ANSWERED = (200, 201)
F0401_NAME = re.compile(r"^F0401_([A-Z]{2}\d{8})_(\d+)\.xml$")
MOVED_SUFFIX = re.compile(r"(_\d{13}\.xml|\.xml\.\d{3,})$")
"""What Turnkey adds to a moved name (domain.md §5.2, §5.5a): an older one ``_<epoch ms>`` before ``.xml``,
3.2.0 ``.001``, ``.002`` after it for a name already in BAK (which here means a file dropped twice)."""
CLIENT_ERRORS = (OSError, http.client.HTTPException, ValueError)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sale(order_id: str) -> dict[str, Any]:
    """A valid consumer sale, the same document for the same order id (so a retry is an idempotent replay)."""
    digest = int(hashlib.sha256(order_id.encode()).hexdigest()[:6], 16)
    quantity, price = 1 + digest % 3, 20 + digest % 80
    return {"order_id": order_id, "items": [
        {"description": "拿鐵", "quantity": quantity, "unit": "杯", "unit_price": price, "amount": quantity * price},
        {"description": "司康", "quantity": 1, "unit": "個", "unit_price": 45, "amount": 45},
    ]}


def log(message: str) -> None:
    """What a fault test did and found: printed (``-s``, ``-rA`` and CI logs show it)."""
    print(f"[faults] {message}", flush=True)


class Box:
    """One einvd installation: configuration, keys, database and Turnkey tree under ``root`` (the database and
    the tree may be elsewhere, e.g. on a small filesystem), tracks for the current period, a notify socket."""

    def __init__(self, root: Path, *, store_dir: Path | None = None, turnkey_dir: Path | None = None,
                 turnkey_extra: str = "", numbers: int = 50000) -> None:
        self.root = root
        self.port = free_port()
        self.store_path = (store_dir or root) / "einvd.sqlite3"
        self.turnkey = turnkey_dir or root / "turnkey"
        self.config = root / "einvd.toml"
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self.daemons: list[Daemon] = []
        keys = root / "keys.toml"
        keys.write_text(f'[keys.{KEY_ID}]\nsecret = "{SECRET}"\npermissions = ["admin"]\n', encoding="utf-8")
        keys.chmod(0o600)
        schema = f'\n[mig]\nschema_dir = "{SPEC / "mig41"}"\n' if (SPEC / "mig41").is_dir() else ""
        self.config.write_text(
            f'[seller]\nban = "{SELLER_BAN}"\nname = "測試商店"\naddress = "台北市信義區測試路1號"\n\n'
            '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n\n'
            f'[store]\npath = "{self.store_path}"\n\n'
            f'[turnkey]\ndrop = "sim:{self.turnkey}"\n{turnkey_extra}\n'
            f'[api]\nlisten = "127.0.0.1:{self.port}"\nkeys_file = "keys.toml"\n' + schema,
            encoding="utf-8",
        )
        now = datetime.now(TAIPEI)
        for period in sorted({Period.of(now).code, Period.of(now + timedelta(hours=2)).code}):
            assert self.cli("tracks", "add", "--period", period, "--track", TRACK, "--begin", "00000000",
                            "--end", f"{numbers - 1:08d}") == 0
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = str(root / "notify")
        self.notify.bind(self.notify_path)

    def cli(self, *args: str) -> int:
        """``einvd --config ... ARGS`` in this process (CLI commands open the store and close it again)."""
        with contextlib.redirect_stdout(io.StringIO()):
            return cli.main(["--config", str(self.config), *args])

    def start(self, env: Mapping[str, str] | None = None, ready: bool = True, timeout: float = 60.0) -> Daemon:
        """``einvd run`` as systemd starts it; waits for READY=1 unless ``ready`` is False."""
        self.starts += 1
        logfile = self.root / f"daemon-{self.starts}.log"
        environment = dict(os.environ, NOTIFY_SOCKET=self.notify_path, **(env or {}))
        environment.pop("WATCHDOG_USEC", None)
        with logfile.open("wb") as sink:
            process = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(self.config), "run"],
                                       env=environment, stdout=subprocess.DEVNULL, stderr=sink, cwd=self.root)
        daemon = Daemon(self, process, logfile)
        self.daemons.append(daemon)
        if ready and not daemon.wait_ready(timeout):
            daemon.kill()
            raise AssertionError(f"einvd did not become ready: {daemon.log_tail()}")
        return daemon

    def client(self, timeout: float = 15.0) -> Client:
        return Client(self.url, KEY_ID, SECRET.encode(), timeout=timeout)

    def health(self) -> dict[str, Any] | None:
        """GET /v1/health (unsigned); None when nothing answers."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/v1/health")
            response = conn.getresponse()
            data = response.read()
            return dict(json.loads(data)) if response.status == 200 else None
        except CLIENT_ERRORS:
            return None
        finally:
            conn.close()

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """A connection of our own to the daemon's database (WAL: safe while a daemon runs)."""
        conn = sqlite3.connect(self.store_path, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def close(self) -> None:
        """Kill any daemon still running (a test that failed half-way) and close the notify socket."""
        for daemon in self.daemons:
            daemon.kill()
        self.notify.close()


@dataclass
class Daemon:
    box: Box
    process: subprocess.Popen[bytes]
    logfile: Path

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """READY=1 on the notify socket; False when the process ends first or the time runs out."""
        deadline = time.monotonic() + timeout
        sock = self.box.notify
        while time.monotonic() < deadline:
            sock.settimeout(0.1)
            try:
                if b"READY=1" in sock.recv(4096):
                    return True
            except TimeoutError:
                pass
            if self.process.poll() is not None:
                return False
        return False

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> int:
        """SIGKILL (no cleanup of any kind) and reap; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        return self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM, the clean stop; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            return self.kill()

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = 30) -> str:
        text = self.logfile.read_text(encoding="utf-8", errors="replace") if self.logfile.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def drain(self, timeout: float = 180.0) -> dict[str, Any]:
        """Wait until the outbox is empty (health backlog 0, nothing LOCKED) and return the health answer."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            state = self.box.health()
            if state is not None and state["backlog"]["waiting"] == 0 and state["backlog"]["failed"] == 0:
                return state
            time.sleep(0.2)
        raise AssertionError(f"the outbox did not drain: {state}\n{self.log_tail()}")


@dataclass
class Load:
    """Client threads issuing signed sales (order ids ``{tag}{round}-{thread}-{n}``) until stopped or the daemon goes;
    ``start`` again for another round (against a restarted daemon): the outcomes accumulate.

    Every order ends in exactly one of: ``acked`` (the client got 200/201: order id -> invoice number),
    ``refused`` (an error answer: order id -> (status, code)) or ``unanswered`` (no answer: the request may or
    may not have been committed; retry it with ``retry``). ``limit`` bounds the orders of one round (0: none), for
    tests whose disk must not fill with more invoices than a fast machine would issue in the time given."""

    url: str
    tag: str
    threads: int = 4
    timeout: float = 15.0
    pause: float = 0.0
    acked: dict[str, str] = field(default_factory=dict)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)
    stop_on_refusal: bool = False
    limit: int = 0
    rounds: int = 0
    _issued: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        self._stop.clear()
        self._workers = []
        self.rounds += 1
        self._issued = 0
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True, name=f"load-{self.tag}-{index}")
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> Load:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout + 15)
        return self

    def snapshot(self) -> dict[str, str]:
        """The orders acknowledged so far (each was committed before its answer was sent)."""
        with self._lock:
            return dict(self.acked)

    def running(self) -> bool:
        return any(worker.is_alive() for worker in self._workers)

    def _run(self, index: int) -> None:
        client = Client(self.url, KEY_ID, SECRET.encode(), timeout=self.timeout)
        n = 0
        try:
            while not self._stop.is_set() and self._claim():
                order_id = f"{self.tag}{self.rounds}-{index}-{n}"
                n += 1
                if not self.record(order_id, client) or self._stop.wait(self.pause):
                    return
        finally:
            client.close()

    def _claim(self) -> bool:
        """Whether one more order of this round may go out (always, without a ``limit``)."""
        with self._lock:
            if self.limit and self._issued >= self.limit:
                return False
            self._issued += 1
            return True

    def record(self, order_id: str, client: Client) -> bool:
        """Issue one order and file its outcome; False when the daemon did not answer (or refused, if asked)."""
        try:
            status, body = client.request("POST", "/v1/invoices", sale(order_id))
        except CLIENT_ERRORS:
            with self._lock:
                self.unanswered.append(order_id)
            return False
        with self._lock:
            if status in ANSWERED:
                self.acked[order_id] = body["invoice_number"]
                return True
            code = body["errors"][0]["code"] if isinstance(body, dict) and body.get("errors") else ""
            self.refused[order_id] = (status, code)
        return not self.stop_on_refusal

    def retry(self, client: Client, stored: Mapping[str, str]) -> dict[str, int]:
        """Send every unanswered order again, with the same order id and document. ``stored``: order id -> number
        of what the database holds now; a stored order must come back as that invoice (200), any other as a new
        invoice (201), so an order never gets two invoices. Returns how many of each; when the daemon goes away
        meanwhile, the orders not answered stay in ``unanswered``."""
        counts = {"replayed": 0, "new": 0}
        pending, self.unanswered = self.unanswered, []
        for index, order_id in enumerate(pending):
            try:
                status, body = client.request("POST", "/v1/invoices", sale(order_id))
            except CLIENT_ERRORS:
                self.unanswered += pending[index:]
                break
            assert status in ANSWERED, (order_id, status, body)
            if order_id in stored:
                assert (status, body["invoice_number"]) == (200, stored[order_id]), (order_id, status, body)
                counts["replayed"] += 1
            else:
                assert status == 201, (order_id, status, body)
                counts["new"] += 1
            self.acked[order_id] = body["invoice_number"]
        client.close()
        return counts


def stored_orders(box: Box, orders: list[str]) -> dict[str, str]:
    """Order id -> invoice number for those of ``orders`` the database holds."""
    with box.db() as conn:
        found = {}
        for order_id in orders:
            row = conn.execute("SELECT number FROM invoices WHERE order_id = ?", (order_id,)).fetchone()
            if row is not None:
                found[order_id] = row[0]
        return found


@dataclass
class Findings:
    """What ``check`` counted."""

    invoices: int = 0
    acked: int = 0
    waiting: int = 0
    src: int = 0
    bak: int = 0
    err: int = 0
    staged: int = 0
    parsed: int = 0

    def __str__(self) -> str:
        return (f"{self.invoices} invoices ({self.acked} acknowledged, {self.waiting} waiting in the outbox); "
                f"F0401 files: {self.src} in SRC, {self.bak} in BAK, {self.err} in ERR ({self.parsed} parsed), "
                f"{self.staged} left in staging")


def retry_unanswered(box: Box, load: Load, tally: dict[str, int]) -> None:
    """After a restart: every order the last daemon left unanswered, sent again (``Load.retry``); the counts of
    same-invoice replays and new invoices are added to ``tally``."""
    for key, value in load.retry(box.client(), stored_orders(box, load.unanswered)).items():
        tally[key] = tally.get(key, 0) + value


def restart_and_drain(box: Box, load: Load, tally: dict[str, int]) -> Findings:
    """The end of every fault run: a clean start, the unanswered orders retried, the outbox drained, a clean stop,
    and every invariant checked with nothing left to deliver."""
    daemon = box.start()
    retry_unanswered(box, load, tally)
    daemon.drain()
    assert daemon.stop() == 0, daemon.log_tail()
    return check(box, load.acked, drained=True)


def check(box: Box, acked: Mapping[str, str], *, drained: bool = False, allow_err: bool = False,
          conn: sqlite3.Connection | None = None) -> Findings:
    """Every invariant a fault must keep, over the database and the Turnkey tree; AssertionError names the first
    one broken. ``drained``: the outbox must be empty and every invoice's F0401 file present. Call it with no
    daemon running: the simulated Turnkey moves files while one runs."""
    found = Findings(acked=len(acked))
    with contextlib.ExitStack() as stack:
        conn = conn or stack.enter_context(box.db())
        numbers = _check_store(conn, acked, found, drained)
        files = _check_tree(box.turnkey, conn, numbers, found, allow_err)
    if drained:
        missing = sorted(set(numbers) - set(files))
        assert not missing, f"drained, but no F0401 file for {len(missing)} invoices: {missing[:5]}"
    return found


def check_database(conn: sqlite3.Connection, acked: Mapping[str, str]) -> Findings:
    """The database invariants of ``check`` alone (for a copy of the file, say)."""
    found = Findings(acked=len(acked))
    _check_store(conn, acked, found, False)
    return found


def integrity(conn: sqlite3.Connection) -> None:
    assert [tuple(r) for r in conn.execute("PRAGMA integrity_check")] == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def _check_store(conn: sqlite3.Connection, acked: Mapping[str, str], found: Findings,
                 drained: bool) -> dict[tuple[str, str], int]:
    """The database alone; returns (period, number) -> invoice id."""
    integrity(conn)
    every = conn.execute("SELECT id, number, period, order_id, track_id FROM invoices").fetchall()
    # a 註銷重開 stores the re-issue as the next version of the number (its own row): the numbers and order ids
    # are those of the newest versions; every version keeps its own lines and F0401
    rows = conn.execute("SELECT id, number, period, order_id, track_id FROM invoices i "
                        "WHERE NOT EXISTS (SELECT 1 FROM invoices n WHERE n.replaces = i.id)").fetchall()
    found.invoices = len(rows)
    numbers = {(r["period"], r["number"]): r["id"] for r in rows}
    assert len(numbers) == len(rows), "an invoice number was used twice in a period"
    assert len({r["order_id"] for r in rows}) == len(rows), "two invoices for one order id"
    _check_sequences(conn, rows)
    by_order = {r["order_id"]: r["number"] for r in every}
    lost = {o: n for o, n in acked.items() if by_order.get(o) != n}
    assert not lost, f"{len(lost)} acknowledged invoices missing or renumbered: {list(lost.items())[:5]}"
    bare = conn.execute(
        "SELECT i.number FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM invoice_lines l WHERE l.invoice_id = i.id) "
        "OR (SELECT count(*) FROM outbox o WHERE o.invoice_id = i.id AND o.message_type = 'F0401' "
        "AND o.reference = i.number) <> 1 + (SELECT count(*) FROM invoice_actions a WHERE a.invoice_id = i.id "
        "AND a.kind = 'reissue' AND a.document IS NOT NULL)").fetchall()
    assert not bare, f"invoices without their lines or F0401 outbox row: {[r[0] for r in bare[:5]]}"
    found.waiting = conn.execute("SELECT count(*) FROM outbox WHERE state <> 'DONE'").fetchone()[0]
    if drained:
        assert found.waiting == 0, f"{found.waiting} outbox rows not delivered"
    return numbers


def _check_sequences(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> None:
    """Each range's numbers are used from its begin up to its cursor, each once: a number taken in a transaction
    that did not commit goes back with it, so no number is skipped and none is used twice."""
    used: dict[int, list[int]] = {}
    for row in rows:
        used.setdefault(row["track_id"], []).append(int(row["number"][2:]))
    for track in conn.execute("SELECT id, track, begin_no, last_no FROM tracks"):
        numbers = sorted(used.get(track["id"], []))
        expected = [] if track["last_no"] is None else list(range(track["begin_no"], track["last_no"] + 1))
        assert numbers == expected, (
            f"range {track['track']} {track['begin_no']}..{track['last_no']}: {len(numbers)} numbers used, "
            f"{len(expected)} expected; first difference near {_first_difference(numbers, expected)}")


def _first_difference(a: list[int], b: list[int]) -> int | None:
    return next((x for x, y in zip(a, b, strict=False) if x != y), None if len(a) == len(b) else min(len(a), len(b)))


def _code_folders(root: Path) -> Iterator[tuple[str, Path]]:
    upcast = root / "UpCast"
    if upcast.is_dir():
        for family in sorted(p for p in upcast.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for code in sorted(p for p in family.iterdir() if p.is_dir()):
                yield code.name, code


def _check_tree(root: Path, conn: sqlite3.Connection, numbers: Mapping[tuple[str, str], int], found: Findings,
                allow_err: bool) -> dict[tuple[str, str], Path]:
    """SRC holds only complete, well-formed messages; each invoice has at most one F0401 file across SRC, BAK
    and ERR, for a number that exists; every outbox row recorded DONE has its file. Returns number -> file."""
    files: dict[tuple[str, str], Path] = {}
    by_name: set[str] = set()
    for code, folder in _code_folders(root):
        for which in ("SRC", "BAK", "ERR"):
            for path in _xml_files(folder / which, which == "SRC"):
                if code != "F0401":
                    continue
                name = path.name if which == "SRC" else MOVED_SUFFIX.sub(".xml", path.name)
                match = F0401_NAME.match(name)
                assert match is not None, f"unexpected file {path}"
                period, number, random_number = _parse_f0401(path)
                assert number == match.group(1), f"{path} holds invoice {number}"
                key = (period, number)
                assert key in numbers, f"{path}: no invoice {number} in period {period} in the database"
                assert key not in files, f"invoice {number} dropped twice: {files[key]} and {path}"
                stored = conn.execute("SELECT random_number FROM invoices WHERE id = ?", (numbers[key],)).fetchone()
                assert stored[0] == random_number, f"{path}: random number {random_number}, stored {stored[0]}"
                files[key] = path
                by_name.add(name)
                found.parsed += 1
                setattr(found, which.lower(), getattr(found, which.lower()) + 1)
    assert allow_err or found.err == 0, f"{found.err} F0401 files refused by Turnkey (ERR)"
    done = conn.execute("SELECT file_name FROM outbox WHERE message_type = 'F0401' AND state = 'DONE'").fetchall()
    absent = [r[0] for r in done if r[0] not in by_name]
    assert not absent, f"{len(absent)} outbox rows DONE without their file: {absent[:5]}"
    staging = root / "UpCast" / ".einvd-staging"
    found.staged = len(list(staging.iterdir())) if staging.is_dir() else 0
    return files


def _xml_files(folder: Path, flat: bool) -> list[Path]:
    """The message files below a folder; in SRC (``flat``) every entry must be a finished ``*.xml`` file."""
    if not folder.is_dir():
        return []
    if flat:
        entries = list(folder.iterdir())
        strays = [p.name for p in entries if not p.is_file() or p.name.startswith(".") or p.suffix != ".xml"]
        assert not strays, f"{folder} holds files that are not finished messages: {strays[:5]}"
        return sorted(entries)
    return sorted(p for p in folder.rglob("*.xml*") if p.is_file() and re.search(r"\.xml(\.\d{3,})?$", p.name))


def _parse_f0401(path: Path) -> tuple[str, str, str]:
    """(period code, invoice number, random number) of a complete F0401; AssertionError for a partial file."""
    data = path.read_bytes()
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as error:
        raise AssertionError(f"{path} is not a complete XML document ({len(data)} bytes): {error}") from error
    main = root.find("{*}Main")
    assert main is not None, f"{path}: no Main"
    number, date, random_number = (main.findtext(f"{{*}}{tag}") for tag in ("InvoiceNumber", "InvoiceDate",
                                                                              "RandomNumber"))
    assert number and date and random_number, f"{path}: Main lacks the number, date or random number"
    details = root.find("{*}Details")
    assert details is not None and len(details) > 0, f"{path}: no Details"
    assert root.find("{*}Amount") is not None, f"{path}: no Amount"
    return Period.of(datetime.strptime(date, "%Y%m%d").replace(tzinfo=TAIPEI)).code, number, random_number


@contextlib.contextmanager
def small_filesystem(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) at ``mount_point``, unmounted afterwards; the test is skipped, with
    the reason, when this process may not mount (not root, or no CAP_SYS_ADMIN in a container)."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``folder`` with one file until writes fail with ENOSPC, then give back ``leave`` bytes
    (rounded to whole pages by the filesystem). Delete the returned file to free the space."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            block = b"\0" * chunk
            with contextlib.suppress(OSError):
                while os.write(fd, block) == chunk:
                    pass
        if leave:
            os.ftruncate(fd, max(os.fstat(fd).st_size - leave, 0))
    finally:
        os.close(fd)
    return filler


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The process stopped (SIGSTOP, every thread seen stopped) and continued afterwards: its files, as the disk
    and page cache hold them, do not change meanwhile."""
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: all(_state(task) in "tT" for task in Path(f"/proc/{pid}/task").iterdir()), 10, 0.001)
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _state(task: Path) -> str:
    try:
        return (task / "stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return "T"  # the thread has ended


def wait_until(predicate: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")
