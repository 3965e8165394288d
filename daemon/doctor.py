"""``einvd doctor``: what would stop this box from issuing, printing, scanning or delivering, checked now.

Each check gives ``ok``, ``warn`` (works, but needs a person soon) or ``fail`` (does not work), with what to do.
The verb exits 1 when anything fails. Besides the configuration, store, ranges and devices it looks at the host:

- clock: synchronised by NTP (``timedatectl``'s NTPSynchronized, else the kernel's STA_UNSYNC flag through
  ``adjtimex``); "warn: cannot tell" when neither answers;
- folders: the report, archive and Turnkey quarantine folders usable (or creatable) by the service user;
- turnkey access: every Turnkey folder einvd uses readable and writable by the service user;
- api keys: the keys file mode 0600/0400 and owned by the service user;
- disk: free space beside the store: fail when a copy of the store (the backup before a migration) would not
  fit, warn under 1 GiB or under ten times the store's size;
- turnkey database: Turnkey's own database readable (``turnkey.database``), or why refusal reasons are
  unavailable (Turnkey on its embedded H2, which only Turnkey can open; the database unreachable);
- turnkey files: whether Turnkey's user (the SRC folder's owner) may read and write what einvd drops with
  ``turnkey.file_mode`` and ``turnkey.file_group`` (Turnkey 3.2.0 leaves any other file in SRC forever);
- turnkey results: the SummaryResult and ProcessResult folders exist and received something since Turnkey last
  took a file (else the download flow is not configured: domain.md §5.2).

Ownership and modes are judged by the mode bits and owner ids, as the kernel judges a user that is not root
(``access(2)`` always says yes to root). The service user is this process's, or under root the store file's owner.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import grp
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from daemon import wiring
from daemon.alerts import raise_alert
from daemon.config import Settings, credential
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


SyncProbe = Callable[[], bool | None]
"""Whether the system clock is synchronised (True/False), or None when this probe cannot tell."""

STA_UNSYNC = 0x0040  # struct timex.status: the kernel's "clock not synchronised" bit
TIME_ERROR = 5  # adjtimex's answer while the clock is not synchronised


class _Timex(ctypes.Structure):
    """The head of ``struct timex`` (Linux, any word size), padded past its full size; ``modes`` 0 only reads."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("rest", ctypes.c_byte * 256)]


def timedatectl_sync() -> bool | None:
    """``timedatectl show -p NTPSynchronized --value`` (systemd-timesyncd, chrony and ntpd all set it)."""
    if shutil.which("timedatectl") is None:
        return None
    try:
        answer = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                                text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = answer.stdout.strip()
    return {"yes": True, "no": False}.get(value) if answer.returncode == 0 else None


def kernel_sync() -> bool | None:
    """The kernel's own flag, read with ``adjtimex`` (modes 0: changes nothing): False while STA_UNSYNC is set."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = _Timex()
        state = int(libc.adjtimex(ctypes.byref(timex)))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return not (state == TIME_ERROR or timex.status & STA_UNSYNC)


SYNC_PROBES: tuple[SyncProbe, ...] = (timedatectl_sync, kernel_sync)


def clock_check(now: datetime, probes: Sequence[SyncProbe] | None = None) -> Check:
    """A year before einvd existed fails; otherwise the first probe that can tell says whether NTP keeps it right."""
    if now.year < 2024:
        return Check("clock", "fail", f"the clock says {now.isoformat()}: set the time (NTP) before issuing")
    shown = f"{taipei(now).isoformat()} Taipei"
    for probe in SYNC_PROBES if probes is None else probes:
        synced = probe()
        if synced is True:
            return Check("clock", "ok", f"{shown}, synchronised")
        if synced is False:
            return Check("clock", "warn", f"{shown}, NOT synchronised: invoice times are legal records; enable "
                         "NTP (timedatectl set-ntp true, or chrony) and check the network reaches a time server")
    return Check("clock", "warn", f"{shown}; cannot tell whether it is synchronised (no timedatectl answer, no "
                 "adjtimex): check NTP by hand")


# --- who the service is, and what it may do by the mode bits (root passes access(2), so it is not asked) ----

@dataclass(frozen=True)
class User:
    uid: int
    gids: frozenset[int]
    name: str

    def may(self, st: os.stat_result, want: str) -> bool:
        """Whether the mode bits and owner ids give this user ``want`` ('r', 'w', 'x' letters)."""
        bits = {"r": 4, "w": 2, "x": 1}
        need = sum(bits[c] for c in want)
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid == self.uid:
            granted = mode >> 6
        elif st.st_gid in self.gids:
            granted = mode >> 3
        else:
            granted = mode
        return granted & need == need


def service_user(settings: Settings) -> User:
    """This process's user; when run as root, the owner of the store file (the service's user) if that is not
    root, so ``sudo einvd doctor`` judges the folders as the daemon will meet them."""
    uid = os.geteuid()
    if uid == 0 and settings.store_path.exists() and settings.store_path.stat().st_uid != 0:
        uid = settings.store_path.stat().st_uid
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return User(uid, frozenset({os.getegid()} if uid == os.geteuid() else set()), str(uid))
    return User(uid, frozenset(os.getgrouplist(entry.pw_name, entry.pw_gid)), entry.pw_name)


def _folder_problem(path: Path, user: User, want: str = "rwx") -> str:
    """'' when ``user`` can use the folder (or create it: its nearest existing parent is writable)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    st = probe.stat()
    if user.may(st, want if probe == path else "wx"):
        return ""
    what = "use" if probe == path else f"create {path} in"
    return (f"{user.name} cannot {what} {probe} (owner {st.st_uid}:{st.st_gid}, mode {stat.S_IMODE(st.st_mode):o}):"
            f" chown {user.name} {probe} or chmod u+{want} {probe}")


def folders_check(settings: Settings, user: User) -> Check:
    """The report, archive and Turnkey quarantine folders: there (or creatable) and writable by the service."""
    folders = [settings.schedule.report_dir, settings.schedule.archive_dir]
    root = local_drop(settings)
    if root is not None:
        folders.append(root / settings.turnkey.layout.quarantine.strip("/"))
    problems = [p for p in (_folder_problem(folder, user) for folder in folders) if p]
    if problems:
        return Check("folders", "fail", "; ".join(problems))
    return Check("folders", "ok", ", ".join(str(f) for f in folders) + f": writable by {user.name}")


def local_drop(settings: Settings) -> Path | None:
    """The Turnkey folder of a local (``file``/``sim``) drop; None for SFTP, memory or none."""
    url = settings.turnkey.drop
    if settings.turnkey.scheme == "file":
        return Path(unquote(urlsplit(url).path)) if url.startswith("file:") else Path(url)
    if settings.turnkey.scheme == "sim":
        return Path(url.removeprefix("sim:"))
    return None


def turnkey_access_check(settings: Settings, user: User) -> Check:
    """Every Turnkey folder einvd uses: read, write and enter by the owner/mode bits for the service user."""
    root = local_drop(settings)
    if root is None:
        return Check("turnkey access", "ok", "no local Turnkey folder to check")
    problems = []
    for folder in [root, *(root / f for f in settings.turnkey.layout.required())]:
        if folder.is_dir():
            st = folder.stat()
            if not user.may(st, "rwx"):
                problems.append(f"{folder} (owner {st.st_uid}:{st.st_gid}, mode {stat.S_IMODE(st.st_mode):o})")
    if problems:
        return Check("turnkey access", "fail", f"{user.name} cannot read and write: " + "; ".join(problems[:5]) +
                     f"{' ...' if len(problems) > 5 else ''}: give the folders to {user.name} or a group of it "
                     "(chown -R / chmod -R ug+rwX)")
    return Check("turnkey access", "ok", f"{root} and its folders: read and write for {user.name}")


def keys_file_check(settings: Settings, user: User) -> Check:
    """The API keys file holds the POS secrets: mode 0600 or 0400, owned by the service user."""
    path = settings.api.keys_file or credential(settings.api.keys_credential)
    if path is None:
        return Check("api keys", "warn", "no API keys file (api.keys_file or the credential "
                     f"{settings.api.keys_credential!r}): the API will not start")
    if not path.is_file():
        return Check("api keys", "fail", f"{path} does not exist: create it (einvd setup) or fix api.keys_file")
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return Check("api keys", "fail", f"{path} has mode {mode:o}: others can read the POS secrets; "
                     f"chmod 600 {path}")
    if st.st_uid != user.uid:
        return Check("api keys", "fail", f"{path} is owned by uid {st.st_uid}, not {user.name}: "
                     f"chown {user.name} {path}")
    if mode not in (0o600, 0o400):
        return Check("api keys", "warn", f"{path} has mode {mode:o}: chmod 600 {path}")
    return Check("api keys", "ok", f"{path}: mode {mode:o}, owner {user.name}")


DISK_FLOOR = 1 << 30  # warn under 1 GiB free
DISK_COPIES = 10  # ... or under ten times the store's size (growth room, and a backup per migration)


def disk_check(store_path: Path, free: int | None = None) -> Check:
    """Free space on the store's filesystem. Fails when a copy of the store (the backup every migration takes
    beside it) would not fit; warns under ``DISK_FLOOR`` or ``DISK_COPIES`` times the store's size."""
    size = sum(p.stat().st_size for p in (store_path, store_path.with_name(store_path.name + "-wal"))
               if p.exists())
    if free is None:
        free = shutil.disk_usage(store_path.parent).free
    mib = f"{free >> 20} MiB free beside {store_path} ({size >> 20} MiB)"
    if free < size + (64 << 20):
        return Check("disk", "fail", f"{mib}: no room for a backup of the store; free space on that filesystem now")
    if free < max(DISK_FLOOR, DISK_COPIES * size):
        return Check("disk", "warn", f"{mib}: under {max(DISK_FLOOR, DISK_COPIES * size) >> 20} MiB; "
                     "free space or move old archives before the store fills the disk")
    return Check("disk", "ok", mib)


# --- Turnkey's database, the files it must take, its results (issue 19) ------------------------------------

def turnkey_database_check(settings: Settings) -> Check:
    """Whether Turnkey's refusal reasons can be read: they exist only in its database (domain.md §5.5a)."""
    from daemon.wiring.turnkeydb import open_turnkey_database

    root = local_drop(settings)
    if not settings.turnkey.database:
        h2 = sorted((root / "innerfs").glob("EINVTurnkey*.mv.db")) if root is not None else []
        if h2:
            return Check("turnkey database", "warn", f"Turnkey runs on its embedded H2 database ({h2[0]}), which only "
                         "the running Turnkey can open: the reasons of its refusals (only in that database; 3.2.0 "
                         "writes no reason file) are unavailable to einvd. Move Turnkey to PostgreSQL, MySQL/MariaDB, "
                         "MS SQL or Oracle (einvUserConfig.xml) and set turnkey.database to a read-only account")
        return Check("turnkey database", "ok", "turnkey.database not set: refusal reasons are read only when Turnkey "
                     "runs on a server database and einvd is given a read-only account there")
    reader = open_turnkey_database(settings)
    assert reader is not None
    try:
        problem = reader.check()
    finally:
        reader.close()
    if problem:
        return Check("turnkey database", "warn", f"unreachable, so refusal reasons and upload statuses are "
                     f"unavailable: {problem}")
    return Check("turnkey database", "ok", f"{reader!r}: Turnkey's log tables readable (read-only)")


def _file_stat(mode: int, uid: int, gid: int) -> os.stat_result:
    return os.stat_result((stat.S_IFREG | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


def turnkey_files_check(settings: Settings, user: User) -> Check:
    """Each SRC folder's owner (Turnkey's user) may read and write a file dropped with the configured mode and
    group; the group einvd sets is the folder's (or a setgid folder gives its own)."""
    root = local_drop(settings)
    tk = settings.turnkey
    if root is None:
        return Check("turnkey files", "ok", "no local SRC folders to check (an SFTP drop is judged by turnkey.stuck)")
    try:
        gid = grp.getgrnam(tk.file_group).gr_gid if tk.file_group and not tk.file_group.isdigit() else (
            int(tk.file_group) if tk.file_group else None)
    except KeyError:
        return Check("turnkey files", "fail", f"turnkey.file_group {tk.file_group!r}: no such group on this host")
    problems = []
    for code in tk.layout.codes:
        src = root / tk.layout.folder("SRC", code)
        if not src.is_dir():
            continue
        st = src.stat()
        file_gid = gid if gid is not None else (st.st_gid if st.st_mode & stat.S_ISGID else os.getegid())
        turnkey = _user_of(st.st_uid)
        if not turnkey.may(_file_stat(tk.file_mode, user.uid, file_gid), "rw"):
            problems.append(f"{src} (owner {turnkey.name}, group {st.st_gid}, mode {stat.S_IMODE(st.st_mode):o})")
    if problems:
        return Check("turnkey files", "fail", f"Turnkey's user cannot read and write files dropped with mode "
                     f"{tk.file_mode:04o}, group {file_gid}, owner {user.name}: " + "; ".join(problems[:3]) +
                     ": Turnkey 3.2.0 leaves them in SRC forever; set turnkey.file_group to a group of Turnkey's "
                     "user and turnkey.file_mode to 0660 (or chgrp/chmod g+s the SRC folders)")
    return Check("turnkey files", "ok", f"files dropped with mode {tk.file_mode:04o}: readable and writable by each "
                 "SRC folder's owner")


def _user_of(uid: int) -> User:
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return User(uid, frozenset(), str(uid))
    return User(uid, frozenset(os.getgrouplist(entry.pw_name, entry.pw_gid)), entry.pw_name)


def turnkey_results_check(settings: Settings, now: datetime) -> Check:
    """The result folders exist and the newest file came within ``silent_after_hours`` (or nothing was sent)."""
    root = local_drop(settings)
    tk = settings.turnkey
    if root is None:
        return Check("turnkey results", "ok", "no local result folders to check (turnkey.silent watches them)")
    problems, newest = [], 0.0
    for kind, key in (("SummaryResult", "summary_results"), ("ProcessResult", "process_results")):
        folder = tk.layout.result_folder(kind)
        if not folder:
            problems.append(f"{kind} not read (turnkey.{key} is empty)")
        elif not (root / folder).is_dir():
            problems.append(f"{root / folder} missing")
        else:
            newest = max([newest, *(p.stat().st_mtime for p in (root / folder).rglob("*") if p.is_file())])
    if newest == 0.0:
        problems.append("no result ever received")
    elif now.timestamp() - newest > tk.silent_after_hours * 3600:
        problems.append(f"the newest result is {int((now.timestamp() - newest) // 3600)} h old")
    if problems:
        return Check("turnkey results", "warn", "; ".join(problems) + ": unless nothing was sent, configure all five "
                     "folder screens in Turnkey including the download flow (ReceiveFile/Unpack/DownCast) and its "
                     "schedules, else no SummaryResult or ProcessResult ever arrives (domain.md §5.2)")
    return Check("turnkey results", "ok", "SummaryResult and ProcessResult folders there, received recently")


def host_checks(settings: Settings) -> list[Check]:
    user = service_user(settings)
    checks: list[Check] = []
    for name, check in (("folders", folders_check), ("turnkey access", turnkey_access_check),
                        ("turnkey files", turnkey_files_check), ("api keys", keys_file_check)):
        checks += _guarded(name, lambda check=check: check(settings, user))  # type: ignore[misc]
    checks += _guarded("disk", lambda: disk_check(settings.store_path))
    return checks


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
    if status is not None and not status.known:
        return Check("printer", "ok", f"{settings.printer.url}: opened; it does not answer status queries "
                                      "(status unknown)")
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
    checks = [Check("configuration", "ok", str(settings.source or "built-in defaults")), clock_check(now)]
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
    for name, check in (("turnkey", _turnkey), ("turnkey database", turnkey_database_check),
                        ("printer", _printer), ("scanner", _scanner)):
        checks += _guarded(name, lambda check=check: check(settings))  # type: ignore[misc]
    if settings.turnkey.drop:
        checks += _guarded("turnkey results", lambda: turnkey_results_check(settings, now))
    return checks + host_checks(settings)


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
