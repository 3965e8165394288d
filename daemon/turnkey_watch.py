"""Following Turnkey itself (issue 19): its own database, files it leaves in SRC, and a download flow that never
answers. Two periodic ticks of ``TurnkeyWatch``:

``read_database(now)`` (every ``turnkey.database_poll_seconds``, only with ``turnkey.database``): for dropped
STORAGE messages of the last ``KEEP`` days whose Turnkey status is not final, reads STATUS by
INVOICE_IDENTIFIER in batches (domain.md §5.5a) and applies what changed:
- ``G``: event ``uploaded`` (the file really left the box, in message ``uuid``);
- ``C``: the platform confirmed it: a ``confirmed`` verdict through ``daemon.verdicts.apply_verdict``;
- ``E`` with the file in ERR or a local error code (``-008`` validation, ``-002`` I/O or empty file, ``-004``
  parse, ``-011`` file name): Turnkey's local refusal. Its status (``rejected_local``) is the ERR listing's to
  set (``daemon.results.reconcile``, which has no reason: Turnkey writes no reason file); this adds the reason
  as an event ``turnkey refused`` in the history and a ``turnkey.refused`` alert "Turnkey refused
  F0401_AB00001234: [E0107] ...".
- ``E`` otherwise (``-022`` platform error, ``-017`` SFTP, ``-007`` signature: the file had left for BAK): a
  ``rejected`` verdict through ``apply_verdict`` with the MOF code and that text as the reason.
Each status is applied once (``outbox.turnkey_status``); P and G rows are read again until C or E.

``check_folders(now)`` (every minute): ``turnkey.stuck`` for each dropped file still in SRC
``stuck_after`` after its drop, naming the file, its mode and owner and the likely cause; ``turnkey.silent`` when
no SummaryResult or ProcessResult came back ``silent_after`` after Turnkey took a file, naming the result
folders that stay empty and what to configure (domain.md §5.2: all five folder screens, the download flow).
"""

from __future__ import annotations

import pwd
import stat
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.alerts import raise_alert
from daemon.policy.delivery import CONFIRMED, REJECTED
from daemon.policy.settlement import Verdict
from daemon.ports import Drop, FileFacts, TurnkeyDatabase, TurnkeyRecord
from daemon.store import Connection, Store, event, stamp
from daemon.store import alerts as alert_table
from daemon.store import turnkey as table
from daemon.store.turnkey import Followed
from daemon.verdicts import Tally, apply_verdict
from turnkey.layout import Layout

STUCK, SILENT, REFUSED = "turnkey.stuck", "turnkey.silent", "turnkey.refused"
KEEP = timedelta(days=35)
"""Turnkey deletes its log rows after ``data-keep-days`` (30 by default): older drops are not looked up."""
LOCAL_ERRORS = frozenset({"-008", "-002", "-004", "-011"})
BATCH = 200
RESULT_KEYS = {"SummaryResult": "summary_results", "ProcessResult": "process_results"}


@dataclass
class TurnkeyWatch:
    store: Store
    drop: Drop | None
    database: TurnkeyDatabase | None
    layout: Layout
    stuck_after: timedelta = timedelta(minutes=30)
    silent_after: timedelta = timedelta(hours=26)
    batch: int = BATCH
    last_error: str = ""

    def close(self) -> None:
        if self.database is not None:
            self.database.close()

    # --- Turnkey's database ---------------------------------------------------------------------------

    def read_database(self, now: datetime) -> dict[str, int]:
        tally = Tally()
        if self.database is None:
            return {}
        after = 0
        while True:
            rows = table.followed(self.store.connection(), stamp(now - KEEP), after, self.batch)
            if not rows:
                break
            after = rows[-1].id
            by_prefix = {f"{row.message_type}{row.reference}": row for row in rows}
            try:
                records = self.database.statuses(sorted(by_prefix))
            except OSError as error:
                self.last_error = f"{type(error).__name__}: {error}"
                tally.add("errors")
                break
            self.last_error = ""
            with self.store.write() as tx:
                for prefix, row in by_prefix.items():
                    record = records.get(prefix)
                    status = record.status[:1].upper() if record is not None else ""
                    if record is None or status == (row.turnkey_status or ""):
                        continue
                    apply_record(tx, row, record, now, tally)
                    table.set_status(tx, row.id, status, stamp(now))
        return dict(tally.counts)

    # --- SRC and the result folders -------------------------------------------------------------------

    def check_folders(self, now: datetime) -> dict[str, int]:
        counts = {STUCK: 0, SILENT: 0, "cleared": 0}
        if self.drop is None:
            return counts
        self._stuck(now, counts)
        self._silent(now, counts)
        return counts

    def _stuck(self, now: datetime, counts: dict[str, int]) -> None:
        waiting = table.waiting_since(self.store.connection(), stamp(now - self.stuck_after))
        by_code: dict[str, list[table.Waiting]] = defaultdict(list)
        for row in waiting:
            by_code[row.message_type].append(row)
        found: dict[str, str] = {}
        for code, rows in by_code.items():
            assert self.drop is not None
            pending = self.drop.pending(code)
            folder = self.drop.inspect(code, "")
            for row in rows:
                if row.file_name in pending:
                    facts = self.drop.inspect(code, row.file_name)
                    found[str(row.id)] = stuck_message(self.layout.folder("SRC", code), row, facts, folder, now)
        with self.store.write() as tx:
            for entity_id, message in found.items():
                counts[STUCK] += raise_alert(tx, STUCK, "outbox", entity_id, now, message)
            for entity_id in alert_table.open_entity_ids(tx, STUCK):
                if entity_id not in found:
                    counts["cleared"] += alert_table.clear(tx, stamp(now), STUCK, "outbox", entity_id)

    def _silent(self, now: datetime, counts: dict[str, int]) -> None:
        conn = self.store.connection()
        last = table.last_result_at(conn)
        first = table.first_taken_after(conn, last)
        silent = first is not None and datetime.fromisoformat(first) <= now - self.silent_after
        with self.store.write() as tx:
            for entity_id in alert_table.open_entity_ids(tx, SILENT):
                if not silent or entity_id != first:
                    counts["cleared"] += alert_table.clear(tx, stamp(now), SILENT, "turnkey", entity_id)
            if silent and first is not None:
                counts[SILENT] += raise_alert(tx, SILENT, "turnkey", first, now,
                                              silent_message(self.layout, first, last))


def apply_record(tx: Connection, row: Followed, record: TurnkeyRecord, now: datetime, tally: Tally) -> None:
    """What one changed Turnkey status means (see the module's docstring)."""
    at = stamp(now)
    status = record.status[:1].upper()
    entity, entity_id = ("invoice", row.reference) if row.invoice_id is not None else ("outbox", str(row.id))
    if status == "G":
        event(tx, at, entity, entity_id, "uploaded", f"Turnkey uploaded {row.file_name} (message {record.uuid})")
        tally.add("uploaded")
    elif status == "C":
        apply_verdict(tx, Verdict(row.message_type, row.reference, None, CONFIRMED, "",
                                  f"confirmed in Turnkey's database (message {record.uuid})"), now, tally)
    elif status == "E":
        text = f"Turnkey refused {row.message_type}_{row.reference}: {record.reason or 'no reason in its database'}"
        if record.error_code in LOCAL_ERRORS or "/ERR/" in f"/{record.filename}":
            event(tx, at, entity, entity_id, "turnkey refused", text[:500])
            raise_alert(tx, REFUSED, entity, entity_id, now, text[:1000])
            tally.add("refused_local")
        else:
            apply_verdict(tx, Verdict(row.message_type, row.reference, None, REJECTED, record.code, text[:500]),
                          now, tally)
            tally.add("refused")


# --- what the alerts say ------------------------------------------------------------------------------------


def _owner(uid: int) -> str:
    try:
        return f"{uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return str(uid)


def may_take(facts: FileFacts, folder: FileFacts | None) -> bool:
    """Whether the SRC folder's owner (presumably Turnkey's user) or its group may both read and write the file
    (Turnkey 3.2.0 skips a file it cannot, forever: domain.md §5.5a)."""
    mode = stat.S_IMODE(facts.mode)
    if mode & 0o006 == 0o006:
        return True
    if folder is None:
        return mode & 0o066 == 0o066
    return (facts.uid == folder.uid and mode & 0o600 == 0o600) or (facts.gid == folder.gid and mode & 0o060 == 0o060)


def stuck_message(src: str, row: table.Waiting, facts: FileFacts | None, folder: FileFacts | None,
                  now: datetime) -> str:
    minutes = int((now - datetime.fromisoformat(row.dropped_at)).total_seconds() // 60)
    head = f"{src}/{row.file_name} still in SRC {minutes} min after its drop"
    if facts is None:
        return f"{head}; its mode and owner cannot be read"
    shown = (f"{head}: mode {stat.S_IMODE(facts.mode):04o}, owner {_owner(facts.uid)}, group {facts.gid}")
    where = ""
    if folder is not None:
        where = (f"; the SRC folder: mode {stat.S_IMODE(folder.mode):04o}, owner {_owner(folder.uid)}, "
                 f"group {folder.gid}")
    if not may_take(facts, folder):
        cause = ("likely cause: permissions. Turnkey's user (presumably the SRC folder's owner, or its group) "
                 "cannot both read and write the file, and Turnkey leaves such a file in SRC forever: set "
                 "turnkey.file_mode (0660) and turnkey.file_group to Turnkey's group, and chmod/chgrp this file")
    else:
        cause = ("likely cause: Turnkey is not running, or its upload schedule (U:上傳轉檔, or A:發票上傳) is off: "
                 "the file's mode and owner let Turnkey's user take it; start Turnkey or enable the schedule")
    return f"{shown}{where}; {cause}"


def silent_message(layout: Layout, first: str, last: str | None) -> str:
    folders = []
    for kind, key in RESULT_KEYS.items():
        folder = layout.result_folder(kind)
        folders.append(f"{kind} in {folder}" if folder else f"{kind} (not read: turnkey.{key} is empty)")
    since = f"the last one was seen {last}" if last else "none has ever been seen"
    return (f"Turnkey has taken files since {first} but no result came back ({since}); empty: "
            f"{', '.join(folders)}. Configure all five folder screens in Turnkey (B2B exchange, B2B and B2C/B2S "
            "storage, the download flow with ReceiveFile/Unpack/DownCast, the invoice-number message) and enable "
            "the download schedules (D:接收檔案, D:下載拆封, D:下載轉檔 or A:發票下載): without the download "
            "flow no SummaryResult or ProcessResult ever arrives and every invoice stays dropped (domain.md §5.2)")
