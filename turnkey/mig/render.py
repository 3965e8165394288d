"""``render(message) -> bytes``: one MIG 4.1 XML document per message, dispatched on the message type."""

from __future__ import annotations

from lxml import etree

from turnkey.mig import e0402, f0401, f0501, f0701, g0401, g0501
from turnkey.mig.common import serialize
from turnkey.model import Allowance, AllowanceVoid, BlankReport, Cancel, Invoice, Message, Void

CODES: dict[type[Message], str] = {
    Invoice: f0401.CODE,
    Void: f0501.CODE,
    Cancel: f0701.CODE,
    Allowance: g0401.CODE,
    AllowanceVoid: g0501.CODE,
    BlankReport: e0402.CODE,
}
"""The MIG code of each message type (also the Turnkey UpCast folder name)."""


def code_of(message: Message) -> str:
    """``Invoice`` -> ``F0401``, ``Void`` -> ``F0501``, ..."""
    return CODES[type(message)]


def build(message: Message) -> etree._Element:
    """The message as an lxml tree (root element in the message's default namespace)."""
    match message:
        case Invoice():
            return f0401.build(message)
        case Void():
            return f0501.build(message)
        case Cancel():
            return f0701.build(message)
        case Allowance():
            return g0401.build(message)
        case AllowanceVoid():
            return g0501.build(message)
        case _:
            return e0402.build(message)


def render(message: Message) -> bytes:
    """UTF-8 XML with declaration and no BOM; empty optional fields and None decimals are left out.

    Dates are ``yyyyMMdd`` and times ``HH:mm:ss`` in Taipei time (aware datetimes are converted; sub-second
    parts are dropped). Raises ValueError for a naive datetime or text that XML cannot carry (control chars).
    """
    return serialize(build(message))
