"""``einvd`` command line. Exit codes: 0 done, 1 refused (errors JSON on stdout), 2 usage, 78 configuration or a
database written by a newer einvd (restarting cannot fix either; the unit's ``RestartPreventExitStatus=78``)."""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon import jsonio
from daemon.config import EXIT_CONFIG, ConfigError, Settings, load, pin
from daemon.store import BackupError, SchemaTooNew, StoreUnavailable
from turnkey.errors import InvoiceInvalid, Problem, TurnkeyError
from turnkey.period import Period

EXIT_REFUSED = 1


def _read(source: str) -> bytes:
    return sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()


def _print(value: Any) -> None:
    sys.stdout.write(jsonio.dumps(value) + "\n")


def _refused(problems: Sequence[dict[str, str]]) -> int:
    _print({"errors": list(problems)})
    return EXIT_REFUSED


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.commands import validate_invoice

    _print(validate_invoice(settings, jsonio.loads(_read(args.file)), args.now))
    return 0


def _aware(text: str) -> datetime:
    """``--now``: an ISO 8601 time with its UTC offset (2026-12-03T14:00:00+08:00)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected ISO 8601 like 2026-12-03T14:00:00+08:00: {error}") from error
    if at.utcoffset() is None:
        raise argparse.ArgumentTypeError("the time needs its UTC offset, like +08:00")
    return at


def _issued(args: argparse.Namespace) -> bytes:
    """The document to issue; ``--open-drawer`` adds ``"open_drawer": true`` (kick the cash drawer after the slip)."""
    data = _read(args.file)
    if not args.open_drawer:
        return data
    doc = jsonio.loads(data.removeprefix(b"\xef\xbb\xbf"))
    if isinstance(doc, dict):
        doc["open_drawer"] = True
    return jsonio.dumps(doc).encode("utf-8")


def cmd_issue(args: argparse.Namespace, settings: Settings) -> int:
    if args.remote:
        from daemon.client import issue_remote

        status, body = issue_remote(settings.api, args.remote, args.key, _issued(args), pinned=args.pin)
        _print(body)
        return 0 if status in (200, 201) else EXIT_REFUSED
    from daemon.commands import print_after_issue
    from daemon.wiring import invoice_service

    service = invoice_service(settings, random.SystemRandom())
    try:
        issued = service.issue(jsonio.loads(_issued(args)))
        print_after_issue(settings, service.store, issued.body)
    finally:
        service.store.close()
    _print(issued.body)
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    """``einvd invoice show NUMBER``: the stored invoice as the API's view shows it, every version of a re-issued
    number included."""
    from daemon.wiring import corrections, invoice_service

    service = invoice_service(settings, random.SystemRandom())
    try:
        lifecycle, _ = corrections(settings, service)
        _print(lifecycle.view(args.number))
    finally:
        service.store.close()
    return 0


def cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    """``einvd invoice notify NUMBER [--to ADDRESS]``: queue the consumer's e-mail notice again (daemon/mail.py);
    the running daemon's mail job sends it."""
    from daemon.clock import SystemClock
    from daemon.mail import notify_again
    from daemon.wiring import open_store

    store = open_store(settings)
    try:
        _print(notify_again(store, args.number, SystemClock().now(), args.to))
    finally:
        store.close()
    return 0


def cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.commands import render_invoice

    xml = render_invoice(settings, jsonio.loads(_read(args.file)), args.number, args.random_number)
    sys.stdout.buffer.write(xml)
    sys.stdout.flush()
    return 0


def _period_arg(text: str | None) -> Period | None:
    try:
        return Period.parse(text) if text is not None else None
    except ValueError as error:
        raise InvoiceInvalid(Problem("period.format", "period", str(error))) from error


def _now_arg(text: str | None) -> datetime | None:
    """``--now``: an ISO 8601 time with its UTC offset that stands for the clock (a test or an installer pins it)."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvoiceInvalid(Problem("now.format", "now", f"--now takes an ISO 8601 time, got {text!r}")) from error
    if at.tzinfo is None:
        raise InvoiceInvalid(Problem("now.format", "now", f"--now needs a UTC offset (e.g. +08:00), got {text!r}"))
    return at


def cmd_blank_report(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.commands import blank_report, export_blanks, merge_blanks

    period = _period_arg(args.period)
    now = _now_arg(args.now)
    if args.export:
        doc = export_blanks(settings, period, Path(args.out) if args.out else None, now)
        _print({"file": args.out, **doc} if args.out else doc)
        return 0
    if args.merge:
        if args.queue and args.out:
            raise SystemExit("einvd: --merge takes --queue or -o DIR, not both")
        merged = merge_blanks(settings, [Path(f) for f in args.merge], args.allocation or (), queue=args.queue,
                              now=now)
        _print({"period": merged[0][0].period.code if merged else None, "queued": args.queue,
                "messages": _blank_entries(merged, args.out)})
        return 0
    if period is None:
        raise SystemExit("einvd: blank-report needs --period (or --export / --merge)")
    _print({"period": period.code, "messages": _blank_entries(blank_report(settings, period), args.out)})
    return 0


def _blank_entries(reports: list[tuple[Any, bytes]], out: str | None) -> list[dict[str, Any]]:
    messages = []
    for report, xml in reports:
        period = report.period
        entry: dict[str, Any] = {"invoice_type": report.invoice_type, "track": report.track,
                                 "blank": [f"{b:08d}-{e:08d}" for b, e in report.ranges]}
        if out:
            path = Path(out) / f"E0402_{report.branch_ban}_{period.code}_{report.invoice_type}_{report.track}.xml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(xml)
            entry["file"] = str(path)
        else:
            entry["xml"] = xml.decode("utf-8")
        messages.append(entry)
    return messages


def cmd_tracks_import(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.commands import import_tracks
    from daemon.console import progress

    part = (args.begin, args.end) if args.begin is not None and args.end is not None else None
    if (args.begin is None) != (args.end is None):
        raise SystemExit("einvd: --begin and --end go together")

    def shown(ranges: list[Any]) -> Any:
        # the bar goes to stderr, so the JSON on stdout stays as it is; few ranges need none
        return progress(ranges, len(ranges), "importing ranges", sys.stderr) if len(ranges) >= 20 else ranges

    _print({"added": import_tracks(settings, _read(args.file), args.file, part, shown=shown,
                                   numbered_by=args.numbered_by)})
    return 0


def cmd_tracks_add(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.commands import add_track

    _print({"added": add_track(settings, args.period, args.type, args.track, args.begin, args.end,
                               numbered_by=args.numbered_by)})
    return 0


def cmd_tracks_list(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.commands import list_tracks
    from daemon.console import is_tty, table

    held = list_tracks(settings)
    if args.json or not is_tty():  # pipes and scripts get the JSON, people at a terminal a table
        _print(held)
        return 0
    table("number ranges", ("period", "type", "range", "next", "remaining", "source"),
          [(r["period"], r["invoice_type"], f"{r['track']}{r['begin']}-{r['end']}", r["next"] or "used up",
            r["remaining"], r["source"] if r["numbered_by"] is None else f"{r['source']}, POS {r['numbered_by']}")
           for r in held])
    return 0


def cmd_proof_preview(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.commands import preview_proof

    _print(preview_proof(settings, args.target, Path(args.png), copy=args.copy, number=args.number,
                         random_number=args.random_number))
    return 0


def cmd_printer_test(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.clock import SystemClock
    from daemon.printer_test import printer_test

    answer = printer_test(settings, Path(args.png) if args.png else None, SystemClock().now())
    _print(answer)
    return EXIT_REFUSED if "error" in answer else 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from daemon.console import setup_logging
    from daemon.runner import run

    # one setup for the whole process: stderr lines, with a <N> priority prefix when stderr is the journal
    setup_logging(logging.INFO)
    settings.require_issuer()
    return run(settings)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """The daily reconciliation report (default: yesterday), written to reports.dir and printed as JSON."""
    from datetime import date

    from daemon.commands import daily_report

    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError as error:
        raise InvoiceInvalid(Problem("date.format", "date", "the date is YYYY-MM-DD")) from error
    _print(daily_report(settings, day))
    return 0


def cmd_archive_export(args: argparse.Namespace, settings: Settings) -> int:
    """The archive of a period (default: the previous one) now, settled or not."""
    from daemon.commands import export_archive

    try:
        period = Period.parse(args.period) if args.period else None
    except ValueError as error:
        raise InvoiceInvalid(Problem("period.format", "period", str(error))) from error
    _print(export_archive(settings, period))
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.clock import SystemClock
    from daemon.console import is_tty
    from daemon.doctor import examine, show_checks

    checks = examine(settings, SystemClock().now())
    if args.json or not is_tty():  # pipes and scripts get the JSON, people at a terminal a table
        _print([c.as_dict() for c in checks])
    else:
        show_checks(checks)
    return 1 if any(c.level == "fail" for c in checks) else 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Messages per type and delivery state, and the open alerts (daemon/deliveries.py)."""
    from daemon.console import is_tty, table
    from daemon.deliveries import STATES, status_rows, status_summary
    from daemon.wiring import open_store

    store = open_store(settings)
    try:
        summary = status_summary(store)
    finally:
        store.close()
    if args.json or not is_tty():  # pipes and scripts get the JSON, people at a terminal tables
        _print(summary)
    else:
        table("einvd status: messages by delivery state", ("type", *STATES), status_rows(summary))
        table("open alerts", ("kind", "count"), sorted(summary["alerts"].items()))
    return 0


def _show_copy(result: dict[str, Any], json: bool, line: str) -> None:
    from daemon.console import is_tty

    if json or not is_tty():  # pipes and scripts get the JSON, people at a terminal a sentence
        _print(result)
    else:
        sys.stdout.write(line + "\n")


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.commands import backup_store

    copy = backup_store(settings, Path(args.to) if args.to else None)
    _show_copy(copy, args.json, f"backup of {settings.store_path} written to {copy['path']} "
                                f"(schema {copy['schema_version']}, {copy['bytes']} bytes)")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.commands import restore_store

    done = restore_store(settings, Path(args.file))
    replaced = done["replaced_backup"]
    kept = f"; the replaced database is kept at {replaced['path']}" if isinstance(replaced, dict) else ""
    _show_copy(done, args.json, f"restored {done['database']} from {done['restored_from']} "
                                f"(schema {done['schema_version']}, integrity ok){kept}")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    """Every benchmark (``python -m bench.run``); they ship with the source tree, not with an installed wheel."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "bench" / "run.py").is_file():
        sys.stderr.write("einvd: the benchmarks come with the source tree (bench/run.py); run this from a checkout\n")
        return EXIT_REFUSED
    if str(checkout) not in sys.path:  # the one path entry: the checkout this einvd runs from, as python -m does
        sys.path.insert(0, str(checkout))
    from bench.run import main as bench_main

    argv = (["--quick"] if args.quick else []) + (["--only", *args.only] if args.only else []) + (
        ["--output", args.output] if args.output else [])
    return bench_main(argv)


def cmd_tls_cert(args: argparse.Namespace, settings: Settings) -> int:
    """A self-signed certificate and key for ``[api] tls_cert`` / ``tls_key``; prints the fingerprint to pin."""
    from daemon.commands import tls_cert

    made = tls_cert(Path(args.out), args.host or [])
    _print(made)
    sys.stderr.write(f"einvd: set [api] tls_cert = \"{made['certificate']}\" and tls_key = \"{made['key']}\"; "
                     f"pin this SHA-256 fingerprint on the POS: {made['sha256']} (curl --pinnedpubkey and pinners of "
                     f"public keys: {made['public_key_pin']})\n")
    return 0


def _pin(text: str) -> str:
    try:
        return pin(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.demo import run_demo

    return run_demo(Path(args.dir) if args.dir else None, listen=args.listen)


def cmd_files(args: argparse.Namespace, settings: Settings) -> int:
    """The files this install ships (for installers and ``einvd setup``): where they are, or one's content."""
    from daemon import resources

    if args.print:
        sys.stdout.write(resources.text(args.print))
        return 0
    _print({name: {"path": str(resources.path(name)), "about": about}
            for name, (_, about) in resources.SHIPPED.items()})
    return 0


def _files_verb(verbs: Any) -> None:
    from daemon.resources import SHIPPED

    files = verbs.add_parser("files", help="where the shipped default configuration, unit and udev rules are")
    files.add_argument("--print", choices=tuple(SHIPPED), help="write that file's content to stdout")
    files.set_defaults(func=cmd_files)


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    """Install einvd on this box (or stage it under --root): configuration, keys, unit, udev rules, doctor."""
    from daemon.console import is_tty
    from daemon.setup import SetupOptions, SetupRefused, ask, setup, show

    ids = dict(args.usb_id or [])
    options = SetupOptions(Path(args.root), args.seller_ban, args.seller_name, args.seller_address, args.turnkey_drop,
                           args.printer, args.scanner, args.listen, Path(args.state_dir) if args.state_dir else None,
                           args.qr_seed_password, args.qr_key, args.key_id, args.tls_host or [], ids,
                           args.rotate_keys)
    if not args.non_interactive and is_tty() and sys.stdin.isatty():
        options = ask(options)
    try:
        result = setup(options)
    except SetupRefused as error:
        sys.stderr.write(f"einvd setup: {error}\n")
        return EXIT_REFUSED
    if args.json or not is_tty():
        _print(result.as_dict())
    else:
        show(result)
    return 0


def _usb_id(text: str) -> tuple[str, str]:
    rule, _, ids = text.partition("=")
    vendor, _, product = ids.partition(":")
    if not rule or len(vendor) != 4 or len(product) != 4 or not all(c in "0123456789abcdefABCDEF" for c in
                                                                    vendor + product):
        raise argparse.ArgumentTypeError("expected RULE=VVVV:PPPP, like einvd-scanner=05f9:4204")
    return rule, ids.lower()


def _setup_verb(verbs: Any) -> None:
    setup = verbs.add_parser("setup", help="install einvd on this box: configuration, keys, unit, udev rules")
    setup.add_argument("--non-interactive", action="store_true", help="ask nothing, even on a terminal")
    setup.add_argument("--root", default="/", metavar="DIR", help="stage every file under DIR (no user, no chown)")
    for flag, text in (("--seller-ban", "統一編號"), ("--seller-name", "seller name"),
                       ("--seller-address", "seller address"), ("--turnkey-drop", "Turnkey folder or sftp:// URL"),
                       ("--printer", "printer URL"), ("--scanner", "scanner URL"),
                       ("--listen", "API HOST:PORT (not loopback: HTTPS, certificate generated)"),
                       ("--state-dir", "database, reports, archive (default /var/lib/einvd, under --root)"),
                       ("--qr-seed-password", "QR 種子密碼 (the key is derived and stored as a credential)"),
                       ("--qr-key", "QR AES key, 32 hex digits")):
        setup.add_argument(flag, help=text)
    setup.add_argument("--key-id", default="pos1", help="the API key's id (default pos1)")
    setup.add_argument("--tls-host", action="append", metavar="NAME", help="a name or address in the certificate")
    setup.add_argument("--usb-id", action="append", metavar="RULE=VID:PID", type=_usb_id,
                       help="udev ids for a rule: einvd-scanner, einvd-printer, einvd-lp, einvd-hid-scanner, usb")
    setup.add_argument("--rotate-keys", action="store_true",
                       help="a new API key and TLS key; the QR key replaced by the one given")
    setup.add_argument("--json", action="store_true", help="JSON even on a terminal")
    setup.set_defaults(func=cmd_setup)


def _eight(text: str) -> int:
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError("expected 8 digits, like 00001000")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="einvd", description="Taiwan e-invoice Turnkey integration daemon")
    parser.add_argument("--config", type=Path, help="TOML configuration (default: built-in defaults)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    invoice = verbs.add_parser("invoice", help="validate or issue an invoice document").add_subparsers(
        dest="action", required=True)
    for name, func, text in (("validate", cmd_validate, "check a document, print it normalised"),
                             ("issue", cmd_issue, "issue into the local store, print the issued invoice")):
        sub = invoice.add_parser(name, help=text)
        sub.add_argument("file", help="JSON document, or - for standard input")
        sub.set_defaults(func=func)
        if name == "validate":
            sub.add_argument("--now", type=_aware, metavar="TIME",
                             help="check as if the clock said TIME (ISO 8601 with offset); default: the clock")
        if name == "issue":
            sub.add_argument("--remote", metavar="URL", help="issue through a running daemon (http://127.0.0.1:8470)")
            sub.add_argument("--open-drawer", action="store_true", help="open the cash drawer after the slip prints")
            sub.add_argument("--key", help="API key id for --remote (secret: $EINVD_API_SECRET or the key file)")
            sub.add_argument("--pin", type=_pin, metavar="SHA256",
                             help="for an https:// --remote: the certificate's SHA-256 fingerprint (default: "
                                  "api.tls_pin)")
    show = invoice.add_parser("show", help="a stored invoice: state, lines, allowances, messages, every version")
    show.add_argument("number", help="invoice number, e.g. AB12345678")
    show.set_defaults(func=cmd_show)
    notify = invoice.add_parser("notify", help="e-mail the invoice to the buyer again (queued; sent by einvd run)")
    notify.add_argument("number", help="invoice number, e.g. AB12345678")
    notify.add_argument("--to", help="the address to send to (default: the document's buyer.email)")
    notify.set_defaults(func=cmd_notify)
    render = invoice.add_parser("render", help="print the F0401 XML the daemon would drop (nothing is stored)")
    render.add_argument("file", help="JSON document, or - for standard input")
    render.add_argument("--number", required=True, help="invoice number, e.g. AB12345678")
    render.add_argument("--random-number", required=True, help="4-digit random number")
    render.set_defaults(func=cmd_render)
    blank = verbs.add_parser("blank-report", help="E0402 messages for a finished period's unused numbers")
    blank.add_argument("--period", help="ROC year + even month, e.g. 11512 (--export: default the last period)")
    blank.add_argument("-o", "--out", help="write the XML files to this folder (default: print them in the JSON "
                                           "output); with --export, the export file")
    mode = blank.add_mutually_exclusive_group()
    mode.add_argument("--export", action="store_true",
                      help="e0402.role part/reporter: write this box's part of each shared track (held ranges, "
                           "unused spans) for the reporting box")
    mode.add_argument("--merge", nargs="+", metavar="FILE",
                      help="merge the --export files of every box holding part of a track into one E0402 per key")
    blank.add_argument("--queue", action="store_true", help="with --merge: put the merged E0402 in this box's outbox")
    blank.add_argument("--allocation", action="append", metavar="BEGIN-END",
                       help="with --merge: a track's allocated numbers, e.g. AB00001000-AB00001249 (repeatable; "
                            "default: the whole 50-number booklets the exports touch)")
    blank.add_argument("--now", metavar="TIME",
                       help="with --export / --merge --queue: the time to act at, ISO 8601 with its offset "
                            "(default: the system clock)")
    blank.set_defaults(func=cmd_blank_report)
    _track_verbs(verbs)
    _proof_verbs(verbs)
    _printer_verbs(verbs)
    _tls_verbs(verbs)
    _schedule_verbs(verbs)
    doctor = verbs.add_parser("doctor", help="check configuration, clock, store, ranges, Turnkey, printer, scanner")
    doctor.add_argument("--json", action="store_true", help="JSON even on a terminal (default: a table there)")
    doctor.set_defaults(func=cmd_doctor)
    _copy_verbs(verbs)
    status = verbs.add_parser("status", help="messages per type and delivery state, open alerts")
    status.add_argument("--json", action="store_true", help="JSON even at a terminal")
    status.set_defaults(func=cmd_status)
    verbs.add_parser("run", help="the daemon: API, Turnkey delivery, printing, scanner, schedule").set_defaults(
        func=cmd_run)
    bench = verbs.add_parser("bench", help="run every benchmark and write BENCHMARKS.md (from a source checkout)")
    bench.add_argument("--quick", action="store_true", help="small counts: check that every benchmark runs")
    bench.add_argument("--only", nargs="+", metavar="NAME", help="issue_core mig print drain api scan memory")
    bench.add_argument("--output", help="where the table goes (default: BENCHMARKS.md in the checkout)")
    bench.set_defaults(func=cmd_bench)
    demo = verbs.add_parser("demo", help="a scripted day with everything simulated")
    demo.add_argument("--dir", help="working directory (default: a new temporary directory)")
    demo.add_argument("--once", action="store_true", help="exit after the scripted day (it always does)")
    demo.add_argument("--listen", metavar="HOST:PORT",
                      help="the API address the demo configures (default: an earlier run's, else 127.0.0.1:8470)")
    demo.set_defaults(func=cmd_demo)
    _files_verb(verbs)
    _setup_verb(verbs)
    return parser


def _copy_verbs(verbs: Any) -> None:
    backup = verbs.add_parser("backup", help="an online copy of the database (safe while the daemon runs)")
    backup.add_argument("--to", metavar="FILE", help="where (default: beside the database, named by the time)")
    backup.add_argument("--json", action="store_true", help="JSON even on a terminal (default: a sentence there)")
    backup.set_defaults(func=cmd_backup)
    restore = verbs.add_parser("restore", help="put a backup in place of the database (the daemon stopped)")
    restore.add_argument("file", help="a backup made by einvd backup (or before a migration)")
    restore.add_argument("--json", action="store_true", help="JSON even on a terminal (default: a sentence there)")
    restore.set_defaults(func=cmd_restore)


def _tls_verbs(verbs: Any) -> None:
    tls = verbs.add_parser("tls", help="HTTPS for the API beyond loopback").add_subparsers(dest="action",
                                                                                         required=True)
    cert = tls.add_parser("cert", help="make a self-signed certificate and key, print the fingerprint to pin")
    cert.add_argument("--out", required=True, metavar="DIR", help="folder for einvd-api.crt and einvd-api.key")
    cert.add_argument("--host", action="append", metavar="NAME",
                      help="a DNS name or IP address the POS connects to (repeat; default localhost, 127.0.0.1)")
    cert.set_defaults(func=cmd_tls_cert)


def _schedule_verbs(verbs: Any) -> None:
    report = verbs.add_parser("report", help="the daily reconciliation report (JSON + Markdown in reports.dir)")
    report.add_argument("--date", help="the Taipei day, YYYY-MM-DD (default: yesterday)")
    report.set_defaults(func=cmd_report)
    archive = verbs.add_parser("archive", help="per-period archives of the messages sent").add_subparsers(
        dest="action", required=True)
    export = archive.add_parser("export", help="write a period's archive now (zip or directory in archive.dir)")
    export.add_argument("--period", help="ROC year + even month, e.g. 11510 (default: the previous period)")
    export.set_defaults(func=cmd_archive_export)


def _proof_verbs(verbs: Any) -> None:
    proof = verbs.add_parser("proof", help="the printed 電子發票證明聯").add_subparsers(dest="action", required=True)
    preview = proof.add_parser("preview", help="the slips as the printer would print them, as a PNG")
    preview.add_argument("target", metavar="NUMBER|FILE", help="an issued invoice number, or a JSON document")
    preview.add_argument("--png", required=True, help="where to write the picture")
    preview.add_argument("--copy", action="store_true", help="as a reprint (補印)")
    preview.add_argument("--number", help="number for a FILE preview (default AA00000000)")
    preview.add_argument("--random-number", help="random number for a FILE preview (default 0000)")
    preview.set_defaults(func=cmd_proof_preview)


def _printer_verbs(verbs: Any) -> None:
    printer = verbs.add_parser("printer", help="the receipt printer").add_subparsers(dest="action", required=True)
    test = printer.add_parser("test", help="print the self-test slip (profile, status, Big5, codes, a ruler)")
    test.add_argument("--png", metavar="FILE", help="print into the virtual printer and save the slip as a PNG")
    test.set_defaults(func=cmd_printer_test)
def _numbered_by(parser: Any) -> None:
    parser.add_argument("--numbered-by", metavar="POS", type=_pos_name, default=None,
                        help="a POS numbers these ranges itself (e首發票 invoice mode, [compat.systemlead] pos = "
                             "POS); einvd's own allocation never takes a number from them")


def _pos_name(text: str) -> str:
    if not text or len(text) > 40 or not text.isascii() or not text.isprintable() or text.strip() != text:
        raise argparse.ArgumentTypeError("a POS name is 1-40 printable ASCII characters")
    return text


def _track_verbs(verbs: Any) -> None:
    tracks = verbs.add_parser("tracks", help="number ranges (字軌) held by this box").add_subparsers(
        dest="action", required=True)
    imp = tracks.add_parser("import", help="import an E0501 allocation (XML) or a CSV of ranges")
    imp.add_argument("file")
    imp.add_argument("--begin", type=_eight, help="first number this box owns (with --end)")
    imp.add_argument("--end", type=_eight, help="last number this box owns (with --begin)")
    _numbered_by(imp)
    imp.set_defaults(func=cmd_tracks_import)
    add = tracks.add_parser("add", help="add a range by hand")
    add.add_argument("--period", required=True, help="ROC year + even month, e.g. 11512")
    add.add_argument("--type", default="07", choices=("07", "08"))
    add.add_argument("--track", required=True, help="two letters, e.g. AB")
    add.add_argument("--begin", type=_eight, required=True)
    add.add_argument("--end", type=_eight, required=True)
    _numbered_by(add)
    add.set_defaults(func=cmd_tracks_add)
    listing = tracks.add_parser("list", help="ranges, cursors and what is left")
    listing.add_argument("--json", action="store_true", help="JSON even on a terminal (default: a table there)")
    listing.set_defaults(func=cmd_tracks_list)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, load(args.config))
    except ConfigError as error:
        sys.stderr.write(f"einvd: configuration: {error}\n")
        return EXIT_CONFIG
    except TurnkeyError as error:
        return _refused([p.as_dict() for p in error.problems])
    except jsonio.JsonRefused as error:
        return _refused([{"code": "body.json", "field": "", "message": str(error)}])
    except (StoreUnavailable, BackupError) as error:
        return _refused([{"code": error.code, "field": "", "message": str(error)}])
    except SchemaTooNew as error:
        sys.stderr.write(f"einvd: {error}\n")
        return EXIT_CONFIG
    except OSError as error:
        sys.stderr.write(f"einvd: {error}\n")
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
