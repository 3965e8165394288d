"""drivers.files: a file lands whole (write, fsync, rename, fsync of the folder) and nothing is left beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.files import fsync_dir, write_atomic, write_synced


def test_write_atomic_creates_the_folder_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "2026" / "daily.json"
    assert write_atomic(path, b"first") == path and path.read_bytes() == b"first"
    write_atomic(path, b"second, longer")
    assert path.read_bytes() == b"second, longer"
    assert sorted(p.name for p in path.parent.iterdir()) == ["daily.json"]


def test_write_atomic_leaves_the_permissions_to_the_umask(tmp_path: Path) -> None:
    path = write_atomic(tmp_path / "a.md", b"x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_a_secret_never_lands_in_a_leftover_temporary_others_may_read(tmp_path: Path) -> None:
    leftover = tmp_path / ".api-keys.toml.tmp"  # an interrupted earlier write
    leftover.write_bytes(b"half")
    leftover.chmod(0o644)
    path = write_atomic(tmp_path / "api-keys.toml", b"secret", mode=0o600)
    assert path.read_bytes() == b"secret" and path.stat().st_mode & 0o777 == 0o600 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api-keys.toml"]


def test_write_synced_truncates_writes_everything_and_uses_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "F0401_x.xml"
    path.write_bytes(b"an older and longer copy")
    data = bytes(range(256)) * 4096  # 1 MiB: more than one os.write may take
    write_synced(path, data, fault="not.armed")
    assert path.read_bytes() == data
    write_synced(tmp_path / "b.xml", b"", mode=0o600)
    assert (tmp_path / "b.xml").stat().st_mode & 0o777 == 0o600 & ~_umask()


def test_fsync_dir_takes_folders_only(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        fsync_dir(tmp_path / "f")


def _umask() -> int:
    """This process's umask, read without setting it (other tests' threads may be creating files)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError("no Umask line in /proc/self/status")
