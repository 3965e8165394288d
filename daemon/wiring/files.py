"""The durable write (``drivers.files.write_atomic``) for the CLI's use cases that land files of their own
(``einvd tls cert``): ``daemon.commands`` may not import drivers."""

from __future__ import annotations

from pathlib import Path

from drivers.files import write_atomic


def write_durably(path: Path, data: bytes, mode: int = 0o644) -> Path:
    """``path`` whole or not at all, ``mode`` exactly (a secret: 0o600), the folder fsynced after the rename."""
    return write_atomic(path, data, mode)
