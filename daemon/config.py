"""TOML configuration -> frozen settings. Unknown keys and bad values are ``ConfigError`` (exit code 78)."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, replace
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from turnkey.ban import is_valid_ban
from turnkey.keymaps import LAYOUTS as KEYBOARD_LAYOUTS
from turnkey.layout import Layout
from turnkey.model import Party
from turnkey.proof import ENCODINGS, derive_qr_key, parse_qr_key

EXIT_CONFIG = 78


def credential(name: str, *, present: bool = True) -> Path | None:
    """The file of the systemd credential ``name`` (``LoadCredential=``, under ``$CREDENTIALS_DIRECTORY``); None
    outside systemd, and when ``present`` is true also when no such file was passed. The one reader of that
    variable."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / name
    return path if path.is_file() or not present else None


class ConfigError(Exception):
    """Bad configuration: the message names the key."""


PRINTER_SCHEMES = ("tcp", "serial", "usb", "file", "sim")
PRINTER_PROFILES = ("cp950", "gb18030", "raster")


@dataclass(frozen=True)
class PrinterSettings:
    """The ``[printer]`` table (see default.toml); ``url`` empty: no printer."""

    url: str = ""
    profile: str = "cp950"
    paper: int = 58
    timeout: float = 5.0
    status_timeout: float = 2.0
    status_query: bool = True
    max_attempts: int = 5
    retry_delay: float = 10.0
    details: bool = False
    info_slips: bool = True
    info_slip_window: int = 300
    test_mode: bool = False
    font: Path | None = None
    model: str = ""  # a model of drivers/printer/profiles.toml (checked by daemon.wiring.printer)
    given: frozenset[str] = frozenset()  # the keys the configuration file set (a model fills in the others)


def _printer(raw: dict[str, Any], base: Path, given: frozenset[str] = frozenset()) -> PrinterSettings:
    url = raw["url"]
    if url and url.partition(":")[0] not in PRINTER_SCHEMES:
        raise ConfigError(f"printer.url {url!r} must start with one of {', '.join(s + ':' for s in PRINTER_SCHEMES)}")
    if raw["profile"] not in PRINTER_PROFILES:
        raise ConfigError(f"printer.profile must be one of {', '.join(PRINTER_PROFILES)}")
    if raw["paper"] not in (58, 80):
        raise ConfigError("printer.paper must be 58 or 80 (mm)")
    for key in ("timeout", "status_timeout", "retry_delay", "max_attempts"):
        if raw[key] <= 0:
            raise ConfigError(f"printer.{key} must be more than 0")
    values = {**raw, "font": base / raw["font"] if raw["font"] else None, "model": raw["model"].strip(),
              "given": given}
    return PrinterSettings(**values)


@dataclass(frozen=True)
class ApiSettings:
    """The ``[api]`` table (see default.toml). ``tls_key`` None with a certificate: the key is in ``tls_cert``'s
    file. ``tls_pin`` is the normalised fingerprint (``pin``) the client expects, '' for none."""

    host: str = "127.0.0.1"
    port: int = 8470
    unix_socket: Path | None = None
    keys_file: Path | None = None
    keys_credential: str = "einvd-api-keys"
    allowance_prefix: str = "AL"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_plain_http: bool = False
    tls_pin: str = ""


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); any other address or name may be reached from
    another machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, as ``openssl x509 -fingerprint -sha256`` prints it
    (AB:CD:...)."""
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def pin(text: str) -> str:
    """A SHA-256 fingerprint as a person may paste it (``AB:CD:..``, ``abcd..``, ``sha256:``/``SHA256=`` before
    it) -> the ``fingerprint`` form; ValueError when it is not 32 bytes of hex."""
    value = text.strip()
    for prefix in ("sha256:", "sha256=", "sha256 fingerprint="):
        if value.lower().startswith(prefix):
            value = value[len(prefix):]
    digits = value.replace(":", "").replace(" ", "")
    if len(digits) != 64 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"a SHA-256 fingerprint is 64 hex digits (colons allowed), got {text!r}")
    return ":".join(digits[i:i + 2].upper() for i in range(0, 64, 2))


def _tls(raw: dict[str, Any], base: Path, host: str) -> dict[str, Any]:
    cert = base / raw["tls_cert"] if raw["tls_cert"] else None
    key = base / raw["tls_key"] if raw["tls_key"] else credential(raw["tls_key_credential"])
    if cert is None and raw["tls_key"]:
        raise ConfigError("api.tls_key is set without api.tls_cert")
    if cert is None and not is_loopback(host) and not raw["allow_plain_http"]:
        raise ConfigError(f"api.listen {raw['listen']!r} is not a loopback address: the API would be reachable from "
                          "other machines in plain HTTP. Set api.tls_cert and api.tls_key (einvd tls cert --out DIR "
                          "makes a self-signed pair), or allow_plain_http = true to accept that")
    try:
        pinned = pin(raw["tls_pin"]) if raw["tls_pin"] else ""
    except ValueError as error:
        raise ConfigError(f"api.tls_pin: {error}") from error
    return {"tls_cert": cert, "tls_key": key if cert is not None else None,
            "allow_plain_http": raw["allow_plain_http"], "tls_pin": pinned}


def _api(raw: dict[str, Any], base: Path) -> ApiSettings:
    host, _, port = raw["listen"].rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"api.listen must be HOST:PORT like 127.0.0.1:8470, got {raw['listen']!r}")
    prefix = raw["allowance_prefix"]
    if not (1 <= len(prefix) <= 8 and prefix.isascii() and prefix.isalnum() and prefix == prefix.upper()):
        raise ConfigError("api.allowance_prefix must be 1-8 capital letters or digits")
    host = host.strip("[]")
    return ApiSettings(host, int(port), base / raw["unix_socket"] if raw["unix_socket"] else None,
                       base / raw["keys_file"] if raw["keys_file"] else None, raw["keys_credential"], prefix,
                       **_tls(raw, base, host))


DROP_SCHEMES = ("", "file", "sftp", "sim", "memory")


@dataclass(frozen=True)
class TurnkeySettings:
    """The [turnkey] section: where messages go, the folder layout, SFTP keys, rescans, backoff, deadlines."""

    drop: str = ""
    layout: Layout = field(default_factory=Layout)
    import_e0501: bool = True
    key_file: Path | None = None
    known_hosts: Path | None = None
    timeout_seconds: int = 30
    keepalive_seconds: int = 15
    rescan_seconds: int = 30
    batch: int = 200
    backoff_seconds: int = 5
    backoff_max_seconds: int = 600
    deadline_warn_percent: tuple[int, int] = (50, 90)
    verdict_grace_hours: int = 24
    database: str = ""
    database_password: str | None = field(default=None, repr=False)
    database_poll_seconds: int = 300
    file_mode: int = 0o660
    file_group: str = ""
    stuck_after_minutes: int = 30
    silent_after_hours: int = 26

    @property
    def scheme(self) -> str:
        """'' (nothing configured), 'file' (a path too), 'sftp', 'sim' or 'memory'."""
        if not self.drop:
            return ""
        head = self.drop.split(":", 1)[0]
        return head if ":" in self.drop and head in DROP_SCHEMES else "file"


@dataclass(frozen=True)
class ScannerSettings:
    """The ``[scanner]`` table: a serial scanner's URL, its name, the end-of-scan silence (None: terminators), the
    keyboard layouts whose garbling is undone (empty: every known one)."""

    url: str = ""
    name: str = "front"
    gap: float | None = None
    layouts: tuple[str, ...] = ()


# --- scheduled work and alerts: [e0402], [reports], [archive], [alerts] (daemon/periodic.py, notify.py) ---

E0402_ROLES = ("alone", "part", "reporter")


@dataclass(frozen=True)
class ScheduleSettings:
    """The ``[e0402]``, ``[reports]`` and ``[archive]`` tables (see default.toml)."""

    e0402: bool = True
    close_after_hours: int = 24
    due_day: int = 8
    report_dir: Path = Path("reports")
    daily_after: tuple[int, int] = (0, 30)
    archive_dir: Path = Path("archive")
    archive_format: str = "zip"
    settle_days: int = 45
    retention_periods: int = 60
    e0402_role: str = "alone"
    """alone: report every track held; part: export shared tracks for the reporter; reporter: merge the exports."""
    e0402_whole_tracks: tuple[str, ...] = ()
    """Tracks a ``part``/``reporter`` box holds whole (no other box has any of their numbers): reported alone."""


def _sharing(e0402: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """``[e0402] role`` and ``whole_tracks``, checked."""
    if e0402["role"] not in E0402_ROLES:
        raise ConfigError(f"e0402.role must be one of {', '.join(E0402_ROLES)}, got {e0402['role']!r}")
    whole = e0402["whole_tracks"]
    if not all(isinstance(t, str) and len(t) == 2 and t.isascii() and t.isalpha() and t.isupper() for t in whole):
        raise ConfigError("e0402.whole_tracks must list tracks of two capital letters, e.g. [\"AB\"]")
    return e0402["role"], tuple(whole)


def _schedule(raw: dict[str, Any], base: Path) -> ScheduleSettings:
    e0402, reports, archive = raw["e0402"], raw["reports"], raw["archive"]
    if not 0 <= e0402["close_after_hours"] <= 168:
        raise ConfigError("e0402.close_after_hours must be 0-168")
    if not 1 <= e0402["due_day"] <= 10:
        raise ConfigError("e0402.due_day must be 1-10")
    hour, _, minute = reports["daily_after"].partition(":")
    if not (len(hour) == 2 and len(minute) == 2 and hour.isdigit() and minute.isdigit()
            and int(hour) < 24 and int(minute) < 60):
        raise ConfigError(f"reports.daily_after must be HH:MM, got {reports['daily_after']!r}")
    for table, key in (("reports", "dir"), ("archive", "dir")):
        if not raw[table][key]:
            raise ConfigError(f"{table}.{key} must not be empty")
    if archive["format"] not in ("zip", "dir"):
        raise ConfigError("archive.format must be zip or dir")
    if archive["settle_days"] < 1:
        raise ConfigError("archive.settle_days must be 1 or more")
    if archive["retention_periods"] < 1:
        raise ConfigError("archive.retention_periods must be 1 or more")
    return ScheduleSettings(e0402["enabled"], e0402["close_after_hours"], e0402["due_day"], base / reports["dir"],
                            (int(hour), int(minute)), base / archive["dir"], archive["format"],
                            archive["settle_days"], archive["retention_periods"], *_sharing(e0402))


@dataclass(frozen=True)
class AlertSettings:
    """The ``[alerts]`` table: where new alerts go besides the log."""

    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_timeout: float = 5.0
    webhook_max_attempts: int = 10
    print_notices: bool = False
    print_kinds: tuple[str, ...] = ()
    window_notice_days: int = 2


def _alerts(raw: dict[str, Any], printer_url: str) -> AlertSettings:
    url = raw["webhook_url"]
    if url and not (url.startswith("http://") or url.startswith("https://")):
        raise ConfigError(f"alerts.webhook_url must be an http:// or https:// URL, got {url!r}")
    if raw["webhook_timeout"] <= 0:
        raise ConfigError("alerts.webhook_timeout must be more than 0")
    if raw["webhook_max_attempts"] < 1:
        raise ConfigError("alerts.webhook_max_attempts must be 1 or more")
    if raw["print_notices"] and not printer_url:
        raise ConfigError("alerts.print_notices needs a printer (printer.url)")
    if not all(isinstance(kind, str) and kind for kind in raw["print_kinds"]):
        raise ConfigError("alerts.print_kinds must be a list of alert kinds")
    if not 0 <= raw["window_notice_days"] <= 15:
        raise ConfigError("alerts.window_notice_days must be 0-15")
    secret = raw["webhook_secret"]
    passed = credential(raw["webhook_secret_credential"])
    if not secret and passed is not None:
        secret = passed.read_text(encoding="utf-8").strip()
    return AlertSettings(url, secret, raw["webhook_timeout"], raw["webhook_max_attempts"], raw["print_notices"],
                         tuple(raw["print_kinds"]), raw["window_notice_days"])


@dataclass(frozen=True)
class CompatSection:
    """One ``[compat.<name>]`` table: the centre's merchant identity and secrets (see default.toml). ``merchant``
    is ECPay/ezPay's MerchantID or e首發票's CompanyID; ``key``/``iv`` are the HashKey/HashIV (ECPay, ezPay) and
    ``key`` is the Salt for e首發票; ``pos`` names the ranges an e首發票 POS numbers from."""

    name: str
    merchant: str
    key: str
    iv: str = ""
    pos: str = ""
    love_codes: str = ""
    """ezPay: a file of love codes (捐贈碼) the checkLoveCode answer is taken from (empty: the format alone)."""


@dataclass(frozen=True)
class CompatSettings:
    """The ``[compat]`` tables; a layer is on when its merchant id is set."""

    ecpay: CompatSection | None = None
    ezpay: CompatSection | None = None
    systemlead: CompatSection | None = None

    def enabled(self) -> list[tuple[str, CompatSection]]:
        return [(s.name, s) for s in (self.ecpay, self.ezpay, self.systemlead) if s is not None]


_COMPAT_SECRETS = {"ecpay": ("hash_key", "hash_iv"), "ezpay": ("hash_key", "hash_iv"), "systemlead": ("salt", "")}
_COMPAT_MERCHANT = {"ecpay": "merchant_id", "ezpay": "merchant_id", "systemlead": "company_id"}


def _secrets(name: str, raw: dict[str, Any]) -> tuple[str, str]:
    """The section's secrets, or the systemd credential (``key`` on the first line, ``iv`` on the second)."""
    key_name, iv_name = _COMPAT_SECRETS[name]
    key, iv = raw[key_name], raw[iv_name] if iv_name else ""
    passed = credential(raw["credential"])
    if passed is not None and not key:
        lines = [*passed.read_text(encoding="utf-8").splitlines(), "", ""]
        key, iv = lines[0].strip(), (lines[1].strip() if iv_name else "")
    return key, iv


def _compat_section(name: str, raw: dict[str, Any]) -> CompatSection | None:
    merchant = raw[_COMPAT_MERCHANT[name]]
    if not merchant:
        return None
    key, iv = _secrets(name, raw)
    key_name, iv_name = _COMPAT_SECRETS[name]
    if not key or (iv_name and not iv):
        raise ConfigError(f"compat.{name}: {key_name}{' and ' + iv_name if iv_name else ''} must be set (or passed "
                          f"as the systemd credential {raw['credential']})")
    return CompatSection(name, merchant, key, iv, raw.get("pos", ""), raw.get("love_codes", ""))


def _compat(raw: dict[str, Any]) -> CompatSettings:
    return CompatSettings(**{name: _compat_section(name, raw[name]) for name in _COMPAT_MERCHANT})


# --- the consumer's e-mail notice: [notify.smtp] (daemon/mail.py) ----------------------------------------

SMTP_SECURITY = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class SmtpSettings:
    """The ``[notify.smtp]`` table: the merchant's SMTP relay; ``host`` empty: no notices are sent (they wait)."""

    host: str = ""
    port: int = 587
    security: str = "starttls"
    user: str = ""
    password: str = ""
    sender: str = ""
    timeout: float = 30.0
    max_attempts: int = 10


def _smtp(raw: dict[str, Any]) -> SmtpSettings:
    if raw["security"] not in SMTP_SECURITY:
        raise ConfigError("notify.smtp.security must be none, starttls or ssl")
    if not 0 < raw["port"] < 65536:
        raise ConfigError("notify.smtp.port must be 1-65535")
    if raw["timeout"] <= 0:
        raise ConfigError("notify.smtp.timeout must be more than 0")
    if raw["max_attempts"] < 1:
        raise ConfigError("notify.smtp.max_attempts must be 1 or more")
    if raw["host"] and "@" not in raw["from"]:
        raise ConfigError("notify.smtp.from must be the sender's e-mail address when notify.smtp.host is set")
    password = raw["password"]
    passed = credential(raw["credential"])
    if not password and passed is not None:
        password = passed.read_text(encoding="utf-8").strip()
    return SmtpSettings(raw["host"], raw["port"], raw["security"], raw["user"], password, raw["from"],
                        raw["timeout"], raw["max_attempts"])


@dataclass(frozen=True)
class Settings:
    seller: Party
    store_path: Path
    qr_key: bytes | None
    qr_encoding: str
    void_cutoff_day: int
    source: Path | None
    head_ban: str = ""
    schema_dir: Path | None = None
    turnkey: TurnkeySettings = field(default_factory=TurnkeySettings)
    printer: PrinterSettings = PrinterSettings()
    api: ApiSettings = ApiSettings()
    scanner: ScannerSettings = ScannerSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    alerts: AlertSettings = AlertSettings()
    compat: CompatSettings = CompatSettings()
    backdate_limit: timedelta | None = None
    smtp: SmtpSettings = SmtpSettings()  # MAIL: [notify.smtp]

    def require_issuer(self) -> tuple[Party, bytes]:
        """The seller and QR key, or ConfigError naming what is missing."""
        if not self.seller.identifier:
            raise ConfigError("seller.ban is not set: einvd cannot issue invoices without the merchant's 統一編號")
        if self.qr_key is None:
            raise ConfigError("no QR AES key: set qr.key, qr.seed_password or the qr.key_credential credential")
        return self.seller, self.qr_key


def defaults() -> dict[str, Any]:
    text = resources.files("daemon").joinpath("default.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], override: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        name = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"unknown configuration key {name}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{name} must be a table")
            merged[key] = _merge(base[key], value, f"{name}.")
        elif type(value) is not type(base[key]) and not (type(base[key]) is float and type(value) is int):
            raise ConfigError(f"{name} must be a {type(base[key]).__name__}")
        else:
            merged[key] = value
    return merged


def _seller(raw: dict[str, Any]) -> Party:
    ban = raw["ban"]
    if ban and not is_valid_ban(ban):
        raise ConfigError(f"seller.ban {ban!r} is not a valid 統一編號")
    if ban and not raw["address"].strip():
        raise ConfigError("seller.address is required (Turnkey refuses invoices without a seller address)")
    if ban and not 1 <= len(raw["name"]) <= 60:
        raise ConfigError("seller.name must be 1-60 characters")
    return Party(ban, raw["name"], raw["address"], raw["person_in_charge"], raw["telephone"], email=raw["email"])


def _qr_key(raw: dict[str, Any]) -> bytes | None:
    secret = raw["key"]
    passed = credential(raw["key_credential"])
    if not secret and passed is not None:
        secret = passed.read_text(encoding="ascii").strip()
    try:
        if secret:
            return parse_qr_key(secret)
    except ValueError as error:
        raise ConfigError(f"qr.key: {error}") from error
    return derive_qr_key(raw["seed_password"]) if raw["seed_password"] else None


def _positive(raw: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if raw[key] <= 0:
            raise ConfigError(f"turnkey.{key} must be positive")


def _credential_path(raw: dict[str, Any], base: Path) -> Path | None:
    if raw["key"]:
        return base / str(raw["key"])
    return credential(str(raw["key_credential"]))


def _turnkey_db(raw: dict[str, Any]) -> dict[str, Any]:
    """The [turnkey] keys of Turnkey's own database, the drop's file mode and group, the stuck/silent alerts."""
    _positive(raw, "database_poll_seconds", "stuck_after_minutes", "silent_after_hours")
    mode = raw["file_mode"]
    if not (isinstance(mode, str) and len(mode) in (3, 4) and all(c in "01234567" for c in mode)
            and int(mode, 8) <= 0o777):
        raise ConfigError("turnkey.file_mode must be an octal mode like \"0660\"")
    url = raw["database"]
    if url and "://" not in url:
        raise ConfigError("turnkey.database must be a URL like postgresql://einvd_ro@host/einvturnkey")
    passed = credential(raw["database_credential"]) if url else None
    password = passed.read_text(encoding="utf-8").strip() if passed is not None else None
    return {"database": url, "database_password": password, "database_poll_seconds": raw["database_poll_seconds"],
            "file_mode": int(mode, 8), "file_group": raw["file_group"],
            "stuck_after_minutes": raw["stuck_after_minutes"], "silent_after_hours": raw["silent_after_hours"]}


def _turnkey(raw: dict[str, Any], base: Path) -> TurnkeySettings:
    _positive(raw, "timeout_seconds", "keepalive_seconds", "rescan_seconds", "batch", "backoff_seconds",
              "backoff_max_seconds")
    warn = raw["deadline_warn_percent"]
    if not (isinstance(warn, list) and len(warn) == 2 and all(type(p) is int for p in warn)
            and 0 < warn[0] < warn[1] < 100):
        raise ConfigError("turnkey.deadline_warn_percent must be two whole percentages, rising, between 0 and 100")
    if raw["verdict_grace_hours"] < 0:
        raise ConfigError("turnkey.verdict_grace_hours must not be negative")
    try:
        layout = Layout(raw["src"], raw["err"], raw["bak"], raw["staging"], raw["summary_results"],
                        raw["process_results"], raw["e0501"], tuple(raw["codes"]), raw["quarantine"])
    except (KeyError, ValueError, IndexError) as error:
        raise ConfigError(f"turnkey folder layout: {error!r}") from error
    drop = raw["drop"]
    settings = TurnkeySettings(
        drop, layout, raw["import_e0501"], _credential_path(raw, base),
        base / raw["known_hosts"] if raw["known_hosts"] else None, raw["timeout_seconds"], raw["keepalive_seconds"],
        raw["rescan_seconds"], raw["batch"], raw["backoff_seconds"], raw["backoff_max_seconds"],
        (warn[0], warn[1]), raw["verdict_grace_hours"], **_turnkey_db(raw),
    )
    if settings.scheme == "file" and not drop.startswith("file:"):
        settings = replace(settings, drop=str(base / drop))
    if settings.scheme == "sim":
        settings = replace(settings, drop=f"sim:{base / drop.removeprefix('sim:')}")
    if settings.scheme == "sftp" and (settings.key_file is None or settings.known_hosts is None):
        raise ConfigError("an sftp:// drop needs turnkey.key (or its credential) and turnkey.known_hosts")
    return settings


def _scanner(raw: dict[str, Any]) -> ScannerSettings:
    if not raw["name"] or not raw["name"].isascii():
        raise ConfigError("scanner.name must be a non-empty ASCII name")
    if raw["gap"] < 0:
        raise ConfigError("scanner.gap must be 0 or more seconds")
    layouts = raw["layouts"]
    if not isinstance(layouts, list) or any(name not in KEYBOARD_LAYOUTS for name in layouts):
        raise ConfigError(f"scanner.layouts must be a list of {', '.join(KEYBOARD_LAYOUTS)}")
    return ScannerSettings(raw["url"], raw["name"], raw["gap"] or None, tuple(layouts))


_SPAN_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _backdate_limit(text: str) -> timedelta | None:
    """``numbering.backdate_limit``: "deadline" (None: the upload deadline) or a whole number of m, h or d."""
    if text == "deadline":
        return None
    count, unit = text[:-1], text[-1:]
    if not (count.isascii() and count.isdigit() and unit in _SPAN_UNITS and int(count) > 0):
        raise ConfigError(f'numbering.backdate_limit must be "deadline" or a span like "90m", "12h", "3d", '
                          f"got {text!r}")
    return timedelta(**{_SPAN_UNITS[unit]: int(count)})


def load(path: Path | None) -> Settings:
    """Defaults, overridden by the TOML file at ``path`` (None: defaults only)."""
    raw = defaults()
    base = Path.cwd()
    given: dict[str, Any] = {}
    if path is not None:
        try:
            given = tomllib.loads(path.read_text(encoding="utf-8"))
            raw = _merge(raw, given)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read configuration {path}: {error}") from error
        base = path.parent
    if raw["qr"]["encoding"] not in ENCODINGS:
        raise ConfigError("qr.encoding must be 0 (Big5), 1 (UTF-8) or 2 (Base64)")
    cutoff = raw["numbering"]["void_cutoff_day"]
    if not 1 <= cutoff <= 15:
        raise ConfigError("numbering.void_cutoff_day must be 1-15")
    head_ban = raw["seller"]["head_ban"]
    if head_ban and not is_valid_ban(head_ban):
        raise ConfigError(f"seller.head_ban {head_ban!r} is not a valid 統一編號")
    schema_dir = base / raw["mig"]["schema_dir"] if raw["mig"]["schema_dir"] else None
    return Settings(
        _seller(raw["seller"]), base / raw["store"]["path"], _qr_key(raw["qr"]), raw["qr"]["encoding"], cutoff, path,
        head_ban or raw["seller"]["ban"], schema_dir, turnkey=_turnkey(raw["turnkey"], base),
        printer=_printer(raw["printer"], base, frozenset(given.get("printer", {}))),
        api=_api(raw["api"], base), scanner=_scanner(raw["scanner"]),
        schedule=_schedule(raw, base), alerts=_alerts(raw["alerts"], raw["printer"]["url"]),
        compat=_compat(raw["compat"]),
        backdate_limit=_backdate_limit(raw["numbering"]["backdate_limit"]),
        smtp=_smtp(raw["notify"]["smtp"]),  # MAIL
    )
