"""The ``api_nonces`` table: the nonce of every signed request within the replay window, per key.

Written inside the issue batch's own transaction (one commit for the nonce and the invoice); every
``PRUNE_EVERY``-th admission also deletes the nonces that fell out of the window.
"""

from __future__ import annotations

import sqlite3


class NonceSeen(Exception):
    """The key used this nonce already (a replay)."""


def admit(tx: sqlite3.Connection, key_id: str, nonce: str, seen_at: int, prune_before: int | None = None) -> None:
    """Record the nonce (``NonceSeen`` if the key used it already); with ``prune_before`` first delete those
    seen before that Unix time."""
    if prune_before is not None:
        tx.execute("DELETE FROM api_nonces WHERE seen_at < ?", (prune_before,))
    try:
        tx.execute("INSERT INTO api_nonces (key_id, nonce, seen_at) VALUES (?, ?, ?)", (key_id, nonce, seen_at))
    except sqlite3.IntegrityError:
        raise NonceSeen(nonce) from None
