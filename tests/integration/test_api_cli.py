"""``einvd invoice issue FILE --remote URL`` signs with a key from the key file (or $EINVD_API_SECRET)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from api_harness import SECRETS, build_context
from conftest import KEY, SELLER, START, hold, sale

from daemon.__main__ import main
from daemon.api.app import ServerThread, create_app
from daemon.config import ConfigError
from daemon.services import InvoiceService
from daemon.store import Store
from hw_sim.clock import FakeClock
from turnkey.period import Period


def test_issue_remote(tmp_path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "einvd.sqlite3")
    hold(store, Period.of(START), "AB", 1000, 1049)
    context = build_context(InvoiceService(store, clock, random.Random(1), SELLER, KEY), clock)
    context.now = time.time  # the CLI signs with the real clock
    server = ServerThread(create_app(context))
    url = server.start()
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.pos]\nsecret = "{SECRETS["pos"]}"\npermissions = ["issue"]\n')
    keys.chmod(0o600)
    config = tmp_path / "einvd.toml"
    config.write_text('[api]\nkeys_file = "keys.toml"\n')
    doc = tmp_path / "sale.json"
    doc.write_text(json.dumps(sale("CLI-1")))
    try:
        assert main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url]) == 0
        issued = json.loads(capsys.readouterr().out)
        assert issued["invoice_number"] == "AB00001000"
        doc.write_bytes(b"\xef\xbb\xbf" + json.dumps(sale("CLI-2")).encode())  # as Windows Notepad saves it
        assert main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url]) == 0
        assert json.loads(capsys.readouterr().out)["invoice_number"] == "AB00001001"
        doc.write_text(json.dumps(sale("CLI-1", remark="changed")))
        assert main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url]) == 1
        assert json.loads(capsys.readouterr().out)["errors"][0]["code"] == "order_id.conflict"
        monkeypatch.setenv("EINVD_API_SECRET", "wrong-secret-0123456789-0123456789")
        assert main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url, "--key", "pos"]) == 1
        assert json.loads(capsys.readouterr().out)["errors"][0]["code"] == "auth.signature"
        assert main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url, "--key", "x"]) == 1
        monkeypatch.delenv("EINVD_API_SECRET")
        assert main(["--config", str(config), "invoice", "issue", str(doc), "--remote", url, "--key", "x"]) == 78
    finally:
        server.stop()
        context.close()
        store.close()


def test_context_from_settings(tmp_path: Path, service: InvoiceService) -> None:
    from daemon.config import load
    from daemon.wiring import api_context

    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.pos]\nsecret = "{SECRETS["pos"]}"\npermissions = ["issue"]\n')
    keys.chmod(0o600)
    config = tmp_path / "einvd.toml"
    config.write_text('[api]\nkeys_file = "keys.toml"\nallowance_prefix = "B1"\n[numbering]\nvoid_cutoff_day = 15\n')
    context = api_context(load(config), service)
    assert set(context.keys) == {"pos"} and context.allowances.prefix == "B1" and context.lifecycle.cutoff_day == 15
    context.close()
    for bad in ('listen = "8470"', 'allowance_prefix = "al"'):
        config.write_text(f"[api]\n{bad}\n")
        with pytest.raises(ConfigError):
            load(config)
