"""MemoryDrop: a Turnkey work folder held in dictionaries, for tests and ``memory:`` drops.

It keeps the drop contract (same name replaces, nothing partial, OSError while "unreachable") and lets a test
play Turnkey's part: ``take`` moves a waiting file to BAK or ERR as Turnkey 3.2.0 does (domain.md §5.5a: a name
already in BAK becomes ``<name>.001``, ``.002``...; ERR overwrites; no reason file), ``deliver`` adds a
downloaded result file. Paths are ``SRC/<code>/<name>``, ``ERR/<code>/<name>``, ``BAK/<code>/<name>`` and
``<kind>/<name>``.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

CODES = frozenset({"F0401", "F0501", "F0701", "G0401", "G0501", "E0401", "E0402"})
KINDS = frozenset({"SummaryResult", "ProcessResult", "E0501"})
TAKEN = re.compile(r"(?:\.\d{3}|_\d{13})?")
"""What Turnkey may add to a taken file's name (domain.md §5.5a ``.001`` duplicates in BAK; §5.2 the older
``_<epoch ms>`` before ``.xml``)."""


@dataclass(frozen=True)
class MemoryFacts:
    mode: int
    uid: int
    gid: int
    mtime: float


class MemoryDrop:
    def __init__(self) -> None:
        self.src: dict[str, dict[str, bytes]] = {}
        self.files: dict[str, bytes] = {}
        self.log: list[tuple[str, str]] = []
        self.down: OSError | None = None
        self.synced = 0
        self.modes: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "MemoryDrop()"

    def _gate(self, code: str | None = None) -> None:
        if self.down is not None:
            raise self.down
        if code is not None and code not in CODES:
            raise ValueError(f"unknown message code {code!r}")

    def put(self, code: str, name: str, data: bytes) -> None:
        self._gate(code)
        allowed = name.isascii() and all(ch.isalnum() or ch in "_-." for ch in name)
        if not allowed or not name.endswith(".xml") or name.startswith("."):
            raise ValueError(f"bad drop file name {name!r}")
        with self._lock:
            self.src.setdefault(code, {})[name] = bytes(data)
            self.log.append((code, name))

    def put_many(self, files: Sequence[tuple[str, str, bytes]]) -> tuple[int, Exception | None]:
        for done, (code, name, data) in enumerate(files):
            try:
                self.put(code, name, data)
            except (OSError, ValueError) as error:
                return done, error
        return len(files), None

    def sync(self) -> None:
        self._gate()
        self.synced += 1

    def pending(self, code: str) -> set[str]:
        self._gate(code)
        with self._lock:
            return set(self.src.get(code, {}))

    def moved(self, code: str, which: str) -> dict[str, int]:
        self._gate(code)
        return self._below(f"{which}/{code}/")

    def results(self, kind: str) -> dict[str, int]:
        self._gate()
        if kind not in KINDS:
            raise ValueError(f"unknown result kind {kind!r}")
        return self._below(f"{kind}/")

    def _below(self, prefix: str) -> dict[str, int]:
        with self._lock:
            return {path: len(data) for path, data in self.files.items() if path.startswith(prefix)}

    def read(self, path: str) -> bytes:
        self._gate()
        with self._lock:
            if path.startswith("SRC/"):
                _, code, name = path.split("/", 2)
                return self.src[code][name]
            try:
                return self.files[path]
            except KeyError:
                raise FileNotFoundError(errno.ENOENT, "no such file", path) from None

    def quarantine(self, path: str, reason: str) -> str:
        """Copy ``path`` to ``quarantine/<path>`` with ``<copy>.reason.txt`` beside it (the original stays)."""
        data = self.read(path)
        copy = f"quarantine/{path}"
        with self._lock:
            self.files[copy] = data
            self.files[f"{copy}.reason.txt"] = reason.encode("utf-8")
        return copy

    def check(self) -> list[str]:
        return [f"memory drop unreachable: {self.down}"] if self.down is not None else []

    def find(self, code: str, name: str) -> str | None:
        """``SRC/<code>/<name>``, or the BAK/ERR path Turnkey moved it to (any folders below, ``.001`` or
        ``_<ms>`` added to the name); None when it is nowhere."""
        self._gate(code)
        stem = name.removesuffix(".xml")
        with self._lock:
            if name in self.src.get(code, {}):
                return f"SRC/{code}/{name}"
            for path in sorted(self.files):
                base = path.rsplit("/", 1)[-1]
                if not (path.startswith((f"BAK/{code}/", f"ERR/{code}/")) and base.startswith(stem)):
                    continue
                if TAKEN.fullmatch(base.removeprefix(name)) or (
                        base.endswith(".xml") and TAKEN.fullmatch(base[len(stem):-4])):
                    return path
        return None

    def find_many(self, code: str, files: Sequence[str]) -> dict[str, str]:
        return {name: path for name in files if (path := self.find(code, name)) is not None}

    def inspect(self, code: str, name: str) -> MemoryFacts | None:
        """A file waiting in SRC (mode from ``modes``, 0o660 unless a test set it), owned by this process."""
        self._gate(code)
        with self._lock:
            if name and name not in self.src.get(code, {}):
                return None
        mode = self.modes.get((code, name), 0o40770 if not name else 0o100660)
        return MemoryFacts(mode, os.getuid(), os.getgid(), 0.0)

    def close(self) -> None:
        """Nothing to release."""

    # --- Turnkey's side ---------------------------------------------------------------------------------

    def take(self, code: str, name: str, accept: bool = True) -> str:
        """Turnkey picks ``name`` up: to BAK (accepted; ``<name>.001``... when the name is there) or ERR
        (refused, overwriting a same-named file; Turnkey 3.2.0 writes the reason only to its database)."""
        with self._lock:
            data = self.src[code].pop(name)
            path = f"{'BAK' if accept else 'ERR'}/{code}/{name}"
            serial = 0
            while accept and path in self.files:
                serial += 1
                path = f"BAK/{code}/{name}.{serial:03d}"
            self.files[path] = data
        return path

    def take_all(self, code: str = "F0401") -> list[str]:
        return [self.take(code, name) for name in sorted(self.pending(code))]

    def deliver(self, kind: str, name: str, data: bytes) -> str:
        """A result file appears (as Turnkey's download task leaves it)."""
        if kind not in KINDS:
            raise ValueError(f"unknown result kind {kind!r}")
        path = f"{kind}/{name}"
        with self._lock:
            self.files[path] = data
        return path
