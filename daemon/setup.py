"""``einvd setup``: a new box from flags (or a few questions at a terminal) to installed files.

``setup(options)`` does everything; the interactive layer (``ask``) only fills in ``SetupOptions`` first. It
writes, under ``options.root`` ("/" for a real install, any folder to stage):

- ``etc/einvd/einvd.toml``: seller, Turnkey drop, printer, scanner, listen, state paths; paths einvd owns in
  /etc/einvd are written relative to the file, so they hold when staged;
- ``etc/einvd/api-keys.toml`` (0600): one key with a random secret (``api.keys_file``, so reload can rotate it);
- ``etc/einvd/credentials/qr-key`` (0600): the QR AES key in hex, passed to the unit by ``LoadCredential=``;
- ``etc/einvd/tls/einvd-api.{crt,key}`` when ``listen`` is not loopback (``einvd tls cert``);
- ``etc/systemd/system/einvd.service`` and ``etc/udev/rules.d/99-einvd.rules`` (0644) from the package.

Every file is written durably (``write``, by default ``wiring.files.write_durably``) and only when its content
changes; a secret (API keys, QR key, TLS key) that exists is never replaced without ``rotate_keys``. The
``einvd`` user and groups are created, and the files given to it, only on a real install as root (root "/");
staged, the intended owner is recorded in the result.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from daemon import resources
from daemon.config import ConfigError, Settings, is_loopback, load
from daemon.wiring.files import write_durably
from turnkey.proof import derive_qr_key, parse_qr_key

SERVICE_USER = "einvd"
SERVICE_GROUPS = ("dialout", "lp")
CONFIG = Path("etc/einvd/einvd.toml")
KEYS = Path("etc/einvd/api-keys.toml")
QR_KEY = Path("etc/einvd/credentials/qr-key")
TLS_DIR = Path("etc/einvd/tls")
UNIT = Path("etc/systemd/system/einvd.service")
UDEV = Path("etc/udev/rules.d/99-einvd.rules")
STATE_DIR = Path("/var/lib/einvd")

Writer = Callable[[Path, bytes, int], Path]


class SetupRefused(Exception):
    """Setup would overwrite a secret without ``--rotate-keys``, or was given something it cannot use."""


@dataclass
class SetupOptions:
    root: Path = Path("/")
    seller_ban: str | None = None
    seller_name: str | None = None
    seller_address: str | None = None
    turnkey_drop: str | None = None
    printer: str | None = None
    scanner: str | None = None
    listen: str | None = None
    state_dir: Path | None = None
    qr_seed_password: str | None = None
    qr_key: str | None = None
    key_id: str = "pos1"
    tls_hosts: list[str] = field(default_factory=list)
    usb_ids: dict[str, str] = field(default_factory=dict)  # udev SYMLINK name or "usb" -> "vvvv:pppp"
    rotate_keys: bool = False
    einvd: Path | None = None

    @property
    def staged(self) -> bool:
        return self.root.resolve() != Path("/")


@dataclass
class SetupResult:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pos: dict[str, str] = field(default_factory=dict)
    doctor: list[dict[str, str]] = field(default_factory=list)
    owner: str = SERVICE_USER

    def as_dict(self) -> dict[str, Any]:
        return {"written": self.written, "kept": self.kept, "owner": self.owner, "pos": self.pos,
                "doctor": self.doctor, "notes": self.notes}


# --- TOML out (the configuration holds strings, numbers, booleans and lists of them only) ---------------------

def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + "".join(c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}" for c in escaped) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} into the configuration")


def dump_toml(doc: dict[str, dict[str, Any]], header: str = "") -> str:
    parts = [header] if header else []
    for table, entries in doc.items():
        parts.append(f"[{table}]\n" + "".join(f"{key} = {_value(v)}\n" for key, v in entries.items()))
    return "\n".join(parts)


# --- the pieces --------------------------------------------------------------------------------------------

def _land(path: Path, data: bytes, mode: int, write: Writer, result: SetupResult) -> bool:
    """Write ``path`` unless it already holds ``data`` with ``mode``; whether it was written."""
    if path.is_file() and path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode:
        result.kept.append(str(path))
        return False
    write(path, data, mode)
    result.written.append(str(path))
    return True


def _config_doc(options: SetupOptions, existing: dict[str, Any], tls: bool) -> dict[str, dict[str, Any]]:
    """The existing configuration with what was asked for set; a new one gets the install's paths."""
    doc: dict[str, dict[str, Any]] = {k: dict(v) for k, v in existing.items() if isinstance(v, dict)}

    def put(table: str, key: str, value: Any) -> None:
        if value is not None:
            doc.setdefault(table, {})[key] = value

    state = options.state_dir
    if state is None and not existing:
        state = options.root / STATE_DIR.relative_to("/") if options.staged else STATE_DIR
    put("seller", "ban", options.seller_ban)
    put("seller", "name", options.seller_name)
    put("seller", "address", options.seller_address)
    if state is not None:
        put("store", "path", str(state / "einvd.sqlite3"))
        put("reports", "dir", str(state / "reports"))
        put("archive", "dir", str(state / "archive"))
    put("turnkey", "drop", options.turnkey_drop)
    put("printer", "url", options.printer)
    put("scanner", "url", options.scanner)
    put("api", "listen", options.listen or (None if "listen" in doc.get("api", {}) else "127.0.0.1:8470"))
    put("api", "keys_file", KEYS.name)  # relative to einvd.toml: /etc/einvd/api-keys.toml once installed
    if tls:
        put("api", "tls_cert", f"{TLS_DIR.name}/einvd-api.crt")
        put("api", "tls_key", f"{TLS_DIR.name}/einvd-api.key")
    order = ("seller", "store", "qr", "turnkey", "printer", "scanner", "api", "reports", "archive")
    return {t: doc[t] for t in sorted(doc, key=lambda t: order.index(t) if t in order else len(order))}


def _api_keys(options: SetupOptions, write: Writer, result: SetupResult) -> None:
    path = options.root / KEYS
    if path.exists() and not options.rotate_keys:
        result.kept.append(str(path))
        result.notes.append(f"API keys kept ({path}); their secrets are not shown again (--rotate-keys: new ones)")
        return
    secret = secrets.token_urlsafe(32)  # 43 characters of A-Z a-z 0-9 - _
    text = ("# einvd API keys: POS software signs its requests with one of these (keep this file 0600)\n"
            f'[keys.{options.key_id}]\nsecret = "{secret}"\npermissions = ["issue", "void"]\n')
    write(path, text.encode("ascii"), 0o600)
    result.written.append(str(path))
    result.pos.update(key_id=options.key_id, secret=secret)


def _qr_key(options: SetupOptions, write: Writer, result: SetupResult) -> None:
    path = options.root / QR_KEY
    try:
        key = parse_qr_key(options.qr_key) if options.qr_key else None
    except ValueError as error:
        raise SetupRefused(f"--qr-key: {error}") from error
    if key is None and options.qr_seed_password:
        key = derive_qr_key(options.qr_seed_password)
    if key is None:
        if not path.exists():
            result.notes.append("no QR key given (--qr-key or --qr-seed-password): einvd cannot issue until it has one")
        return
    data = (key.hex().upper() + "\n").encode("ascii")
    if path.exists() and path.read_bytes().strip() != data.strip() and not options.rotate_keys:
        raise SetupRefused(f"{path} holds another QR key: pass --rotate-keys to replace it")
    _land(path, data, 0o600, write, result)


def _tls(options: SetupOptions, host: str, write: Writer, result: SetupResult) -> None:
    from daemon.commands import certificate_pins, tls_cert

    folder = options.root / TLS_DIR
    cert = folder / "einvd-api.crt"
    if cert.exists() and (folder / "einvd-api.key").exists() and not options.rotate_keys:
        result.kept += [str(cert), str(folder / "einvd-api.key")]
    else:
        hosts = [*options.tls_hosts] or ["localhost", "127.0.0.1"]
        if host not in ("0.0.0.0", "::", "") and host not in hosts:
            hosts.append(host)
        made = tls_cert(folder, hosts, write=write)
        result.written += [made["key"], made["certificate"]]
    result.pos["tls_sha256"] = certificate_pins(cert.read_bytes())["sha256"]


def einvd_command() -> str:
    """How systemd starts the running einvd: the console script beside this interpreter (a venv's bin), else the
    one on PATH, else this interpreter with ``-m daemon``."""
    beside = Path(sys.executable).parent / "einvd"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("einvd")
    return str(Path(found).resolve()) if found else f"{Path(sys.executable).absolute()} -m daemon"


def unit_text(einvd: str) -> str:
    """The shipped unit with ExecStart naming ``einvd``; the API keys come from api.keys_file (reload re-reads it;
    a credential is copied at start only), so the unit does not load them as a credential."""
    lines = []
    for line in resources.text("unit").splitlines(keepends=True):
        if line.startswith("ExecStart="):
            line = f"ExecStart={einvd} run --config /etc/einvd/einvd.toml\n"
        elif line.startswith("LoadCredential=einvd-api-keys:"):
            line = "# API keys: api.keys_file = /etc/einvd/api-keys.toml (einvd setup), re-read on reload\n"
        lines.append(line)
    return "".join(lines)


_IDS = re.compile(r'ATTRS\{idVendor\}=="[0-9a-fA-F]{4}"(, ATTRS\{idProduct\}=="[0-9a-fA-F]{4}")?')


def _ids_of(usb: str) -> Callable[[re.Match[str]], str]:
    vendor, _, product = usb.lower().partition(":")
    if not re.fullmatch(r"[0-9a-f]{4}", vendor) or not re.fullmatch(r"[0-9a-f]{4}", product):
        raise SetupRefused(f"a USB id is VVVV:PPPP in hex, got {usb!r}")

    def ids(found: re.Match[str]) -> str:
        return f'ATTRS{{idVendor}}=="{vendor}"' + (f', ATTRS{{idProduct}}=="{product}"' if found.group(1) else "")
    return ids


def udev_text(ids: dict[str, str]) -> str:
    """The shipped rules, each rule's example ids replaced by the known ones: ``ids`` maps a rule's SYMLINK name
    (einvd-scanner, einvd-printer, einvd-lp, einvd-hid-scanner) or "usb" (libusb) to "vvvv:pppp"."""
    out = []
    for line in resources.text("udev").splitlines(keepends=True):
        name = m.group(1) if (m := re.search(r'SYMLINK\+="([^"]+)"', line)) else (
            "usb" if line.startswith('SUBSYSTEM=="usb"') else "")
        if name in ids and not line.startswith("#"):
            line = _IDS.sub(_ids_of(ids[name]), line)
        out.append(line)
    return "".join(out)


def usb_id(device: str) -> str | None:
    """vvvv:pppp of the USB device behind a device file (through sysfs), None when it cannot be told."""
    try:
        name = Path(device).resolve().name
    except OSError:
        return None
    for klass in ("tty", "usbmisc", "input"):
        probe = Path("/sys/class") / klass / name / "device"
        for folder in (probe.resolve(), *probe.resolve().parents) if probe.exists() else ():
            vendor, product = folder / "idVendor", folder / "idProduct"
            if vendor.is_file() and product.is_file():
                return f"{vendor.read_text().strip()}:{product.read_text().strip()}"
    return None


def known_ids(options: SetupOptions) -> dict[str, str]:
    """The udev ids of the chosen devices: given ones win, else what sysfs says about the device files."""
    ids: dict[str, str] = {}
    for url, tty_name in ((options.scanner, "einvd-scanner"), (options.printer, "einvd-printer")):
        if not url:
            continue
        scheme, _, rest = url.partition(":")
        if scheme == "usb":
            ids["usb"] = rest.removeprefix("//").partition("?")[0]
            continue
        device = rest.removeprefix("//").partition("?")[0] if scheme in ("serial", "hid", "file") else url
        found = usb_id(device) if device.startswith("/dev/") else None
        if found:
            ids["einvd-hid-scanner" if scheme == "hid" else "einvd-lp" if "/usb/lp" in device else tty_name] = found
    return {**ids, **options.usb_ids}


def find_devices() -> dict[str, list[str]]:
    """Devices to offer: serial ports (scanners, printers), usblp printers, keyboard-wedge scanners."""
    return {"serial": sorted(glob.glob("/dev/serial/by-id/*")), "lp": sorted(glob.glob("/dev/usb/lp*")),
            "hid": sorted(glob.glob("/dev/input/by-id/*-event-kbd"))}


# --- the user (real installs only) -------------------------------------------------------------------------

def ensure_user(run: Callable[[list[str]], int] = lambda argv: subprocess.run(argv, check=False).returncode) -> str:
    """Create the ``einvd`` system user (and its group) when missing; what was done."""
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
        return f"user {SERVICE_USER} exists"
    except KeyError:
        pass
    groups = [g for g in SERVICE_GROUPS if _group_exists(g)]
    argv = ["useradd", "--system", "--user-group", "--home-dir", str(STATE_DIR), "--no-create-home",
            "--shell", "/usr/sbin/nologin", *(["--groups", ",".join(groups)] if groups else []), SERVICE_USER]
    if run(argv) != 0:
        raise SetupRefused(f"useradd failed: {' '.join(argv)}")
    return f"created the system user {SERVICE_USER} (groups {', '.join([SERVICE_USER, *groups])})"


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _give(paths: list[Path]) -> None:
    import pwd

    entry = pwd.getpwnam(SERVICE_USER)
    for path in paths:
        if path.exists():
            os.chown(path, entry.pw_uid, entry.pw_gid)


# --- all of it ---------------------------------------------------------------------------------------------

def setup(options: SetupOptions, write: Writer = write_durably) -> SetupResult:
    """Install (or update) einvd under ``options.root``; see the module docstring."""
    result = SetupResult()
    real = not options.staged and os.geteuid() == 0
    config_path = options.root / CONFIG
    existing = tomllib.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    listen = options.listen or existing.get("api", {}).get("listen", "127.0.0.1:8470")
    host = listen.rpartition(":")[0].strip("[]")
    tls = not is_loopback(host) and not existing.get("api", {}).get("allow_plain_http", False)
    if real:
        result.notes.append(ensure_user())
    elif options.staged:
        result.notes.append(f"staged under {options.root}: no user created, no chown; the files belong to "
                            f"{SERVICE_USER} once installed (chown {SERVICE_USER} the secrets)")
    header = ("# einvd configuration, written by `einvd setup` (every key and its default: "
              "`einvd files --print config`)\n")
    doc = _config_doc(options, existing, tls)
    _land(config_path, dump_toml(doc, header).encode("utf-8"), 0o644, write, result)
    _api_keys(options, write, result)
    _qr_key(options, write, result)
    if tls:
        _tls(options, host, write, result)
    command = str(options.einvd) if options.einvd else einvd_command()
    _land(options.root / UNIT, unit_text(command).encode("utf-8"), 0o644, write, result)
    ids = known_ids(options)
    _land(options.root / UDEV, udev_text(ids).encode("utf-8"), 0o644, write, result)
    if not ids:
        result.notes.append(f"udev rules: example ids left in {options.root / UDEV} (no device ids known)")
    settings = load(config_path)  # what einvd run will read; a ConfigError here is the caller's to show
    state = settings.store_path.parent
    state.mkdir(parents=True, exist_ok=True)
    if real:
        _give([options.root / KEYS, options.root / QR_KEY, options.root / TLS_DIR / "einvd-api.key", state])
    qr_file = options.root / QR_KEY
    if settings.qr_key is None and qr_file.is_file():  # what the unit passes as the credential einvd-qr-key
        settings = replace(settings, qr_key=parse_qr_key(qr_file.read_text(encoding="ascii").strip()))
    result.doctor = _doctor(settings)
    if real:
        _give([settings.store_path, *state.glob(settings.store_path.name + "*")])
    scheme = "https" if tls else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    result.pos = {"url": f"{scheme}://{shown if ':' not in shown else f'[{shown}]'}:{settings.api.port}",
                  **result.pos}
    result.owner = SERVICE_USER if real else f"{SERVICE_USER} (intended; not applied: " + (
        "staged under --root)" if options.staged else "not running as root)")
    return result


def _doctor(settings: Settings) -> list[dict[str, str]]:
    from daemon.clock import SystemClock
    from daemon.doctor import examine

    try:
        return [c.as_dict() for c in examine(settings, SystemClock().now())]
    except (ConfigError, OSError) as error:
        return [{"check": "doctor", "level": "fail", "detail": f"{type(error).__name__}: {error}"}]


# --- the terminal layer ------------------------------------------------------------------------------------

def ask(options: SetupOptions, prompt: Callable[[str], str] = input) -> SetupOptions:
    """Fill in what the flags did not give by asking, each question with its default; found devices are offered
    by number."""
    devices = find_devices()

    def question(text: str, default: str | None, choices: list[str] | None = None) -> str | None:
        choices = choices or []
        for number, choice in enumerate(choices, 1):
            print(f"  {number}) {choice}")
        answer = prompt(f"{text}{f' [{default}]' if default else ''}: ").strip()
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            return choices[int(answer) - 1]
        return answer or default

    filled = replace(options)
    values: dict[str, str | None] = {
        "seller_ban": question("seller 統一編號 (8 digits)", options.seller_ban),
        "seller_name": question("seller name", options.seller_name),
        "seller_address": question("seller address", options.seller_address),
        "turnkey_drop": question("Turnkey folder (a path, or sftp://user@host/path)", options.turnkey_drop),
        "printer": question("printer URL (tcp://HOST, usb://VID:PID, file:///dev/usb/lp0, serial:DEVICE; "
                            "empty: none)", options.printer,
                            [f"file://{d}" for d in devices["lp"]] + [f"serial:{d}" for d in devices["serial"]]),
        "scanner": question("scanner URL (serial:DEVICE, hid:DEVICE; empty: none)", options.scanner,
                            [f"serial:{d}" for d in devices["serial"]] + [f"hid:{d}" for d in devices["hid"]]),
        "listen": question("API address (HOST:PORT; not loopback: HTTPS)", options.listen or "127.0.0.1:8470"),
    }
    if not options.qr_key and not options.qr_seed_password and not (options.root / QR_KEY).exists():
        values["qr_seed_password"] = question("QR seed password (種子密碼; empty: later)", None)
    for name, value in values.items():
        setattr(filled, name, value or None)
    return filled


def show(result: SetupResult, out: Any = None) -> None:
    """The result for a person: files, notes, doctor findings, and the POS-side values once."""
    out = out or sys.stdout
    for path in result.written:
        print(f"wrote {path}", file=out)
    for path in result.kept:
        print(f"kept  {path}", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    for check in result.doctor:
        if check["level"] != "ok":
            print(f"doctor {check['level']}: {check['check']}: {check['detail']}", file=out)
    print("\nfor the POS (shown this once):", file=out)
    for key, value in result.pos.items():
        print(f"  {key:10} {value}", file=out)
    if shutil.which("systemctl") and not result.owner.endswith(")"):
        print("\nthen: systemctl daemon-reload && udevadm control --reload && systemctl enable --now einvd", file=out)
