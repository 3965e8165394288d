"""Composition root: builds the store and services from settings. (Devices by URL join here later.)"""

from __future__ import annotations

from datetime import datetime

from daemon import tracks
from daemon.clock import SystemClock
from daemon.config import ConfigError, Settings
from daemon.ports import Clock, RandomSource
from daemon.services import InvoiceService
from daemon.store import Store
from turnkey.ban import is_ascii_digits
from turnkey.blanks import blank_reports
from turnkey.errors import Conflict, InvoiceInvalid, Problem, TrackError
from turnkey.mig import Schemas, parse_e0501, preflight, render, required_sources
from turnkey.model import BlankReport, Message
from turnkey.numbers import TrackRange, is_invoice_number, parse_ranges_csv
from turnkey.period import Period
from turnkey.validate import build_invoice, parse_document


def open_store(settings: Settings) -> Store:
    return Store(settings.store_path)


def invoice_service(settings: Settings, rng: RandomSource, clock: Clock | None = None) -> InvoiceService:
    seller, key = settings.require_issuer()
    return InvoiceService(open_store(settings), clock or SystemClock(), rng, seller, key, settings.qr_encoding)


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
                  now: datetime | None = None) -> list[str]:
    ranges = tracks.restrict(_ranges_from(settings, data), part)
    store = open_store(settings)
    try:
        return _labels(tracks.add(store, ranges, f"import {source}", now or SystemClock().now()))
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


def checked(message: Message, schemas: Schemas | None) -> bytes:
    """The message's XML after the pre-flight check; InvoiceInvalid with the mig.* problems otherwise."""
    xml = render(message)
    problems = preflight(message, xml, schemas)
    if problems:
        raise InvoiceInvalid(*problems)
    return xml


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
    return checked(invoice, load_schemas(settings))


def blank_report(settings: Settings, period: Period, now: datetime | None = None) -> list[tuple[BlankReport, bytes]]:
    """E0402 messages for a finished period's unused numbers, checked like every message that leaves."""
    seller, _ = settings.require_issuer()
    if (now or SystemClock().now()) < period.end:
        raise Conflict(Problem("period.not_ended", "period",
                               f"period {period.code} has not ended: its numbers may still be used"))
    store = open_store(settings)
    try:
        held = [(h.range, h.last_no) for h in tracks.held(store)]
    finally:
        store.close()
    schemas = load_schemas(settings)
    reports = blank_reports(settings.head_ban, seller.identifier, period, held)
    return [(report, checked(report, schemas)) for report in reports]
