"""Composition root, Turnkey's own database: ``[turnkey] database`` -> a read-only ``ports.TurnkeyDatabase``.

The password is the systemd credential ``database_credential`` (read by ``config``), set on the URL here and
never shown: ``repr`` and every error carry the URL without it. The driver (an optional extra) is imported
only when a database is configured; a driver error while reading becomes ``ConnectionError`` (an OSError),
which the periodic job treats like an unreachable drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from daemon.config import ConfigError, Settings
from daemon.ports import Drop, TurnkeyDatabase
from daemon.store import Store
from daemon.turnkey_watch import TurnkeyWatch

if TYPE_CHECKING:
    from drivers.turnkey_db import TurnkeyDbReader, TurnkeyRecord


class GuardedReader:
    """The reader, with its driver's errors turned into ConnectionError (without the password)."""

    def __init__(self, reader: TurnkeyDbReader) -> None:
        self.reader = reader

    def __repr__(self) -> str:
        return repr(self.reader)

    def statuses(self, prefixes: Sequence[str]) -> dict[str, TurnkeyRecord]:
        import sqlalchemy as sa

        try:
            return dict(self.reader.statuses(prefixes))
        except sa.exc.SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            raise ConnectionError(f"{self.reader!r}: {type(cause).__name__}: {str(cause).splitlines()[0]}") from None

    def check(self) -> str:
        return self.reader.check()

    def close(self) -> None:
        self.reader.close()


def open_turnkey_database(settings: Settings) -> TurnkeyDatabase | None:
    """The reader of ``turnkey.database``; None when none is configured. ConfigError for a bad URL or a driver
    that is not installed (the extra to install is named)."""
    tk = settings.turnkey
    if not tk.database:
        return None
    try:
        from drivers.turnkey_db import TurnkeyDbReader, database_url
    except ImportError as error:  # sqlalchemy itself missing
        raise ConfigError(f"turnkey.database needs SQLAlchemy (pip install 'einvd[postgresql]'): {error}") from error
    try:
        url = database_url(tk.database, tk.database_password)
        reader = TurnkeyDbReader(url)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    except ImportError as error:
        raise ConfigError(f"turnkey.database: the {url.get_backend_name()} driver is not installed "
                          f"(pip install 'einvd[{url.get_backend_name()}]'): {error}") from error
    return GuardedReader(reader)


def turnkey_watcher(settings: Settings, store: Store, drop: Drop | None) -> TurnkeyWatch:
    """The periodic Turnkey checks of ``einvd run`` (``daemon.periodic.turnkey_jobs`` schedules them)."""
    tk = settings.turnkey
    return TurnkeyWatch(store, drop, open_turnkey_database(settings), tk.layout,
                        timedelta(minutes=tk.stuck_after_minutes), timedelta(hours=tk.silent_after_hours))
