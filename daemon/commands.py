"""The CLI's use cases (``einvd tracks``, ``invoice render``, ``blank-report``, ``proof preview``, ``report``,
``archive export``, ``invoice issue``, ``tls cert``): each opens what it needs through the composition root and
closes it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon import jsonio, tracks
from daemon.clock import SystemClock
from daemon.config import ConfigError, Settings, fingerprint
from daemon.periodic import EXPORT, close_period, queue_merged, record_export, stored_reports
from daemon.printing import ProofBuilder
from daemon.reports import write_daily
from daemon.services import check
from daemon.store import MIGRATIONS, Store, invoices, stamp
from daemon.store import alerts as alert_table
from daemon.store import backup as copies
from daemon.store import blanks as blank_table
from daemon.wiring import archiver, load_schemas, open_store, print_preview, print_queue, proof_builder, sharing
from daemon.wiring.files import write_durably
from turnkey.ban import is_ascii_digits
from turnkey.blanks import blank_reports, export_document, merge_parts, parse_export, track_parts
from turnkey.errors import Conflict, InvoiceInvalid, Problem, TrackError
from turnkey.mig import parse_e0501, render_checked
from turnkey.model import BlankReport, Invoice
from turnkey.numbers import TrackRange, is_invoice_number, parse_ranges_csv
from turnkey.period import Period
from turnkey.validate import build_invoice, parse_document

PREVIEW_NUMBER, PREVIEW_RANDOM = "AA00000000", "0000"


# --- number ranges ------------------------------------------------------------------------------------------


def _labels(added: list[TrackRange]) -> list[str]:
    return [span.label for span in added]


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
                  shown: Callable[[list[TrackRange]], Iterable[TrackRange]] | None = None,
                  numbered_by: str | None = None) -> list[str]:
    """Add the ranges of an E0501 or CSV in one transaction; ``shown`` wraps them (a progress bar);
    ``numbered_by``: the POS that numbers them itself."""
    ranges = tracks.restrict(_ranges_from(settings, data), part)
    store = open_store(settings)
    try:
        added = tracks.add(store, shown(ranges) if shown else ranges, f"import {source}", now or SystemClock().now(),
                           numbered_by)
        return _labels(added)
    finally:
        store.close()


def add_track(settings: Settings, period: str, invoice_type: str, track: str, begin: int, end: int,
              now: datetime | None = None, numbered_by: str | None = None) -> list[str]:
    try:
        span = TrackRange(Period.parse(period), invoice_type, track, begin, end)
    except ValueError as error:
        raise TrackError(Problem("tracks.range", "range", str(error))) from error
    store = open_store(settings)
    try:
        return _labels(tracks.add(store, [span], "manual", now or SystemClock().now(), numbered_by))
    finally:
        store.close()


def list_tracks(settings: Settings) -> list[dict[str, object]]:
    store = open_store(settings)
    try:
        return [h.as_dict() for h in tracks.held(store)]
    finally:
        store.close()


def validate_invoice(settings: Settings, doc: object, now: datetime | None = None) -> dict[str, Any]:
    """``einvd invoice validate``: every rule issue applies at ``now`` (default the clock), read from the store
    when there is one (none yet: no range is held); nothing is numbered or stored."""
    at = now or SystemClock().now()
    if not settings.store_path.exists():
        return check(None, doc, at, settings.backdate_limit)
    store = open_store(settings)
    try:
        return check(store.connection(), doc, at, settings.backdate_limit)
    finally:
        store.close()


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
    store = open_store(settings)
    try:
        held = [(h.range, h.last_no) for h in tracks.held(store)]
        closed = stored_reports(store.connection(), period)  # a closed period: exactly what was queued
    finally:
        store.close()
    schemas = load_schemas(settings)
    share = sharing(settings)  # a shared track is reported by merging every box's export, not here
    reports = closed if closed is not None else [
        r for r in blank_reports(settings.head_ban, seller.identifier, period, held) if not share.shared(r.track)]
    return [(report, render_checked(report, schemas)) for report in reports]


def _ended(period: Period, now: datetime) -> None:
    if now < period.end:
        raise Conflict(Problem("period.not_ended", "period",
                               f"period {period.code} has not ended: its numbers may still be used"))


def export_blanks(settings: Settings, period: Period | None = None, out: Path | None = None,
                  now: datetime | None = None) -> dict[str, Any]:
    """``einvd blank-report --export``: this box's part of each shared track of a finished period (default: the
    last one), its held ranges and unused spans, for the reporting box to merge. The period is closed here first
    if the E0402 job has not yet (nothing can be issued into numbers exported as unused); ``e0402.export`` is
    cleared. Written durably to ``out``, or returned only."""
    seller, _ = settings.require_issuer()
    at = now or SystemClock().now()
    period = period or Period.of(at).previous()
    share = sharing(settings)
    if share.role == "alone":
        raise Conflict(Problem("e0402.role", "role", "this box reports its tracks alone (e0402.role = \"alone\"): "
                               "set e0402.role to \"part\" (or \"reporter\") when other boxes hold parts of them"))
    _ended(period, at)
    store = open_store(settings)
    try:
        close_period(store, period, settings.head_ban, seller.identifier, at, load_schemas(settings), share)
        held = [(TrackRange(period, r.invoice_type, r.track, r.begin_no, r.end_no), r.last_no)
                for r in blank_table.used_ranges(store.connection(), period.code) if share.shared(r.track)]
        parts = track_parts(seller.identifier, settings.head_ban, seller.identifier, period, held)
        doc = export_document(settings.head_ban, seller.identifier, period, parts)
        if out is not None:
            write_durably(out, jsonio.dumps(doc).encode("utf-8") + b"\n")
        with store.write() as tx:
            if out is not None:
                record_export(tx, "blank_export", period.code, out, at, f"{len(parts)} track(s)")
            alert_table.clear(tx, stamp(at), EXPORT, "period", period.code)
    finally:
        store.close()
    return doc


def _allocation(specs: Iterable[str]) -> dict[str, list[tuple[int, int]]]:
    """``AB00001000-AB00001249`` (repeatable): the allocated ranges of each track."""
    found: dict[str, list[tuple[int, int]]] = {}
    for spec in specs:
        first, _, last = spec.partition("-")
        if not (is_invoice_number(first) and is_invoice_number(last) and first[:2] == last[:2]
                and first[2:] <= last[2:]):
            raise InvoiceInvalid(Problem("allocation.format", "allocation",
                                         f"--allocation takes BEGIN-END of one track, e.g. AB00001000-AB00001249, "
                                         f"got {spec!r}"))
        found.setdefault(first[:2], []).append((int(first[2:]), int(last[2:])))
    return found


def merge_blanks(settings: Settings, files: Iterable[Path], allocation: Iterable[str] = (), queue: bool = False,
                 now: datetime | None = None) -> list[tuple[BlankReport, bytes]]:
    """``einvd blank-report --merge``: one E0402 per key from every box's export (overlapping or missing spans
    refused, by number), each checked like every message that leaves; with ``queue``, put in this box's outbox."""
    parts = []
    for path in files:
        parts += parse_export(jsonio.loads(path.read_bytes()), path.name)
    if not parts:
        raise InvoiceInvalid(Problem("blank_merge.empty", "files", "the exports name no track: nothing to merge"))
    periods = sorted({part.period.code for part in parts})
    if len(periods) > 1:
        raise Conflict(Problem("blank_merge.period", "files",
                               f"the exports are of several periods ({', '.join(periods)}): merge one at a time"))
    reports = merge_parts(parts, _allocation(allocation))
    schemas = load_schemas(settings)
    checked = [(report, render_checked(report, schemas)) for report in reports]
    if queue:
        at = now or SystemClock().now()
        _ended(parts[0].period, at)
        store = open_store(settings)
        try:
            if settings.seller.identifier:  # this box's own ranges of the period are closed first
                close_period(store, parts[0].period, settings.head_ban, settings.seller.identifier, at, schemas,
                             sharing(settings))
            queue_merged(store, parts[0].period, reports, at, schemas)
        finally:
            store.close()
    return checked


# --- printing: after an issue, and the proof preview ----------------------------------------------------------


def print_after_issue(settings: Settings, store: Store, body: dict[str, Any]) -> None:
    """After the commit: print what is owed (bounded by the printer timeouts) and report the proof's status."""
    queue = print_queue(settings, store)
    if queue is None:
        return
    queue.tick()
    record = invoices.newest_by_number(store.connection(), body["invoice_number"])
    assert record is not None  # issued just before
    body["print"]["status"] = record.print_status


def _preview_invoice(settings: Settings, builder: ProofBuilder, target: str, number: str | None,
                     random_number: str | None, now: datetime | None) -> Invoice:
    if is_invoice_number(target) and not Path(target).is_file():
        store = open_store(settings)
        try:
            record = invoices.newest_by_number(store.connection(), target)
        finally:
            store.close()
        if record is None:
            raise InvoiceInvalid(Problem("invoice.not_found", "number", f"no invoice {target} in this box"))
        return builder.invoice(record)
    draft = parse_document(jsonio.loads(Path(target).read_bytes()))
    return build_invoice(draft, number=number or PREVIEW_NUMBER, random_number=random_number or PREVIEW_RANDOM,
                         issued_at=draft.issued_at or now or SystemClock().now(), seller=builder.seller)


def preview_proof(settings: Settings, target: str, png: Path, *, copy: bool = False, number: str | None = None,
                  random_number: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """``einvd proof preview``: the slips of a stored invoice (NUMBER) or of a document (FILE), printed by the
    production encoder into the virtual printer, saved as one PNG."""
    builder = proof_builder(settings)
    invoice = _preview_invoice(settings, builder, target, number, random_number, now)
    doc = builder.doc(invoice, copy)
    size = print_preview(settings, doc, png)
    return {"png": str(png), "invoice_number": invoice.number, "slips": list(doc.kinds), "bytes": size}


# --- reports and archives ----------------------------------------------------------------------------------


def daily_report(settings: Settings, day: date | None = None, now: datetime | None = None) -> dict[str, Any]:
    """``einvd report``: the reconciliation report of ``day`` (default yesterday), written to reports.dir."""
    at = now or SystemClock().now()
    store = open_store(settings)
    try:
        return write_daily(store, settings.schedule.report_dir, day, at)
    finally:
        store.close()


def export_archive(settings: Settings, period: Period | None = None, now: datetime | None = None) -> dict[str, Any]:
    """``einvd archive export``: the archive of ``period`` (default: the last one due) now, settled or not."""
    at = now or SystemClock().now()
    store = open_store(settings)
    try:
        job = archiver(settings, store)
        return job.export(period or Period.of(at).previous(), at)
    finally:
        store.close()


# --- backup and restore ---------------------------------------------------------------------------------------


def backup_store(settings: Settings, to: Path | None = None, now: datetime | None = None) -> dict[str, object]:
    """``einvd backup``: an online copy of the store (default: beside it, named by the time), durable when this
    returns. Safe while the daemon runs."""
    return copies.backup(settings.store_path, now or SystemClock().now(), to).as_dict()


def restore_store(settings: Settings, source: Path, now: datetime | None = None) -> dict[str, object]:
    """``einvd restore FILE``: checked, then put in place of the store atomically; refused while any einvd has
    the store open; the replaced database is kept beside it."""
    return copies.restore(source, settings.store_path, now or SystemClock().now(), len(MIGRATIONS)).as_dict()


# --- the API's TLS certificate -------------------------------------------------------------------------------

CERT_YEARS = 10
"""Validity of ``einvd tls cert``: the POS trusts the pinned fingerprint, not the dates, so expiry protects
nothing here and would only stop the shop's sales one day without warning; ten years outlives the box. A new
certificate (and pin) is made by running the command again."""


def self_signed(hosts: list[str], now: datetime) -> tuple[bytes, bytes]:
    """A self-signed certificate (PEM) and its EC P-256 private key (PKCS#8 PEM, unencrypted) for ``hosts``:
    each an IP address (SAN IP) or a DNS name (SAN DNS); the first is the subject's common name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "einvd")])
    start = now - timedelta(days=1)  # a POS whose clock runs a little behind still accepts it
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=365 * CERT_YEARS + 3))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def tls_cert(out: Path, hosts: list[str], now: datetime | None = None,
             write: Callable[[Path, bytes, int], Path] = write_durably) -> dict[str, Any]:
    """``einvd tls cert``: ``einvd-api.crt`` (0644) and ``einvd-api.key`` (0600) in ``out``, each written durably
    (key first: a certificate never lands without its key); the fingerprint a POS pins. ``hosts`` empty: localhost
    and 127.0.0.1."""
    hosts = list(dict.fromkeys(hosts)) or ["localhost", "127.0.0.1"]
    if any(not host or not host.isascii() or " " in host for host in hosts):
        raise ConfigError("--host takes a DNS name or an IP address (ASCII, no spaces)")
    cert_pem, key_pem = self_signed(hosts, now or SystemClock().now())
    key = write(out / "einvd-api.key", key_pem, 0o600)
    cert = write(out / "einvd-api.crt", cert_pem, 0o644)
    return {"certificate": str(cert), "key": str(key), "hosts": hosts, "valid_years": CERT_YEARS,
            **certificate_pins(cert_pem)}


def certificate_pins(cert_pem: bytes) -> dict[str, str]:
    """``sha256``: the certificate's fingerprint (einvd's client, ``openssl x509 -fingerprint -sha256``);
    ``public_key_pin``: the SHA-256 of its public key as curl's ``--pinnedpubkey`` and OkHttp's pinner take it."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"sha256": fingerprint(cert.public_bytes(serialization.Encoding.DER)),
            "public_key_pin": "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")}
