"""``einvd doctor`` on Turnkey itself (issue 19): its database (or why refusal reasons are unavailable), whether
Turnkey's user may take what einvd drops, and whether results ever come back."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import spec_dir
from pg_server import READER, READER_PASSWORD, PgServer, start_or_skip

from daemon import doctor as doc
from daemon.config import Settings, load
from hw_sim.turnkey import SimTurnkey
from hw_sim.turnkey_db import create_tables
from turnkey.period import TAIPEI

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=TAIPEI)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = start_or_skip()
    try:
        engine = sa.create_engine(server.owner_url)
        create_tables(engine, READER)
        engine.dispose()
        yield server
    finally:
        server.stop()


def _settings(tmp_path: Path, extra: str = "") -> Settings:
    root = tmp_path / "turnkey"
    if not root.exists():
        SimTurnkey(root, spec_dir()).install()
    config = tmp_path / "einvd.toml"
    config.write_text(f'[turnkey]\ndrop = "{root}"\n{extra}\n', encoding="utf-8")
    return load(config)


def test_turnkey_on_embedded_h2_means_no_refusal_reasons(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert doc.turnkey_database_check(settings).level == "ok"
    (tmp_path / "turnkey" / "innerfs").mkdir()
    (tmp_path / "turnkey" / "innerfs" / "EINVTurnkey.mv.db").write_bytes(b"H2")
    check = doc.turnkey_database_check(settings)
    assert check.level == "warn" and "embedded H2" in check.detail and "EINVTurnkey.mv.db" in check.detail
    assert "turnkey.database" in check.detail


def test_the_database_answers_or_says_why_not_without_the_password(
        tmp_path: Path, pg: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "einvd-turnkey-db").write_text(READER_PASSWORD + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    url = f"postgresql://{READER}@127.0.0.1:{pg.port}/einvturnkey"
    good = doc.turnkey_database_check(_settings(tmp_path, f'database = "{url}"'))
    assert good.level == "ok" and "readable" in good.detail and READER_PASSWORD not in good.detail
    (credentials / "einvd-turnkey-db").write_text("wrong-password-77\n")
    bad = doc.turnkey_database_check(_settings(tmp_path, f'database = "{url}"'))
    assert bad.level == "warn" and "unavailable" in bad.detail and "wrong-password-77" not in bad.detail


def test_files_turnkeys_user_cannot_take_are_a_failure(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving the SRC folders to another user (Turnkey's) needs root")
    settings = _settings(tmp_path, 'file_mode = "0600"')
    turnkey = pwd.getpwnam("postgres")
    for code in settings.turnkey.layout.codes:
        src = tmp_path / "turnkey" / settings.turnkey.layout.folder("SRC", code)
        os.chown(src, turnkey.pw_uid, turnkey.pw_gid)
        src.chmod(0o770)
    user = doc.User(0, frozenset({0}), "root")
    check = doc.turnkey_files_check(settings, user)
    assert check.level == "fail" and "mode 0600" in check.detail and "owner postgres" in check.detail
    assert doc.turnkey_files_check(_settings(tmp_path, 'file_group = "postgres"'), user).level == "ok"
    assert doc.turnkey_files_check(_settings(tmp_path, 'file_mode = "0660"'), user).level == "fail"  # group root


def test_result_folders_that_never_receive_anything_are_named(tmp_path: Path) -> None:
    settings = _settings(tmp_path, 'process_results = ""')  # a site that keeps no ProcessResults
    check = doc.turnkey_results_check(settings, NOW)
    assert check.level == "warn" and "turnkey.process_results is empty" in check.detail
    assert "no result ever received" in check.detail and "download flow" in check.detail
    settings = _settings(tmp_path, 'process_results = "Unpack/BAK/ProcessResult"')
    (tmp_path / "turnkey" / "Unpack/BAK/ProcessResult").mkdir(parents=True, exist_ok=True)
    fresh = tmp_path / "turnkey" / "Unpack/BAK/ProcessResult/20261203/11/v41-F0401-x ProcessResult"
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"<x/>")
    os.utime(fresh, (NOW.timestamp() - 3600, NOW.timestamp() - 3600))
    assert doc.turnkey_results_check(settings, NOW).level == "ok"
    os.utime(fresh, (NOW.timestamp() - 30 * 3600, NOW.timestamp() - 30 * 3600))
    old = doc.turnkey_results_check(settings, NOW)
    assert old.level == "warn" and "30 h old" in old.detail


@pytest.mark.parametrize(("line", "key"), [('file_mode = 660', "turnkey.file_mode"), ('file_mode = "0980"',
                         "turnkey.file_mode"), ('file_mode = "01777"', "turnkey.file_mode"),
                         ('database = "einvturnkey"', "turnkey.database"), ("stuck_after_minutes = 0",
                         "turnkey.stuck_after_minutes"), ("silent_after_hours = -1", "turnkey.silent_after_hours")])
def test_bad_turnkey_settings_name_their_key(tmp_path: Path, line: str, key: str) -> None:
    from daemon.config import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _settings(tmp_path, line)


def test_the_database_password_comes_from_the_credential_only(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "einvd-turnkey-db").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = _settings(tmp_path, 'database = "postgresql://einvd_ro@tk/einvturnkey"\nfile_mode = "0640"')
    assert settings.turnkey.database_password == "s3cret" and settings.turnkey.file_mode == 0o640
    assert "s3cret" not in repr(settings)
    assert _settings(tmp_path).turnkey.database_password is None  # no database: the credential is not read
