"""The one SQLite file: tracks with cursors, invoices and lines, the outbox and the event log.

WAL + synchronous=FULL: a commit is on disk (one fdatasync of the WAL) before we answer. Writers take the lock
up front (``BEGIN IMMEDIATE``) so concurrent issuers serialise instead of failing on a lock upgrade. One
connection per thread; several processes may share the file. Schema changes are ``PRAGMA user_version``
migrations, applied in order inside one transaction each.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from daemon import faultpoints

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tracks (
        id INTEGER PRIMARY KEY,
        period TEXT NOT NULL,
        invoice_type TEXT NOT NULL CHECK (invoice_type IN ('07', '08')),
        track TEXT NOT NULL,
        begin_no INTEGER NOT NULL,
        end_no INTEGER NOT NULL,
        last_no INTEGER,
        last_issued_at TEXT,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL,
        CHECK (begin_no <= end_no),
        CHECK (last_no IS NULL OR (last_no BETWEEN begin_no AND end_no))
    );
    CREATE INDEX tracks_by_period ON tracks (period, invoice_type, track, begin_no);
    CREATE TABLE invoices (
        id INTEGER PRIMARY KEY,
        number TEXT NOT NULL,
        period TEXT NOT NULL,
        order_id TEXT NOT NULL UNIQUE,
        document TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        random_number TEXT NOT NULL,
        invoice_type TEXT NOT NULL,
        buyer_ban TEXT,
        total INTEGER NOT NULL,
        print_requested INTEGER NOT NULL,
        print_status TEXT NOT NULL,
        status TEXT NOT NULL,
        track_id INTEGER NOT NULL REFERENCES tracks (id),
        created_at TEXT NOT NULL,
        UNIQUE (number, period)
    );
    CREATE TABLE invoice_lines (
        invoice_id INTEGER NOT NULL REFERENCES invoices (id),
        sequence TEXT NOT NULL,
        description TEXT NOT NULL,
        quantity TEXT NOT NULL,
        unit TEXT NOT NULL,
        unit_price TEXT NOT NULL,
        amount TEXT NOT NULL,
        tax_type TEXT NOT NULL,
        remark TEXT NOT NULL,
        PRIMARY KEY (invoice_id, sequence)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        message_type TEXT NOT NULL,
        reference TEXT NOT NULL,
        invoice_id INTEGER REFERENCES invoices (id),
        state TEXT NOT NULL DEFAULT 'READY' CHECK (state IN ('READY', 'LOCKED', 'DONE', 'FAILED')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        entity TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        data TEXT
    );
    CREATE INDEX events_by_entity ON events (entity, entity_id, id);
    """,
    # 2: Turnkey drops and results. The outbox row remembers the file name it was dropped as and what Turnkey
    # did with it (outcome); ``uncertain`` marks a row that was LOCKED when the process died. Invoices get the
    # time and platform code/reason of their last status change. ``results_seen`` makes every result file
    # count once, across restarts; ``alerts`` are raised once per (kind, entity) and shown in health.
    """
    ALTER TABLE outbox ADD COLUMN file_name TEXT;
    ALTER TABLE outbox ADD COLUMN dropped_at TEXT;
    ALTER TABLE outbox ADD COLUMN outcome TEXT;
    ALTER TABLE outbox ADD COLUMN outcome_at TEXT;
    ALTER TABLE outbox ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX outbox_queue ON outbox (state, message_type, id);
    CREATE INDEX outbox_by_invoice ON outbox (invoice_id, id);
    CREATE INDEX outbox_by_file ON outbox (file_name) WHERE file_name IS NOT NULL;
    ALTER TABLE invoices ADD COLUMN status_at TEXT;
    ALTER TABLE invoices ADD COLUMN result_code TEXT NOT NULL DEFAULT '';
    ALTER TABLE invoices ADD COLUMN result_reason TEXT NOT NULL DEFAULT '';
    CREATE INDEX invoices_by_status ON invoices (status, issued_at);
    CREATE TABLE results_seen (
        path TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        seen_at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID;
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        entity TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        due_at TEXT,
        message TEXT NOT NULL,
        cleared_at TEXT,
        UNIQUE (kind, entity, entity_id)
    );
    """,
    # 3: the invoice lifecycle and the API. ``invoices.lifecycle`` (issued / voided / cancelled) is apart from the
    # delivery ``status``; ``invoice_actions`` keeps each void, cancel, re-issue and reprint with the outbox row
    # of its message; allowances with their lines (``gross`` is what a line took from the original line, in
    # the invoice's own terms); ``api_nonces`` guards against replayed requests, also across restarts.
    """
    ALTER TABLE invoices ADD COLUMN lifecycle TEXT NOT NULL DEFAULT 'issued'
        CHECK (lifecycle IN ('issued', 'voided', 'cancelled'));
    ALTER TABLE invoices ADD COLUMN lifecycle_at TEXT;
    CREATE TABLE invoice_actions (
        id INTEGER PRIMARY KEY,
        invoice_id INTEGER NOT NULL REFERENCES invoices (id),
        kind TEXT NOT NULL CHECK (kind IN ('void', 'cancel', 'reissue', 'reprint')),
        at TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        document TEXT,
        outbox_id INTEGER REFERENCES outbox (id)
    );
    CREATE INDEX invoice_actions_by_invoice ON invoice_actions (invoice_id, id);
    CREATE INDEX invoice_actions_by_outbox ON invoice_actions (outbox_id);
    CREATE TABLE allowances (
        id INTEGER PRIMARY KEY,
        number TEXT NOT NULL UNIQUE,
        sequence INTEGER NOT NULL UNIQUE,
        invoice_id INTEGER NOT NULL REFERENCES invoices (id),
        request_id TEXT UNIQUE,
        request TEXT NOT NULL,
        allowance_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'voided')),
        tax_amount INTEGER NOT NULL,
        total_amount TEXT NOT NULL,
        outbox_id INTEGER REFERENCES outbox (id),
        voided_at TEXT,
        void_reason TEXT,
        void_outbox_id INTEGER REFERENCES outbox (id),
        created_at TEXT NOT NULL
    );
    CREATE INDEX allowances_by_invoice ON allowances (invoice_id, id);
    CREATE TABLE allowance_lines (
        allowance_id INTEGER NOT NULL REFERENCES allowances (id),
        sequence TEXT NOT NULL,
        original_sequence TEXT NOT NULL,
        description TEXT NOT NULL,
        quantity TEXT NOT NULL,
        unit TEXT NOT NULL,
        unit_price TEXT NOT NULL,
        amount TEXT NOT NULL,
        tax INTEGER NOT NULL,
        gross TEXT NOT NULL,
        tax_type TEXT NOT NULL,
        PRIMARY KEY (allowance_id, sequence)
    ) WITHOUT ROWID;
    CREATE TABLE api_nonces (
        key_id TEXT NOT NULL,
        nonce TEXT NOT NULL,
        seen_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, nonce)
    ) WITHOUT ROWID;
    CREATE INDEX api_nonces_by_time ON api_nonces (seen_at);
    """,
    # Print jobs (daemon/printing.py): one row per slip to print for an invoice, ``proof`` (the 證明聯 with its
    # detail slip) or ``info`` (donated/carrier invoices); ``copy`` = 1 prints 補印. queued -> printed | failed,
    # ``printing`` while a worker has it. The partial indexes find the invoices that still owe a job.
    """
    CREATE TABLE print_jobs (
        id INTEGER PRIMARY KEY,
        invoice_id INTEGER NOT NULL REFERENCES invoices (id),
        kind TEXT NOT NULL CHECK (kind IN ('proof', 'info')),
        copy INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'printing', 'printed', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX print_jobs_queue ON print_jobs (state, not_before, id);
    CREATE INDEX print_jobs_by_invoice ON print_jobs (invoice_id, id);
    CREATE INDEX invoices_print_pending ON invoices (id) WHERE print_status = 'pending';
    CREATE INDEX invoices_unprinted_by_time ON invoices (created_at) WHERE print_requested = 0;
    """,
    """
    CREATE TABLE job_runs (
        job TEXT PRIMARY KEY,
        last_success TEXT NOT NULL
    );
    """,
    # 6: scheduled work and alerts (daemon/periodic.py, reports.py, archive.py, notify.py). A period is closed
    # for E0402 once: ``blank_periods`` marks it, each message's spans are kept in ``blank_reports`` (the pump
    # rebuilds the XML from them) and the period's ranges are exhausted (``last_no = end_no``; the real last
    # number stays in ``used_last_no``) so nothing can be issued into numbers already reported blank.
    # ``exports`` records reports and archives written; ``alert_deliveries`` the webhook/printer notices of
    # each alert, ``alerts.notified_at`` when the notifier took it (already-cleared alerts count as taken).
    """
    ALTER TABLE tracks ADD COLUMN closed_at TEXT;
    ALTER TABLE tracks ADD COLUMN used_last_no INTEGER;
    CREATE TABLE blank_periods (
        period TEXT PRIMARY KEY,
        closed_at TEXT NOT NULL,
        messages INTEGER NOT NULL
    );
    CREATE TABLE blank_reports (
        id INTEGER PRIMARY KEY,
        period TEXT NOT NULL REFERENCES blank_periods (period),
        invoice_type TEXT NOT NULL,
        track TEXT NOT NULL,
        part INTEGER NOT NULL,
        head_ban TEXT NOT NULL,
        branch_ban TEXT NOT NULL,
        spans TEXT NOT NULL,
        outbox_id INTEGER NOT NULL UNIQUE REFERENCES outbox (id),
        UNIQUE (period, invoice_type, track, part)
    );
    CREATE TABLE exports (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        path TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    ALTER TABLE alerts ADD COLUMN notified_at TEXT;
    UPDATE alerts SET notified_at = cleared_at WHERE cleared_at IS NOT NULL;
    CREATE INDEX alerts_unnotified ON alerts (id) WHERE notified_at IS NULL;
    CREATE TABLE alert_deliveries (
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        channel TEXT NOT NULL CHECK (channel IN ('webhook', 'printer')),
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT NOT NULL,
        last_error TEXT,
        sent_at TEXT,
        PRIMARY KEY (alert_id, channel)
    ) WITHOUT ROWID;
    """,
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
        self.migrate()
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
        conn = self.connection()
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(migrations):
            raise RuntimeError(f"database {self.path} is schema {version}, newer than this einvd ({len(migrations)})")
        for number, script in enumerate(migrations[version:], start=version + 1):
            with self.write() as tx:
                for statement in filter(str.strip, script.split(";")):
                    tx.execute(statement)
                tx.execute(f"PRAGMA user_version={number}")
        return len(migrations)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def event(conn: sqlite3.Connection, at: str, entity: str, entity_id: str, kind: str, reason: str = "",
          data: str | None = None) -> None:
    conn.execute(
        "INSERT INTO events (at, entity, entity_id, kind, reason, data) VALUES (?, ?, ?, ?, ?, ?)",
        (at, entity, entity_id, kind, reason, data),
    )

