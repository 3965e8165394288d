"""Workers: ``Pump.tick(now)`` moves due outbox rows into Turnkey's SRC; ``Watch.tick(now)`` reads back what
Turnkey and the platform did. Both take the time as an argument; tests call them after ``clock.advance()``.

The pump claims a batch, renders and pre-flight-checks each message (XSD + Turnkey's local rules), hands the
batch to the drop (``put_many``: in order, stopping at the first failure), makes it durable with
``drop.sync()``, and only then records it DONE. A message that fails its check is FAILED with an alert
(resending cannot fix it); a drop that cannot be reached (OSError) puts the row back with an exponential,
jittered, capped backoff, and the pump rests until then: nothing is lost and the backlog drains in order when
the drop returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from daemon.deadlines import DeadlinePolicy, check_deadlines
from daemon.messages import BUILDERS, Builder
from daemon.outbox import (
    Backoff,
    Claimed,
    backlog,
    claim,
    fail,
    mark_dropped,
    recover,
    release,
    requeue,
    retry_later,
)
from daemon.policy import queue
from daemon.ports import Drop, RandomSource
from daemon.results import ResultFiles, Tally, reconcile
from daemon.store import Store, invoices, stamp
from daemon.store import alerts as alert_table
from turnkey.errors import TurnkeyError
from turnkey.mig import Schemas, render_checked
from turnkey.model import Party


@dataclass
class PumpReport:
    dropped: int = 0
    found: int = 0
    failed: int = 0
    error: str = ""
    resume_at: datetime | None = None


@dataclass
class _Batch:
    done: list[Claimed] = field(default_factory=list)
    found: list[Claimed] = field(default_factory=list)
    broken: list[tuple[Claimed, str]] = field(default_factory=list)
    untried: list[Claimed] = field(default_factory=list)
    unsynced: list[Claimed] = field(default_factory=list)  # renamed into SRC, but the sync after failed
    error: tuple[Claimed, OSError] | None = None


class Pump:
    def __init__(self, store: Store, drop: Drop, seller: Party, schemas: Schemas | None, rng: RandomSource,
                 backoff: Backoff | None = None, batch: int = 200,
                 builders: Mapping[str, Builder] | None = None) -> None:
        self.store, self.drop, self.seller, self.schemas, self.rng = store, drop, seller, schemas, rng
        self.backoff = backoff or Backoff()
        self.batch = batch
        self.builders = builders if builders is not None else BUILDERS
        self.resume_at: datetime | None = None
        self.last_error = ""
        self._stranded: list[Claimed] = []  # claimed by a tick that raised before recording them

    def start(self, now: datetime) -> int:
        """Once per process, before the first tick: rows LOCKED by a dead process become READY (uncertain)."""
        return recover(self.store, now)

    def close(self) -> None:
        """Release the drop's threads and session (they come back on the next tick)."""
        self.drop.close()

    def tick(self, now: datetime, limit: int | None = None) -> PumpReport:
        """Drop every due row (at most ``limit``), stopping at the first drop failure."""
        report = PumpReport()
        if self._stranded:  # else they would stay LOCKED until the next start
            with self.store.write() as tx:
                requeue(tx, self._stranded, stamp(now))
            self._stranded = []
        if self.resume_at is not None and now < self.resume_at:
            report.resume_at = self.resume_at
            return report
        self.resume_at = None
        while limit is None or report.dropped < limit:
            rows = claim(self.store, now, queue.batch_size(self.batch, limit, report.dropped))
            if not rows:
                break
            self._stranded = rows
            batch = self._run(rows)
            self._record(batch, now, report)
            self._stranded = []
            if batch.error is not None:
                break
        return report

    def _run(self, rows: list[Claimed]) -> _Batch:
        batch = _Batch()
        try:
            settled = self._already_there([row for row in rows if row.uncertain])
        except OSError as error:
            batch.error, batch.untried = (rows[0], error), rows[1:]
            return batch
        batch.found = [row for row in rows if row.id in settled]
        outgoing = [(row, xml) for row in rows if row.id not in settled if (xml := self._xml(row, batch)) is not None]
        done, failure = self.drop.put_many([(row.code, row.file_name, xml) for row, xml in outgoing])
        put = queue.after_put([row for row, _ in outgoing], done, failure)
        batch.done, batch.untried = put.done, put.untried
        if put.stopped is not None and put.error is not None:
            batch.error = (put.stopped, put.error)
        elif put.stopped is not None and put.fault is not None:
            batch.broken.append((put.stopped, _describe(put.fault)))
        if batch.done or batch.found:  # found in SRC after a failed sync: that sync is owed still
            try:
                self.drop.sync()
            except OSError as error:
                # Their files may be in SRC (and taken by Turnkey) or may be lost with the folder: uncertain, so
                # the next try looks in SRC/ERR/BAK before putting any of them again, as after a crash.
                batch.unsynced, batch.done, batch.found = batch.done + batch.found, [], []
                batch.error = batch.error or (batch.unsynced[0], error)
        return batch

    def _xml(self, row: Claimed, batch: _Batch) -> bytes | None:
        builder = self.builders.get(row.code)
        if builder is None:
            batch.broken.append((row, f"einvd cannot build {row.code} messages"))
            return None
        try:
            return render_checked(builder(self.store.connection(), row, self.seller), self.schemas)
        except (TurnkeyError, ValueError) as error:
            batch.broken.append((row, _describe(error)))
        return None

    def _already_there(self, rows: list[Claimed]) -> set[int]:
        """Uncertain rows whose file is in SRC, BAK or ERR already (``Drop.find_many``, which knows Turnkey's date and
        hour folders, ``.001`` duplicates and older suffixes): recorded as dropped, never put again, since Turnkey
        uploads a file dropped twice twice (domain.md §5.5a)."""
        found: set[int] = set()
        for code in sorted({row.code for row in rows}):
            mine = [row for row in rows if row.code == code]
            there = self.drop.find_many(code, [row.file_name for row in mine])
            found |= {row.id for row in mine if row.file_name in there}
        return found

    def _record(self, batch: _Batch, now: datetime, report: PumpReport) -> None:
        with self.store.write() as tx:
            mark_dropped(tx, batch.done + batch.found, now)
            for row, problem in batch.broken:
                fail(tx, row, now, problem)
            requeue(tx, batch.unsynced, stamp(now))
            if batch.error is not None:
                row, error = batch.error
                delay = self.backoff.delay(row.attempts + 1, self.rng)
                retry_later(tx, row, now, f"{type(error).__name__}: {error}", delay)
                self.resume_at = now + delay
                self.last_error = f"{type(error).__name__}: {error}"
            release(tx, batch.untried, stamp(now))
        report.dropped += len(batch.done)
        report.found += len(batch.found)
        report.failed += len(batch.broken)
        if batch.error is not None:
            report.error, report.resume_at = self.last_error, self.resume_at
        elif batch.done:
            self.last_error = ""


def _describe(error: Exception) -> str:
    if isinstance(error, TurnkeyError):
        return "; ".join(f"{p.code} {p.field}: {p.message}" for p in error.problems)
    return str(error)


class Watch:
    """Reads Turnkey's folders (when ``due(now)`` says so) and applies what it finds, then checks deadlines
    (``deadlines=False``: not here; ``einvd run`` checks them in a job of their own, see runner.py)."""

    def __init__(self, store: Store, drop: Drop, seller_ban: str, due: Callable[[datetime], bool] | None = None,
                 policy: DeadlinePolicy | None = None, import_e0501: bool = True, deadlines: bool = True) -> None:
        self.store, self.drop = store, drop
        self.due = due
        self.policy = policy or DeadlinePolicy()
        self.deadlines = deadlines
        self.results = ResultFiles(store, drop, seller_ban, import_e0501)
        self.last_error = ""

    def tick(self, now: datetime) -> dict[str, int]:
        tally = Tally()
        if self.due is None or self.due(now):
            try:
                reconcile(self.store, self.drop, now, tally)
                self.results.scan(now, tally)
                self.last_error = ""
            except OSError as error:
                self.last_error = f"{type(error).__name__}: {error}"
                tally.add("errors")
        if self.deadlines:
            for key, value in check_deadlines(self.store, now, self.policy).items():
                if value:
                    tally.add(key, value)
        return dict(tally.counts)


def health(store: Store, now: datetime, pump: Pump | None = None, watch: Watch | None = None) -> dict[str, object]:
    """Backlog and its oldest age, invoice states, open alerts, the drop's last error."""
    conn = store.connection()
    return {
        "outbox": backlog(store, now),
        "invoices": invoices.status_counts(conn),
        "alerts": alert_table.open_counts(conn),
        "drop": {
            "pump_error": pump.last_error if pump else "",
            "resume_at": stamp(pump.resume_at) if pump and pump.resume_at else None,
            "watch_error": watch.last_error if watch else "",
        },
    }
