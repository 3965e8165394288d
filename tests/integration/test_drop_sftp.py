"""The SFTP drop against a real OpenSSH sshd on 127.0.0.1: pinned host key, key authentication, sshd killed in
the middle of uploads (no partial or duplicate file in SRC, every message once after it returns), timeouts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from conftest import SELLER, sale
from sshd_peer import Sshd
from test_drop_contract import XML, install

from daemon.outbox import file_name
from daemon.services import InvoiceService
from daemon.store import Store
from daemon.workers import Pump
from drivers.drop.sftp import SftpDrop, SftpTarget
from hw_sim.clock import FakeClock


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd.start_or_skip(tmp_path / "sshd")
    install(server.root)
    yield server
    server.kill()


def target(server: Sshd, **changes: object) -> SftpTarget:
    base = SftpTarget.from_url(server.url, server.client_key, server.known_hosts, timeout=10)
    return SftpTarget(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_url_parsing() -> None:
    parsed = SftpTarget.from_url("sftp://turnkey@10.0.0.5/srv/einv/", Path("k"), Path("kh"))
    assert (parsed.user, parsed.host, parsed.port, parsed.root) == ("turnkey", "10.0.0.5", 22, "/srv/einv")
    with pytest.raises(ValueError):
        SftpTarget.from_url("sftp://10.0.0.5/srv", Path("k"), Path("kh"))


def test_an_unknown_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    other = paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key))  # any key that is not the host's
    pinned = tmp_path / "known_hosts"
    pinned.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {other.get_base64()}\n")
    drop = SftpDrop(target(sshd, known_hosts=pinned))
    with pytest.raises(ConnectionError, match=r"BadHostKey|does not match"):
        drop.put("F0401", "F0401_AB00001000_1.xml", XML)
    pinned.write_text("")
    with pytest.raises(ConnectionError, match="not found in known_hosts"):
        drop.put("F0401", "F0401_AB00001000_1.xml", XML)
    assert list((sshd.root / "UpCast/B2SSTORAGE/F0401/SRC").iterdir()) == []


def test_only_the_authorised_key_logs_in(sshd: Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with pytest.raises(ConnectionError, match="Authentication"):
        SftpDrop(target(sshd, key_file=stranger)).put("F0401", "F0401_AB00001000_1.xml", XML)


class KilledHost(SftpDrop):
    """Kills the real sshd (listener and sessions) at the ``at``-th file, ``when`` = mid-upload or pre-rename."""

    def __init__(self, server: Sshd, when: str, at: int) -> None:
        super().__init__(target(server))
        self.server, self.when, self.at, self.count = server, when, at, 0

    def _upload(self, sftp: paramiko.SFTPClient, staged: str, data: bytes) -> None:
        self.count += 1
        if self.when == "upload" and self.count == self.at:
            with sftp.open(staged, "wb") as remote:
                remote.write(data[: len(data) // 2])
                remote.flush()
                self.server.kill()
                remote.write(data[len(data) // 2:])
        super()._upload(sftp, staged, data)

    def _rename(self, sftp: paramiko.SFTPClient, staged: str, target: str) -> None:
        if self.when == "rename" and self.count == self.at:
            self.server.kill()
        super()._rename(sftp, staged, target)


@pytest.mark.parametrize("when", ["upload", "rename"])
def test_sshd_killed_mid_upload_loses_and_duplicates_nothing(when: str, sshd: Sshd, service: InvoiceService,
                                                             store: Store, clock: FakeClock) -> None:
    numbers = []
    for n in range(12):
        clock.advance(seconds=1)
        numbers.append(service.issue(sale(f"POS1-{n:04d}")).body["invoice_number"])
    expected = sorted(file_name("F0401", number, i) for i, number in enumerate(numbers, 1))
    drop = KilledHost(sshd, when, at=6)
    pump = Pump(store, drop, SELLER, None, random.Random(5), batch=4)
    report = pump.tick(clock.now())
    assert report.dropped == 5 and report.error.startswith("ConnectionError")  # 1-5 delivered, 6 broke the link
    src = sshd.root / "UpCast/B2SSTORAGE/F0401/SRC"
    assert sorted(p.name for p in src.iterdir()) == sorted(file_name("F0401", n, i) for i, n in
                                                           enumerate(numbers[:5], 1))
    assert all(p.read_bytes().rstrip().endswith(b"</Invoice>") for p in src.iterdir())  # whole files only

    sshd.start_again()
    clock.set(pump.resume_at)
    assert pump.tick(clock.now()).dropped == 7
    assert sorted(p.name for p in src.iterdir()) == expected
    assert all(p.read_bytes().rstrip().endswith(b"</Invoice>") for p in src.iterdir())
    assert list((sshd.root / "UpCast/.einvd-staging").iterdir()) == []
    assert store.read("SELECT count(*) FROM outbox WHERE state = 'DONE'")[0][0] == 12
    pump.close()


def test_a_hung_server_times_out_and_the_next_call_reconnects(sshd: Sshd) -> None:
    drop = SftpDrop(target(sshd, timeout=1.0))
    drop.put("F0401", "F0401_AB00001000_1.xml", XML)
    session = max(_descendants(sshd.process.pid if sshd.process else 0))
    os.kill(session, signal.SIGSTOP)  # the session process stops answering: a hung link
    try:
        with pytest.raises(ConnectionError):
            drop.put("F0401", "F0401_AB00001001_2.xml", XML)
    finally:
        os.kill(session, signal.SIGCONT)
    drop.put("F0401", "F0401_AB00001001_2.xml", XML)  # a new session
    assert drop.pending("F0401") == {"F0401_AB00001000_1.xml", "F0401_AB00001001_2.xml"}
    drop.close()


def _descendants(pid: int) -> list[int]:
    from sshd_peer import _children

    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found
