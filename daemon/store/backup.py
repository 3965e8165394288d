"""Copies of the database file: ``einvd backup`` (online, while the daemon runs), the automatic copy taken before
a migration, and ``einvd restore``.

A copy is made with SQLite's backup API in one step (one read transaction: a consistent snapshot, while writers
go on in WAL mode), switched to the rollback journal so it is one self-contained file (no ``-wal`` beside it),
checked (``PRAGMA integrity_check``), fsynced, renamed into place and its folder fsynced: a copy that is reported
is on disk whole, and a power cut leaves either no copy or a complete one.

Who has the store open: every ``Store`` holds a shared ``flock`` on ``<database>.lock`` for its lifetime (the
daemon, the nonce guard, every CLI command); ``restore`` takes it exclusively, without waiting, so it refuses
while any einvd process has the database open, and no einvd opens it while a restore is under way. A lock file
(not the database itself) because SQLite's own POSIX locks are on the database, and over NFS ``flock`` is mapped
onto them. As a second guard, the replaced database is switched out of WAL mode first, which SQLite refuses
while any other connection (an older einvd, the sqlite3 shell) has it open.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from turnkey.period import taipei

LOCK_WAIT = 10.0  # seconds a Store waits for a restore to finish before it gives up


class BackupError(Exception):
    """A copy or a restore that could not be done; nothing was replaced. ``code`` names the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SchemaTooNew(RuntimeError):
    """The database was written by a newer einvd: this one refuses it and leaves the file as it was."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        super().__init__(f"database {path} has schema version {found}, written by a newer einvd; this einvd knows "
                         f"schema versions up to {known}: run the newer einvd, or restore a backup of version "
                         f"{known} or older (einvd restore FILE)")
        self.path, self.found, self.known = path, found, known


@dataclass(frozen=True, slots=True)
class Copy:
    """A database copy on disk: where, its schema version (``user_version``) and its size in bytes."""

    path: Path
    version: int
    size: int

    def as_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "schema_version": self.version, "bytes": self.size}


@dataclass(frozen=True, slots=True)
class Restored:
    """What ``restore`` did: the database now in place, where it came from and where the replaced one went."""

    database: Path
    source: Path
    version: int
    replaced: Copy | None

    def as_dict(self) -> dict[str, object]:
        return {"database": str(self.database), "restored_from": str(self.source), "schema_version": self.version,
                "integrity": "ok", "replaced_backup": self.replaced.as_dict() if self.replaced else None}


# --- names -------------------------------------------------------------------------------------------------


def sidecar(database: Path, suffix: str) -> Path:
    """``einvd.sqlite3`` -> ``einvd.sqlite3-wal`` (``-wal``, ``-shm``, ``-journal``) or ``.lock``."""
    return database.with_name(database.name + suffix)


def timestamped(database: Path, at: datetime, label: str = "") -> Path:
    """The default name of a backup beside ``database``, in Taipei time: ``einvd.sqlite3.20261203T235830+0800.bak``
    (``label`` goes before ``.bak``); a name already taken gets ``-2``, ``-3`` ..."""
    base = f"{database.name}.{taipei(at).strftime('%Y%m%dT%H%M%S%z')}{label}"
    return _free(database.parent, base)


def before_migration(database: Path, version: int) -> Path:
    """``einvd.sqlite3.v5.bak`` for a database at schema version 5 (``.v5-2.bak`` if that is taken)."""
    return _free(database.parent, f"{database.name}.v{version}")


def _free(folder: Path, base: str) -> Path:
    candidate, n = folder / f"{base}.bak", 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{base}-{n}.bak"
    return candidate


# --- durable files -----------------------------------------------------------------------------------------


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _uri(path: Path, mode: str) -> str:
    return f"file:{urllib.parse.quote(str(path.absolute()))}?mode={mode}"


def _open(path: Path, mode: str = "rw") -> sqlite3.Connection:
    """A plain connection that never creates the file (``mode`` rw or ro) and sets no journal mode."""
    conn = sqlite3.connect(_uri(path, mode), uri=True, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT * 1000)}")
    return conn


# --- the schema version, without touching the file ----------------------------------------------------------


def peek_version(path: Path) -> int:
    """The ``user_version`` in the main file of ``path`` (0 if there is no database there yet), read so that
    nothing is written: not the journal mode, not a ``-wal`` or ``-shm`` file.

    Read through SQLite (``immutable=1``: no locks, no WAL), never with ``open()``: closing a descriptor of the
    database file would drop every POSIX lock this process's SQLite connections hold on it. A newer version still
    only in the WAL is seen by ``Store.migrate``'s second look, once the file is open (opening a file that is in
    WAL mode already does not change it).
    """
    if not path.is_file():
        return 0
    try:
        conn = sqlite3.connect(_uri(path, "ro") + "&immutable=1", uri=True)
    except sqlite3.Error:
        return 0
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error:
        return 0  # not a database: the Store's own connection says so
    finally:
        conn.close()


# --- the lock ----------------------------------------------------------------------------------------------


class StoreLock:
    """``flock`` on ``<database>.lock``: shared by every open ``Store``, exclusive by ``restore``."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def shared(cls, database: Path, wait: float = LOCK_WAIT) -> StoreLock:
        """Held while a ``Store`` is open. A folder the lock file cannot be made in (read-only, full) is no
        reason to refuse the store: a restore could not write there either. A restore that holds the lock
        longer than ``wait`` is: ``BackupError`` ``store.restoring``."""
        try:
            fd = os.open(sidecar(database, ".lock"), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return cls(None)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return cls(fd)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise BackupError("store.restoring",
                                      f"{database} is being restored (einvd restore holds {database}.lock)") from None
                time.sleep(0.05)

    @classmethod
    def exclusive(cls, database: Path) -> StoreLock:
        """For ``restore``: at once or not at all (``BackupError`` ``restore.running``)."""
        try:
            fd = os.open(sidecar(database, ".lock"), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise BackupError("restore.lock", f"cannot lock {database}: {error}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise BackupError("restore.lock", f"cannot lock {database}: {error}") from error
            raise BackupError("restore.running", f"{database} is open by a running einvd (the daemon or another "
                                                 "command): stop it first (systemctl stop einvd)") from None
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


# --- copies ------------------------------------------------------------------------------------------------


def copy_database(source: Path, destination: Path, source_mode: str = "rw") -> Copy:
    """A consistent, checked, durable copy of ``source`` at ``destination`` (replaced atomically if it exists).

    ``source`` may be in use: the copy is one snapshot, taken in one read transaction. The copy is a single file
    in rollback-journal mode; ``Store`` switches it back to WAL when it opens it.
    """
    if not source.is_file():
        raise BackupError("backup.missing", f"there is no database at {source}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    _remove(staging, sidecar(staging, "-journal"))
    try:
        version = _snapshot(source, staging, source_mode)
        os.chmod(staging, source.stat().st_mode & 0o777)  # as private as the database, whatever the umask
        _fsync(staging)
        os.replace(staging, destination)
        _fsync(destination.parent, directory=True)
    except sqlite3.Error as error:
        raise BackupError("backup.failed", f"copying {source} to {destination} failed: {error}") from error
    finally:
        _remove(staging, sidecar(staging, "-journal"), sidecar(staging, "-wal"), sidecar(staging, "-shm"))
    return Copy(destination, version, destination.stat().st_size)


def _snapshot(source: Path, staging: Path, source_mode: str) -> int:
    """Copy ``source`` into the new file ``staging`` and check it; its ``user_version``."""
    src = _open(source, source_mode)
    try:
        dst = sqlite3.connect(staging, isolation_level=None)
        try:
            src.backup(dst)  # pages=-1: every page in one step, one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")
            verdict = str(dst.execute("PRAGMA integrity_check").fetchone()[0])
            if verdict != "ok":
                raise BackupError("backup.integrity", f"the copy of {source} fails its integrity check: {verdict}")
            return int(dst.execute("PRAGMA user_version").fetchone()[0])
        finally:
            dst.close()
    finally:
        src.close()


def backup(database: Path, at: datetime, destination: Path | None = None) -> Copy:
    """``einvd backup``: a copy of the live database at ``destination`` (default: beside it, named by ``at``)."""
    return copy_database(database, destination or timestamped(database, at))


# --- restore -----------------------------------------------------------------------------------------------


def restore(source: Path, database: Path, at: datetime, known: int) -> Restored:
    """Put the database copy ``source`` in place of ``database``, atomically, keeping the replaced one.

    ``source`` must pass ``PRAGMA integrity_check`` and have a schema version from 1 to ``known`` (an older one is
    migrated, after its own backup, by the next ``Store`` that opens it). Refused while any einvd has the
    database open. The replaced database is copied beside it (``<name>.<time>.replaced.bak``) and switched out of
    WAL mode, so no ``-wal`` of the old database is left to be replayed onto the restored one.
    """
    if not source.is_file():
        raise BackupError("restore.missing", f"there is no file {source}")
    if database.exists() and source.resolve() == database.resolve():
        raise BackupError("restore.same", f"{source} is the database itself")
    database.parent.mkdir(parents=True, exist_ok=True)
    lock = StoreLock.exclusive(database)
    staging = database.with_name(f".{database.name}.restore-{os.getpid()}.tmp")
    try:
        restored = copy_database(source, staging, source_mode="ro")
        _check_restorable(source, staging, restored.version, known)
        _adopt(staging, database)
        replaced = _set_aside(database, at) if database.exists() else None
        os.replace(staging, database)
        _fsync(database.parent, directory=True)
        return Restored(database, source, restored.version, replaced)
    except BackupError as error:
        if error.code.startswith("backup."):  # the copy of FILE failed: say so as a restore
            raise BackupError("restore.unreadable", f"{source} cannot be restored: {error}") from error
        raise
    finally:
        _remove(staging)
        lock.release()


def _adopt(staging: Path, database: Path) -> None:
    """The restored file gets the mode and, when root restores, the owner of the database it replaces (or of its
    folder), so the daemon's user can still write it."""
    template = database if database.exists() else None
    folder = database.parent.stat()
    if template is not None:
        os.chmod(staging, template.stat().st_mode & 0o777)
    if os.geteuid() == 0:
        owner = template.stat() if template is not None else folder
        os.chown(staging, owner.st_uid, owner.st_gid)
        _fsync(staging)


def _check_restorable(source: Path, staging: Path, version: int, known: int) -> None:
    if version > known:
        raise BackupError("restore.schema", f"{source} has schema version {version}, written by a newer einvd; "
                                            f"this einvd knows schema versions up to {known}")
    conn = _open(staging, "ro")
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    finally:
        conn.close()
    if version < 1 or not {"tracks", "invoices", "outbox"} <= tables:
        raise BackupError("restore.not_einvd", f"{source} is not an einvd database (schema version {version})")


def _set_aside(database: Path, at: datetime) -> Copy:
    """Copy the database about to be replaced beside it, then leave it a single file (no ``-wal``/``-shm``)."""
    try:
        kept = copy_database(database, timestamped(database, at, ".replaced"))
    except BackupError as error:
        raise BackupError("restore.replaced", f"the database to be replaced could not be copied first ({error}); "
                                              f"nothing was changed: move {database} and its -wal file away by hand "
                                              "and restore again") from error
    conn = _open(database)
    try:
        conn.execute("PRAGMA busy_timeout=0")
        mode = str(conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0])
    except sqlite3.OperationalError as error:
        raise BackupError("restore.running", f"{database} is open by another process ({error}): stop it first; "
                                             "nothing was changed") from error
    finally:
        conn.close()
    if mode != "delete" or sidecar(database, "-wal").exists():
        raise BackupError("restore.running", f"{database} is still in WAL mode ({mode}): another process has it "
                                             "open; nothing was changed")
    _remove(sidecar(database, "-shm"))
    return kept
