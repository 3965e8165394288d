"""Signed requests: signature, expiry, replay (also after a restart), tampering, permissions, key files."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from api_harness import KEYS, SECRETS, running
from conftest import KEY, SELLER, sale

from daemon.api.auth import string_to_sign
from daemon.api.keys import keys_path, load_keys, parse_keys
from daemon.client import encode, signed_headers
from daemon.config import ApiSettings, ConfigError
from daemon.services import InvoiceService
from daemon.store import Store
from hw_sim.clock import FakeClock

NONCE = "nonce-0123456789abcdef"


def test_string_to_sign_is_the_contracts() -> None:
    assert string_to_sign("post", "/v1/invoices?x=1", "1795240980", NONCE, b"") == (
        b"POST\n/v1/invoices?x=1\n1795240980\nnonce-0123456789abcdef\n"
        b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_health_needs_no_key_and_everything_else_does(service: InvoiceService, clock: FakeClock) -> None:
    with running(service, clock) as api:
        assert api.client.get("/v1/health").status_code == 200
        response = api.client.get("/v1/invoices")
        assert response.status_code == 401
        assert response.json()["errors"][0]["code"] == "auth.missing"
        assert response.headers["www-authenticate"] == "Einvd-HMAC-SHA256"
        assert api.client.post("/v1/invoices", json=sale("A")).status_code == 401


def test_signature_checked_against_method_path_query_and_body(service: InvoiceService, clock: FakeClock) -> None:
    with running(service, clock) as api:
        body = encode(sale("T-1"))
        headers = signed_headers("pos", SECRETS["pos"].encode(), "POST", "/v1/invoices", body,
                                 clock.now().timestamp())
        tampered = body.replace(b"130", b"131")
        for method, path, content in (("POST", "/v1/invoices", tampered), ("PUT", "/v1/invoices", body),
                                      ("POST", "/v1/invoices?limit=1", body)):
            response = api.client.request(method, path, content=content, headers=headers)
            assert (response.status_code, response.json()["errors"][0]["code"]) == (401, "auth.signature")
        wrong_secret = signed_headers("pos", b"x" * 32, "POST", "/v1/invoices", body, clock.now().timestamp())
        unknown_key = signed_headers("nobody", SECRETS["pos"].encode(), "POST", "/v1/invoices", body,
                                     clock.now().timestamp())
        for spoiled in (wrong_secret, unknown_key, {**headers, "X-Einvd-Signature": "zz"}):
            assert api.codes("POST", "/v1/invoices", raw=body, headers=spoiled) == (401, ["auth.signature"])
        assert api.client.post("/v1/invoices", content=body, headers=headers).status_code == 201
        assert service.store.read("SELECT count(*) FROM invoices")[0][0] == 1


def test_malformed_headers_are_missing(service: InvoiceService, clock: FakeClock) -> None:
    with running(service, clock) as api:
        for bad in ({"X-Einvd-Timestamp": "soon"}, {"X-Einvd-Nonce": "short"}):
            assert api.codes("GET", "/v1/invoices", headers=bad) == (401, ["auth.missing"])


def test_timestamps_outside_300_seconds_are_expired(service: InvoiceService, clock: FakeClock) -> None:
    with running(service, clock) as api:
        now = clock.now().timestamp()
        for skew, expected in ((-301, 401), (301, 401), (-299, 200), (299, 200)):
            headers = signed_headers("pos", SECRETS["pos"].encode(), "GET", "/v1/invoices", b"", now + skew)
            response = api.client.get("/v1/invoices", headers=headers)
            assert response.status_code == expected, skew
            if expected == 401:
                assert response.json()["errors"][0]["code"] == "auth.expired"


def test_nonce_replay_refused_also_after_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    from conftest import START, hold

    from turnkey.period import Period

    store = Store(tmp_path / "einvd.sqlite3")
    hold(store, Period.of(START), "AB", 1000, 1049)
    service = InvoiceService(store, clock, random.Random(1), SELLER, KEY)
    body = encode(sale("R-1"))
    headers = signed_headers("pos", SECRETS["pos"].encode(), "POST", "/v1/invoices", body, clock.now().timestamp(),
                             NONCE)
    with running(service, clock) as api:
        assert api.client.post("/v1/invoices", content=body, headers=headers).status_code == 201
        again = api.client.post("/v1/invoices", content=body, headers=headers)
        assert (again.status_code, again.json()["errors"][0]["code"]) == (401, "auth.replay")
    store.close()
    restarted = Store(tmp_path / "einvd.sqlite3")
    service = InvoiceService(restarted, clock, random.Random(2), SELLER, KEY)
    with running(service, clock) as api:
        again = api.client.post("/v1/invoices", content=body, headers=headers)
        assert (again.status_code, again.json()["errors"][0]["code"]) == (401, "auth.replay")
        # the same nonce under another key is another request
        other = signed_headers("manager", SECRETS["manager"].encode(), "POST", "/v1/invoices", body,
                               clock.now().timestamp(), NONCE)
        assert api.client.post("/v1/invoices", content=body, headers=other).status_code == 200
    restarted.close()


def test_permissions(service: InvoiceService, clock: FakeClock) -> None:
    with running(service, clock) as api:
        status, issued = api.call("POST", "/v1/invoices", sale("P-1"), key="pos")
        assert status == 201
        number = issued["invoice_number"]
        assert api.codes("POST", f"/v1/invoices/{number}/void", {"reason": "x"}, key="pos") == (
            403, ["auth.permission"])
        assert api.codes("POST", "/v1/tracks", {"period": "11512", "track": "CD", "begin": "00000000",
                                                "end": "00000049"}, key="manager") == (403, ["auth.permission"])
        assert api.call("POST", "/v1/tracks", {"period": "11512", "track": "CD", "begin": "00000000",
                                               "end": "00000049"}, key="admin")[0] == 201
        assert api.call("POST", f"/v1/invoices/{number}/void", {"reason": "客訴"}, key="admin")[0] == 200
        assert api.call("GET", f"/v1/invoices/{number}", key="pos")[0] == 200
        assert service.store.read("SELECT lifecycle FROM invoices")[0][0] == "voided"


def test_key_file_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('[keys.pos1]\nsecret = "0123456789abcdef0123456789abcdef"\npermissions = ["issue"]\n')
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_keys(path)
    path.chmod(0o600)
    keys = load_keys(path)
    assert keys["pos1"].permissions == {"issue"} and "0123456789abcdef" not in repr(keys)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert keys_path(ApiSettings(keys_credential="keys.toml")) == path
    assert keys_path(ApiSettings(keys_file=Path("/etc/x"))) == Path("/etc/x")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(ConfigError, match="no API keys"):
        keys_path(ApiSettings())
    with pytest.raises(ConfigError, match="cannot read"):
        load_keys(tmp_path / "missing.toml")
    for bad, message in (({"other": 1}, "only"), ({"keys": {"a b": {}}}, "ids"),
                         ({"keys": {"k": {"secret": "short", "permissions": ["issue"]}}}, "32-256"),
                         ({"keys": {"k": {"secret": "s" * 32, "permissions": ["root"]}}}, "permissions"),
                         ({"keys": {"k": {"secret": "s" * 32, "permissions": ["issue"], "x": 1}}}, "only")):
        with pytest.raises(ConfigError, match=message) as error:
            parse_keys(bad, "keys.toml")
        assert "s" * 32 not in str(error.value)
    assert os.stat(path).st_mode & 0o077 == 0
    assert set(KEYS) == {"pos", "manager", "admin"}
