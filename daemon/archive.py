"""Per-period archive: every message einvd sent for a period, rebuilt from the store with the pump's own
builders (the same bytes as the file that was dropped: rendering is deterministic), with an index (JSON and
CSV) of invoice number, message type, file name, state, Turnkey's outcome and the platform's result.

A message belongs to the period of its invoice (F0401, F0501, F0701), of its date (G0401, G0501) or of its
report (E0402). A period is archived when its void window has closed and every message is settled (left
the outbox, Turnkey took it, the invoice has a platform verdict, the E0402 is queued), or ``settle_days``
after it ended whatever is still open (the index says what was). Written atomically as
``einvd-archive-<BAN>-<period>.zip`` (or a directory), once; ``einvd archive export`` writes one again now.

Retention: archive files of periods more than ``retention_periods`` before the current one are deleted
(default 60 periods = 10 years, the legal keep for accounting records). The database is never pruned here.
Result files themselves stay in Turnkey's tree (possibly on another machine): the archive keeps their outcome.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.messages import Builder
from daemon.outbox import Claimed, InvoiceColumns, file_name
from daemon.periodic import record_export
from daemon.store import Connection, Store, invoices, stamp
from daemon.store import reports as queries
from daemon.store.reports import ArchivedMessage
from drivers.files import fsync_dir, write_atomic, write_synced
from turnkey.errors import TurnkeyError
from turnkey.mig import Schemas, render_checked
from turnkey.model import Party
from turnkey.period import Period, taipei
from turnkey.stored import load_document

UNSETTLED_STATUSES = ("queued", "dropped", "accepted_local", "unknown")
INDEX_COLUMNS = ("number", "message_type", "file", "outbox_id", "state", "outcome", "dropped_at", "invoice_status",
                 "result_code", "result_reason", "sha256", "note")

class Archiver:
    def __init__(self, store: Store, seller: Party, builders: Mapping[str, Builder], schemas: Schemas | None,
                 directory: Path, fmt: str = "zip", cutoff_day: int = 13, settle_days: int = 45,
                 retention_periods: int = 60, e0402: bool = True) -> None:
        self.store, self.seller, self.builders, self.schemas = store, seller, builders, schemas
        self.directory, self.fmt, self.cutoff_day = directory, fmt, cutoff_day
        self.settle_days, self.retention_periods, self.e0402 = settle_days, retention_periods, e0402

    def tick(self, now: datetime) -> dict[str, list[str]]:
        """Archive every period that is due (oldest first), then delete archives past retention."""
        written = [self.export(period, now)["path"] for period in self.due(now)]
        return {"written": written, "deleted": self.prune(now)}

    def due(self, now: datetime) -> list[Period]:
        oldest = self.oldest_kept(now)
        # an archive written early by hand (``einvd archive export``) before the period settled is written again
        # by the job once the period is due; a settled one, or one written after settle_days, is final
        conn = self.store.connection()
        done = {e.key for e in queries.exports(conn, "archive")
                if e.detail == "settled" or e.at >= stamp(Period.parse(e.key).end + timedelta(days=self.settle_days))}
        codes = queries.periods(conn)
        due = []
        for code in sorted(codes - done):
            period = Period.parse(code)
            if period.end > taipei(now) or period < oldest:
                continue
            if taipei(now) >= period.end + timedelta(days=self.settle_days) or (
                    taipei(now) >= period.void_deadline(self.cutoff_day) and not self.unsettled(period)):
                due.append(period)
        return due

    def unsettled(self, period: Period) -> list[str]:
        """Why ``period`` is not settled yet (empty: it is)."""
        why = []
        rows = self._rows(period)
        waiting = sum(1 for r in rows if r.state in ("READY", "LOCKED") or (r.state == "DONE" and r.outcome is None))
        if waiting:
            why.append(f"{waiting} message(s) not yet taken by Turnkey")
        conn = self.store.connection()
        open_invoices = queries.invoices_in(conn, period.code, UNSETTLED_STATUSES)
        if open_invoices:
            why.append(f"{open_invoices} invoice(s) without a platform verdict")
        if self.e0402 and queries.holds_range(conn, period.code) and not queries.period_closed(conn, period.code):
            why.append("the E0402 report is not queued")
        return why

    def _rows(self, period: Period) -> list[ArchivedMessage]:
        return queries.period_messages(self.store.connection(), period.code, stamp(period.start), stamp(period.end))

    def name(self, period: Period) -> str:
        return f"einvd-archive-{self.seller.identifier}-{period.code}" + (".zip" if self.fmt == "zip" else "")

    def export(self, period: Period, now: datetime) -> dict[str, Any]:
        """Write the archive of ``period`` now (replacing an earlier one) and record it."""
        files: dict[str, bytes] = {}
        index = []
        conn = self.store.connection()
        for row in self._rows(period):
            entry = self._entry(conn, row, files)
            index.append(entry)
        pending = self.unsettled(period)
        meta = {"period": period.code, "seller": self.seller.identifier, "written_at": stamp(now),
                "settled": not pending, "unsettled": pending, "messages": index}
        files["index.json"] = (json.dumps(meta, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        files["index.csv"] = _csv(index)
        path = self.directory / self.name(period)
        if self.fmt == "zip":
            write_atomic(path, _zip(files, now))
        else:
            _write_dir(path, files)
        with self.store.write() as tx:
            record_export(tx, "archive", period.code, path, now, "settled" if not pending else "; ".join(pending))
        return {"period": period.code, "path": str(path), "messages": len(index),
                "files": sum(1 for e in index if e["file"]), "settled": not pending, "unsettled": pending}

    def _entry(self, conn: Connection, row: ArchivedMessage, files: dict[str, bytes]) -> dict[str, Any]:
        name = row.file_name or file_name(row.message_type, row.reference, row.id)
        entry: dict[str, Any] = {
            "number": row.number or row.reference, "message_type": row.message_type, "file": None,
            "outbox_id": row.id, "state": row.state, "outcome": row.outcome, "dropped_at": row.dropped_at,
            "invoice_status": row.invoice_status, "result_code": row.result_code or "",
            "result_reason": row.result_reason or "", "sha256": "", "note": "",
        }
        if row.state != "DONE":
            entry["note"] = "not sent" if row.state == "FAILED" else "not sent yet"
            return entry
        try:
            xml = self._xml(conn, row)
        except (TurnkeyError, ValueError) as error:
            entry["note"] = f"cannot be rebuilt: {error}"
            return entry
        files[f"messages/{name}"] = xml
        entry.update(file=f"messages/{name}", sha256=hashlib.sha256(xml).hexdigest())
        return entry

    def _xml(self, conn: Connection, row: ArchivedMessage) -> bytes:
        if row.message_type == "F0401":
            row = _as_first_issued(conn, row)
        builder = self.builders.get(row.message_type)
        if builder is None:
            raise ValueError(f"no builder for {row.message_type}")
        columns = None  # a message of no invoice (E0402)
        if row.document is not None and row.number is not None and row.random_number is not None \
                and row.issued_at is not None:
            columns = InvoiceColumns(row.document, row.number, row.random_number, row.issued_at)
        claimed = Claimed(row.id, row.message_type, row.reference, row.invoice_id, row.attempts, row.file_name or "",
                          row.uncertain, columns)
        return render_checked(builder(conn, claimed, self.seller), self.schemas)

    def oldest_kept(self, now: datetime) -> Period:
        period = Period.of(now)
        for _ in range(self.retention_periods):
            period = period.previous()
        return period

    def prune(self, now: datetime) -> list[str]:
        """Delete this box's archive files of periods before ``oldest_kept``."""
        if not self.directory.is_dir():
            return []
        oldest, prefix, deleted = self.oldest_kept(now), f"einvd-archive-{self.seller.identifier}-", []
        for path in sorted(self.directory.iterdir()):
            code = path.name.removeprefix(prefix).removesuffix(".zip")
            if not path.name.startswith(prefix) or len(code) != 5 or not code.isdigit():
                continue
            try:
                if Period.parse(code) >= oldest:
                    continue
            except ValueError:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            deleted.append(str(path))
        return deleted


def _as_first_issued(conn: Connection, row: ArchivedMessage) -> ArchivedMessage:
    """An F0401 that a cancel + re-issue replaced was built from the document before the re-issue (kept in the
    re-issue action); its issue time is the document's or the moment it was first issued."""
    assert row.invoice_id is not None and row.invoice_created is not None
    replaced = invoices.replaced_document(conn, row.invoice_id, row.id)
    if not replaced:
        return row
    draft = load_document(json.loads(replaced))
    first = datetime.fromisoformat(row.invoice_created).replace(microsecond=0)
    return replace(row, document=replaced, issued_at=stamp(draft.issued_at or first))


def _csv(index: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if entry[key] is None else entry[key] for key in INDEX_COLUMNS} for entry in index)
    return out.getvalue().encode("utf-8")


def _zip(files: dict[str, bytes], now: datetime) -> bytes:
    out = io.BytesIO()
    stamp_tuple = taipei(now).timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=stamp_tuple)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return out.getvalue()


def _write_dir(path: Path, files: dict[str, bytes]) -> None:
    """A directory built beside ``path`` and renamed into place (an older one is replaced)."""
    temporary = path.with_name(f".{path.name}.tmp")
    if temporary.exists():
        shutil.rmtree(temporary)
    for name, data in files.items():
        target = temporary / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_synced(target, data, 0o666)
    for folder in {temporary, temporary / "messages"}:
        if folder.is_dir():
            fsync_dir(folder)
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        os.replace(path, old)
        os.replace(temporary, path)
        shutil.rmtree(old)
    else:
        os.replace(temporary, path)
    fsync_dir(path.parent)
