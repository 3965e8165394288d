"""The one table from message type to builder: how the pump and the archive rebuild the MIG message of an outbox
row from what is stored (an F0401 from its invoice's columns, the others from the rows their outbox id names)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from daemon.allowances import allowance_message
from daemon.lifecycle import action_message
from daemon.outbox import Claimed
from daemon.periodic import blank_message
from daemon.services import stored_invoice
from daemon.store import Connection
from turnkey.model import Message, Party

Builder = Callable[[Connection, Claimed, Party], Message]
"""Builds the message of an outbox row (read with the given connection) for this seller."""


def build_f0401(conn: Connection, row: Claimed, seller: Party) -> Message:
    """The F0401 of an issued invoice, loaded from its stored document, number, random code and time."""
    if row.invoice is None:
        raise ValueError(f"outbox row {row.id} has no stored invoice")
    return stored_invoice(row.invoice, seller)


def _by_outbox_id(build: Callable[[Connection, int, Party], Message]) -> Builder:
    return lambda conn, row, seller: build(conn, row.id, seller)


BUILDERS: Mapping[str, Builder] = {
    "F0401": build_f0401,
    "F0501": _by_outbox_id(action_message),  # void
    "F0701": _by_outbox_id(action_message),  # cancel
    "G0401": _by_outbox_id(allowance_message),
    "G0501": _by_outbox_id(allowance_message),  # allowance void
    "E0402": _by_outbox_id(blank_message),
}
