"""The README's examples work against a real server: the ten-line Python client, curl + openssl, and the
server-sent scan stream."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from api_harness import SECRETS, build_context, running
from conftest import KEY, SELLER, START, hold, sale

from daemon.api import scanning
from daemon.api.app import ServerThread, create_app
from daemon.scans import ScanHub
from daemon.services import InvoiceService
from daemon.store import Store
from hw_sim.clock import FakeClock
from turnkey.period import Period

PYTHON_CLIENT = '''
import hashlib, hmac, json, secrets, time, urllib.request

def call(url, key, secret, method, path, doc=None):
    body = json.dumps(doc).encode() if doc is not None else b""
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    text = "\\n".join([method, path, ts, nonce, hashlib.sha256(body).hexdigest()])
    sig = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Einvd-Key": key, "X-Einvd-Timestamp": ts,
               "X-Einvd-Nonce": nonce, "X-Einvd-Signature": sig}
    with urllib.request.urlopen(urllib.request.Request(url + path, body or None, headers, method=method)) as r:
        return json.load(r)
'''

CURL = r'''
TS=$(date +%s); NONCE=$(openssl rand -hex 16)
HASH=$(openssl dgst -sha256 -r sale.json | cut -d' ' -f1)
SIG=$(printf 'POST\n/v1/invoices\n%s\n%s\n%s' "$TS" "$NONCE" "$HASH" \
      | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
curl -sS "$URL/v1/invoices" -H 'Content-Type: application/json' -H "X-Einvd-Key: $KEY" \
     -H "X-Einvd-Timestamp: $TS" -H "X-Einvd-Nonce: $NONCE" -H "X-Einvd-Signature: $SIG" --data-binary @sale.json
'''


@pytest.fixture
def server(tmp_path: Path, clock: FakeClock) -> Any:
    store = Store(tmp_path / "einvd.sqlite3")
    hold(store, Period.of(START), "AB", 1000, 1049)
    context = build_context(InvoiceService(store, clock, random.Random(1), SELLER, KEY), clock)
    context.now = time.time  # the examples sign with the real clock
    thread = ServerThread(create_app(context))
    yield thread.start()
    thread.stop()
    context.close()
    store.close()


def test_ten_line_python_client(server: str) -> None:
    namespace: dict[str, Any] = {}
    exec(PYTHON_CLIENT, namespace)
    issued = namespace["call"](server, "pos", SECRETS["pos"], "POST", "/v1/invoices", sale("PY-1"))
    assert issued["invoice_number"] == "AB00001000"
    found = namespace["call"](server, "pos", SECRETS["pos"], "GET", "/v1/invoices?order_id=PY-1")
    assert found["invoices"][0]["invoice_number"] == "AB00001000"


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("openssl")), reason="needs curl and openssl")
def test_curl_and_openssl(server: str, tmp_path: Path) -> None:
    (tmp_path / "sale.json").write_text(json.dumps(sale("SH-1"), ensure_ascii=False, indent=2) + "\n")
    env = {"PATH": "/usr/bin:/bin", "URL": server, "KEY": "pos", "SECRET": SECRETS["pos"]}
    done = subprocess.run(["bash", "-euc", CURL], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
                          check=True)
    assert json.loads(done.stdout)["order_id"] == "SH-1"


def test_scan_stream_sends_events(service: InvoiceService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanning, "STREAM_WAIT", 0.05)
    with running(service, clock) as api:
        api.context.scans = ScanHub(clock.now)
        api.context.scans.publish("till-1", "/ABC1234")
        status, scans = api.call("GET", "/v1/scans?wait=0")
        assert status == 200 and scans["scans"][0]["value"] == "/ABC1234"
        api.context.scans.publish("till-1", "/XYZ9876")
        from daemon.client import signed_headers

        headers = signed_headers("pos", SECRETS["pos"].encode(), "GET", "/v1/scans/stream", b"",
                                 clock.now().timestamp())
        with api.client.stream("GET", "/v1/scans/stream", headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith("data:"):
                    break
        assert json.loads(lines[-1].removeprefix("data: "))["value"] == "/XYZ9876"


def test_serves_tcp_and_a_unix_socket(service: InvoiceService, clock: FakeClock, tmp_path: Path) -> None:
    import httpx

    from daemon.api.app import bind
    from daemon.config import ApiSettings

    context = build_context(service, clock)
    sockets = bind(ApiSettings(port=0, unix_socket=tmp_path / "einvd.sock"))
    port = sockets[0].getsockname()[1]
    thread = ServerThread(create_app(context), sockets=sockets)
    thread.start()
    try:
        assert (tmp_path / "einvd.sock").stat().st_mode & 0o777 == 0o660
        over_unix = httpx.Client(transport=httpx.HTTPTransport(uds=str(tmp_path / "einvd.sock")))
        assert over_unix.get("http://einvd/v1/health").json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200
        from daemon.client import signed_headers

        headers = signed_headers("pos", SECRETS["pos"].encode(), "GET", "/v1/tracks", b"", clock.now().timestamp())
        assert over_unix.get("http://einvd/v1/tracks", headers=headers).status_code == 200
        over_unix.close()
    finally:
        thread.stop()
        context.close()
