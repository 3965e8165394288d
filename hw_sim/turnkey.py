"""SimTurnkey: a simulated MOF Turnkey 3.2.0 over a real work folder, for tests and the demo.

Written from domain.md §5.5a (Turnkey 3.2.0 read from its jars: ``job/UpCast``, ``job/Unpack``, ``TaskTools``),
never from what einvd's readers expect; it shares no code with them. Each ``tick(now)``:

- Pickup (§5.5a "Upload"): every file under ``<MSG>/SRC``, recursively, any extension, hidden ones included, oldest
  mtime first. A file the Turnkey user cannot both read and write stays in SRC forever. The tests run as root,
  where ``os.access`` always says yes, so the simulator is given a Turnkey user ``(uid, gids)`` and applies the
  POSIX permission rules to ``st_mode``/``st_uid``/``st_gid`` itself (uid 0 may read and write anything). A file
  of 3 bytes or less goes to ERR.
- Local checks (``turnkey_checks``, from §2.0/§3.1) and scripted ``refuse(number)``: refused files go to
  ``<MSG>/ERR/<yyyyMMdd>/<HH>/<original name>``, overwriting a same-named file; no reason file is written (the
  reason is only in Turnkey's database: a TURNKEY_SYSEVENT_LOG row ``-008``, or ``-002`` for a tiny file).
- Accepted files go to ``<MSG>/BAK/<yyyyMMdd>/<HH>/<original name>``, ``<name>.001``, ``.002``... when taken.
  No duplicate detection: a file dropped twice is uploaded twice.
- Upload: STORAGE files (F/G) are merged, up to 1000 files (and 15 MB) per message with one UUID; E04xx files are
  one message each. Common name ``v41-<MSG>-<yyyyMMdd>-<HHmmssSSS>-<uuid>``.
- ``summary_delay`` after the upload, per message, a ProcessResult at
  ``Unpack/BAK/ProcessResult/<yyyyMMdd>/<HH>/<commonName>_ProcessResult`` (no ``.xml``): ``00000`` on success,
  one ``No. <n>`` Info per scripted ``reject(number, code)`` (Parameter0 number, Parameter1 date), or one Info
  without ``No.`` after ``fail_message(code, description)`` (the whole message failed). The same tick writes a
  SummaryResult ``Unpack/BAK/SummaryResult/<yyyyMMdd>/<yyyyMMddHH>/<commonName>.SummaryResult`` listing the due
  messages, and on the first tick of a new day a ``<party>-<yyyyMMdd>-Final.SummaryResult`` for the day before
  (``final_summary`` writes one on demand).
- Turnkey's database through ``TurnkeyLog`` (§5.4/§5.5a): a TURNKEY_MESSAGE_LOG row per document by
  INVOICE_IDENTIFIER + UUID, status P on pickup, G after upload, C on ``00000`` or not listed, E on a local
  refusal or a listed failure; TURNKEY_SYSEVENT_LOG rows ``-008`` (local), ``-002`` (tiny file), ``-022``
  (platform).
- ``down`` (an outage: nothing moves), ``pickup_delay``, ``allocate(...)`` (an E0501 download: an
  InvoiceEnvelope at ``Unpack/BAK/E0501/<yyyyMMdd>/<HH>/<name ending in E0501>``).
"""

from __future__ import annotations

import os
import random
import stat
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from hw_sim.turnkey_checks import XsdSet, inspect
from hw_sim.turnkey_results import SUCCESS, Verdict, process_result, summary_result

FAMILIES = {"F0401": "B2SSTORAGE", "F0501": "B2SSTORAGE", "F0701": "B2SSTORAGE", "G0401": "B2SSTORAGE",
            "G0501": "B2SSTORAGE", "E0401": "B2PMESSAGE", "E0402": "B2PMESSAGE"}
E0501_NS = "urn:GEINV:E0501:4.0"
VERSION = "v41"
"""TASK_CONFIG.VERSION of a MIG 4.1 task: the first part of every common name (§5.5a)."""
MERGE_FILES = 1000
MERGE_BYTES = 15 * 1024 * 1024
"""A STORAGE message holds up to 1000 files / 15 MB (§5.5a)."""
TINY = 3
"""A file of this many bytes or fewer goes to ERR (§5.5a)."""


class TurnkeyLog(Protocol):
    def logged(self, *, uuid: str, message_type: str, identifier: str, status: str, filename: str,
               at: datetime) -> None:
        """Insert or update the TURNKEY_MESSAGE_LOG row of one document (by identifier+uuid), with the FILENAME
        of its TURNKEY_MESSAGE_LOG_DETAIL row (the BAK path, or the ERR path when status is 'E')."""

    def event(self, *, uuid: str, identifier: str, error_code: str, message: str, at: datetime) -> None:
        """One TURNKEY_SYSEVENT_LOG row: error_code '-008' local validation ('[<code>] text'), '-022' platform."""


@dataclass(frozen=True)
class LogRow:
    uuid: str
    message_type: str
    identifier: str
    status: str
    filename: str
    at: datetime


@dataclass(frozen=True)
class SysEvent:
    uuid: str
    identifier: str
    error_code: str
    message: str
    at: datetime


class MemoryTurnkeyLog:
    """Turnkey's database tables held in memory (the default; hw_sim.turnkey_db keeps them on PostgreSQL)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], LogRow] = {}
        self.events: list[SysEvent] = []

    def logged(self, *, uuid: str, message_type: str, identifier: str, status: str, filename: str,
               at: datetime) -> None:
        self.rows[(identifier, uuid)] = LogRow(uuid, message_type, identifier, status, filename, at)

    def event(self, *, uuid: str, identifier: str, error_code: str, message: str, at: datetime) -> None:
        self.events.append(SysEvent(uuid, identifier, error_code, message, at))

    def status(self, identifier: str) -> str:
        """STATUS of the latest row of ``identifier`` ('' when none)."""
        rows = [row for (ident, _), row in self.rows.items() if ident == identifier]
        return rows[-1].status if rows else ""


@dataclass(frozen=True)
class Moved:
    code: str
    name: str
    path: str
    accepted: bool
    reference: str
    problems: tuple[tuple[str, str], ...]
    date: str = ""
    uuid: str = ""
    message_id: str = ""
    size: int = 0

    @property
    def identifier(self) -> str:
        """INVOICE_IDENTIFIER (§5.5a): ``<MSG><number><date>``; E04xx ``<BranchBan>-<Track><Type>``."""
        if self.code.startswith("E04"):
            return self.reference
        return f"{self.code}{self.reference}{self.date}"


@dataclass
class Message:
    """One uploaded message: its common name, its documents (in merged order) and its scripted failure."""

    id: str
    uuid: str
    code: str
    documents: list[Moved]
    uploaded: datetime
    failure: tuple[str, str] | None = None


@dataclass
class _Day:
    messages: list[tuple[str, str, list[Verdict]]] = field(default_factory=list)


def may_read_and_write(st: os.stat_result, uid: int, gids: tuple[int, ...]) -> bool:
    """POSIX permission check for a user that is not the tests' root: owner bits when it owns the file, group
    bits when the file's group is one of its groups, else the other bits; uid 0 may read and write anything."""
    if uid == 0:
        return True
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == uid:
        bits = mode >> 6
    elif st.st_gid in gids:
        bits = mode >> 3
    else:
        bits = mode
    return bits & 0o6 == 0o6


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _stamp(now: datetime) -> str:
    return f"{now:%Y%m%d}-{now:%H%M%S}{now.microsecond // 1000:03d}"


class SimTurnkey:
    def __init__(self, root: Path, schema_dir: Path | None = None, party: str = "",
                 codes: tuple[str, ...] = tuple(FAMILIES), pickup_delay: timedelta = timedelta(0),
                 summary_delay: timedelta = timedelta(minutes=10), process_results: bool = True,
                 seed: int = 0, user: tuple[int, tuple[int, ...]] | None = None,
                 log: TurnkeyLog | None = None) -> None:
        self.root = Path(root)
        self.xsd = XsdSet(schema_dir) if schema_dir is not None else None
        self.party, self.codes = party, codes
        self.pickup_delay, self.summary_delay = pickup_delay, summary_delay
        self.process_results = process_results
        self.user = user if user is not None else (os.geteuid(), (os.getegid(), *os.getgroups()))
        self.log: TurnkeyLog = log if log is not None else MemoryTurnkeyLog()
        self.down = False
        self.refusals: dict[str, str] = {}
        self.rejections: dict[str, tuple[str, str]] = {}
        self.failures: list[tuple[str, str, str]] = []
        self.history: list[Moved] = []
        self.messages: list[Message] = []
        self.skipped: set[Path] = set()
        self._first_seen: dict[Path, datetime] = {}
        self._waiting: list[Message] = []
        self._days: dict[date, _Day] = {}
        self._rng = random.Random(seed)

    def folder(self, code: str, which: str) -> Path:
        return self.root / "UpCast" / FAMILIES[code] / code / which

    def install(self) -> SimTurnkey:
        """Create the folders a configured Turnkey has (all message folders and the download folders)."""
        for code in self.codes:
            for which in ("SRC", "BAK", "ERR"):
                self.folder(code, which).mkdir(parents=True, exist_ok=True)
        for kind in ("SummaryResult", "ProcessResult", "E0501"):
            (self.root / "Unpack" / "BAK" / kind).mkdir(parents=True, exist_ok=True)
        return self

    # --- scripting --------------------------------------------------------------------------------------

    def refuse(self, number: str, reason: str = "scripted local refusal") -> None:
        """Turnkey's local checks will refuse the document with this number (moved to ERR)."""
        self.refusals[number] = reason

    def reject(self, number: str, code: str = "E0107", description: str = "發票年度字軌不符") -> None:
        """The platform will refuse this document: a ``No. <n>`` Info in its message's ProcessResult."""
        self.rejections[number] = (code, description)

    def fail_message(self, code: str = "E0301", description: str = "簽章驗證失敗", message_type: str = "") -> None:
        """The next uploaded message (of ``message_type``, or any) fails as a whole: one Info without ``No.``."""
        self.failures.append((message_type, code, description))

    # --- the work cycle ---------------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Moved]:
        if self.down:
            return []
        moved: list[Moved] = []
        for code in self.codes:
            taken = [self._take(code, path, now) for path in self._ready(code, now)]
            moved += self._upload(code, taken, now)
        self.history += moved
        self._publish(now)
        for day in sorted(d for d in self._days if d < now.date()):
            self.final_summary(now, day)
        return moved

    def _ready(self, code: str, now: datetime) -> list[Path]:
        src = self.folder(code, "SRC")
        files: list[tuple[int, str, Path]] = []
        for folder, _, names in os.walk(src):
            for name in names:
                path = Path(folder) / name
                st = path.stat(follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    continue
                if not may_read_and_write(st, *self.user):
                    self.skipped.add(path)  # Turnkey's user cannot read and write it: it stays in SRC forever
                    continue
                self.skipped.discard(path)
                files.append((st.st_mtime_ns, str(path), path))
        ready = []
        for _, _, path in sorted(files):
            self._first_seen.setdefault(path, now)
            if now - self._first_seen[path] >= self.pickup_delay:
                ready.append(path)
        return ready

    def _take(self, code: str, path: Path, now: datetime) -> Moved:
        data = path.read_bytes()
        if len(data) <= TINY:
            problems: tuple[tuple[str, str], ...] = (("-002", f"file of {len(data)} bytes"),)
            reference = day = ""
        else:
            found = inspect(code, data, self.xsd)
            problems, reference, day = found.problems, found.reference, found.date
            if reference in self.refusals:
                problems += (("7001", self.refusals[reference]),)
        accepted = not problems
        target = self.folder(code, "BAK" if accepted else "ERR") / f"{now:%Y%m%d}" / f"{now:%H}"
        target.mkdir(parents=True, exist_ok=True)
        destination = target / path.name
        if accepted:
            serial = 0
            while destination.exists():
                serial += 1
                destination = target / f"{path.name}.{serial:03d}"
        os.replace(path, destination)  # ERR: a same-named file is overwritten
        self._first_seen.pop(path, None)
        moved = Moved(code, path.name, str(destination.relative_to(self.root)), accepted, reference, problems, day,
                      size=len(data))
        if not accepted:
            moved = replace(moved, uuid=self._uuid())
            identifier = moved.identifier if reference else path.name
            self.log.logged(uuid=moved.uuid, message_type=code, identifier=identifier, status="E",
                            filename=str(destination), at=now)
            error_code = "-002" if problems[0][0] == "-002" else "-008"
            text = "; ".join(f"[{c}] {t}" for c, t in problems)
            self.log.event(uuid=moved.uuid, identifier=identifier, error_code=error_code, message=text, at=now)
        return moved

    def _upload(self, code: str, taken: list[Moved], now: datetime) -> list[Moved]:
        """Merge the accepted files into messages (STORAGE) or one message each (E04xx); P then G in the log."""
        accepted = [m for m in taken if m.accepted]
        groups: list[list[Moved]] = []
        limit = MERGE_FILES if FAMILIES[code] == "B2SSTORAGE" else 1
        for item in accepted:
            last = groups[-1] if groups else None
            if last is None or len(last) >= limit or sum(m.size for m in last) + item.size > MERGE_BYTES:
                groups.append([item])
            else:
                last.append(item)
        done = {m.path: m for m in taken if not m.accepted}
        for group in groups:
            key = self._uuid()
            message_id = f"{VERSION}-{code}-{_stamp(now)}-{key}"
            documents = [replace(m, uuid=key, message_id=message_id) for m in group]
            for document in documents:
                for status in ("P", "G"):
                    self.log.logged(uuid=key, message_type=code, identifier=document.identifier, status=status,
                                    filename=str(self.root / document.path), at=now)
                done[document.path] = document
            failure = next((f for f in self.failures if f[0] in ("", code)), None)
            if failure is not None:
                self.failures.remove(failure)
            message = Message(message_id, key, code, documents, now, failure[1:] if failure else None)
            self.messages.append(message)
            self._waiting.append(message)
        return [done[m.path] for m in taken]

    def _publish(self, now: datetime) -> None:
        due = [m for m in self._waiting if now - m.uploaded >= self.summary_delay]
        if not due:
            return
        self._waiting = [m for m in self._waiting if m not in due]
        listed = [(m.id, m.code, self._platform(m, now)) for m in due]
        name = f"{due[0].id}.SummaryResult"
        path = self.root / "Unpack/BAK/SummaryResult" / f"{now:%Y%m%d}" / f"{now:%Y%m%d%H}" / name
        _write_atomically(path, summary_result(self.party, listed))
        self._days.setdefault(now.date(), _Day()).messages.extend(listed)

    def _platform(self, message: Message, now: datetime) -> list[Verdict]:
        """The platform's word on one message: its ProcessResult, the log rows, the verdicts for its summary."""
        documents = message.documents
        if message.failure is not None:
            failed_code, description = message.failure
            infos: list[tuple[str, str, tuple[str, ...]]] = [(failed_code, description, ())]
            verdicts = [Verdict(d.reference, d.date, failed_code, description) for d in documents]
        else:
            infos, verdicts = [], []
            for position, document in enumerate(documents, 1):
                failed_code, description = self.rejections.get(document.reference, ("", ""))
                verdicts.append(Verdict(document.reference, document.date, failed_code, description))
                if failed_code:
                    infos.append((failed_code, f"No. {position} {description}", (document.reference, document.date)))
            infos = infos or [(*SUCCESS, ())]
        for document, verdict in zip(documents, verdicts, strict=True):
            status = "E" if verdict.code else "C"
            self.log.logged(uuid=message.uuid, message_type=message.code, identifier=document.identifier,
                            status=status, filename=str(self.root / document.path), at=now)
            if verdict.code:
                self.log.event(uuid=message.uuid, identifier=document.identifier, error_code="-022",
                               message=f"[{verdict.code}] {verdict.description}|{document.reference},{document.date}",
                               at=now)
        if self.process_results:
            data = process_result(self.party, message.id, message.code, len(documents), infos)
            name = f"{message.id}_ProcessResult"
            _write_atomically(self.root / "Unpack/BAK/ProcessResult" / f"{now:%Y%m%d}" / f"{now:%H}" / name, data)
        return verdicts

    def final_summary(self, now: datetime, day: date | None = None) -> Path | None:
        """The daily ``...-Final.SummaryResult`` of ``day`` (default: today) listing that day's messages again."""
        day = day or now.date()
        listed = self._days.pop(day, None)
        if listed is None or not listed.messages:
            return None
        name = f"{self.party or 'turnkey'}-{day:%Y%m%d}-Final.SummaryResult"
        path = self.root / "Unpack/BAK/SummaryResult" / f"{day:%Y%m%d}" / f"{now:%Y%m%d%H}" / name
        _write_atomically(path, summary_result(self.party, listed.messages))
        return path

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def allocate(self, now: datetime, ban: str, year_month: str, track: str, begin: int, end: int,
                 invoice_type: str = "07") -> Path:
        """An E0501 allocation arrives (InvoiceEnvelope holding one InvoiceAssignNo)."""
        booklets = (end - begin + 1) // 50
        body = (f'<InvoiceEnvelope xmlns="urn:GEINV:InvoiceEnvelope:4.1"><InvoicePack messageType="E0501" '
                f'count="1" version="4.0"><InvoiceAssignNo xmlns="{E0501_NS}"><Ban>{ban}</Ban>'
                f"<InvoiceType>{invoice_type}</InvoiceType><YearMonth>{year_month}</YearMonth>"
                f"<InvoiceTrack>{track}</InvoiceTrack><InvoiceBeginNo>{begin:08d}</InvoiceBeginNo>"
                f"<InvoiceEndNo>{end:08d}</InvoiceEndNo><InvoiceBooklet>{booklets}</InvoiceBooklet>"
                "</InvoiceAssignNo></InvoicePack></InvoiceEnvelope>")
        data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("ascii")
        name = f"{VERSION}-E0501-{_stamp(now)}-{ban}-{year_month}-{track}-{begin:08d}-E0501"
        path = self.root / "Unpack/BAK/E0501" / f"{now:%Y%m%d}" / f"{now:%H}" / name
        _write_atomically(path, data)
        return path
