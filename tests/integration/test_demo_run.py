"""The demo's directory runs: `einvd demo --dir D` prints the `run` command, and that command, started as printed
as a real process, serves the API on the configured address and takes a request signed with the demo's key;
SIGTERM stops it with exit code 0. Running the demo again keeps the key; a key file it did not write is never
rewritten."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import sale

from daemon import __main__ as cli
from daemon.api.keys import load_keys
from daemon.client import Client
from daemon.config import EXIT_CONFIG, load
from daemon.demo import DEMO_KEY_ID, KEYS_FILE, einvd_command

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def health(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/v1/health", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"einvd run exited {process.returncode}: {log.read_text()}"
        if health(url) == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"einvd run did not answer GET /v1/health on {url}: {log.read_text()}")


def test_the_printed_run_command_serves_requests_signed_with_the_demos_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, port = tmp_path / "day", free_port()
    assert cli.main(["demo", "--dir", str(root), "--listen", f"127.0.0.1:{port}"]) == 0
    out, err = capsys.readouterr()
    keys_file = root / KEYS_FILE
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    secret = load_keys(keys_file)[DEMO_KEY_ID].secret
    assert secret.decode() not in out + err
    assert f"API key:         id {DEMO_KEY_ID}, its secret in {keys_file}" in out
    settings = load(root / "einvd.toml")
    assert (settings.api.host, settings.api.port, settings.api.keys_file) == ("127.0.0.1", port, keys_file)

    (printed,) = re.findall(r"start the daemon on this directory with: (.+)", err)
    argv = shlex.split(printed)
    assert argv[-3:] == ["--config", str(root / "einvd.toml"), "run"]
    if argv[0] == "einvd":  # the console script on PATH, for `python -m daemon` of this interpreter and checkout
        argv[:1] = [sys.executable, "-m", "daemon"]
    log = tmp_path / "run.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("CREDENTIALS_DIRECTORY", None)  # the key file named in the configuration, nothing else
    with log.open("wb") as stderr:
        process = subprocess.Popen(argv, cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url, log)
        stranger = Client(url, DEMO_KEY_ID, b"x" * 43)
        assert stranger.request("POST", "/v1/invoices", sale("DEMO-RUN-0"))[0] == 401
        stranger.close()
        client = Client(url, DEMO_KEY_ID, secret)
        status, body = client.request("POST", "/v1/invoices", sale("DEMO-RUN-1"))
        assert status == 201, body
        assert client.request("GET", f"/v1/invoices/{body['invoice_number']}")[0] == 200
        client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_running_the_demo_again_keeps_its_key_qr_key_and_address(tmp_path: Path) -> None:
    root, port = tmp_path / "day", free_port()
    assert cli.main(["demo", "--dir", str(root), "--once", "--listen", f"127.0.0.1:{port}"]) == 0
    keys, config = (root / KEYS_FILE).read_bytes(), load(root / "einvd.toml")
    assert cli.main(["demo", "--dir", str(root), "--once"]) == 0
    again = load(root / "einvd.toml")
    assert (root / KEYS_FILE).read_bytes() == keys
    assert (again.qr_key, again.api) == (config.qr_key, config.api)
    assert not list(root.glob(".*.tmp"))


def test_a_directory_of_an_earlier_demo_gets_a_key(tmp_path: Path) -> None:
    root = tmp_path / "day"
    assert cli.main(["demo", "--dir", str(root), "--once"]) == 0
    config = root / "einvd.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text[:text.index("[api]")], encoding="utf-8")  # as the demo wrote it before it had keys
    (root / KEYS_FILE).unlink()
    assert cli.main(["demo", "--dir", str(root), "--once"]) == 0
    assert list(load_keys(load(config).api.keys_file or root)) == [DEMO_KEY_ID]


def test_a_key_file_others_may_read_is_refused_and_left_as_it_is(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "day"
    root.mkdir()
    keys = root / KEYS_FILE
    keys.write_text('[keys.pos1]\nsecret = "not-the-demos-secret-0123456789-abcdef"\npermissions = ["issue"]\n',
                    encoding="utf-8")
    keys.chmod(0o644)
    before = keys.read_bytes()
    assert cli.main(["demo", "--dir", str(root), "--once"]) == EXIT_CONFIG
    assert "chmod 600" in capsys.readouterr().err
    assert keys.read_bytes() == before and stat.S_IMODE(keys.stat().st_mode) == 0o644


def test_the_printed_command_names_the_einvd_that_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "venv" / "bin" / "einvd"  # as scripts/demo starts it: .venv/bin/einvd, not on PATH
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert einvd_command() == str(script)
    monkeypatch.setenv("PATH", str(script.parent))
    assert einvd_command() == "einvd"
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/pytest"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert shlex.split(einvd_command()) == [sys.executable, "-m", "daemon"]
