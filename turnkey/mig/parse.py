"""``parse(xml) -> Message``: read a MIG 4.1 document back into the model it was rendered from."""

from __future__ import annotations

from collections.abc import Callable

from turnkey.mig import e0402, f0401, f0501, f0701, g0401, g0501
from turnkey.mig.common import Node, load, localname, unreadable
from turnkey.model import Message

_READERS: dict[str, Callable[[Node], Message]] = {
    module.Q + module.ROOT: module.read for module in (f0401, f0501, f0701, g0401, g0501, e0402)
}


def parse(xml: bytes) -> Message:
    """The message of one MIG 4.1 file (F0401, F0501, F0701, G0401, G0501 or E0402).

    Raises ``ResultUnreadable`` (code ``mig.unreadable``, field = element path) on malformed XML, a DOCTYPE,
    an unknown root or namespace, a missing required element or a value the model cannot hold.
    """
    root = load(xml)
    reader = _READERS.get(root.tag)
    if reader is None:
        raise unreadable(localname(root), f"not a MIG 4.1 message einvd reads: {root.tag}")
    return reader(Node(root, localname(root)))
