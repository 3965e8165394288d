"""Local drop: Turnkey's work folder is a directory here (same host, or a mounted share).

A file is written to the staging folder (same filesystem, outside every SRC), fsynced, then renamed into SRC,
so Turnkey sees either nothing or the whole file. ``put_many`` stages a batch on a few threads (concurrent
fsyncs share journal commits) and renames the files into SRC one by one, in the order given. ``sync()``
fsyncs the SRC folders touched since the last call, which makes the renames durable; the caller records
"dropped" only after it. The same name always lands on the same path, so a retry after a crash overwrites
instead of adding a second copy. Missing folders are never created (an unmounted share must fail, not fill
the mount point), except the staging folder, which is ours and is created when its SRC exists.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from drivers import faultpoints
from drivers.drop import names
from drivers.drop.names import Facts
from drivers.drop.watch import local_lister, walk
from drivers.files import fsync_dir, write_synced
from turnkey.layout import Layout, check_name

WRITTEN = "drop.write.before_fsync"
"""Fault point between a drop file's write and its fsync (also the quarantine's reason file, as before)."""


class LocalDrop:
    def __init__(self, root: Path, layout: Layout | None = None, parallel: int = 8, file_mode: int = 0o660,
                 file_group: str = "") -> None:
        self.root = Path(root)
        self.file_mode, self.file_gid = file_mode, names.group_id(file_group)
        self.layout = layout or Layout()
        self.parallel = parallel
        self._list = local_lister(self.root)
        self._touched: set[Path] = set()
        self._pool: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"LocalDrop({str(self.root)!r})"

    def put(self, code: str, name: str, data: bytes) -> None:
        """Stage, fsync and rename ``name`` into the SRC folder of ``code``; OSError when it cannot."""
        src, staged = self._prepare(code, name, data)
        self._rename(staged, src / name)
        self._touched.add(src)

    def put_many(self, files: Sequence[tuple[str, str, bytes]]) -> tuple[int, Exception | None]:
        """Put ``files`` in order: staged and fsynced in parallel, then renamed into SRC one by one in order.

        Returns how many of the first files are in SRC and the failure that stopped the rest (None: all).
        Concurrent fsyncs share the filesystem's journal commits, which is where the speed comes from.
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="einvd-stage")
        futures = [self._pool.submit(self._prepare, code, name, data) for code, name, data in files]
        done = 0
        try:
            for (_, name, _), future in zip(files, futures, strict=True):
                src, staged = future.result()
                self._rename(staged, src / name)
                self._touched.add(src)
                done += 1
        except (OSError, ValueError) as error:
            wait(futures)
            return done, error
        return done, None

    def _prepare(self, code: str, name: str, data: bytes) -> tuple[Path, Path]:
        src = self.root / self.layout.folder("SRC", code)
        if not src.is_dir():
            raise FileNotFoundError(errno.ENOENT, "Turnkey SRC folder missing (share not mounted?)", str(src))
        staged = self._staging() / check_name(name)
        self._stage(staged, data)
        return src, staged

    def _staging(self) -> Path:
        staging = self.root / self.layout.staging
        if not staging.is_dir():
            staging.mkdir(mode=0o755, exist_ok=True)
        return staging

    def _stage(self, staged: Path, data: bytes) -> None:
        """Write and fsync, then the mode and group Turnkey's user needs (the umask does not decide them)."""
        write_synced(staged, data, mode=self.file_mode, fault=WRITTEN)
        os.chmod(staged, self.file_mode)
        if self.file_gid is not None:
            os.chown(staged, -1, self.file_gid)

    def _rename(self, staged: Path, target: Path) -> None:
        faultpoints.hit("drop.rename.before")
        os.replace(staged, target)
        faultpoints.hit("drop.rename.after")

    def sync(self) -> None:
        """Make the renames since the last call durable (fsync of each SRC folder touched). A folder whose fsync
        fails stays on the list, so the next call (the pump's retry) syncs it before anything counts as there."""
        for folder in sorted(self._touched):
            fsync_dir(folder)
            self._touched.discard(folder)
            faultpoints.hit("drop.dir_synced")

    def pending(self, code: str) -> set[str]:
        """Names of the files waiting in SRC; OSError (FileNotFoundError) when SRC is not there."""
        return {entry.name for entry in self._list(self.layout.folder("SRC", code)) if not entry.is_dir}

    def moved(self, code: str, which: str) -> dict[str, int]:
        """Files below ERR or BAK of ``code`` (date and hour sub-folders): path from the root -> size."""
        return walk(self._list, self.layout.folder(which, code))

    def results(self, kind: str) -> dict[str, int]:
        """Downloaded result files of ``kind`` (SummaryResult, ProcessResult, E0501): path -> size."""
        folder = self.layout.result_folder(kind)
        return walk(self._list, folder) if folder else {}

    def read(self, path: str) -> bytes:
        if ".." in path.split("/") or path.startswith("/"):
            raise ValueError(f"path {path!r} leaves the Turnkey folder")
        return (self.root / path).read_bytes()

    def quarantine(self, path: str, reason: str) -> str:
        """Copy ``path`` (streamed, never held in memory) below the quarantine folder, ours and created as needed
        when its parent exists, with ``<copy>.reason.txt`` beside it; each lands whole (written, then renamed)."""
        if ".." in path.split("/") or path.startswith("/"):
            raise ValueError(f"path {path!r} leaves the Turnkey folder")
        copy = self.layout.quarantined(path)
        top = self.root / self.layout.quarantine.strip("/")
        if not top.parent.is_dir():
            raise FileNotFoundError(errno.ENOENT, "Turnkey folder missing (share not mounted?)", str(top.parent))
        target = self.root / copy
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        shutil.copyfile(self.root / path, part)
        os.replace(part, target)
        write_synced(part, reason.encode("utf-8"), fault=WRITTEN)
        os.replace(part, target.with_name(f"{target.name}.reason.txt"))
        return copy

    def check(self) -> list[str]:
        """One line per missing or unwritable folder, or a staging folder on another filesystem than SRC."""
        problems = []
        for folder in self.layout.required():
            path = self.root / folder
            if folder == self.layout.staging.strip("/") and not path.exists() and path.parent.is_dir():
                continue  # created on the first drop
            if not path.is_dir():
                problems.append(f"{path}: missing")
            elif not os.access(path, os.W_OK | os.X_OK):
                problems.append(f"{path}: not writable")
        problems += self._same_filesystem()
        return problems

    def _same_filesystem(self) -> list[str]:
        staging = self.root / self.layout.staging
        base = staging if staging.is_dir() else staging.parent
        if not base.is_dir():
            return []
        device = base.stat().st_dev
        problems = []
        for code in self.layout.codes:
            src = self.root / self.layout.folder("SRC", code)
            if src.is_dir() and src.stat().st_dev != device:
                problems.append(f"{src}: not on the staging folder's filesystem, a rename would not be atomic")
        return problems

    def find(self, code: str, name: str) -> str | None:
        """Where ``name`` is now: SRC, or BAK/ERR in any of Turnkey's folder and name forms; None: nowhere."""
        return names.find(self._list, self.layout, code, name)

    def find_many(self, code: str, files: Sequence[str]) -> dict[str, str]:
        """``find`` for many names with one walk of BAK and ERR: name -> path, for those found."""
        return names.find_many(self._list, self.layout, code, files)

    def inspect(self, code: str, name: str) -> Facts | None:
        """Mode, owner and mtime of ``name`` in SRC of ``code`` (``""``: the SRC folder); None when absent."""
        path = self.root / self.layout.folder("SRC", code)
        try:
            st = (path / name if name else path).stat()
        except FileNotFoundError:
            return None
        return Facts(st.st_mode, st.st_uid, st.st_gid, st.st_mtime)

    def close(self) -> None:
        self._touched.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

