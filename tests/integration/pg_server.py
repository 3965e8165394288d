"""A real PostgreSQL server on 127.0.0.1 for the Turnkey-database tests (issue 19): ``initdb`` + ``pg_ctl`` from
Debian's ``postgresql`` package (``/usr/lib/postgresql/<major>/bin``) into a temporary directory, on a free
loopback port, with password authentication and a read-only role ``einvd_ro`` (what a site gives einvd).

PostgreSQL refuses to run as root: under root the directory is given to Debian's ``postgres`` system user and
every server command runs through ``runuser -u postgres --``; under any other user it runs as that user.
``PgServer.start()`` raises ``PgMissing`` when the binaries (or, under root, the ``postgres`` user and
``runuser``) are absent; ``start_or_skip`` turns that into a pytest skip with the reason. ``stop()`` stops the
server (``pg_ctl stop -m immediate``) and removes the directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

OWNER_PASSWORD = "tk-owner-secret"
READER = "einvd_ro"
READER_PASSWORD = "ro-secret-4711"
DATABASE = "einvturnkey"
START_TIMEOUT = 30


class PgMissing(RuntimeError):
    """PostgreSQL's server binaries are not installed here."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` holding initdb and pg_ctl."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for folder in reversed(found):
        if Path(folder, "initdb").is_file() and Path(folder, "pg_ctl").is_file():
            return Path(folder)
    raise PgMissing("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (Debian package postgresql)")


@dataclass
class PgServer:
    bindir: Path
    directory: Path
    port: int
    owner: str

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, user: str = READER, password: str = READER_PASSWORD, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def owner_url(self) -> str:
        return self.url(self.owner, OWNER_PASSWORD)

    def _run(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.owner, "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *argv], input=stdin, capture_output=True, text=True,
                              timeout=START_TIMEOUT * 2, check=True, cwd=self.directory)

    def psql(self, sql: str, database: str = "postgres") -> str:
        answer = self._run(str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.directory),
                           "-p", str(self.port), "-U", self.owner, "-d", database, stdin=sql)
        return answer.stdout

    @classmethod
    def start(cls) -> PgServer:
        bindir = bin_dir()
        owner = pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise PgMissing("running as root and runuser is missing: PostgreSQL refuses to run as root")
            try:
                pwd.getpwnam("postgres")
            except KeyError as error:
                raise PgMissing("running as root and there is no postgres system user") from error
            owner = "postgres"
        directory = Path(tempfile.mkdtemp(prefix="einvd-pg-"))
        os.chmod(directory, 0o700)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(owner)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        server = cls(bindir, directory, free_port(), owner)
        try:
            server._init()
        except BaseException:
            server.stop()
            raise
        return server

    def _init(self) -> None:
        secret = self.directory / "pwfile"
        secret.write_text(OWNER_PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(secret, self.owner)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.owner, "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={secret}", "-E", "UTF8", "--locale=C.UTF-8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "log"), "-w",
                  "-t", str(START_TIMEOUT), "-o", options, "start")
        self.psql(f"CREATE DATABASE {DATABASE};\n"
                  f"CREATE ROLE {READER} LOGIN PASSWORD '{READER_PASSWORD}';\n")
        self.psql(f"GRANT CONNECT ON DATABASE {DATABASE} TO {READER};\n"
                  f"GRANT USAGE ON SCHEMA public TO {READER};\n"
                  f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READER};\n", DATABASE)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def start_or_skip() -> PgServer:
    import pytest

    try:
        return PgServer.start()
    except PgMissing as missing:
        pytest.skip(str(missing))
