"""Seeing what Turnkey did: listings are the source of truth, watchdog only wakes the rescan up early.

inotify loses events (queue overflow, network shares changed by another host, files moved while the daemon was
down: libraries.md §3), so the daemon never acts on an event. It lists the folders on a timer and at start,
and a ``Trigger`` merely makes the next rescan come now. ``walk`` takes the folder lister as an argument, so
the same code lists a local tree (``os.scandir``) and an SFTP tree (``listdir_attr``), which has no events.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from turnkey.layout import RESULT_DEPTH

TEMPORARY = (".tmp", ".part", ".partial", ".filepart")
WAKING = frozenset({"created", "moved", "deleted", "closed"})


@dataclass(frozen=True)
class Entry:
    """One directory entry as a lister reports it."""

    name: str
    is_dir: bool
    size: int


Lister = Callable[[str], Iterable[Entry]]
"""Lists one folder (a ``/`` path relative to the tree's root); FileNotFoundError when it does not exist."""


def finished(name: str) -> bool:
    """Whether a file name looks complete: not hidden, not a temporary name."""
    return not name.startswith(".") and not name.endswith(TEMPORARY)


def walk(lister: Lister, top: str, depth: int = RESULT_DEPTH) -> dict[str, int]:
    """Finished files below ``top`` (``top/sub/name`` -> size), ``depth`` folder levels deep; {} if absent.

    Turnkey 3.2.0's ``<yyyyMMdd>/<HH>/`` and ``<transDate>/<yyyyMMddHH>/`` and the older ``<yyyyMMdd>/<HH-HH>/``
    are two levels; names need no ``.xml`` (a ProcessResult is ``<commonName><sep>ProcessResult``)."""
    found: dict[str, int] = {}
    try:
        entries = list(lister(top))
    except FileNotFoundError:
        return found
    for entry in entries:
        path = f"{top}/{entry.name}"
        if entry.is_dir and depth > 0:
            found.update(walk(lister, path, depth - 1))
        elif not entry.is_dir and finished(entry.name):
            found[path] = entry.size
    return found


def local_lister(root: Path) -> Lister:
    """``os.scandir`` below ``root``; symbolic links are listed as what they are, never followed."""

    def entries(folder: str) -> Iterator[Entry]:
        with os.scandir(root / folder) as scan:  # FileNotFoundError here: the folder itself is absent
            for item in scan:
                try:
                    is_dir = item.is_dir(follow_symlinks=False)
                    size = 0 if is_dir else item.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    if not (root / folder).is_dir():
                        raise  # the folder itself went away (a share unmounted mid-listing): nothing here is known
                    # moved away while the folder was read (Turnkey taking it from SRC): it is not here any more.
                    # Raising would make the whole folder look absent, and a file still in it look lost.
                    continue
                yield Entry(item.name, is_dir, size)

    return entries


class _Wake(FileSystemEventHandler):
    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in WAKING:
            self.flag.set()


class Trigger:
    """watchdog observer over local folders; ``fired()`` says (once) that something changed since last asked."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [folder for folder in folders if folder.is_dir()]
        self._flag = threading.Event()
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        observer = Observer()
        handler = _Wake(self._flag)
        for folder in self.folders:
            observer.schedule(handler, str(folder), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def fired(self) -> bool:
        was = self._flag.is_set()
        self._flag.clear()
        return was

    def wait(self, timeout: float) -> bool:
        """Block until an event arrives (for tools and tests that watch a real tree)."""
        return self._flag.wait(timeout)


class Rescan:
    """Due every ``every`` (and at the first call), or as soon as ``wake()`` reports a change."""

    def __init__(self, every: timedelta, wake: Callable[[], bool] | None = None) -> None:
        self.every = every
        self.wake = wake
        self._last: datetime | None = None

    def due(self, now: datetime) -> bool:
        woken = self.wake() if self.wake is not None else False
        if woken or self._last is None or now - self._last >= self.every:
            self._last = now
            return True
        return False
