"""sd_notify against a fake notify socket (path and abstract), and the watchdog interval rules."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.systemd import notify, watchdog_interval


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address = str(tmp_path / "notify")
        sock.bind(address)
    else:
        address = f"@einvd-test-{os.getpid()}-{id(sock)}"
        sock.bind("\0" + address[1:])
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    yield sock
    sock.close()


def test_states_reach_the_socket(notify_socket: socket.socket) -> None:
    assert notify("READY=1\nSTATUS=serving, 3 queued")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=serving, 3 queued"
    assert notify("WATCHDOG=1")
    assert notify_socket.recv(4096) == b"WATCHDOG=1"


def test_outside_systemd_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None
