"""Finding a dropped file again wherever Turnkey put it, and the facts of a file in SRC.

Turnkey 3.2.0 (domain.md §5.5a) moves a taken file to ``BAK/<yyyyMMdd>/<HH>/<name>`` (a name already there
becomes ``<name>.001``, ``.002``...) or ``ERR/<yyyyMMdd>/<HH>/<name>``; older Turnkeys (§5.2) used hour-range
folders ``HH-HH`` and appended ``_<epoch millis>`` before ``.xml``. ``find`` walks SRC, BAK and ERR with the
drop's own lister (a local ``scandir`` or SFTP ``listdir_attr``) and knows all these forms.
"""

from __future__ import annotations

import grp
import re
from collections.abc import Iterable
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
    return find_many(lister, layout, code, [name]).get(name)


def find_many(lister: Lister, layout: Layout, code: str, names: Iterable[str]) -> dict[str, str]:
    """``find`` for several names with one listing of SRC, then (for those not in SRC) one walk of BAK and ERR:
    name -> path, for the names found. SRC is listed first, so a file Turnkey moves meanwhile is in the walk."""
    wanted = set(names)
    src = layout.folder("SRC", code)
    try:
        found = {e.name: f"{src}/{e.name}" for e in lister(src) if not e.is_dir and e.name in wanted}
    except FileNotFoundError:
        found = {}
    left = wanted - set(found)
    for which in ("BAK", "ERR"):
        if not left:
            break
        for path in sorted(walk(lister, layout.folder(which, code))):
            base = path.rsplit("/", 1)[-1]
            hit = next((n for n in left if is_copy_of(base, n)), None) if base.startswith(_stems(left)) else None
            if hit is not None:
                found[hit] = path
                left.discard(hit)
    return found


def _stems(names: set[str]) -> tuple[str, ...]:
    return tuple(n.rsplit(".", 1)[0] for n in names)


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
