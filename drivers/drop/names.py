"""Finding a dropped file again wherever Turnkey put it, and the facts of a file in SRC.

Turnkey 3.2.0 (domain.md §5.5a) moves a taken file to ``BAK/<yyyyMMdd>/<HH>/<name>`` (a name already there
becomes ``<name>.001``, ``.002``...) or ``ERR/<yyyyMMdd>/<HH>/<name>``; older Turnkeys (§5.2) used hour-range
folders ``HH-HH`` and appended ``_<epoch millis>`` before ``.xml``. ``find`` walks SRC, BAK and ERR with the
drop's own lister (a local ``scandir`` or SFTP ``listdir_attr``) and knows all these forms.
"""

from __future__ import annotations

import grp
import re
from dataclasses import dataclass

from drivers.drop.watch import Lister, walk
from turnkey.layout import Layout

_COPY = re.compile(r"\.\d{3}")
_SUFFIX = re.compile(r"_\d{13}")


@dataclass(frozen=True, slots=True)
class Facts:
    """Mode bits (with the type), owner ids and modification time of a file or folder."""

    mode: int
    uid: int
    gid: int
    mtime: float


def is_copy_of(found: str, name: str) -> bool:
    """Whether the base name ``found`` is ``name`` as Turnkey left it (``.001`` duplicates, ``_<ms>`` suffix)."""
    if found == name:
        return True
    if found.startswith(name) and _COPY.fullmatch(found[len(name):]):
        return True
    stem, dot, ext = name.rpartition(".")
    return bool(dot) and found.startswith(f"{stem}_") and found.endswith(f".{ext}") and \
        _SUFFIX.fullmatch(found[len(stem):-len(ext) - 1]) is not None


def find(lister: Lister, layout: Layout, code: str, name: str) -> str | None:
    """The path of ``name`` in SRC, else in BAK or ERR (date and hour folders below); None when nowhere."""
    src = layout.folder("SRC", code)
    try:
        if any(entry.name == name and not entry.is_dir for entry in lister(src)):
            return f"{src}/{name}"
    except FileNotFoundError:
        pass
    for which in ("BAK", "ERR"):
        for path in sorted(walk(lister, layout.folder(which, code))):
            if is_copy_of(path.rsplit("/", 1)[-1], name):
                return path
    return None


def group_id(group: str) -> int | None:
    """The gid of ``group`` (a name on this host, or a number); None for ''; ValueError for an unknown name."""
    if not group:
        return None
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"turnkey.file_group: no group {group!r} on this host") from None
