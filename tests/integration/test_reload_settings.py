"""What a reload takes from the files on disk (``daemon.reload.prepare``): the keys and the live alert settings
swapped in, every other change named as needing a restart, bad files refused whole; and the notifier taking a
swapped webhook setting (the process-level test under load is tests/faults/test_reload.py)."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from api_harness import SECRETS
from conftest import START

from daemon import reload as reloading
from daemon.alerts import raise_alert
from daemon.config import AlertSettings, ConfigError, load
from daemon.notify import Notifier
from daemon.store import Store

BASE = '[api]\nkeys_file = "keys.toml"\nlisten = "127.0.0.1:8470"\n'


def keys(path: Path, *ids: str, mode: int = 0o600) -> None:
    path.write_text("".join(f'[keys.{key}]\nsecret = "{SECRETS["pos"]}-{key}"\npermissions = ["issue"]\n'
                            for key in ids))
    path.chmod(mode)


def test_keys_and_alert_settings_change_live_the_rest_needs_a_restart(tmp_path: Path) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text(BASE)
    keys(tmp_path / "keys.toml", "pos")
    current = load(config)
    keys(tmp_path / "keys.toml", "pos-2", "pos-3")
    config.write_text(BASE.replace("8470", "8471") + '[store]\npath = "other.sqlite3"\n[numbering]\n'
                      'void_cutoff_day = 10\n[alerts]\nwebhook_url = "https://example.test/hook"\n'
                      'webhook_timeout = 2.0\n')
    outcome = reloading.prepare(current)
    assert set(outcome.keys) == {"pos-2", "pos-3"}
    assert outcome.applied == ["alerts.webhook_url", "alerts.webhook_timeout"]
    assert outcome.restart == ["store.path", "numbering.void_cutoff_day", "api.listen"]
    assert outcome.settings.alerts.webhook_url == "https://example.test/hook"
    assert outcome.settings.alerts.webhook_timeout == 2.0
    assert (outcome.settings.store_path, outcome.settings.api.port, outcome.settings.void_cutoff_day) == (
        current.store_path, 8470, current.void_cutoff_day), "settings that need a restart keep their old value"
    assert not outcome.from_credential
    assert reloading.key_changes({k: v for k, v in outcome.keys.items() if k == "pos-2"}, outcome.keys) == \
        "added pos-3"


def test_nothing_changed_is_no_change(tmp_path: Path) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text(BASE)
    keys(tmp_path / "keys.toml", "pos")
    current = load(config)
    outcome = reloading.prepare(current)
    assert (outcome.applied, outcome.restart, outcome.settings) == ([], [], current)
    assert reloading.key_changes(outcome.keys, outcome.keys) == "unchanged"


@pytest.mark.parametrize(("config_text", "key_mode", "key_ids", "says"), [
    (BASE + "[alerts\n", 0o600, ("pos",), "cannot read configuration"),
    (BASE + '[alerts]\nwebhook_url = "ftp://example.test"\n', 0o600, ("pos",), "alerts.webhook_url"),
    (BASE + "[turnkey]\ndorp = 1\n", 0o600, ("pos",), "turnkey.dorp"),
    (BASE, 0o644, ("pos",), "readable by its owner only"),
    (BASE, 0o600, (), "holds no key"),
])
def test_a_bad_file_is_refused_whole(tmp_path: Path, config_text: str, key_mode: int, key_ids: tuple[str, ...],
                                     says: str) -> None:
    config = tmp_path / "einvd.toml"
    config.write_text(BASE)
    keys(tmp_path / "keys.toml", "pos")
    current = load(config)
    config.write_text(config_text)
    if key_ids:
        keys(tmp_path / "keys.toml", *key_ids, mode=key_mode)
    else:
        (tmp_path / "keys.toml").write_text("[keys]\n")
    with pytest.raises(ConfigError, match=says):
        reloading.prepare(current)


def test_reload_failures_are_alerts_until_a_reload_works(store: Store) -> None:
    assert reloading.record_failure(store, START, "cannot read configuration")
    assert store.read("SELECT count(*) FROM alerts WHERE kind = ? AND cleared_at IS NULL",
                      (reloading.FAILED,))[0][0] == 1
    assert reloading.clear_failures(store, START) == 1
    assert reloading.clear_failures(store, START) == 0


def test_a_webhook_removed_by_a_reload_leaves_its_deliveries_waiting(store: Store) -> None:
    posted: list[str] = []

    def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        posted.append(url)
        return 200

    notifier = Notifier(store, AlertSettings("http://127.0.0.1:9/a"), post=post, rng=random.Random(1))
    with store.write() as tx:
        raise_alert(tx, "ranges.low", "period", "11512", START, "only 10 numbers left")
    assert notifier.take_new(START) == 1
    notifier.conf = replace(notifier.conf, webhook_url="")  # as Daemon.reload swaps it
    assert notifier.send_webhooks(START) == (0, 0) and posted == []
    notifier.conf = replace(notifier.conf, webhook_url="http://127.0.0.1:9/b")
    assert notifier.send_webhooks(START) == (1, 0) and posted == ["http://127.0.0.1:9/b"]
