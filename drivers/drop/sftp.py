"""SFTP drop (paramiko): the Turnkey host's work folder over SSH, for a Turnkey on another machine.

The host key is pinned from a known_hosts file and unknown keys are refused (``RejectPolicy``); only key
authentication is tried (no agent, no key hunting). A file goes to the staging folder under its final name,
its size is checked with ``stat``, and ``posix-rename@openssh.com`` moves it into SRC, replacing a copy left
by an earlier try, so SRC never holds a partial or a second copy. Keepalives and channel timeouts bound a
dead link; any transport failure closes the session, raises ``ConnectionError`` (an OSError) and the next call
reconnects. paramiko has no client fsync, so remote durability is the server's.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import paramiko  # typed by types-paramiko (test extras)

from drivers.drop import names
from drivers.drop.names import Facts
from drivers.drop.watch import Entry, walk
from turnkey.layout import Layout, check_name

T = TypeVar("T")
LINK_ERRORS = (paramiko.SSHException, EOFError, socket.timeout, ConnectionError)


@dataclass(frozen=True)
class SftpTarget:
    host: str
    port: int
    user: str
    root: str
    key_file: Path
    known_hosts: Path
    timeout: float = 30.0
    keepalive: int = 15

    @classmethod
    def from_url(cls, url: str, key_file: Path, known_hosts: Path, timeout: float = 30.0,
                 keepalive: int = 15) -> SftpTarget:
        """``sftp://user@host:port/path/to/work`` (port 22 by default; the path is absolute)."""
        parts = urlsplit(url)
        if parts.scheme != "sftp" or not parts.hostname or not parts.username:
            raise ValueError(f"{url!r} is not sftp://user@host[:port]/path")
        root = unquote(parts.path) or "/"
        return cls(parts.hostname, parts.port or 22, unquote(parts.username), root.rstrip("/") or "/",
                   key_file, known_hosts, timeout, keepalive)


def connect(target: SftpTarget) -> paramiko.SFTPClient:
    """A logged-in SFTP session: pinned host key, key authentication, keepalive, timeouts."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(target.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(target.host, port=target.port, username=target.user, key_filename=str(target.key_file),
                       allow_agent=False, look_for_keys=False, timeout=target.timeout,
                       banner_timeout=target.timeout, auth_timeout=target.timeout, channel_timeout=target.timeout)
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(target.keepalive)
        sftp = client.open_sftp()
    except BaseException:
        client.close()
        raise
    channel = sftp.get_channel()
    assert channel is not None
    channel.settimeout(target.timeout)
    return sftp


class SftpDrop:
    def __init__(self, target: SftpTarget, layout: Layout | None = None,
                 connector: Callable[[SftpTarget], paramiko.SFTPClient] = connect, file_mode: int = 0o660,
                 file_group: str = "") -> None:
        self.target = target
        self.file_mode, self.file_gid = file_mode, names.group_id(file_group)
        self.layout = layout or Layout()
        self._connector = connector
        self._session: paramiko.SFTPClient | None = None
        self._unanswered: set[str] = set()

    def __repr__(self) -> str:
        t = self.target
        return f"SftpDrop('sftp://{t.user}@{t.host}:{t.port}{t.root}')"

    def _remote(self, path: str) -> str:
        return f"{self.target.root.rstrip('/')}/{path}"

    def _call(self, action: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run ``action`` on a live session; a broken link closes it and raises ConnectionError."""
        try:
            if self._session is None:
                self._session = self._connector(self.target)
            return action(self._session)
        except LINK_ERRORS as error:
            self.close()
            raise ConnectionError(f"sftp {self.target.host}:{self.target.port}: {error!r}") from error
        except OSError as error:
            if self._alive():
                raise  # the server answered (no such file, permission denied, disk full): the link is fine
            self.close()
            raise ConnectionError(f"sftp {self.target.host}:{self.target.port}: {error!r}") from error

    def _alive(self) -> bool:
        channel = self._session.get_channel() if self._session is not None else None
        transport = channel.get_transport() if channel is not None else None
        return bool(transport is not None and transport.is_active())

    def put(self, code: str, name: str, data: bytes) -> None:
        """Upload to staging, check the size, posix-rename into SRC (replacing an earlier copy)."""
        src = self._remote(self.layout.folder("SRC", code))
        staged = self._remote(f"{self.layout.staging.strip('/')}/{check_name(name)}")
        self._call(lambda sftp: self._deliver(sftp, staged, f"{src}/{name}", data))

    def put_many(self, files: Sequence[tuple[str, str, bytes]]) -> tuple[int, Exception | None]:
        """``put`` each file in order; stops at the first failure: (files in SRC, that failure or None)."""
        for done, (code, name, data) in enumerate(files):
            try:
                self.put(code, name, data)
            except (OSError, ValueError) as error:
                return done, error
        return len(files), None

    def _deliver(self, sftp: paramiko.SFTPClient, staged: str, target: str, data: bytes) -> None:
        """A rename whose answer the link lost may have happened: then the staged file is gone, the file went
        into SRC (and Turnkey may have taken it since), and putting it again would deliver it twice."""
        if staged in self._unanswered:
            try:
                sftp.stat(staged)
            except FileNotFoundError:
                self._unanswered.discard(staged)
                return
            self._unanswered.discard(staged)
        self._upload(sftp, staged, data)
        attrs = sftp.stat(staged)
        if attrs.st_size != len(data):
            raise OSError(errno.EIO, f"staged {attrs.st_size} of {len(data)} bytes", staged)
        if stat.S_IMODE(attrs.st_mode or 0) != self.file_mode:  # Turnkey never takes a file it cannot read+write
            sftp.chmod(staged, self.file_mode)  # one round trip saved when the server's umask gives it already
        if self.file_gid is not None and attrs.st_gid != self.file_gid:
            sftp.chown(staged, attrs.st_uid or 0, self.file_gid)
        self._unanswered.add(staged)
        self._rename(sftp, staged, target)
        self._unanswered.discard(staged)

    def _upload(self, sftp: paramiko.SFTPClient, staged: str, data: bytes) -> None:
        with sftp.open(staged, "wb") as remote:
            remote.set_pipelined(True)
            remote.write(data)

    def _rename(self, sftp: paramiko.SFTPClient, staged: str, target: str) -> None:
        sftp.posix_rename(staged, target)

    def sync(self) -> None:
        """Nothing to do: the server made each rename when it answered (paramiko cannot ask for fsync)."""

    def _entries(self, folder: str) -> Iterator[Entry]:
        attrs = self._call(lambda sftp: sftp.listdir_attr(self._remote(folder)))
        for attr in attrs:
            is_dir = stat.S_ISDIR(attr.st_mode or 0)
            yield Entry(attr.filename, is_dir, 0 if is_dir else int(attr.st_size or 0))

    def pending(self, code: str) -> set[str]:
        return {entry.name for entry in self._entries(self.layout.folder("SRC", code)) if not entry.is_dir}

    def moved(self, code: str, which: str) -> dict[str, int]:
        return walk(self._entries, self.layout.folder(which, code))

    def results(self, kind: str) -> dict[str, int]:
        folder = self.layout.result_folder(kind)
        return walk(self._entries, folder) if folder else {}

    def read(self, path: str) -> bytes:
        if ".." in path.split("/") or path.startswith("/"):
            raise ValueError(f"path {path!r} leaves the Turnkey folder")

        def fetch(sftp: paramiko.SFTPClient) -> bytes:
            with sftp.open(self._remote(path), "rb") as remote:
                remote.prefetch()
                data: bytes = remote.read()
                return data

        return self._call(fetch)

    def quarantine(self, path: str, reason: str) -> str:
        """Copy ``path`` below the quarantine folder through this session (SFTP has no server-side copy), in
        chunks, then ``<copy>.reason.txt``; each is written under a hidden name and renamed, so it lands whole."""
        if ".." in path.split("/") or path.startswith("/"):
            raise ValueError(f"path {path!r} leaves the Turnkey folder")
        copy = self.layout.quarantined(path)
        self._call(lambda sftp: self._copy(sftp, path, copy, reason.encode("utf-8")))
        return copy

    def _copy(self, sftp: paramiko.SFTPClient, path: str, copy: str, reason: bytes) -> None:
        folder, name = copy.rsplit("/", 1)
        self._folders(sftp, folder)
        part = self._remote(f"{folder}/.{name}.part")
        with sftp.open(self._remote(path), "rb") as source, sftp.open(part, "wb") as sink:
            sink.set_pipelined(True)
            while chunk := source.read(1 << 20):
                sink.write(chunk)
        sftp.posix_rename(part, self._remote(copy))
        with sftp.open(part, "wb") as sink:
            sink.write(reason)
        sftp.posix_rename(part, self._remote(f"{copy}.reason.txt"))

    def _folders(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        """Create the quarantine folder and the folders below it; its parent must exist (a missing tree fails)."""
        parts = folder.split("/")
        depth = self.layout.quarantine.strip("/").count("/")
        for n in range(depth + 1, len(parts) + 1):
            remote = self._remote("/".join(parts[:n]))
            try:
                sftp.stat(remote)
            except FileNotFoundError:
                sftp.mkdir(remote)

    def check(self) -> list[str]:
        """One line per missing folder, and whether the staging folder takes a file."""
        problems = [f"{self._remote(f)}: missing" for f in self.layout.required() if not self._is_dir(f)]
        staging = self.layout.staging.strip("/")
        if f"{self._remote(staging)}: missing" not in problems:
            probe = self._remote(f"{staging}/.einvd-probe")
            try:
                self._call(lambda sftp: _probe(sftp, probe))
            except OSError as error:
                problems.append(f"{self._remote(staging)}: not writable ({error})")
        return problems

    def _is_dir(self, folder: str) -> bool:
        try:
            attrs = self._call(lambda sftp: sftp.stat(self._remote(folder)))
        except FileNotFoundError:
            return False
        return stat.S_ISDIR(attrs.st_mode or 0)

    def find(self, code: str, name: str) -> str | None:
        """Where ``name`` is now: SRC, or BAK/ERR in any of Turnkey's folder and name forms; None: nowhere."""
        return names.find(self._entries, self.layout, code, name)

    def find_many(self, code: str, files: Sequence[str]) -> dict[str, str]:
        """``find`` for many names with one walk of BAK and ERR: name -> path, for those found."""
        return names.find_many(self._entries, self.layout, code, files)

    def inspect(self, code: str, name: str) -> Facts | None:
        """Mode, owner ids (the server's) and mtime of ``name`` in SRC (``""``: the folder); None when absent."""
        folder = self._remote(self.layout.folder("SRC", code))
        try:
            attrs = self._call(lambda sftp: sftp.stat(f"{folder}/{name}" if name else folder))
        except FileNotFoundError:
            return None
        return Facts(attrs.st_mode or 0, attrs.st_uid or 0, attrs.st_gid or 0, float(attrs.st_mtime or 0))

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            channel = session.get_channel()
            transport = channel.get_transport() if channel is not None else None
            try:
                with contextlib.suppress(*LINK_ERRORS, OSError):
                    session.close()  # says goodbye over the link, which may be dead already
            finally:
                if transport is not None:
                    transport.close()


def _probe(sftp: paramiko.SFTPClient, path: str) -> None:
    with sftp.open(path, "wb") as remote:
        remote.write(b"einvd")
    sftp.remove(path)
