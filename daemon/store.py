"""The one SQLite file: tracks with cursors, invoices and lines, the outbox and the event log.

WAL + synchronous=FULL: a commit is on disk (one fdatasync of the WAL) before we answer. Writers take the lock
up front (``BEGIN IMMEDIATE``) so concurrent issuers serialise instead of failing on a lock upgrade. One
connection per thread; several processes may share the file. Schema changes are ``PRAGMA user_version``
migrations, applied in order inside one transaction each.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
        UNIQUE (period, number)
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


class Store:
    """Opens the database file, applies migrations and hands out per-thread connections."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            for pragma in PRAGMAS:
                conn.execute(pragma)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, committed (and synced) on success, rolled back on error."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        except sqlite3.OperationalError as error:
            if conn.in_transaction:
                conn.rollback()
            raise (_classify(error) or error) from error

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

