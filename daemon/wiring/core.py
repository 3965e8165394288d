"""Composition root, the core: the store, the issue service, the schemas, the message builders and the
scheduled jobs (E0402, daily reports, archive, alert notifier) built from ``Settings``."""

from __future__ import annotations

from datetime import timedelta

from daemon.allowances import AllowanceService
from daemon.api.context import ApiContext
from daemon.api.keys import keys_path, load_keys
from daemon.archive import Archiver
from daemon.clock import SystemClock
from daemon.config import ConfigError, Settings
from daemon.deadlines import DeadlinePolicy
from daemon.lifecycle import LifecycleService, ProofPrinter
from daemon.messages import BUILDERS
from daemon.notify import Notifier
from daemon.periodic import BlankJob, Sharing
from daemon.ports import Clock, Printer, RandomSource
from daemon.reports import DailyReports
from daemon.scans import ScanHub
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.wiring.printer import printer_profile, slip_encoder
from turnkey.mig import Schemas, required_sources


def open_store(settings: Settings, background_checkpoint: bool = False) -> Store:
    """The invoice store; the long-running daemon checkpoints the WAL in the background (see ``Store``)."""
    return Store(settings.store_path, background_checkpoint=background_checkpoint)


def invoice_service(settings: Settings, rng: RandomSource, clock: Clock | None = None,
                    store: Store | None = None) -> InvoiceService:
    """The issue service of the configured seller (a new store unless one is given)."""
    seller, key = settings.require_issuer()
    return InvoiceService(store or open_store(settings), clock or SystemClock(), rng, seller, key,
                          settings.qr_encoding, settings.backdate_limit)


def load_schemas(settings: Settings) -> Schemas | None:
    """The official XSDs from the configured directory (None when none is configured)."""
    if settings.schema_dir is None:
        return None
    try:
        files = {name: (settings.schema_dir / name).read_bytes() for name in required_sources()}
        return Schemas.from_sources(files)
    except (OSError, ValueError) as error:
        raise ConfigError(f"mig.schema_dir {settings.schema_dir}: {error}") from error


def deadline_policy(settings: Settings) -> DeadlinePolicy:
    tk = settings.turnkey
    half, near = tk.deadline_warn_percent
    return DeadlinePolicy(half / 100, near / 100, timedelta(hours=tk.verdict_grace_hours))


def blank_job(settings: Settings, store: Store) -> BlankJob | None:
    """The E0402 job (``daemon.periodic.BlankJob``); None when ``e0402.enabled`` is false."""
    conf = settings.schedule
    if not conf.e0402:
        return None
    return BlankJob(store, settings.head_ban, settings.seller.identifier,
                    timedelta(hours=conf.close_after_hours), conf.due_day, load_schemas(settings), sharing(settings))


def sharing(settings: Settings) -> Sharing:
    """How this box reports tracks shared with other boxes (``[e0402] role``, ``whole_tracks``)."""
    conf = settings.schedule
    return Sharing(conf.e0402_role, frozenset(conf.e0402_whole_tracks))


def archiver(settings: Settings, store: Store) -> Archiver:
    """The per-period archive job (``daemon.archive.Archiver``)."""
    seller, _ = settings.require_issuer()
    conf = settings.schedule
    return Archiver(store, seller, BUILDERS, load_schemas(settings), conf.archive_dir, conf.archive_format,
                    settings.void_cutoff_day, conf.settle_days, conf.retention_periods, conf.e0402)


def daily_reports(settings: Settings, store: Store) -> DailyReports:
    """The daily reconciliation report job."""
    return DailyReports(store, settings.schedule.report_dir, settings.schedule.daily_after)


def notifier(settings: Settings, store: Store, printer: Printer | None, rng: RandomSource) -> Notifier:
    """The alert notifier: webhook, and printed notices on the proof printer when there is one."""
    encoder = slip_encoder(printer_profile(settings)) if printer is not None else None
    return Notifier(store, settings.alerts, settings.seller.identifier, printer=printer, encoder=encoder, rng=rng)


def corrections(settings: Settings, invoices: InvoiceService,
                printer: ProofPrinter | None = None) -> tuple[LifecycleService, AllowanceService]:
    """Voids, cancels and reprints, and allowances, around one issue service (as the API and the demo use them)."""
    lifecycle = LifecycleService(invoices, settings.void_cutoff_day, printer)
    return lifecycle, AllowanceService(lifecycle, settings.api.allowance_prefix)


def api_context(settings: Settings, invoices: InvoiceService, scans: ScanHub | None = None,
                printer: ProofPrinter | None = None) -> ApiContext:
    """The API's context as ``einvd run`` builds it: keys from the key file or credential, numbering settings."""
    return ApiContext.build(invoices, load_keys(keys_path(settings.api)), cutoff_day=settings.void_cutoff_day,
                            allowance_prefix=settings.api.allowance_prefix, printer=printer, scans=scans)
