"""Beyond loopback, encrypted: a listen address other than loopback needs a certificate (or allow_plain_http);
`einvd tls cert` makes one; the API serves TLS with it on the TCP socket (the unix socket stays plain); the
client pins the certificate's SHA-256 fingerprint. Addresses other than loopback are only parsed here, never
bound or contacted; TLS is served on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_harness import SECRETS, build_context
from conftest import KEY, SELLER, START, hold, sale
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from test_run import free_port

from daemon.__main__ import main
from daemon.api.app import ServerThread, bind, create_app, server_tls
from daemon.client import Client, PinMismatch
from daemon.config import ApiSettings, ConfigError, load, pin
from daemon.services import InvoiceService
from daemon.store import Store
from hw_sim.clock import FakeClock
from turnkey.period import TAIPEI, Period


def write_config(root: Path, api: str) -> Path:
    config = root / "einvd.toml"
    config.write_text(f"[api]\n{api}\n", encoding="utf-8")
    return config


# --- configuration -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("listen", ["0.0.0.0:8470", "192.0.2.1:8470", "[::]:8470", "[2001:db8::1]:8470",
                                    "pos-box.shop.lan:8470"])
def test_beyond_loopback_needs_a_certificate(tmp_path: Path, listen: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, f'listen = "{listen}"')
    with pytest.raises(ConfigError, match=r"not a loopback address.*allow_plain_http"):
        load(config)
    assert main(["--config", str(config), "run"]) == 78  # refused at load: nothing is bound
    assert "tls_cert" in capsys.readouterr().err
    plain = load(write_config(tmp_path, f'listen = "{listen}"\nallow_plain_http = true'))
    assert plain.api.allow_plain_http and plain.api.tls_cert is None and plain.api.port == 8470
    signed = load(write_config(tmp_path, f'listen = "{listen}"\ntls_cert = "api.crt"\ntls_key = "api.key"'))
    assert signed.api.tls_cert == tmp_path / "api.crt" and signed.api.tls_key == tmp_path / "api.key"


@pytest.mark.parametrize("listen", ["127.0.0.1:8470", "127.0.0.2:8470", "[::1]:8470", "localhost:8470"])
def test_loopback_stays_plain_unless_a_certificate_is_set(tmp_path: Path, listen: str) -> None:
    settings = load(write_config(tmp_path, f'listen = "{listen}"'))
    assert settings.api.tls_cert is None and settings.api.tls_key is None
    with_cert = load(write_config(tmp_path, f'listen = "{listen}"\ntls_cert = "/etc/einvd/api.pem"'))
    assert with_cert.api.tls_cert == Path("/etc/einvd/api.pem") and with_cert.api.tls_key is None


def test_tls_settings_refused_or_normalised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"tls_key is set without api\.tls_cert"):
        load(write_config(tmp_path, 'tls_key = "api.key"'))
    with pytest.raises(ConfigError, match="tls_pin"):
        load(write_config(tmp_path, 'tls_pin = "12:34"'))
    digits = "ab" * 32
    assert load(write_config(tmp_path, f'tls_pin = "sha256:{digits}"')).api.tls_pin == ":".join(["AB"] * 32)
    assert pin(":".join(["ab"] * 32)) == pin("SHA256 Fingerprint=" + digits.upper())
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "einvd-tls-key").write_text("key", encoding="ascii")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = load(write_config(tmp_path, 'listen = "0.0.0.0:8470"\ntls_cert = "api.crt"'))
    assert settings.api.tls_key == credentials / "einvd-tls-key"  # the key from the systemd credential
    assert load(write_config(tmp_path, "")).api.tls_key is None  # no certificate: no key is used


# --- einvd tls cert --------------------------------------------------------------------------------------------


def make_cert(root: Path, *hosts: str) -> dict[str, object]:
    argv = ["tls", "cert", "--out", str(root)]
    for host in hosts:
        argv += ["--host", host]
    assert main(argv) == 0
    return {"cert": root / "einvd-api.crt", "key": root / "einvd-api.key"}


def test_tls_cert_writes_a_pinnable_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tls"
    make_cert(out, "192.0.2.10", "pos-box.shop.lan")
    printed = json.loads(capsys.readouterr().out)
    cert_file, key_file = out / "einvd-api.crt", out / "einvd-api.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert cert_file.stat().st_mode & 0o077 == cert_file.stat().st_mode & 0o044  # readable, writable by owner only
    assert not list(out.glob(".*.tmp"))
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert printed["sha256"] == ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.10"]
    assert san.get_values_for_type(x509.DNSName) == ["pos-box.shop.lan"]
    assert 365 * 10 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 365 * 10 + 5
    assert cert.not_valid_before_utc <= datetime.now(UTC)
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert key.public_key() == cert.public_key()
    first = printed["sha256"]
    make_cert(out, "192.0.2.10")  # again: a new pair, a new fingerprint
    assert json.loads(capsys.readouterr().out)["sha256"] != first


# --- serving TLS on 127.0.0.1 --------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[str, str, Path, Store]]:
    """The API with a certificate on 127.0.0.1 (port picked freely) and a plain unix socket; the URL, the pin,
    the unix socket and the store."""
    make_cert(tmp_path / "tls", "127.0.0.1")
    store = Store(tmp_path / "einvd.sqlite3")
    hold(store, Period.of(START), "AB", 1000, 1049)
    context = build_context(InvoiceService(store, clock, random.Random(1), SELLER, KEY), clock)
    context.now = time.time  # the client signs with the real clock
    settings = ApiSettings(port=0, unix_socket=tmp_path / "einvd.sock", tls_cert=tmp_path / "tls" / "einvd-api.crt",
                           tls_key=tmp_path / "tls" / "einvd-api.key")
    server = ServerThread(create_app(context), sockets=bind(settings), tls=server_tls(settings))
    url = server.start()
    der = ssl.PEM_cert_to_DER_cert(settings.tls_cert.read_text(encoding="ascii"))  # type: ignore[union-attr]
    from daemon.config import fingerprint

    try:
        yield url, fingerprint(der), tmp_path / "einvd.sock", store
    finally:
        server.stop()
        context.close()
        store.close()


def test_signed_request_over_https_with_the_pin(tls_server: tuple[str, str, Path, Store]) -> None:
    url, pinned, _, _ = tls_server
    assert url.startswith("https://127.0.0.1:")
    client = Client(url, "pos", SECRETS["pos"].encode(), pin=pinned.replace(":", "").lower())
    try:
        status, body = client.request("POST", "/v1/invoices", sale("TLS-1"))
        assert (status, body["invoice_number"]) == (201, "AB00001000")
        assert isinstance(client.conn.sock, ssl.SSLSocket)
        assert client.conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        client.close()


def test_wrong_pin_is_refused_before_anything_is_sent(tls_server: tuple[str, str, Path, Store]) -> None:
    url, pinned, _, _ = tls_server
    wrong = "00" + pinned[2:] if not pinned.startswith("00") else "11" + pinned[2:]
    client = Client(url, "pos", SECRETS["pos"].encode(), pin=wrong)
    with pytest.raises(PinMismatch, match=f"fingerprint {pinned}, not the pinned {wrong}"):
        client.request("POST", "/v1/invoices", sale("TLS-WRONG"))
    client.close()
    unpinned = Client(url, "pos", SECRETS["pos"].encode())  # a self-signed certificate is no CA's
    with pytest.raises(ssl.SSLCertVerificationError):
        unpinned.request("POST", "/v1/invoices", sale("TLS-WRONG"))
    unpinned.close()
    right = Client(url, "pos", SECRETS["pos"].encode(), pin=pinned)
    try:  # the refused requests never reached the daemon: the next number is the first
        assert right.request("POST", "/v1/invoices", sale("TLS-RIGHT"))[1]["invoice_number"] == "AB00001000"
    finally:
        right.close()


def test_plain_http_to_the_tls_port_fails_and_the_unix_socket_stays_plain(
        tls_server: tuple[str, str, Path, Store]) -> None:
    url, _, unix_path, _ = tls_server
    port = int(url.rsplit(":", 1)[1])
    plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        plain.request("GET", "/v1/health")
        plain.getresponse().read()
    plain.close()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as local:
        local.settimeout(10)
        local.connect(str(unix_path))
        local.sendall(b"GET /v1/health HTTP/1.1\r\nHost: einvd\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := local.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in answer.replace(b" ", b"")


def test_issue_remote_cli_pins(tls_server: tuple[str, str, Path, Store], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    url, pinned, _, _ = tls_server
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.pos]\nsecret = "{SECRETS["pos"]}"\npermissions = ["issue"]\n')
    keys.chmod(0o600)
    doc = tmp_path / "sale.json"
    doc.write_text(json.dumps(sale("CLI-TLS-1")))
    config = write_config(tmp_path, f'keys_file = "keys.toml"\ntls_pin = "{pinned}"')
    assert main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url]) == 0
    assert json.loads(capsys.readouterr().out)["invoice_number"] == "AB00001000"
    doc.write_text(json.dumps(sale("CLI-TLS-2")))
    wrong = ("11" if not pinned.startswith("11") else "22") + pinned[2:]
    assert main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url, "--pin", wrong]) == 1
    assert "not the pinned" in capsys.readouterr().err
    config = write_config(tmp_path, 'keys_file = "keys.toml"')
    assert main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url, "--pin", pinned]) == 0
    assert json.loads(capsys.readouterr().out)["invoice_number"] == "AB00001001"
    with pytest.raises(SystemExit):  # a pin that is no fingerprint: a usage error
        main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url, "--pin", "abc"])


# --- the server's context ----------------------------------------------------------------------------------------


def test_server_context_loads_checks_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_cert(tmp_path / "a", "127.0.0.1")
    make_cert(tmp_path / "b", "127.0.0.1")
    cert, key = tmp_path / "a" / "einvd-api.crt", tmp_path / "a" / "einvd-api.key"
    with caplog.at_level(logging.INFO, logger="einvd.api"):
        context = server_tls(ApiSettings(tls_cert=cert, tls_key=key))
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2
    expected = ":".join(f"{b:02X}" for b in x509.load_pem_x509_certificate(cert.read_bytes())
                        .fingerprint(hashes.SHA256()))
    assert expected in caplog.text
    assert server_tls(ApiSettings()) is None
    assert "plain HTTP" not in caplog.text
    with caplog.at_level(logging.INFO, logger="einvd.api"):  # only read, never bound
        assert server_tls(ApiSettings(host="192.0.2.1", allow_plain_http=True)) is None
    assert "192.0.2.1:8470 is not a loopback address and serves plain HTTP" in caplog.text
    combined = tmp_path / "combined.pem"  # no tls_key: the key in the certificate's file
    combined.write_bytes(cert.read_bytes() + key.read_bytes())
    assert server_tls(ApiSettings(tls_cert=combined)) is not None
    with pytest.raises(ConfigError, match="cannot load"):  # another pair's key
        server_tls(ApiSettings(tls_cert=cert, tls_key=tmp_path / "b" / "einvd-api.key"))
    with pytest.raises(ConfigError, match="cannot load"):
        server_tls(ApiSettings(tls_cert=tmp_path / "missing.crt", tls_key=key))
    loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(loaded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"passphrase")))
    with pytest.raises(ConfigError, match="encrypted"):
        server_tls(ApiSettings(tls_cert=cert, tls_key=locked))


# --- einvd run, as systemd starts it ---------------------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(60)
    yield sock, str(tmp_path / "notify")
    sock.close()


def test_einvd_run_serves_https_with_the_certificate_from_its_configuration(
        tmp_path: Path, notify_socket: tuple[socket.socket, str], capsys: pytest.CaptureFixture[str]) -> None:
    """A real `einvd run` on 127.0.0.1 with `[api] tls_cert`: READY names an https:// address, the start log names
    the fingerprint, a pinned signed request issues; a key that does not match its certificate exits 78."""
    sock, path = notify_socket
    make_cert(tmp_path / "tls", "127.0.0.1")
    pinned = json.loads(capsys.readouterr().out)["sha256"]
    secret = "tls-run-secret-0123456789-abcdefghij"
    (tmp_path / "keys.toml").write_text(f'[keys.pos]\nsecret = "{secret}"\npermissions = ["issue"]\n')
    (tmp_path / "keys.toml").chmod(0o600)
    port = free_port()
    body = ('[seller]\nban = "12345676"\nname = "測試商店"\naddress = "台北市信義區測試路1號"\n\n'
            '[qr]\nkey = "FE05F029154F6AA67A78B338ED2F6601"\n\n'
            f'[api]\nlisten = "127.0.0.1:{port}"\nkeys_file = "keys.toml"\n'
            'tls_cert = "tls/einvd-api.crt"\ntls_key = "tls/einvd-api.key"\n')
    config = tmp_path / "einvd.toml"
    config.write_text(body, encoding="utf-8")
    period = Period.of(datetime.now(TAIPEI)).code
    assert main(["--config", str(config), "tracks", "add", "--period", period, "--track", "AB", "--begin",
                 "00000000", "--end", "00000049"]) == 0
    env = dict(os.environ, NOTIFY_SOCKET=path)
    process = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(config), "run"], env=env,
                               stderr=subprocess.PIPE, text=True)
    try:
        ready = sock.recv(4096).decode()
        assert ready.startswith("READY=1") and f"https://127.0.0.1:{port}" in ready
        client = Client(f"https://127.0.0.1:{port}", "pos", secret.encode(), pin=pinned)
        status, issued = client.request("POST", "/v1/invoices", sale("RUN-TLS-1"))
        client.close()
        assert (status, issued["invoice_number"]) == (201, "AB00000000")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert process.stderr is not None and pinned in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    make_cert(tmp_path / "other", "127.0.0.1")
    config.write_text(body.replace("tls/einvd-api.key", "other/einvd-api.key"), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "daemon", "--config", str(config), "run"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 78 and "cannot load" in result.stderr


def test_curl_pins_the_public_key_einvd_tls_cert_prints(tls_server: tuple[str, str, Path, Store], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A POS without einvd's client: curl with the certificate as its CA, or with --pinnedpubkey as printed."""
    import shutil

    if shutil.which("curl") is None:
        pytest.skip("needs curl (scripts/apt-packages.txt)")
    url = tls_server[0]
    cert = tmp_path / "tls" / "einvd-api.crt"
    from daemon.commands import certificate_pins

    pins = certificate_pins(cert.read_bytes())
    health = f"{url}/v1/health"
    run = ["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}"]
    assert subprocess.run([*run, "--cacert", str(cert), health], capture_output=True, text=True,
                          timeout=60).stdout == "200"
    assert subprocess.run([*run, "-k", "--pinnedpubkey", pins["public_key_pin"], health], capture_output=True,
                          text=True, timeout=60).stdout == "200"
    make_cert(tmp_path / "other", "127.0.0.1")
    other = certificate_pins((tmp_path / "other" / "einvd-api.crt").read_bytes())["public_key_pin"]
    refused = subprocess.run([*run, "-k", "--pinnedpubkey", other, health], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode != 0 and refused.stdout in ("000", "")
    assert subprocess.run([*run, health], capture_output=True, text=True, timeout=60).returncode != 0  # no CA
