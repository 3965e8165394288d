"""Everything einvd keeps in SQLite, and the only package that speaks SQL.

``db`` opens the file (WAL, ``synchronous=FULL``), hands out per-thread connections and write transactions, and
formats every stored timestamp (``stamp``); ``schema`` holds the migrations; ``backup`` makes copies (``einvd
backup``, the one before each migration) and restores them. One query module per aggregate sits beside them
and returns typed records.
"""

from daemon.store.backup import BackupError, SchemaTooNew
from daemon.store.db import (
    PRAGMAS,
    Connection,
    OperationalError,
    Store,
    StoreUnavailable,
    Transaction,
    event,
    stamp,
)
from daemon.store.schema import MIGRATIONS

__all__ = ["MIGRATIONS", "PRAGMAS", "BackupError", "Connection", "OperationalError", "SchemaTooNew", "Store",
           "StoreUnavailable", "Transaction", "event", "stamp"]
