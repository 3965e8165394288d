"""Durable file writes, the one way einvd lands a file whole: write, fsync, rename, fsync the folder.

A rename is atomic (a reader sees the old file or the new one, never a part), but only the folder's fsync makes
it survive a power loss, and only the file's fsync before it makes the renamed file hold its bytes. The local
drop, the reports and the archive all write through here; the drop stages in a folder of its own (same
filesystem, outside SRC) and renames itself, so it calls ``write_synced`` and ``fsync_dir`` directly.
"""

from __future__ import annotations

import os
from pathlib import Path

from drivers import faultpoints


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes, mode: int = 0o644, fault: str = "") -> None:
    """Create or truncate ``path`` (``mode`` before the umask), write all of ``data`` and fsync it.

    ``fault`` names the fault point passed between the write and the fsync (crash tests; '' for none).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fault:
            faultpoints.hit(fault)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o666) -> Path:
    """``path`` whole or not at all: a hidden temporary file beside it, fsync, rename, fsync of the folder.

    The folder is created when missing. ``mode`` 0o666 leaves the permissions to the umask, as ``open()`` does.
    A temporary file left by an interrupted write is removed first: an existing file would keep its own mode,
    and a secret written with ``mode`` 0o600 must never land in a file others may read.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    write_synced(temporary, data, mode)
    os.replace(temporary, path)
    fsync_dir(path.parent)
    return path
