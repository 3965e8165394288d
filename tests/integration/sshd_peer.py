"""A real OpenSSH sshd on 127.0.0.1 for SFTP tests (libraries.md §6.3 b): temporary config, host key and
client key; the test's Turnkey tree is a local directory the sshd serves, so tests inspect it directly.

``Sshd.start(workdir)`` returns a running server, or raises ``SshdMissing`` when ``/usr/sbin/sshd`` or
``ssh-keygen`` is not installed (``scripts/system-packages`` installs ``openssh-server``); ``start_or_skip``
turns that into a pytest skip with the reason. bench/drain.py uses it too. ``kill()`` SIGKILLs the
listener and every session process it forked (a host that dies mid-upload); ``start_again()`` brings it back
on the same port with the same host key. The only waits are bounded waits for the real process.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
START_TIMEOUT = 10.0


class SshdMissing(RuntimeError):
    """OpenSSH is not installed here."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (sshd forks one process per connection)."""
    for child in _children(pid):
        kill_tree(child)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Sshd:
    workdir: Path
    port: int
    root: Path
    user: str
    client_key: Path
    known_hosts: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, workdir: Path) -> Sshd:
        if not SSHD.exists() or shutil.which("ssh-keygen") is None:
            raise SshdMissing("OpenSSH sshd/ssh-keygen not installed (scripts/system-packages installs openssh-server)")
        workdir.mkdir(parents=True, exist_ok=True)
        for name in ("host_ed25519", "client_ed25519"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / name)], check=True)
        shutil.copy(workdir / "client_ed25519.pub", workdir / "authorized_keys")
        root = workdir / "turnkey"
        root.mkdir()
        server = cls(workdir, free_port(), root, getpass.getuser(), workdir / "client_ed25519",
                     workdir / "known_hosts")
        host_key = (workdir / "host_ed25519.pub").read_text().split()
        server.known_hosts.write_text(f"[127.0.0.1]:{server.port} {host_key[0]} {host_key[1]}\n")
        server._configure()
        server.start_again()
        return server

    @classmethod
    def start_or_skip(cls, workdir: Path) -> Sshd:
        import pytest

        try:
            return cls.start(workdir)
        except SshdMissing as missing:
            pytest.skip(str(missing))

    def _configure(self) -> None:
        d = self.workdir
        (d / "sshd_config").write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {d / 'host_ed25519'}",
            f"PidFile {d / 'sshd.pid'}", f"AuthorizedKeysFile {d / 'authorized_keys'}",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no", "Subsystem sftp internal-sftp",
            "ClientAliveInterval 15", "LogLevel VERBOSE", "",
        ]))
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        subprocess.run([str(SSHD), "-t", "-f", str(d / "sshd_config")], check=True)

    def start_again(self) -> None:
        log = (self.workdir / "sshd.log").open("ab")
        self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self.workdir / "sshd_config")],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.workdir / 'sshd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    if conn.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.02)  # bounded wait for the real sshd to listen
        raise RuntimeError("sshd did not start listening in time")

    def kill(self) -> None:
        if self.process is not None:
            kill_tree(self.process.pid)
            self.process.wait(timeout=START_TIMEOUT)
            self.process = None

    @property
    def url(self) -> str:
        return f"sftp://{self.user}@127.0.0.1:{self.port}{self.root}"
