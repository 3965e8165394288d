"""Composition root: builds the store and services from settings. (Devices by URL join here later.)"""

from __future__ import annotations

from datetime import datetime

from daemon import tracks
from daemon.clock import SystemClock
from daemon.config import Settings
from daemon.ports import Clock, RandomSource
from daemon.services import InvoiceService
from daemon.store import Store
from turnkey.errors import Problem, TrackError
from turnkey.mig.e0501 import parse_e0501
from turnkey.numbers import TrackRange, parse_ranges_csv
from turnkey.period import Period


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
