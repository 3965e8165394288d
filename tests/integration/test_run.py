"""`einvd run` as systemd starts it: a real process with a notify socket, the API on loopback, the simulated
Turnkey, the virtual printer and a pty scanner; SIGTERM stops it cleanly; bad configuration exits 78."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import SPEC, sale

from daemon import __main__ as cli
from daemon.client import Client
from hw_sim.scanner import SimScanner
from turnkey.period import TAIPEI, Period

SECRET = "run-test-secret-0123456789-abcdefghij"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_setup(root: Path, scanner: SimScanner, port: int) -> Path:
    keys = root / "keys.toml"
    keys.write_text(f'[keys.pos]\nsecret = "{SECRET}"\npermissions = ["admin"]\n', encoding="utf-8")
    keys.chmod(0o600)
    schema = f'\n[mig]\nschema_dir = "{SPEC / "mig41"}"\n' if (SPEC / "mig41").is_dir() else ""
    config = root / "einvd.toml"
    config.write_text(
        '[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市信義區測試路1號"\n\n'
        '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n\n'
        '[turnkey]\ndrop = "sim:turnkey"\n\n[printer]\nurl = "sim:proofs"\n\n'
        f'[scanner]\nurl = "{scanner.path}"\n\n[api]\nlisten = "127.0.0.1:{port}"\nkeys_file = "keys.toml"\n'
        + schema,
        encoding="utf-8",
    )
    return config


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(60)
    yield sock, path
    sock.close()


def wait_for(predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_run_serves_delivers_prints_scans_and_stops_on_sigterm(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    scanner = SimScanner(tmp_path)
    port = free_port()
    config = write_setup(tmp_path, scanner, port)
    period = Period.of(datetime.now(TAIPEI)).code
    assert cli.main(["--config", str(config), "tracks", "add", "--period", period, "--track", "AB", "--begin",
                     "00000000", "--end", "00000049"]) == 0
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="2000000")
    process = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(config), "run"], env=env,
                               stderr=subprocess.PIPE, text=True)
    try:
        ready = sock.recv(4096).decode()
        assert ready.startswith("READY=1") and f"127.0.0.1:{port}" in ready
        client = Client(f"http://127.0.0.1:{port}", "pos", SECRET.encode())
        status, body = client.request("POST", "/v1/invoices", sale("RUN-1"))
        assert status == 201 and body["invoice_number"] == "AB00000000"
        number = body["invoice_number"]
        delivered = wait_for(lambda: client.request("GET", f"/v1/invoices/{number}")[1]["status"] != "queued")
        assert delivered
        assert wait_for(lambda: list((tmp_path / "turnkey").rglob("F0401_AB00000000_*.xml")))
        assert wait_for(lambda: list((tmp_path / "proofs").glob("*.png")))
        scanner.scan("-AB.C^12", "crlf")  # a US scanner on an Italian host: "/" typed as "-", "+" as "^"
        status, scans = client.request("GET", "/v1/scans?wait=10")
        assert status == 200 and [s["value"] for s in scans["scans"]] == ["/AB.C+12"]
        assert "WATCHDOG=1" in wait_for(lambda: _datagram(sock))
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert "STOPPING=1" in wait_for(lambda: _datagram(sock, "STOPPING"))
    finally:
        if process.poll() is None:
            process.kill()
        scanner.close()


def _datagram(sock: socket.socket, want: str = "WATCHDOG") -> str:
    sock.settimeout(0.5)
    try:
        data = sock.recv(4096).decode()
    except TimeoutError:
        return ""
    return data if want in data else ""


def test_bad_configuration_exits_78(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[turnkey]\ndorp = 1\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "daemon", "--config", str(config), "run"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 78 and "turnkey.dorp" in result.stderr
