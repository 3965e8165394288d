"""SimTurnkey: a simulated MOF Turnkey over a real work folder (domain.md §5), for tests and the demo.

Each ``tick(now)`` it takes the finished files in every SRC folder (regular ``*.xml`` files; hidden and other
names are left alone), runs the XSD and Turnkey's local checks on them (``turnkey_checks``, written from the
documents), and moves each to ``BAK`` or ``ERR`` under ``<yyyymmdd>/<HH>-<HH+1>/<name>_<epoch ms>.xml`` (a
refused file gets a ``.log`` beside it with the reasons, standing in for Turnkey's event log). Accepted
documents come back ``summary_delay`` later in a SummaryResult (and refused ones in a ProcessResult) under
``Unpack/BAK``. Scripted behaviour: ``pickup_delay``, ``refuse(number)`` (local ERR), ``reject(number, code)``
(platform), ``down`` (an outage: nothing moves), ``allocate(...)`` (an E0501 download).
"""

from __future__ import annotations

import os
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hw_sim.turnkey_checks import XsdSet, inspect
from hw_sim.turnkey_results import Verdict, process_result, summary_result

FAMILIES = {"F0401": "B2SSTORAGE", "F0501": "B2SSTORAGE", "F0701": "B2SSTORAGE", "G0401": "B2SSTORAGE",
            "G0501": "B2SSTORAGE", "E0401": "B2PMESSAGE", "E0402": "B2PMESSAGE"}
E0501_NS = "urn:GEINV:E0501:4.0"


@dataclass(frozen=True)
class Moved:
    code: str
    name: str
    path: str
    accepted: bool
    reference: str
    problems: tuple[tuple[str, str], ...]


def _hour_folder(now: datetime) -> str:
    return f"{now:%Y%m%d}/{now:%H}-{(now.hour + 1) % 24:02d}"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class SimTurnkey:
    def __init__(self, root: Path, schema_dir: Path | None = None, party: str = "",
                 codes: tuple[str, ...] = tuple(FAMILIES), pickup_delay: timedelta = timedelta(0),
                 summary_delay: timedelta = timedelta(minutes=10), process_results: bool = True,
                 seed: int = 0) -> None:
        self.root = Path(root)
        self.xsd = XsdSet(schema_dir) if schema_dir is not None else None
        self.party, self.codes = party, codes
        self.pickup_delay, self.summary_delay = pickup_delay, summary_delay
        self.process_results = process_results
        self.down = False
        self.refusals: dict[str, str] = {}
        self.rejections: dict[str, tuple[str, str]] = {}
        self.history: list[Moved] = []
        self._first_seen: dict[Path, datetime] = {}
        self._accepted: list[tuple[datetime, str, Verdict]] = []
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

    def refuse(self, number: str, reason: str = "scripted local refusal") -> None:
        """Turnkey's local checks will refuse the document with this number (moved to ERR)."""
        self.refusals[number] = reason

    def reject(self, number: str, code: str = "E0107", description: str = "發票年度字軌不符") -> None:
        """The platform will refuse this document: Failed in SummaryResult, its code in a ProcessResult."""
        self.rejections[number] = (code, description)

    def tick(self, now: datetime) -> list[Moved]:
        if self.down:
            return []
        moved = [self._take(code, path, now) for code in self.codes for path in self._ready(code, now)]
        self.history += moved
        self._publish(now)
        return moved

    def _ready(self, code: str, now: datetime) -> list[Path]:
        src = self.folder(code, "SRC")
        if not src.is_dir():
            return []
        files = sorted((p for p in src.iterdir() if p.is_file() and p.suffix == ".xml" and not p.name.startswith(".")),
                       key=lambda p: (p.stat().st_mtime_ns, p.name))
        for path in files:
            self._first_seen.setdefault(path, now)
        return [p for p in files if now - self._first_seen[p] >= self.pickup_delay]

    def _take(self, code: str, path: Path, now: datetime) -> Moved:
        data = path.read_bytes()
        found = inspect(code, data, self.xsd)
        problems = found.problems
        if found.reference in self.refusals:
            problems += (("7001", self.refusals[found.reference]),)
        accepted = not problems
        target = self.folder(code, "BAK" if accepted else "ERR") / _hour_folder(now)
        target.mkdir(parents=True, exist_ok=True)
        destination = target / f"{path.stem}_{int(now.timestamp() * 1000)}.xml"
        os.replace(path, destination)
        self._first_seen.pop(path, None)
        if not accepted:
            lines = "\n".join(f"{c} {text}" for c, text in problems)
            _write_atomically(destination.with_name(destination.name + ".log"), lines.encode("utf-8"))
        elif found.reference:
            code_and_text = self.rejections.get(found.reference, ("", ""))
            self._accepted.append((now, code, Verdict(found.reference, found.date, *code_and_text)))
        return Moved(code, path.name, str(destination.relative_to(self.root)), accepted, found.reference, problems)

    def _publish(self, now: datetime) -> None:
        due = [item for item in self._accepted if now - item[0] >= self.summary_delay]
        if not due:
            return
        self._accepted = [item for item in self._accepted if item not in due]
        messages = []
        for code in sorted({item[1] for item in due}):
            verdicts = [item[2] for item in due if item[1] == code]
            message_id = f"4.1-{code}-{now:%Y%m%d}-{now:%H%M%S}{now.microsecond // 1000:03d}-{self._uuid()}"
            messages.append((message_id, code, verdicts))
            refused = [v for v in verdicts if not v.good]
            if refused and self.process_results:
                self._result("ProcessResult", now, message_id, process_result(self.party, message_id, code, refused))
        first = messages[0][0]
        self._result("SummaryResult", now, first, summary_result(self.party, messages))

    def _result(self, kind: str, now: datetime, message_id: str, data: bytes) -> Path:
        path = self.root / "Unpack" / "BAK" / kind / f"{now:%Y%m%d}" / f"{now:%H}" / f"{message_id}_{kind}.xml"
        _write_atomically(path, data)
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
        return self._result("E0501", now, f"E0501-{year_month}-{track}-{begin:08d}", data)
