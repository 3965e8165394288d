"""Ports the daemon consumes; drivers and simulators satisfy them structurally."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import threading

    from turnkey.proof_layout import ProofDoc


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class RandomSource(Protocol):
    """A source of random integers: ``random.Random`` and ``random.SystemRandom`` satisfy it as they are."""

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int: ...


class Drop(Protocol):
    """Turnkey's work folder (domain.md §5.2), local or remote. Paths are ``/``-separated, from its root.

    Every call raises OSError (ConnectionError, FileNotFoundError, ...) when the folder cannot be reached, and
    ValueError for a message code or file name it does not take. ``put`` is atomic and idempotent: the file
    appears in the SRC folder of ``code`` whole or not at all, and the same name replaces the earlier copy.
    """

    def put(self, code: str, name: str, data: bytes) -> None: ...

    def put_many(self, files: Sequence[tuple[str, str, bytes]]) -> tuple[int, Exception | None]:
        """``put`` each ``(code, name, data)`` in order, stopping at the first failure. Returns how many of the
        first files are in SRC and that failure (OSError: retry later; ValueError: the file itself is wrong)."""
        ...

    def sync(self) -> None:
        """Make every ``put`` since the last call durable; call before recording the files as dropped."""
        ...

    def pending(self, code: str) -> set[str]:
        """Names of the files still waiting in SRC (not yet taken by Turnkey)."""
        ...

    def moved(self, code: str, which: str) -> dict[str, int]:
        """Files Turnkey moved to ``ERR`` or ``BAK`` (with their date/hour sub-folders): path -> size."""
        ...

    def results(self, kind: str) -> dict[str, int]:
        """Downloaded ``SummaryResult``, ``ProcessResult`` or ``E0501`` files: path -> size."""
        ...

    def read(self, path: str) -> bytes: ...

    def quarantine(self, path: str, reason: str) -> str:
        """Copy the file at ``path`` into the quarantine folder (the original stays: it is Turnkey's), with
        ``<copy>.reason.txt`` beside it; returns the copy's path. Repeating it replaces the earlier copy."""
        ...

    def check(self) -> list[str]:
        """One line per missing or unwritable folder (empty when the drop is usable)."""
        ...

    def find(self, code: str, name: str) -> str | None:
        """Where the file einvd dropped as ``name`` is now: in SRC, or moved by Turnkey into BAK (3.2.0:
        ``<yyyyMMdd>/<HH>/name``, ``name.001``...; older: ``HH-HH`` folders, ``_<epoch ms>`` suffix) or ERR; its
        path, or None when it is nowhere (never dropped, or deleted by Turnkey's housekeeping)."""
        ...

    def find_many(self, code: str, files: Sequence[str]) -> dict[str, str]:
        """``find`` for several files of one message code in one pass (one walk of BAK and ERR, which hold up to
        ``data-keep-days`` of files): name -> path, for the names found."""
        ...

    def inspect(self, code: str, name: str) -> FileFacts | None:
        """Mode, owner ids and change time of ``name`` in the SRC folder of ``code`` (``""``: of that folder
        itself); None when it is not there."""
        ...

    def close(self) -> None: ...


class FileFacts(Protocol):
    """What ``Drop.inspect`` tells about a file: what decides whether Turnkey's user may take it."""

    @property
    def mode(self) -> int: ...

    @property
    def uid(self) -> int: ...

    @property
    def gid(self) -> int: ...

    @property
    def mtime(self) -> float: ...


class TurnkeyRecord(Protocol):
    """One document in Turnkey's own database (domain.md §5.5a): STATUS P (processing), G (uploaded), C
    (confirmed) or E (refused), the file Turnkey moved, and for E its error code and reason text."""

    @property
    def identifier(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def uuid(self) -> str: ...

    @property
    def filename(self) -> str: ...

    @property
    def error_code(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def code(self) -> str:
        """The MOF code named in the reason (``E0107``), or ''."""
        ...


class TurnkeyDatabase(Protocol):
    """Turnkey's own database, read only. Raises OSError or the driver's error when it cannot be reached."""

    def statuses(self, prefixes: Sequence[str]) -> Mapping[str, TurnkeyRecord]:
        """The newest record of each INVOICE_IDENTIFIER prefix (``F0401AB00001234``) found."""
        ...

    def check(self) -> str:
        """'' when the tables answer, else why not (never the password)."""
        ...

    def close(self) -> None: ...


class Scanner(Protocol):
    """A barcode scanner read in a thread of its own; each scan goes to the callback it was opened with."""

    @property
    def connected(self) -> threading.Event:
        """Set while the device is open."""
        ...

    def start(self) -> None: ...

    def stop(self, timeout: float = 2.0) -> None: ...


class PrintFailed(Exception):
    """A print job that did not print: ``code`` like ``printer.paper_out``; ``sent`` if bytes went out first
    (paper may carry part of the slip, so a retry prints 補印)."""

    def __init__(self, code: str, message: str, sent: bool = False) -> None:
        super().__init__(message)
        self.code, self.sent = code, sent


class Printer(Protocol):
    """A receipt printer that takes whole jobs; raises ``PrintFailed`` when one did not print."""

    def print_job(self, data: bytes) -> object: ...


Encoder = Callable[["ProofDoc"], bytes]
"""Lays out slips for the configured printer: a ``ProofDoc`` -> the bytes of one print job."""
