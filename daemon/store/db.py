"""The one SQLite file: tracks with cursors, invoices and lines, the outbox and the event log.

WAL + synchronous=FULL: a commit is on disk (one fdatasync of the WAL) before we answer. Writers take the lock
up front (``BEGIN IMMEDIATE``) so concurrent issuers serialise instead of failing on a lock upgrade. One
connection per thread; several processes may share the file. Schema changes are ``PRAGMA user_version``
migrations, applied in order inside one transaction each, after a copy of the file as it was
(``einvd.sqlite3.v5.bak``, ``daemon.store.backup``); a file from a newer einvd is refused untouched. Every open
``Store`` holds a shared lock on ``einvd.sqlite3.lock``, which ``einvd restore`` needs alone.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from daemon import faultpoints
from daemon.store.backup import SchemaTooNew, StoreLock, before_migration, copy_database, peek_version
from daemon.store.schema import MIGRATIONS, apply_script
from turnkey.period import taipei

Connection = sqlite3.Connection
"""A connection or the transaction ``Store.write()`` opened: what every query function takes first."""
OperationalError = sqlite3.OperationalError
"""SQLite could not do it now (busy beyond ``busy_timeout``, locked): the API answers 503 ``store.busy``."""

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)

class StoreUnavailable(Exception):
    """The database cannot take writes (disk full, read-only, I/O error): HTTP 503 ``store.full`` etc."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _classify(error: sqlite3.Error) -> StoreUnavailable | None:
    text = str(error).lower()
    if "full" in text:
        return StoreUnavailable("store.full", "the disk holding the invoice database is full")
    if "readonly" in text or "read-only" in text or "disk i/o" in text:
        return StoreUnavailable("store.unavailable", f"the invoice database cannot be written: {error}")
    return None


class Transaction:
    """The context manager of ``Store.write`` (a plain class: it is on the issuing hot path).

    Opened while its connection is already inside a transaction (a group commit, see ``daemon/api/batch.py``) it
    is a savepoint of that transaction: its work is undone alone on error, and is durable only when the outer
    transaction commits.
    """

    __slots__ = ("conn", "lock", "nested")

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self.conn, self.lock, self.nested = conn, lock, False

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.nested = self.conn.in_transaction
            self.conn.execute("SAVEPOINT einvd_nested" if self.nested else "BEGIN IMMEDIATE")
        except BaseException as error:
            self.lock.release()
            classified = _classify(error) if isinstance(error, sqlite3.OperationalError) else None
            if classified is None:
                raise
            raise classified from error
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> bool:
        try:
            return self._finish(kind, error)
        finally:
            self.lock.release()

    def _finish(self, kind: type[BaseException] | None, error: BaseException | None) -> bool:
        conn = self.conn
        if self.nested:
            if kind is not None and conn.in_transaction:  # SQLite may have ended it (a full disk)
                conn.execute("ROLLBACK TO einvd_nested")
            if conn.in_transaction:
                conn.execute("RELEASE einvd_nested")
            classified = _classify(error) if isinstance(error, sqlite3.OperationalError) else None
            if classified is not None:
                raise classified from error
            return False
        if kind is None:
            try:
                faultpoints.hit("store.commit.before")
                conn.commit()
                faultpoints.hit("store.commit.after")
                return False
            except sqlite3.Error as failed:  # a full disk, an I/O error; a deferred constraint: still open, undo it
                error = failed
        if conn.in_transaction:
            conn.rollback()
        classified = _classify(error) if isinstance(error, sqlite3.OperationalError) else None
        if classified is not None:
            raise classified from error
        if kind is None:  # the commit itself failed
            raise error  # type: ignore[misc]
        return False


_WRITERS: dict[Path, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_lock(path: Path) -> threading.RLock:
    """One writer mutex per database file and process, shared by every ``Store`` on that file.

    Threads of this process queue on it before ``BEGIN IMMEDIATE`` instead of on SQLite's busy handler, which
    sleeps and polls (1, 2, 5, 10 ... 100 ms): with eight API threads issuing at once the sleeps, not the
    commits, made the slow tail. Other processes on the same file still wait through ``busy_timeout``.
    Re-entrant, so a thread that already writes through one connection gets SQLite's own answer, not a hang.
    """
    key = path.resolve()
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.RLock())


CHECKPOINT_NET_PAGES = 10_000
CHECKPOINT_EVERY = 0.5
CHECKPOINT_RESTART_PAGES = 256  # a WAL of 1 MiB or more is brought level so the next commit restarts it


class _Checkpointer:
    """A thread with its own connection that copies committed WAL pages into the database file.

    Round one (``PASSIVE``, no lock) does the bulk while issuing goes on. But under steady load writers append
    while it runs, so it never ends level with the WAL, and SQLite only starts the WAL over from its beginning
    after a checkpoint that did. Left alone, the WAL grows to the 10,000-page net, and commits that grow a file
    cost more than commits that overwrite one. So round two takes this process's writer mutex and checkpoints
    the few pages appended meanwhile. Then the next commit restarts the WAL.
    """

    def __init__(self, path: Path, writer: threading.RLock) -> None:
        self._stop = threading.Event()
        self._writer = writer
        self.rounds = 0
        self._thread = threading.Thread(target=self._run, args=(path,), name="einvd-checkpoint", daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while not self._stop.wait(CHECKPOINT_EVERY):
                try:
                    self._round(conn)
                except sqlite3.Error:  # busy or I/O: the next round (or SQLite's own net) tries again
                    continue
        finally:
            conn.close()

    def _round(self, conn: sqlite3.Connection) -> None:
        _, log, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if log >= CHECKPOINT_RESTART_PAGES:
            with self._writer:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.rounds += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Store:
    """Opens the database file, applies migrations and hands out per-thread connections."""

    def __init__(self, path: Path | str, synchronous: str = "FULL", background_checkpoint: bool = False) -> None:
        """``synchronous`` NORMAL is only for records that may be lost with a power cut (the API's nonces).

        ``background_checkpoint`` (the daemon's store): the WAL is copied back into the database by a thread of
        its own every half second instead of inside whichever commit crosses SQLite's 1,000-page threshold, so
        no request waits for a checkpoint's fsync. SQLite's own checkpoint stays on at 10,000 pages as a net.
        """
        self.path = Path(path)
        self.synchronous = synchronous
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _writer_lock(self.path)
        self._autocheckpoint = CHECKPOINT_NET_PAGES if background_checkpoint else None
        self.backup_before_migration: Path | None = None
        self._checkpointer: _Checkpointer | None = None
        self._hold = StoreLock.shared(self.path)  # ``einvd restore`` refuses while it is held
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise
        self._checkpointer = _Checkpointer(self.path, self._writer) if background_checkpoint else None

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            for pragma in PRAGMAS:
                conn.execute(pragma)
            if self.synchronous != "FULL":
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
            if self._autocheckpoint is not None:
                conn.execute(f"PRAGMA wal_autocheckpoint={self._autocheckpoint}")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def write(self) -> Transaction:
        """One ``BEGIN IMMEDIATE`` transaction, committed (and synced) on success, rolled back on error."""
        return Transaction(self.connection(), self._writer)

    def read(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()

    def migrate(self, migrations: tuple[str, ...] = MIGRATIONS) -> int:
        """Bring the file to the last schema version. A file that already has a schema and is behind is first
        copied beside itself (``einvd.sqlite3.v5.bak``, see ``daemon.store.backup``); a file newer than this code
        is refused (``SchemaTooNew``) before anything is written to it, even the journal mode."""
        known = len(migrations)
        version: int = peek_version(self.path)
        if version > known:
            raise SchemaTooNew(self.path, version, known)
        version = self.connection().execute("PRAGMA user_version").fetchone()[0]
        if version > known:
            raise SchemaTooNew(self.path, version, known)
        if 0 < version < known:
            self.backup_before_migration = copy_database(self.path, before_migration(self.path, version)).path
        for number, script in enumerate(migrations[version:], start=version + 1):
            with self.write() as tx:
                if tx.execute("PRAGMA user_version").fetchone()[0] >= number:
                    continue  # another process migrated it meanwhile
                apply_script(tx, script)
                tx.execute(f"PRAGMA user_version={number}")
        return known

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        self._hold.release()


def stamp(at: datetime) -> str:
    """The one format of every stored timestamp: ISO 8601 in Taipei time (``2026-12-03T14:05:00.123456+08:00``).

    Every stored time has the same offset, so SQL may compare them as text; an aware time in any zone is
    converted first, so the result never depends on the zone the caller's clock returns.
    """
    return taipei(at).isoformat()


def event(conn: sqlite3.Connection, at: str, entity: str, entity_id: str, kind: str, reason: str = "",
          data: str | None = None) -> None:
    conn.execute(
        "INSERT INTO events (at, entity, entity_id, kind, reason, data) VALUES (?, ?, ?, ?, ?, ?)",
        (at, entity, entity_id, kind, reason, data),
    )

