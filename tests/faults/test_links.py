"""Lost links during a drain: 2,000 invoices issued into a real SQLite store are pumped into Turnkey's SRC while
a thread breaks the link at random moments, and a Turnkey stand-in keeps taking files out of SRC (to BAK), as the
real one does. Over SFTP the real sshd is SIGKILLed (listener and sessions) and started again; over a local
share the Turnkey folder is renamed away, an empty mount point left in its place, and brought back. At the end
every outbox row's file went through SRC exactly once (SRC + BAK hold each name once, no partial file, no other
name), nothing is left queued, and the empty mount point was never written into."""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import paramiko
import pytest
from support_b import SELLER, START, issuer, sale

from daemon.outbox import Backoff, file_name
from daemon.results import original_name
from daemon.store import Store
from daemon.workers import Pump
from drivers.drop.local import LocalDrop
from drivers.drop.sftp import SftpDrop, SftpTarget
from hw_sim.clock import FakeClock
from turnkey.layout import Layout

pytestmark = pytest.mark.faults

COUNT = 2_000
LAYOUT = Layout()
SRC, BAK = LAYOUT.folder("SRC", "F0401"), LAYOUT.folder("BAK", "F0401")
BACKOFF = Backoff(base=timedelta(seconds=1), cap=timedelta(seconds=8))
MAX_ROUNDS = 200_000  # the drain loop's bound: it ends long before (each round either drops or rests)


def install(root: Path) -> None:
    for folder in LAYOUT.required():
        (root / folder).mkdir(parents=True, exist_ok=True)


class Turnkey:
    """Turnkey's side, on the host's own tree: takes every whole file out of SRC into BAK (``<stem>_<ms>.xml``),
    as its directory task does; counts what it took and any partial file it saw."""

    def __init__(self, root: Callable[[], Path]) -> None:
        self.root = root
        self.taken = 0
        self.partial: list[str] = []
        self._stamp = 1_795_240_980_000

    def take(self) -> None:
        src, bak = self.root() / SRC, self.root() / BAK / "20261121" / "14-15"
        try:
            names = sorted(os.listdir(src))
            bak.mkdir(parents=True, exist_ok=True)
            for name in names:
                data = (src / name).read_bytes()
                if not data.rstrip().endswith(b"</Invoice>"):
                    self.partial.append(name)
                self._stamp += 1
                os.replace(src / name, bak / f"{name[:-4]}_{self._stamp}.xml")
                self.taken += 1
        except OSError:
            pass  # the share is away this moment: Turnkey cannot see it either

    def census(self) -> Counter[str]:
        """Each dropped name, counted over SRC and BAK."""
        names: Counter[str] = Counter(os.listdir(self.root() / SRC))
        for folder, _, files in os.walk(self.root() / BAK):
            for name in files:
                names[original_name(name)] += 1
                data = (Path(folder) / name).read_bytes()
                if not data.rstrip().endswith(b"</Invoice>"):
                    self.partial.append(name)
        return names


class Breaker(threading.Thread):
    """Breaks the link at random moments (``cut``), keeps it down a random while, mends it, until stopped."""

    def __init__(self, cut: Callable[[], None], mend: Callable[[], None], seed: int) -> None:
        super().__init__(name="link-breaker", daemon=True)
        self.cut, self.mend, self.rng = cut, mend, random.Random(seed)
        self.breaks = 0
        self.failure: BaseException | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.rng.uniform(0.05, 0.5)):
                self.cut()
                self.breaks += 1
                self._stop_event.wait(self.rng.uniform(0.02, 0.25))
                self.mend()
        except BaseException as error:  # reported by the test, never lost in the thread
            self.failure = error

    def stop(self) -> None:
        self._stop_event.set()
        self.join(30)


@dataclass
class Counting:
    """What a drop was asked to do: files handed to ``put_many`` (with repeats) and the calls that failed."""

    requested: int = 0
    failed_calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    renamed: list[str] = field(default_factory=list)
    unsynced: set[str] = field(default_factory=set)


def counting(drop: LocalDrop | SftpDrop, counts: Counting) -> None:
    """Wraps ``put_many`` and ``sync`` of this drop instance: requests, failures, and the names that were put into
    SRC but whose ``sync()`` then failed (the pump puts those again)."""
    put_inner, sync_inner = drop.put_many, drop.sync

    def put_many(files):  # type: ignore[no-untyped-def]
        counts.requested += len(files)
        done, failure = put_inner(files)
        counts.renamed += [name for _, name, _ in files[:done]]
        if failure is not None:
            counts.failed_calls += 1
            counts.errors[type(failure).__name__] += 1
        return done, failure

    def sync() -> None:
        try:
            sync_inner()
        except OSError as error:
            counts.unsynced.update(counts.renamed)
            counts.errors[f"sync {type(error).__name__}"] += 1
            raise
        finally:
            counts.renamed = []

    drop.put_many = put_many  # type: ignore[method-assign]
    drop.sync = sync  # type: ignore[method-assign]


def drain(store: Store, pump: Pump, clock: FakeClock, turnkey: Turnkey, breaker: Breaker) -> int:
    """Tick the pump until nothing is waiting (Turnkey taking files meanwhile); returns the rounds."""
    rounds = 0
    breaker.start()
    try:
        while _waiting(store) and rounds < MAX_ROUNDS:
            rounds += 1
            report = pump.tick(clock.now(), limit=100)
            turnkey.take()
            if report.resume_at is not None:
                clock.set(max(clock.now(), report.resume_at))  # rest the backoff out in simulated time
                time.sleep(0.002)  # let the breaker thread run
            else:
                clock.advance(seconds=1)
            while breaker.breaks < 3 and _waiting(store) < COUNT // 2 and breaker.is_alive():
                time.sleep(0.01)  # half the backlog waits until the link has been broken a few times
    finally:
        breaker.stop()
    assert breaker.failure is None, breaker.failure
    return rounds


def _waiting(store: Store) -> int:
    count: int = store.read("SELECT count(*) FROM outbox WHERE state <> 'DONE'")[0][0]
    return count


def issue_all(tmp_path: Path) -> tuple[Store, FakeClock, list[str]]:
    clock = FakeClock(START)
    store, service = issuer(tmp_path / "einvd.sqlite3", clock, COUNT)
    numbers = []
    for n in range(COUNT):
        numbers.append(service.issue(sale(f"LINK-{n:05d}")).body["invoice_number"])
        clock.advance(seconds=2)
    return store, clock, [file_name("F0401", number, i) for i, number in enumerate(numbers, 1)]


def verify(store: Store, turnkey: Turnkey, expected: list[str], label: str, counts: Counting, breaks: int,
           rounds: int) -> None:
    turnkey.take()
    census = turnkey.census()
    states = dict(store.read("SELECT state, count(*) FROM outbox GROUP BY state"))
    retried = store.read("SELECT coalesce(sum(attempts - 1), 0), count(*) FROM outbox WHERE attempts > 1")[0]
    print(f"\n[{label}] invoices {COUNT}; link broken {breaks} times; pump rounds {rounds}; files requested "
          f"{counts.requested} ({counts.failed_calls} failed calls: {dict(counts.errors)}); drops retried "
          f"{retried[0]} over {retried[1]} rows; taken by Turnkey {turnkey.taken}; files checked "
          f"{sum(census.values())}; outbox {states}")
    assert breaks >= 3
    assert counts.failed_calls >= 1 and retried[0] >= 1  # the link really broke under the pump
    assert turnkey.partial == []
    assert set(census) == set(expected), sorted(set(census) ^ set(expected))[:10]
    assert states == {"DONE": COUNT}
    assert store.read("SELECT count(*) FROM outbox WHERE dropped_at IS NULL OR file_name IS NULL")[0][0] == 0
    twice = sorted(name for name, n in census.items() if n != 1)
    assert twice == []  # exactly once, over the whole run (also when a sync() failed after the renames)


# --- SFTP: the real sshd killed and started again ----------------------------------------------------------


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[object]:
    from sshd_peer import Sshd

    server = Sshd.start_or_skip(tmp_path / "sshd")
    install(server.root)
    yield server
    server.kill()


def test_sftp_drain_survives_sshd_killed_again_and_again(sshd: object, tmp_path: Path) -> None:
    from sshd_peer import Sshd

    assert isinstance(sshd, Sshd)
    store, clock, expected = issue_all(tmp_path)
    drop = SftpDrop(SftpTarget.from_url(sshd.url, sshd.client_key, sshd.known_hosts, timeout=5, keepalive=2))
    counts = Counting()
    counting(drop, counts)
    pump = Pump(store, drop, SELLER, None, random.Random(3), backoff=BACKOFF, batch=50)
    turnkey = Turnkey(lambda: sshd.root)
    breaker = Breaker(sshd.kill, sshd.start_again, seed=11)
    rounds = drain(store, pump, clock, turnkey, breaker)
    if sshd.process is None:
        sshd.start_again()
    verify(store, turnkey, expected, "sftp", counts, breaker.breaks, rounds)
    assert [p.name for p in (sshd.root / LAYOUT.staging).iterdir()] == []  # no half upload left behind
    pump.close()
    store.close()


class ReplyLost(SftpDrop):
    """The server renames the file into SRC, then the link dies before its answer arrives (the ``at``-th file)."""

    def __init__(self, target: SftpTarget, at: int, taken: Callable[[], None]) -> None:
        super().__init__(target)
        self.at, self.count, self.taken = at, 0, taken

    def _rename(self, sftp: paramiko.SFTPClient, staged: str, target: str) -> None:
        super()._rename(sftp, staged, target)
        self.count += 1
        if self.count == self.at:
            self.taken()  # Turnkey picks the file up before the pump tries again
            raise paramiko.SSHException("link lost before the rename's answer")


def test_sftp_rename_whose_answer_was_lost_is_not_dropped_twice(sshd: object, tmp_path: Path) -> None:
    from sshd_peer import Sshd

    assert isinstance(sshd, Sshd)
    clock = FakeClock(START)
    store, service = issuer(tmp_path / "einvd.sqlite3", clock, 10)
    expected = [file_name("F0401", service.issue(sale(f"LOST-{n}")).body["invoice_number"], n + 1) for n in range(10)]
    turnkey = Turnkey(lambda: sshd.root)
    drop = ReplyLost(SftpTarget.from_url(sshd.url, sshd.client_key, sshd.known_hosts, timeout=5), 4, turnkey.take)
    pump = Pump(store, drop, SELLER, None, random.Random(3), backoff=BACKOFF)
    first = pump.tick(clock.now())
    assert first.dropped == 3 and first.error.startswith("ConnectionError")
    clock.set(pump.resume_at or clock.now())
    assert pump.tick(clock.now()).dropped == 7
    turnkey.take()
    census = turnkey.census()
    print(f"\n[sftp reply lost] files checked {sum(census.values())}, taken by Turnkey {turnkey.taken}")
    assert census == Counter(expected)  # the 4th was in SRC already (and taken): not put a second time
    pump.close()
    store.close()


# --- local share: the Turnkey folder renamed away, an empty mount point in its place ----------------------


class Share:
    """``root`` is the mount point; ``cut`` moves the share away and leaves an empty directory (an unmounted
    mount point) or nothing; ``mend`` checks the stand-in stayed empty and puts the share back."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root, self.away = root, root.with_name("away")
        self.rng = random.Random(seed)
        self.stand_ins = 0
        self.polluted: list[str] = []

    def cut(self) -> None:
        os.rename(self.root, self.away)
        if self.rng.random() < 0.5:
            self.root.mkdir()  # an empty mount point: nothing may be created in it
            self.stand_ins += 1

    def mend(self) -> None:
        if self.root.exists():
            self.polluted += [str(p) for p in self.root.rglob("*")]
            for path in sorted(self.root.rglob("*"), reverse=True):
                with contextlib.suppress(OSError):
                    path.rmdir() if path.is_dir() else path.unlink()
            self.root.rmdir()
        os.rename(self.away, self.root)


def test_local_drain_survives_the_share_going_away_again_and_again(tmp_path: Path) -> None:
    store, clock, expected = issue_all(tmp_path)
    share = Share(tmp_path / "mnt" / "turnkey", seed=5)
    share.root.mkdir(parents=True)
    install(share.root)
    drop = LocalDrop(share.root)
    counts = Counting()
    counting(drop, counts)
    pump = Pump(store, drop, SELLER, None, random.Random(4), backoff=BACKOFF, batch=50)
    turnkey = Turnkey(lambda: share.root)
    breaker = Breaker(share.cut, share.mend, seed=13)
    rounds = drain(store, pump, clock, turnkey, breaker)
    if not (share.root / SRC).is_dir():
        share.mend()
    print(f"\n[local] empty mount points put in place {share.stand_ins}, written into {len(share.polluted)}")
    verify(store, turnkey, expected, "local", counts, breaker.breaks, rounds)
    assert share.polluted == []
    assert [p.name for p in (share.root / LAYOUT.staging).iterdir()] == []
    pump.close()
    store.close()


class SyncFails(LocalDrop):
    """The share goes away after the renames, before the SRC folder is fsynced (``sync()`` fails once); Turnkey
    has taken the files by then."""

    def __init__(self, root: Path, taken: Callable[[], None]) -> None:
        super().__init__(root)
        self.taken, self.failed = taken, False

    def sync(self) -> None:
        if not self.failed:
            self.failed = True
            self.taken()
            raise FileNotFoundError(2, "share went away before the SRC folder was fsynced")
        super().sync()


def test_local_files_put_before_a_failed_sync_are_not_put_twice(tmp_path: Path) -> None:
    clock = FakeClock(START)
    store, service = issuer(tmp_path / "einvd.sqlite3", clock, 10)
    expected = [file_name("F0401", service.issue(sale(f"SYNC-{n}")).body["invoice_number"], n + 1) for n in range(10)]
    root = tmp_path / "turnkey"
    install(root)
    turnkey = Turnkey(lambda: root)
    pump = Pump(store, SyncFails(root, turnkey.take), SELLER, None, random.Random(3), backoff=BACKOFF)
    first = pump.tick(clock.now())
    clock.set(pump.resume_at or clock.now())
    second = pump.tick(clock.now())
    turnkey.take()
    census = turnkey.census()
    print(f"\n[local sync failed] ticks dropped {first.dropped} then {second.dropped}; files checked "
          f"{sum(census.values())}, taken by Turnkey {turnkey.taken}")
    assert census == Counter(expected)
    pump.close()
    store.close()
