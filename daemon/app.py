"""Composition root: builds the store and services from settings. (Devices by URL join here later.)"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from daemon import jsonio, tracks
from daemon.clock import SystemClock
from daemon.config import ConfigError, Settings
from daemon.deadlines import DeadlinePolicy
from daemon.outbox import Backoff
from daemon.ports import Clock, Drop, RandomSource
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.workers import Builder, Pump, Watch, build_f0401
from drivers.drop.local import LocalDrop
from drivers.drop.watch import Rescan, Trigger
from turnkey.ban import is_ascii_digits
from turnkey.blanks import blank_reports
from turnkey.errors import Conflict, InvoiceInvalid, Problem, TrackError
from turnkey.mig import Schemas, parse_e0501, render_checked, required_sources
from turnkey.model import BlankReport, Message, Party
from turnkey.numbers import TrackRange, is_invoice_number, parse_ranges_csv
from turnkey.period import Period
from turnkey.validate import build_invoice, parse_document

if TYPE_CHECKING:
    from daemon.archive import Archiver
    from daemon.periodic import BlankJob
    from daemon.printing import PrintPolicy, PrintQueue, ProofBuilder
    from drivers.printer.device import EscposPrinter
    from drivers.printer.encode import PrinterProfile
    from hw_sim.printer import SimPrinter
    from hw_sim.turnkey import SimTurnkey
    from turnkey.model import Invoice


def open_store(settings: Settings, background_checkpoint: bool = False) -> Store:
    """The invoice store; the long-running daemon checkpoints the WAL in the background (see ``Store``)."""
    return Store(settings.store_path, background_checkpoint=background_checkpoint)


def invoice_service(settings: Settings, rng: RandomSource, clock: Clock | None = None,
                    store: Store | None = None) -> InvoiceService:
    seller, key = settings.require_issuer()
    return InvoiceService(store or open_store(settings), clock or SystemClock(), rng, seller, key,
                          settings.qr_encoding)


def _labels(added: list[TrackRange]) -> list[str]:
    return [rng.label for rng in added]


def _ranges_from(settings: Settings, data: bytes) -> list[TrackRange]:
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        ranges = []
        for allocation in parse_e0501(data):
            if settings.seller.identifier and allocation.ban != settings.seller.identifier:
                raise TrackError(Problem("tracks.ban", "Ban", f"the allocation is for {allocation.ban}, "
                                         f"this box issues for {settings.seller.identifier}"))
            ranges.append(allocation.range)
        return ranges
    return parse_ranges_csv(data.decode("utf-8-sig"))


def import_tracks(settings: Settings, data: bytes, source: str, part: tuple[int, int] | None,
                  now: datetime | None = None,
                  shown: Callable[[list[TrackRange]], Iterable[TrackRange]] | None = None) -> list[str]:
    """Add the ranges of an E0501 or CSV in one transaction; ``shown`` wraps them (a progress bar)."""
    ranges = tracks.restrict(_ranges_from(settings, data), part)
    store = open_store(settings)
    try:
        added = tracks.add(store, shown(ranges) if shown else ranges, f"import {source}", now or SystemClock().now())
        return _labels(added)
    finally:
        store.close()


def add_track(settings: Settings, period: str, invoice_type: str, track: str, begin: int, end: int,
              now: datetime | None = None) -> list[str]:
    try:
        rng = TrackRange(Period.parse(period), invoice_type, track, begin, end)
    except ValueError as error:
        raise TrackError(Problem("tracks.range", "range", str(error))) from error
    store = open_store(settings)
    try:
        return _labels(tracks.add(store, [rng], "manual", now or SystemClock().now()))
    finally:
        store.close()


def list_tracks(settings: Settings) -> list[dict[str, object]]:
    store = open_store(settings)
    try:
        return [h.as_dict() for h in tracks.held(store)]
    finally:
        store.close()


def load_schemas(settings: Settings) -> Schemas | None:
    """The official XSDs from the configured directory (None when none is configured)."""
    if settings.schema_dir is None:
        return None
    try:
        files = {name: (settings.schema_dir / name).read_bytes() for name in required_sources()}
        return Schemas.from_sources(files)
    except (OSError, ValueError) as error:
        raise ConfigError(f"mig.schema_dir {settings.schema_dir}: {error}") from error


def render_invoice(settings: Settings, doc: object, number: str, random_number: str,
                   now: datetime | None = None) -> bytes:
    """The F0401 the daemon would drop for ``doc`` with this number; nothing is stored."""
    seller, _ = settings.require_issuer()
    if not is_invoice_number(number):
        raise InvoiceInvalid(Problem("number.format", "number", "the invoice number is 2 letters and 8 digits"))
    if len(random_number) != 4 or not is_ascii_digits(random_number):
        raise InvoiceInvalid(Problem("random_number.format", "random_number", "the random number is 4 digits"))
    draft = parse_document(doc)
    issued_at = draft.issued_at or now or SystemClock().now()
    invoice = build_invoice(draft, number=number, random_number=random_number, issued_at=issued_at, seller=seller)
    return render_checked(invoice, load_schemas(settings))


def blank_report(settings: Settings, period: Period, now: datetime | None = None) -> list[tuple[BlankReport, bytes]]:
    """E0402 messages for a finished period's unused numbers, checked like every message that leaves."""
    seller, _ = settings.require_issuer()
    if (now or SystemClock().now()) < period.end:
        raise Conflict(Problem("period.not_ended", "period",
                               f"period {period.code} has not ended: its numbers may still be used"))
    from daemon.periodic import stored_reports

    store = open_store(settings)
    try:
        held = [(h.range, h.last_no) for h in tracks.held(store)]
        closed = stored_reports(store.connection(), period)  # a closed period: exactly what was queued
    finally:
        store.close()
    schemas = load_schemas(settings)
    reports = closed if closed is not None else blank_reports(settings.head_ban, seller.identifier, period, held)
    return [(report, render_checked(report, schemas)) for report in reports]


# --- printing: the printer URL table (sim: is the virtual printer), the print queue and the proof preview ----

PREVIEW_NUMBER, PREVIEW_RANDOM = "AA00000000", "0000"


def printer_profile(settings: Settings) -> PrinterProfile:
    from drivers.printer.encode import PrinterProfile
    from drivers.printer.fonts import raster_font

    conf = settings.printer
    font = raster_font(conf.font) if conf.profile == "raster" else None
    return PrinterProfile(conf.profile, conf.paper, font, qr_codec="cp950" if settings.qr_encoding == "0" else "utf-8")


def open_printer(settings: Settings, url: str | None = None) -> tuple[EscposPrinter, SimPrinter | None]:
    """The printer at ``url`` (default: the configured one) and, for ``sim:[DIR]``, the virtual printer itself."""
    from drivers.printer.device import EscposPrinter
    from drivers.transport import open_transport

    conf, url = settings.printer, url if url is not None else settings.printer.url
    if url.startswith("sim:"):
        from hw_sim.printer import SimPrinter, SimTransport

        base = settings.source.parent if settings.source else Path.cwd()
        out = base / url[4:] if url[4:] else None
        sim = SimPrinter(576 if conf.paper == 80 else 384, "gb18030" if conf.profile == "gb18030" else "cp950", out)
        return EscposPrinter(lambda: SimTransport(sim)), sim
    cache = settings.store_path.parent / "escpos-cache"
    printer = EscposPrinter(lambda: open_transport(url, conf.timeout, cache), status_query=conf.status_query,
                            status_timeout=conf.status_timeout)
    return printer, None


def print_policy(settings: Settings) -> PrintPolicy:
    from daemon.printing import PrintPolicy

    conf = settings.printer
    return PrintPolicy(conf.max_attempts, conf.retry_delay, conf.details, conf.info_slips, conf.info_slip_window,
                       conf.test_mode)


def proof_builder(settings: Settings) -> ProofBuilder:
    from daemon.printing import ProofBuilder

    seller, key = settings.require_issuer()
    return ProofBuilder(seller, key, settings.qr_encoding, printer_profile(settings), print_policy(settings))


def print_queue(settings: Settings, store: Store, clock: Clock | None = None) -> PrintQueue | None:
    """The print queue of the configured printer; None when no printer is configured."""
    from daemon.printing import PrintQueue

    if not settings.printer.url:
        return None
    printer, _ = open_printer(settings)
    return PrintQueue(store, proof_builder(settings), printer, clock or SystemClock())


def print_after_issue(settings: Settings, store: Store, body: dict[str, Any]) -> None:
    """After the commit: print what is owed (bounded by the printer timeouts) and report the proof's status."""
    queue = print_queue(settings, store)
    if queue is None:
        return
    queue.tick()
    rows = store.read("SELECT print_status FROM invoices WHERE number = ? ORDER BY id DESC LIMIT 1",
                      (body["invoice_number"],))
    body["print"]["status"] = rows[0]["print_status"]


def _preview_invoice(settings: Settings, builder: ProofBuilder, target: str, number: str | None,
                     random_number: str | None, now: datetime | None) -> Invoice:
    if is_invoice_number(target) and not Path(target).is_file():
        store = open_store(settings)
        try:
            rows = store.read("SELECT * FROM invoices WHERE number = ? ORDER BY id DESC LIMIT 1", (target,))
        finally:
            store.close()
        if not rows:
            raise InvoiceInvalid(Problem("invoice.not_found", "number", f"no invoice {target} in this box"))
        return builder.invoice(rows[0])
    draft = parse_document(jsonio.loads(Path(target).read_bytes()))
    return build_invoice(draft, number=number or PREVIEW_NUMBER, random_number=random_number or PREVIEW_RANDOM,
                         issued_at=draft.issued_at or now or SystemClock().now(), seller=builder.seller)


def preview_proof(settings: Settings, target: str, png: Path, *, copy: bool = False, number: str | None = None,
                  random_number: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """``einvd proof preview``: the slips of a stored invoice (NUMBER) or of a document (FILE), printed by the
    production encoder into the virtual printer, saved as one PNG."""
    from drivers.printer.encode import encode

    builder = proof_builder(settings)
    invoice = _preview_invoice(settings, builder, target, number, random_number, now)
    doc = builder.doc(invoice, copy)
    data = encode(doc, builder.profile)
    printer, sim = open_printer(settings, "sim:")
    assert sim is not None
    printer.print_job(data)
    sim.save_png(png)
    return {"png": str(png), "invoice_number": invoice.number, "slips": list(doc.kinds), "bytes": len(data)}


# --- Turnkey drop and workers -------------------------------------------------------------------------------


def _local_path(url: str) -> Path:
    """The directory of a ``file://`` URL, a ``sim:`` URL or a plain path."""
    if url.startswith("file:"):
        return Path(unquote(urlsplit(url).path))
    return Path(url.removeprefix("sim:"))


def open_drop(settings: Settings) -> Drop | None:
    """The drop named by ``turnkey.drop``: a directory, sftp://, sim:DIR (a directory a SimTurnkey serves), memory:."""
    tk = settings.turnkey
    if tk.scheme in ("file", "sim"):
        return LocalDrop(_local_path(tk.drop), tk.layout)
    if tk.scheme == "sftp":
        from drivers.drop.sftp import SftpDrop, SftpTarget

        assert tk.key_file is not None and tk.known_hosts is not None  # config.py refuses sftp:// without them
        try:
            target = SftpTarget.from_url(tk.drop, tk.key_file, tk.known_hosts, tk.timeout_seconds,
                                         tk.keepalive_seconds)
        except ValueError as error:
            raise ConfigError(f"turnkey.drop: {error}") from error
        return SftpDrop(target, tk.layout)
    if tk.scheme == "memory":
        from hw_sim.drop import MemoryDrop

        return MemoryDrop()
    return None


def open_simulator(settings: Settings) -> SimTurnkey | None:
    """For ``sim:DIR``: the simulated Turnkey that serves DIR (its folders created), else None."""
    if settings.turnkey.scheme != "sim":
        return None
    from hw_sim.turnkey import SimTurnkey

    return SimTurnkey(_local_path(settings.turnkey.drop), settings.schema_dir,
                      party=settings.seller.identifier).install()


def message_builders() -> dict[str, Builder]:
    """How the pump builds each message type from its outbox row."""
    from daemon.allowances import allowance_message
    from daemon.lifecycle import action_message
    from daemon.periodic import blank_message

    def by_outbox_id(build: Callable[[sqlite3.Connection, int, Party], Message]) -> Builder:
        return lambda conn, row, seller: build(conn, row.id, seller)

    return {"F0401": build_f0401, "F0501": by_outbox_id(action_message), "F0701": by_outbox_id(action_message),
            "G0401": by_outbox_id(allowance_message), "G0501": by_outbox_id(allowance_message),
            "E0402": by_outbox_id(blank_message)}


def pump_worker(settings: Settings, store: Store, drop: Drop, rng: RandomSource) -> Pump:
    tk = settings.turnkey
    seller, _ = settings.require_issuer()
    backoff = Backoff(timedelta(seconds=tk.backoff_seconds), timedelta(seconds=tk.backoff_max_seconds))
    return Pump(store, drop, seller, load_schemas(settings), rng, backoff, tk.batch, message_builders())


def result_trigger(settings: Settings, drop: Drop) -> Trigger | None:
    """inotify wake-ups for a local tree (SRC, ERR and result folders); None for remote trees."""
    if not isinstance(drop, LocalDrop):
        return None
    layout = settings.turnkey.layout
    folders = [layout.folder(which, code) for code in layout.codes for which in ("SRC", "ERR")]
    folders += [f for kind in ("SummaryResult", "ProcessResult", "E0501") if (f := layout.result_folder(kind))]
    return Trigger(drop.root / folder for folder in folders)


def deadline_policy(settings: Settings) -> DeadlinePolicy:
    tk = settings.turnkey
    half, near = tk.deadline_warn_percent
    return DeadlinePolicy(half / 100, near / 100, timedelta(hours=tk.verdict_grace_hours))


def watch_worker(settings: Settings, store: Store, drop: Drop, trigger: Trigger | None = None) -> Watch:
    """The watcher of ``einvd run``: deadlines are a job of their own there (``deadlines=False``)."""
    tk = settings.turnkey
    rescan = Rescan(timedelta(seconds=tk.rescan_seconds), trigger.fired if trigger is not None else None)
    return Watch(store, drop, settings.seller.identifier, rescan.due, deadline_policy(settings), tk.import_e0501,
                 deadlines=False)


# --- scheduled work and alerts (daemon/periodic.py, reports.py, archive.py, notify.py) ----------------------


def blank_job(settings: Settings, store: Store) -> BlankJob | None:
    """The E0402 job (``daemon.periodic.BlankJob``); None when ``e0402.enabled`` is false."""
    from daemon.periodic import BlankJob

    conf = settings.schedule
    if not conf.e0402:
        return None
    return BlankJob(store, settings.head_ban, settings.seller.identifier,
                    timedelta(hours=conf.close_after_hours), conf.due_day, load_schemas(settings))


def daily_report(settings: Settings, day: Any = None, now: datetime | None = None) -> dict[str, Any]:
    """``einvd report``: the reconciliation report of ``day`` (default yesterday), written to reports.dir."""
    from daemon.reports import write_daily

    at = now or SystemClock().now()
    store = open_store(settings)
    try:
        return write_daily(store, settings.schedule.report_dir, day, at)
    finally:
        store.close()


def archiver(settings: Settings, store: Store) -> Archiver:
    """The per-period archive job (``daemon.archive.Archiver``)."""
    from daemon.archive import Archiver

    seller, _ = settings.require_issuer()
    conf = settings.schedule
    return Archiver(store, seller, message_builders(), load_schemas(settings), conf.archive_dir, conf.archive_format,
                    settings.void_cutoff_day, conf.settle_days, conf.retention_periods, conf.e0402)


def export_archive(settings: Settings, period: Period | None = None, now: datetime | None = None) -> dict[str, Any]:
    """``einvd archive export``: the archive of ``period`` (default: the last one due) now, settled or not."""
    at = now or SystemClock().now()
    store = open_store(settings)
    try:
        job = archiver(settings, store)
        return job.export(period or Period.of(at).previous(), at)
    finally:
        store.close()


def check_drop(drop: Drop) -> list[str]:
    """The start-up check: every missing or unwritable Turnkey folder, or why the drop cannot be reached."""
    try:
        return drop.check()
    except OSError as error:
        return [f"{drop!r}: {type(error).__name__}: {error}"]


def proof_printer(settings: Settings, store: Store, clock: Clock | None = None) -> Callable[[str, bool], str] | None:
    """``lifecycle.ProofPrinter`` for reprints (``POST /v1/invoices/{number}/print``): prints now, returns the
    job's state (printed, queued or failed); None when no printer is configured."""
    queue = print_queue(settings, store, clock)
    return queue.request if queue is not None else None
