"""``einvd doctor``: what would stop this box from issuing, printing, scanning or delivering, checked now.

Each check gives ``ok``, ``warn`` (works, but needs a person soon) or ``fail`` (does not work). The verb exits 1
when anything fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon import wiring
from daemon.alerts import raise_alert
from daemon.config import Settings
from daemon.console import table
from daemon.store import MIGRATIONS, Store, stats
from daemon.tracks import held
from daemon.wiring.printer import DevicePrintFailed
from daemon.wiring.scanner import device_path
from turnkey.numbers import remaining
from turnkey.period import Period, taipei

LOW_WATER = 50
NEXT_RANGE_NOTICE = timedelta(days=7)


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "level": self.level, "detail": self.detail}


def _clock(now: datetime) -> Check:
    if now.year < 2024:
        return Check("clock", "fail", f"the clock says {now.isoformat()}: set the time (NTP) before issuing")
    return Check("clock", "ok", f"{taipei(now).isoformat()} Taipei")


def _store(store: Store) -> Check:
    facts = stats.file_facts(store.connection())
    if facts.integrity != "ok":
        return Check("store", "fail", f"{store.path}: {facts.integrity}")
    return Check("store", "ok", f"{store.path}: schema {facts.version}/{len(MIGRATIONS)}, "
                 f"journal {facts.journal_mode}, integrity ok")


def _ranges(store: Store, now: datetime) -> list[Check]:
    period = Period.of(now)
    ranges = held(store)
    left = sum(remaining(h.range, h.last_no) for h in ranges if h.range.period == period)
    checks = []
    if left == 0:
        checks.append(Check("ranges", "fail", f"no numbers left for period {period.code}: import the allocation"))
    elif left < LOW_WATER:
        checks.append(Check("ranges", "warn", f"only {left} numbers left for period {period.code}"))
    else:
        checks.append(Check("ranges", "ok", f"{left} numbers left for period {period.code}"))
    nxt = period.next()
    if nxt.start - taipei(now) <= NEXT_RANGE_NOTICE and not any(h.range.period == nxt for h in ranges):
        checks.append(Check("next ranges", "warn", f"period {nxt.code} starts {nxt.start:%Y-%m-%d}; no range held"))
    return checks


def _turnkey(settings: Settings) -> Check:
    drop = wiring.open_drop(settings)
    if drop is None:
        return Check("turnkey", "warn", "no drop configured (turnkey.drop): invoices stay in the outbox")
    problems = wiring.check_drop(drop)
    if problems:
        return Check("turnkey", "fail", "; ".join(problems))
    return Check("turnkey", "ok", f"{settings.turnkey.drop}: every folder there and writable")


def _printer(settings: Settings) -> Check:
    if not settings.printer.url:
        return Check("printer", "warn", "no printer configured: proofs are not printed")
    printer = wiring.open_printer(settings).printer
    try:
        status = printer.status()
    except (DevicePrintFailed, OSError) as error:
        return Check("printer", "fail", f"{settings.printer.url}: {error}")
    detail = "answers, ready" if status is not None else "opened (status queries are off)"
    if status is not None and status.paper_near_end:
        return Check("printer", "warn", f"{settings.printer.url}: paper nearly out")
    return Check("printer", "ok", f"{settings.printer.url}: {detail}")


def _scanner(settings: Settings) -> Check:
    url = settings.scanner.url
    if not url:
        return Check("scanner", "ok", "no scanner configured")
    path = device_path(url)
    if path is None:
        return Check("scanner", "ok", f"{url} (no device file to check)")
    if not os.path.exists(path):
        return Check("scanner", "fail", f"{path} does not exist (unplugged, or a missing udev rule)")
    return Check("scanner", "ok", f"{url} present")


def _guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        found = check()
    except Exception as error:  # a broken component is a finding, not a crash of the doctor
        return [Check(name, "fail", f"{type(error).__name__}: {error}")]
    return found if isinstance(found, list) else [found]


def examine(settings: Settings, now: datetime) -> list[Check]:
    checks = [Check("configuration", "ok", str(settings.source or "built-in defaults")), _clock(now)]
    if not settings.seller.identifier:
        checks.append(Check("seller", "fail", "seller.ban is not set"))
    if settings.qr_key is None:
        checks.append(Check("qr key", "fail", "no QR AES key (qr.key, qr.seed_password or the credential)"))
    store = wiring.open_store(settings)
    try:
        checks += _guarded("store", lambda: _store(store))
        checks += _guarded("ranges", lambda: _ranges(store, now))
    finally:
        store.close()
    for name, check in (("turnkey", _turnkey), ("printer", _printer), ("scanner", _scanner)):
        checks += _guarded(name, lambda check=check: check(settings))  # type: ignore[misc]
    return checks


_ALERT_KINDS = {"ranges": "ranges.low", "next ranges": "ranges.next_missing"}


def range_alerts(store: Store, now: datetime) -> int:
    """The scheduled form of the range checks: an alert (shown in health) per finding, once per period."""
    raised = 0
    findings = [c for c in _ranges(store, now) if c.level != "ok"]
    with store.write() as tx:
        for check in findings:
            period = Period.of(now) if check.name == "ranges" else Period.of(now).next()
            raised += raise_alert(tx, _ALERT_KINDS[check.name], "period", period.code, now, check.detail)
    return raised


def show_checks(checks: list[Check]) -> None:
    """The checks as a table for a person at a terminal (``einvd doctor``; scripts get the JSON)."""
    marks = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}
    table("einvd doctor", ("check", "level", "detail"), [(c.name, marks.get(c.level, c.level), c.detail)
                                                         for c in checks])
