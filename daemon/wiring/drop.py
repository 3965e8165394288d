"""Composition root, delivery: the Turnkey drop URL table (a path or ``file:``, ``sftp:``, ``sim:``, ``memory:``),
the simulated Turnkey behind ``sim:``, and the pump and watch workers over the drop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from daemon.config import ConfigError, Settings
from daemon.messages import BUILDERS
from daemon.outbox import Backoff
from daemon.ports import Drop, RandomSource
from daemon.store import Store
from daemon.wiring.core import deadline_policy, load_schemas
from daemon.workers import Pump, Watch
from drivers.drop.local import LocalDrop
from drivers.drop.watch import Rescan, Trigger

if TYPE_CHECKING:
    from hw_sim.turnkey import SimTurnkey


def _local_path(url: str) -> Path:
    """The directory of a ``file://`` URL, a ``sim:`` URL or a plain path."""
    if url.startswith("file:"):
        return Path(unquote(urlsplit(url).path))
    return Path(url.removeprefix("sim:"))


def _local(settings: Settings) -> Drop:
    tk = settings.turnkey
    try:
        return LocalDrop(_local_path(tk.drop), tk.layout, file_mode=tk.file_mode, file_group=tk.file_group)
    except ValueError as error:
        raise ConfigError(str(error)) from error


def _sftp(settings: Settings) -> Drop:
    from drivers.drop.sftp import SftpDrop, SftpTarget  # paramiko: about 7 MB, only for an sftp:// drop

    tk = settings.turnkey
    assert tk.key_file is not None and tk.known_hosts is not None  # config.py refuses sftp:// without them
    try:
        target = SftpTarget.from_url(tk.drop, tk.key_file, tk.known_hosts, tk.timeout_seconds, tk.keepalive_seconds)
    except ValueError as error:
        raise ConfigError(f"turnkey.drop: {error}") from error
    try:
        return SftpDrop(target, tk.layout, file_mode=tk.file_mode, file_group=tk.file_group)
    except ValueError as error:
        raise ConfigError(str(error)) from error


def _memory(settings: Settings) -> Drop:
    from hw_sim.drop import MemoryDrop

    return MemoryDrop()


DROPS: dict[str, Callable[[Settings], Drop]] = {"file": _local, "sim": _local, "sftp": _sftp, "memory": _memory}
"""``turnkey.drop`` scheme (``TurnkeySettings.scheme``: a plain path is ``file``) -> opener. ``sim:DIR`` is a
local directory that a ``SimTurnkey`` serves (``open_simulator``)."""


def open_drop(settings: Settings) -> Drop | None:
    """The drop named by ``turnkey.drop``; None when none is configured."""
    opener = DROPS.get(settings.turnkey.scheme)
    return opener(settings) if opener is not None else None


def open_simulator(settings: Settings) -> SimTurnkey | None:
    """For ``sim:DIR``: the simulated Turnkey that serves DIR (its folders created), else None."""
    if settings.turnkey.scheme != "sim":
        return None
    from hw_sim.turnkey import SimTurnkey

    return SimTurnkey(_local_path(settings.turnkey.drop), settings.schema_dir,
                      party=settings.seller.identifier).install()


def check_drop(drop: Drop) -> list[str]:
    """The start-up check: every missing or unwritable Turnkey folder, or why the drop cannot be reached."""
    try:
        return drop.check()
    except OSError as error:
        return [f"{drop!r}: {type(error).__name__}: {error}"]


def pump_worker(settings: Settings, store: Store, drop: Drop, rng: RandomSource) -> Pump:
    tk = settings.turnkey
    seller, _ = settings.require_issuer()
    backoff = Backoff(timedelta(seconds=tk.backoff_seconds), timedelta(seconds=tk.backoff_max_seconds))
    return Pump(store, drop, seller, load_schemas(settings), rng, backoff, tk.batch, BUILDERS)


def result_trigger(settings: Settings, drop: Drop) -> Trigger | None:
    """inotify wake-ups for a local tree (SRC, ERR and result folders); None for remote trees."""
    if not isinstance(drop, LocalDrop):
        return None
    layout = settings.turnkey.layout
    folders = [layout.folder(which, code) for code in layout.codes for which in ("SRC", "ERR")]
    folders += [f for kind in ("SummaryResult", "ProcessResult", "E0501") if (f := layout.result_folder(kind))]
    return Trigger(drop.root / folder for folder in folders)


def watch_worker(settings: Settings, store: Store, drop: Drop, trigger: Trigger | None = None) -> Watch:
    """The watcher of ``einvd run``: deadlines are a job of their own there (``deadlines=False``)."""
    tk = settings.turnkey
    rescan = Rescan(timedelta(seconds=tk.rescan_seconds), trigger.fired if trigger is not None else None)
    return Watch(store, drop, settings.seller.identifier, rescan.due, deadline_policy(settings), tk.import_e0501,
                 deadlines=False)
